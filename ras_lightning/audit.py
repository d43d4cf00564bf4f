"""``python -m ras_lightning.audit``: near-duplicate photos between the training set and the
test sets and within each set, and problem masks (Hydra app, ``conf/audit.yaml``).

``data.root`` (any layout the DataModule reads; ``data.train_set``, ``data.val_sets``,
``data.test_sets``) or explicit folders (``train_dir=``, ``+test_dirs={NAME: DIR}``) ->
``OUT/leaks.csv``, ``duplicates.csv``, ``mask_issues.csv``, ``contact_sheet.png``,
``summary.txt`` (also printed) and ``audit.json`` (:mod:`ras_lightning.data.leak_audit`).
Nothing is written into the data; the hashes are cached by file outside it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ras_lightning.data.demo import make_demo_data
from ras_lightning.data.leak_audit import run_audit, set_from_folder, sets_from_root
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import UserError, check_outside, require, require_counts
from ras_lightning.utils.files import probe_writable
from ras_lightning.utils.text import plural

log = logging.getLogger("ras_lightning.audit")

EXAMPLE = "python -m ras_lightning.audit data.root=/data/sod output_dir=out/audit"


def run(cfg: DictConfig) -> dict:
    """Audit the configured sets; return the record written as ``audit.json``."""
    require(cfg, {"output_dir": "where to write the audit"}, EXAMPLE)
    require_counts(cfg, {"workers": 1, "sheet_pairs": 0, "max_distance": 0}, ("workers",))
    out = Path(str(cfg.output_dir)).expanduser()
    test_dirs = dict(cfg.get("test_dirs") or {})
    if cfg.get("train_dir"):
        sets = [set_from_folder("train", str(cfg.train_dir), "train")]
        sets += [set_from_folder(str(k), str(v), "test") for k, v in test_dirs.items()]
        root = None
    elif test_dirs:
        raise UserError("test_dirs needs train_dir=DIR (the training photos) beside it")
    else:
        data = cfg.data
        root = str(data.root)
        if data.get("demo"):
            make_demo_data(root)
        tests = [*(data.get("val_sets") or []), *(data.get("test_sets") or [])]
        sets = sets_from_root(root, str(data.train_set), tests, data.get("layouts"))
    folders = {f"{s.name}'s photos": s.image_dir for s in sets}
    folders |= {f"{s.name}'s masks": s.mask_dir for s in sets}
    check_outside(out, {**folders, **({"data.root": root} if root else {})})
    probe_writable(out)  # a place it cannot write is one line now, not after the hashing
    result = run_audit(
        sets,
        out,
        int(cfg.max_distance),
        cfg.get("cache_dir"),
        cfg.get("workers"),
        bool(cfg.progress),
        int(cfg.sheet_pairs),
        root,
    )
    print("\n".join(result.lines))
    log.info(
        "audited %s in %.1f s (%d hashed, the rest from the cache); wrote %s",
        plural(len(sets), "set"),
        result.seconds,
        result.hashed,
        out,
    )
    return result.record


main = hydra_command("audit", run)

if __name__ == "__main__":
    main()
