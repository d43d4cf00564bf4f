"""The GPU check's runner: the offline install where the imports fail, then every stage as
``gpu_check.py --stage NAME`` in its own process (and process group) under its own time limit
and the global budget, one at a time by default (timings must not overlap). It records each
stage's status, seconds and results in ``gpu_check.json`` and rewrites ``gpu_check.md`` after
each, so that a kill keeps what finished."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.gpu.context import write_json
from benchmarks.gpu.plan import (
    CHAIN,
    DEPENDS,
    MIN_STAGE_S,
    PAPER,
    PAPER_BUDGET_S,
    STAGES,
    SUITES,
    sizes,
)
from benchmarks.gpu.report import render_md, summary
from benchmarks.gpu_install import DEFAULT_SITE, DEFAULT_WHEELS, offline_install

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "benchmarks" / "gpu_check.py"
IMPORT_CHECK = "import hydra, omegaconf, albumentations, lightning, ras_lightning.train"


def stage_env(site: Path | None, quick: bool) -> dict[str, str]:
    """The stage processes' environment: the install folder and the repository importable."""
    env = dict(os.environ)
    paths = [str(site)] if site else []
    paths.append(str(REPO))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        PYTHONUNBUFFERED="1",
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        NO_ALBUMENTATIONS_UPDATE="1",
        HYDRA_FULL_ERROR="1",
    )
    if quick:  # toy sizes: one thread is as fast, and spins no second core
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _importable(env: dict[str, str]) -> tuple[bool, str]:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, env=env, timeout=120
    )
    return proc.returncode == 0, proc.stderr[-1500:]


def install(args: argparse.Namespace, say: Any) -> tuple[dict[str, Any], Path | None]:
    """The offline install where the imports fail (never by default in quick or CPU mode):
    what it did, and the folder the stages then see (None: the machine's packages only)."""
    quick, cpu = bool(args.quick), args.device == "cpu"
    site, wheels = Path(args.site or DEFAULT_SITE), Path(args.wheels or DEFAULT_WHEELS)
    use_site = site if site.is_dir() else None
    if args.install is False or (args.install is None and (quick or cpu)):
        why = "--no-install" if args.install is False else "quick/cpu mode"
        return {"status": f"skipped ({why})"}, use_site
    t0 = time.perf_counter()
    ok, err = _importable(stage_env(use_site, quick))
    if args.install or not ok:
        say(f"offline install from {wheels} into {site} ...")
        try:
            info = offline_install(wheels, site)
            use_site = site
            ok, err = _importable(stage_env(use_site, quick))
            info["status"] = "ok" if ok else "error: imports still fail"
            if not ok:
                info["error"] = err
        except Exception as exc:  # noqa: BLE001 (recorded; the stages report the rest)
            info = {"status": "error", "error": str(exc)[-2000:]}
        say(f"install: {info['status']} ({len(info.get('installed', []))} wheels)")
    else:
        info = {"status": "not needed (imports work)"}
    info["seconds"] = time.perf_counter() - t0
    return info, use_site


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Runner:
    """One check: its folders, its report, and the stages pending and running."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.t_start = time.perf_counter()
        self.args = args
        self.out = Path(args.out).expanduser().resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = (
            Path(args.work).expanduser().resolve()
            if args.work
            else (Path(tempfile.gettempdir()) / "ras_gpu_check")
        )
        (self.work / "stages").mkdir(parents=True, exist_ok=True)
        self.quick, self.cpu = bool(args.quick), args.device == "cpu"
        suite = getattr(args, "suite", None) or "check"
        self.budget = float(args.budget or (600 if self.quick else PAPER_BUDGET_S[suite]))
        self.jobs = max(1, int(args.jobs or (2 if self.quick and self.cpu else 1)))
        self.json_path = self.out / "gpu_check.json"
        self.md_path = self.out / "gpu_check.md"
        self.only = [s.strip() for s in args.stages.split(",")] if args.stages else None
        suite = getattr(args, "suite", None) or "check"
        if suite not in SUITES:
            raise SystemExit(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
        # --stages names stages of any suite (merged into an existing json); else the suite's
        selected = self.only or SUITES[suite]
        names = [n for n, _, _ in STAGES]
        if self.only and (unknown := [s for s in self.only if s not in names]):
            raise SystemExit(f"unknown stage(s) {unknown}; stages: {', '.join(names)}")
        self.report: dict[str, Any] = {
            "tool": "benchmarks/gpu_check.py",
            "schema": 1,
            "command": " ".join(["python", "benchmarks/gpu_check.py", *sys.argv[1:]]),
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
            "mode": {
                "device": args.device,
                "quick": self.quick,
                "budget_s": self.budget,
                "suite": suite,
                "jobs": self.jobs,
                "work": str(self.work),
            },
            "paper": PAPER,
            "card": None,
            "install": None,
            "stages": {},
        }
        if self.only and self.json_path.is_file():  # a partial rerun keeps the other entries
            old = json.loads(self.json_path.read_text())
            self.report["stages"] = old.get("stages", {})
            self.report["card"] = old.get("card")
        self.log = (self.out / "gpu_check.log").open("a" if self.only else "w")
        self.gpus: int | None = None
        self.pending = [
            (n, args.limit or (q if self.quick else g)) for n, g, q in STAGES if n in selected
        ]
        if self.jobs > 1:  # the longest chain first
            self.pending.sort(key=lambda item: item[0] not in CHAIN)
        self.planned = {n for n, _ in self.pending}
        self.running: dict[str, dict[str, Any]] = {}
        self.done: set[str] = set()
        self.env: dict[str, str] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def say(self, msg: str) -> None:
        print(f"[gpu_check {self.elapsed():6.1f} s] {msg}", flush=True)

    def flush(self) -> None:
        self.report["elapsed_s"] = self.elapsed()
        write_json(self.json_path, self.report)
        self.md_path.write_text(render_md(self.report))

    def ready(self, name: str) -> bool:
        return all(d not in self.planned or d in self.done for d in DEPENDS.get(name, ()))

    def skip_reason(self, name: str) -> str | None:
        compile_limit = self.args.compile_limit
        if name.startswith("compile_") and self.quick and not compile_limit:
            return "skipped: quick mode"
        if name == "ddp" and self.gpus is not None and self.gpus < 2:
            return "skipped: 1 GPU" if not self.cpu else "skipped: cpu"
        need = MIN_STAGE_S
        if name.startswith("compile_"):  # no point starting what cannot finish
            need = (compile_limit or sizes(self.quick)["compile_limit_s"]) + 15
        if self.budget - self.elapsed() < need:
            return "skipped: budget"
        return None

    def start(self, name: str, limit: float) -> None:
        a = self.args
        if name.startswith("compile_") and a.compile_limit:
            limit = max(limit, a.compile_limit + 40)  # imports, model, measurement
        timeout = min(limit, self.budget - self.elapsed())
        result_file = self.work / "stages" / f"{name}.json"
        result_file.unlink(missing_ok=True)
        cmd = [
            sys.executable, str(ENTRY), "--stage", name, "--out", str(self.out),
            "--work", str(self.work), "--device", a.device, "--result", str(result_file),
        ] + (["--quick"] if self.quick else []) + (
            ["--compile-limit", str(a.compile_limit)] if a.compile_limit else []
        )  # fmt: skip
        self.say(f"{name}: start (limit {timeout:.0f} s)")
        stage_log = self.work / "stages" / f"{name}.log"
        f = stage_log.open("w")
        # its own process group (killed whole on a timeout), in this session: whatever ends
        # this session's processes (the device tool's limit) ends the stage's too
        group = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
        proc = subprocess.Popen(
            cmd, stdout=f, stderr=subprocess.STDOUT, env=self.env, cwd=self.work, **group
        )
        self.running[name] = {
            "proc": proc, "file": f, "log": stage_log, "result": result_file,
            "t0": time.perf_counter(), "timeout": timeout, "limit": limit,
        }  # fmt: skip

    def finish(self, name: str, rc: int | None, forced: str | None = None) -> None:
        r = self.running.pop(name)
        _kill_group(r["proc"])  # whatever the stage left running
        r["proc"].wait()
        r["file"].close()
        seconds = time.perf_counter() - r["t0"]
        text = r["log"].read_text(errors="replace")
        self.log.write(f"\n===== {name} (rc {rc}, {seconds:.1f} s) =====\n{text[-30000:]}\n")
        self.log.flush()
        result = json.loads(r["result"].read_text()) if r["result"].is_file() else {}
        status = result.pop("_status", None)
        cpu_s = result.pop("_cpu_s", None)
        if forced:
            status = forced
        elif rc is None:
            status = f"timeout after {r['timeout']:.0f} s"
        elif status is None:
            status = "ok" if rc == 0 else f"error (exit {rc})"
        entry = {"status": status, "seconds": seconds, "cpu_s": cpu_s, "limit_s": r["limit"]}
        entry["result"] = result
        if status.startswith(("error", "timeout", "stopped")):
            entry["error"] = text[-2500:]
        self.report["stages"][name] = entry
        self.done.add(name)
        if name == "env":
            self.report["card"] = result.get("card")
            self.gpus = result.get("gpu_count")
        self.say(f"{name}: {status} in {seconds:.1f} s. {summary(result)}")
        if status.startswith(("error", "timeout")):
            for ln in text[-1200:].splitlines()[-8:]:
                print(f"    | {ln}", flush=True)
        self.flush()

    def stop(self, signum: int, frame: Any) -> None:
        """SIGTERM/SIGINT: end the running stages, keep what finished."""
        for name in list(self.running):
            _kill_group(self.running[name]["proc"])
            self.finish(name, None, f"stopped (signal {signum})")
        self.report["stopped"] = f"signal {signum}"
        self.flush()
        raise SystemExit(128 + signum)

    def step(self) -> None:
        """Start what is ready (up to ``jobs`` at a time), reap what ended or timed out."""
        for item in list(self.pending):
            if len(self.running) >= self.jobs:
                break
            name, limit = item
            if not self.ready(name):
                continue
            self.pending.remove(item)
            reason = self.skip_reason(name)
            if reason:
                self.report["stages"][name] = {
                    "status": reason,
                    "seconds": 0.0,
                    "limit_s": limit,
                }
                self.done.add(name)
                self.say(f"{name}: {reason}")
                self.flush()
                continue
            self.start(name, limit)
        for name, r in list(self.running.items()):
            rc = r["proc"].poll()
            if rc is not None:
                self.finish(name, rc)
            elif time.perf_counter() - r["t0"] > r["timeout"]:
                self.finish(name, None)

    def run(self) -> int:
        """The install, then every stage; 1 when one failed or timed out, else 0."""
        self.report["install"], site = install(self.args, self.say)
        self.env = stage_env(site, self.quick)
        self.flush()
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        while self.pending or self.running:
            self.step()
            if self.running:
                time.sleep(0.1)
        self.report["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
        self.flush()
        self.log.close()
        bad = [
            n
            for n, st in self.report["stages"].items()
            if n in self.planned and st["status"].startswith(("error", "timeout"))
        ]
        self.say(
            f"done: {self.json_path}, {self.md_path}"
            + (f"; failed: {', '.join(bad)}" if bad else "")
        )
        return 1 if bad else 0
