"""Offline install, on the lent GPU machine, of the wheels ``benchmarks/gpu_wheels.sh``
downloaded where PyPI is reachable: only those whose distribution the machine lacks, or has
too old for the others, go with ``pip --no-index --no-deps --target`` into a folder that is
then put on ``PYTHONPATH`` (the machine's own packages are left as they are).

    python3 benchmarks/gpu_install.py [--wheels .gpu_wheels] [--site /tmp/ras_gpu_site]

``benchmarks/gpu_check.py`` calls it by itself where ``import hydra`` fails; this command
runs it alone and prints what it did (JSON).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SITE = Path("/tmp/ras_gpu_site")
DEFAULT_WHEELS = REPO / ".gpu_wheels"


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode("utf-8", "replace")
    return [
        ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Requires-Dist:")
    ]


def plan_install(wheels: list[Path], installed: dict[str, str]) -> dict[str, Any]:
    """Which wheels to install: those whose distribution is not installed, plus an installed
    one's wheel where its version fails a requirement of the wheels being installed. Returns
    the wheels, and the requirements nothing here satisfies (to report)."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    by_name = {_canon(w.name.split("-")[0]): w for w in wheels}
    version = {n: w.name.split("-")[1] for n, w in by_name.items()}
    chosen = {n for n in by_name if n not in installed}
    unmet: list[str] = []
    changed = True
    while changed:
        changed = False
        unmet = []
        for n in sorted(chosen):
            for spec in _wheel_requires(by_name[n]):
                req = Requirement(spec)
                if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                    continue
                dep = _canon(req.name)
                if dep in chosen:
                    have = version[dep]
                elif dep in installed:
                    have = installed[dep]
                else:
                    unmet.append(f"{n}: {spec} (not installed, no wheel)")
                    continue
                try:
                    ok = req.specifier.contains(Version(have), prereleases=True)
                except Exception:  # noqa: BLE001 (an odd version string: trust it)
                    ok = True
                if ok:
                    continue
                if dep in by_name and dep not in chosen:
                    chosen.add(dep)
                    changed = True
                else:
                    unmet.append(f"{n}: {spec} (have {have})")
    return {"wheels": [by_name[n] for n in sorted(chosen)], "unmet": sorted(set(unmet))}


def installed_versions() -> dict[str, str]:
    """This Python's distributions (canonical name -> version), the first found of each."""
    import importlib.metadata as md

    out = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(_canon(name), dist.version)
    return out


def offline_install(wheel_dir: Path, site: Path) -> dict[str, Any]:
    """pip install the needed wheels offline into ``site`` (--no-index --no-deps --target)."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        raise RuntimeError(
            f"no wheels in {wheel_dir}: run `bash benchmarks/gpu_wheels.sh` where PyPI is "
            "reachable and carry the folder"
        )
    plan = plan_install(wheels, installed_versions())
    chosen = plan["wheels"]
    info: dict[str, Any] = {
        "wheel_dir": str(wheel_dir),
        "site": str(site),
        "installed": [w.name for w in chosen],
        "kept_machine_copy": sorted(w.name for w in wheels if w not in chosen),
        "unmet": plan["unmet"],
    }
    if chosen:
        site.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
            "--no-compile", "--no-cache-dir", "--upgrade", "--disable-pip-version-check",
            "--target", str(site), *map(str, chosen),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        info["pip_output"] = (proc.stdout + proc.stderr)[-2000:]
        if proc.returncode != 0:
            raise RuntimeError(f"pip install failed:\n{info['pip_output']}")
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wheels", default=str(DEFAULT_WHEELS), help="the wheel folder")
    p.add_argument("--site", default=str(DEFAULT_SITE), help="where the wheels are installed")
    args = p.parse_args(argv)
    try:
        info = offline_install(Path(args.wheels), Path(args.site))
    except RuntimeError as exc:  # no wheels, or pip failed: said in a few lines
        sys.exit(str(exc))
    print(json.dumps(info, indent=2))
    print(f"PYTHONPATH={args.site}:{REPO}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
