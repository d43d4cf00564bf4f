"""``predict`` and ``eval`` across processes: ``devices=N`` spawns N of them here (CPU: N
processes on a share of the cores each; GPU: one per GPU), and a run started by an external
launcher (``torchrun``: ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; ``srun`` and Hydra's submitit
launchers: ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID``) joins the launcher's group.

Every process takes its shard of the sorted inputs (:func:`shard`: every ``world``-th from
its rank, so the shards are disjoint, cover everything and hold similar sizes) and writes
only its own outputs. The small results (counts, per-image statistics) go to rank 0 over a
gloo group (CPU tensors, whatever device runs the network), which puts them back in the
one-process order: one process's outputs, byte for byte.

torch is imported only when there is more than one process: a one-process CPU run with a
warm ONNX cache still starts without it.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ras_lightning.utils import devices as _devices
from ras_lightning.utils.errors import UserError

log = logging.getLogger("ras_lightning.inference")

T = TypeVar("T")

#: what the group waits for a slow rank before it gives up (a stuck rank does not hang a job)
TIMEOUT_S = 1800


@dataclass(frozen=True)
class Group:
    """This process's place among the inference processes (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes the shared files and prints the summary."""
        return self.rank == 0


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """This rank's share of ``items`` (in the given order): every ``world``-th from ``rank``."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} of {world} processes")
    return list(items[rank::world])


def unshard(parts: Sequence[Sequence[T]]) -> list[T]:
    """The items in their one-process order again from every rank's :func:`shard` (by rank)."""
    world = len(parts)
    out: list[T] = []
    for i in range(max((len(p) for p in parts), default=0)):
        out += [parts[r][i] for r in range(world) if i < len(parts[r])]
    return out


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list (``node[03-05,9],other`` -> ``node03``)."""
    head = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not head:
        raise UserError(f"SLURM node list {nodelist!r}: cannot read its first host")
    prefix, ranges = head.groups()
    return prefix + (ranges.split(",")[0].split("-")[0] if ranges else "")


def launched_group(env: dict[str, str] | None = None) -> Group | None:
    """The group an external launcher set up (torchrun's variables first, then an ``srun``
    step's), or None when this process was started alone. The batch script of an
    ``sbatch --ntasks=N`` job is no member: only a job step (``SLURM_STEP_ID``) is."""
    env = dict(os.environ if env is None else env)
    if "RANK" in env and "WORLD_SIZE" in env:
        world = int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", env["RANK"]))
        local_world = int(env.get("LOCAL_WORLD_SIZE", world))
        group = Group(int(env["RANK"]), world, local, local_world)
    elif "SLURM_PROCID" in env and env.get("SLURM_STEP_ID", "batch").isdigit():
        world = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or 1)
        local_world = _first_count(env.get("SLURM_STEP_TASKS_PER_NODE", "")) or world
        group = Group(
            int(env["SLURM_PROCID"]), world, int(env.get("SLURM_LOCALID", 0)), local_world
        )
    else:
        return None
    return group if group.world > 1 else None


def _first_count(tasks_per_node: str) -> int:
    """The first count of SLURM's ``2(x3),1`` form (0 when absent)."""
    m = re.match(r"(\d+)", tasks_per_node)
    return int(m.group(1)) if m else 0


def _rendezvous(env: dict[str, str]) -> tuple[str, str]:
    """(address, port) of rank 0: torchrun's ``MASTER_ADDR``/``MASTER_PORT``, else on SLURM
    the step's first node and a port from the job id."""
    addr, port = env.get("MASTER_ADDR"), env.get("MASTER_PORT")
    if not addr:
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
        addr = first_host(nodes) if nodes and int(env.get("SLURM_NNODES", 1)) > 1 else "127.0.0.1"
    if not port:
        port = str(20000 + int(env.get("SLURM_JOB_ID", "0") or 0) % 20000)
    return addr, port


def join(group: Group) -> None:
    """Join the launcher's (or :func:`spawn`'s) group over gloo, once per process."""
    if group.world == 1:
        return
    import datetime

    import torch.distributed as dist

    if dist.is_initialized():
        return
    addr, port = _rendezvous(dict(os.environ))
    os.environ.setdefault("MASTER_ADDR", addr)
    os.environ.setdefault("MASTER_PORT", port)
    dist.init_process_group(
        "gloo",
        rank=group.rank,
        world_size=group.world,
        timeout=datetime.timedelta(seconds=TIMEOUT_S),
    )
    atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())


def gather(group: Group, obj: T) -> list[T] | None:
    """Every rank's ``obj`` on rank 0 (by rank), None on the others; ``[obj]`` alone."""
    if group.world == 1:
        return [obj]
    import torch.distributed as dist

    parts: list[Any] | None = [None] * group.world if group.main else None
    dist.gather_object(obj, parts, dst=0)
    return parts


def all_gather(group: Group, obj: T) -> list[T]:
    """Every rank's ``obj`` on every rank (by rank); ``[obj]`` alone."""
    if group.world == 1:
        return [obj]
    import torch.distributed as dist

    parts: list[Any] = [None] * group.world
    dist.all_gather_object(parts, obj)
    return parts


def rank_settings(cfg: Any, group: Group) -> Any:
    """``cfg`` for this rank: on a GPU ``cuda:<local rank>`` (one GPU per process), on a CPU
    the cores shared out (ONNX Runtime and torch threads, scoring workers); the progress bars
    of rank 0 only. ``cfg`` itself is unchanged."""
    from omegaconf import OmegaConf, open_dict

    if group.world == 1:
        return cfg
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    device = str(cfg.get("device", "auto"))
    gpu = device.startswith("cuda") or (
        device == "auto" and cfg.get("backend") != "onnxruntime" and _devices.gpu_present()
    )
    share = max(1, _devices.physical_cores() // group.local_world)
    with open_dict(cfg):
        if gpu:
            cfg.device = f"cuda:{group.local_rank}"
        else:
            cfg.threads = cfg.get("threads") or share
            if "workers" in cfg:
                cfg.workers = cfg.get("workers") or share
            if "torch" in sys.modules:  # a torch network on the CPU: its share too
                sys.modules["torch"].set_num_threads(int(cfg.threads))
        cfg.progress = bool(cfg.get("progress", False)) and group.main
    return cfg


def start(cfg: Any) -> tuple[Group, Any]:
    """This process's group (joined; from its launcher or :func:`spawn`, alone rank 0 of 1)
    and its settings (:func:`rank_settings`)."""
    group = launched_group() or Group()
    join(group)
    return group, rank_settings(cfg, group)


def check_devices(devices: Any, device: str) -> int:
    """The number of processes ``devices`` asks for (one line when it cannot run here)."""
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        raise UserError(f"devices={devices!r}: must be a whole number >= 1 (processes)")
    if devices > 1 and (device.startswith("cuda") or device == "auto") and _devices.gpu_present():
        import torch

        if devices > torch.cuda.device_count():
            raise UserError(
                f"devices={devices}: this machine has {torch.cuda.device_count()} GPU(s); "
                "one process per GPU"
            )
    if devices > 1 and device == "mps":
        raise UserError("devices>1 runs on CPUs or CUDA GPUs, not device=mps")
    return devices


# ---- devices=N: the group spawned here ----------------------------------------------------

_SPAWNED = "RAS_INFERENCE_SPAWNED"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(rank: int, world: int, port: int, run: Callable, cfg: dict, logs: tuple, q: Any) -> None:
    """A spawned rank: the environment a launcher would set, the parent's console logging,
    then ``run(cfg)``; its value (or its error) goes back to the parent."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        **{_SPAWNED: "1"},
    )
    level, fmt = logs
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    from omegaconf import OmegaConf

    try:
        result = run(OmegaConf.create(cfg, flags={"struct": True}))
        q.put((rank, True, result))
    except BaseException as err:  # noqa: BLE001 (sent to the parent, which raises it)
        try:
            q.put((rank, False, err))
        except Exception:  # noqa: BLE001 (an error that does not pickle)
            q.put((rank, False, RuntimeError(f"{type(err).__name__}: {err}")))
        sys.stdout.flush()
        raise SystemExit(1) from None


def _console_logging() -> tuple[int, str]:
    root = logging.getLogger()
    fmt = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    for h in root.handlers:
        if h.formatter is not None and getattr(h.formatter, "_fmt", None):
            fmt = h.formatter._fmt
            break
    return root.level or logging.WARNING, fmt


def _plain(cfg: Any) -> dict:
    """``cfg`` as plain data for the new processes, its interpolations resolved here (where
    Hydra's ``${hydra:...}`` values are known); a key that does not resolve (a config composed
    without Hydra's run settings) is passed on as written."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except OmegaConfBaseException:
        out = {}
        for key in cfg:
            try:
                node = cfg[key]
                out[key] = (
                    OmegaConf.to_container(node, resolve=True)
                    if isinstance(node, DictConfig)
                    else node
                )
            except OmegaConfBaseException:
                out[key] = OmegaConf.to_container(cfg, resolve=False)[key]
        return out


def spawn(cfg: Any, run: Callable[[Any], T]) -> T | None:
    """With ``cfg.devices`` > 1 in a process no launcher started: ``run(cfg)`` in that many
    new processes (a group on this machine); rank 0's value, or the first error to arrive
    raised here (the other processes stopped). None when this process should run it itself
    (alone, or a member of a launched or spawned group)."""
    import multiprocessing as mp

    n = check_devices(cfg.get("devices", 1), str(cfg.get("device", "auto")))
    if n == 1 or os.environ.get(_SPAWNED) or launched_group() is not None:
        return None
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port, logs = _free_port(), _console_logging()
    plain = _plain(cfg)
    procs = [
        ctx.Process(target=_child, args=(r, n, port, run, plain, logs, q), daemon=False)
        for r in range(n)
    ]
    for p in procs:
        p.start()
    results: dict[int, tuple[bool, Any]] = {}
    try:
        while len(results) < n:
            try:
                rank, ok, value = q.get(timeout=0.5)
                results[rank] = (ok, value)
                if not ok:  # the others may wait for it in a gather: stop them
                    break
            except queue.Empty:
                dead = [r for r, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if dead and all(r not in results for r in dead):
                    time.sleep(1)  # its error may still be on its way
                    if q.empty():
                        err = RuntimeError(
                            f"inference process {dead[0]} of {n} exited "
                            f"{procs[dead[0]].exitcode} before it could report (its output "
                            "is above; a script that calls predict/eval with devices>1 "
                            "needs `if __name__ == '__main__':`)"
                        )
                        results[dead[0]] = (False, err)
                        break
    finally:  # an error (or an interrupt here) stops the others at once
        clean = len(results) == n and all(ok for ok, _ in results.values())
        for p in procs:
            p.join(timeout=30 if clean else 0)
            if p.is_alive():
                p.terminate()
                p.join()
    errors = sorted((r, v) for r, (ok, v) in results.items() if not ok)
    if errors:
        raise errors[0][1]
    return results[0][1]


def shard_of(paths: Sequence[Any], group: Group) -> list[Any]:
    """This process's :func:`shard` of ``paths`` sorted (the same list on every rank)."""
    return shard(sorted(paths), group.rank, group.world)
