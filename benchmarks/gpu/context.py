"""What a stage process gets: its options, its sizes, its device, and ``save`` for its
(partial) results, rewritten after every call so that a kill keeps what was measured."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.gpu.plan import sizes


def write_json(path: Path, data: Any) -> None:
    """Write atomically (a kill never leaves half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str))
    os.replace(tmp, path)


class Ctx:
    """A stage's options (the command line the runner gave it) and its results so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = bool(args.quick)
        self.device_name = args.device
        self.work = Path(args.work)
        self.sz = sizes(self.quick)
        self.result: dict[str, Any] = {}
        self._path = Path(args.result)

    @property
    def cuda(self) -> bool:
        return self.device_name.startswith("cuda")

    def save(self, **fields: Any) -> None:
        self.result.update(fields)
        write_json(self._path, self.result)

    # torch-side helpers (imported in the stage process only)
    def device(self) -> Any:
        import torch

        if self.cuda and not torch.cuda.is_available():
            raise RuntimeError("--device cuda but PyTorch sees no CUDA GPU")
        return torch.device(self.device_name)

    def sync(self) -> Callable[[], None]:
        import torch

        return torch.cuda.synchronize if self.cuda else (lambda: None)

    def amp_dtype(self) -> Any:
        import torch

        # fp16 autocast on a GPU; bf16 on a CPU, where fp16 autocast is not what one runs
        return torch.float16 if self.cuda else torch.bfloat16
