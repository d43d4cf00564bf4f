"""Inference speed: the authors' test loop vs ``python -m ras_lightning.predict``, whole process.

    .venv/bin/python benchmarks/bench_inference.py [--photos 24] [--version v2] [--repeat 1]

Both read the same photos (ECSSD-100 from ../shared when present, else generated 400x300
photos), run RAS at 352x352 with the same weights (seeded, in the authors' RAS.vN.pth format)
and write one PNG map per photo at the photo's size. The authors' way: eager fp32, one image
at a time (their test scripts; torch, NumPy and an image library imported, their own ResNet as
ours, no torchvision). Ours: the predict command with its defaults (on a CPU: ONNX Runtime on
the network exported by ``torch.onnx.export`` into the ONNX cache, batch 1) with a cold cache
(every timed run gets an empty ``cache_dir``, so it imports torch and exports the network
first) and a warm one (filled by an untimed run before: no torch import), with
``backend=torch`` (BatchNorm folded, channels-last, inference_mode, batch 1), and on an
exported ONNX file. Each round runs every pipeline once, in turn; the table shows the best of
``--repeat`` rounds and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ECSSD = REPO.parent / "shared" / "data" / "ECSSD-100" / "images"

AUTHORS_LOOP = r"""
import sys, os, numpy as np, torch, torch.nn.functional as F
from PIL import Image
from ras_lightning.models import RAS
weights, src, out, version = sys.argv[1:5]
net = RAS.from_official(weights).eval()
v1 = version == "v1"
mean = np.array([0.485, 0.456, 0.406]) if v1 else np.array([124.55, 118.90, 102.94]) / 255
std = np.array([0.229, 0.224, 0.225]) if v1 else np.array([56.77, 55.97, 57.50]) / 255
for name in sorted(os.listdir(src)):
    img = Image.open(os.path.join(src, name)).convert("RGB")
    w, h = img.size
    x = (np.asarray(img.resize((352, 352), Image.BILINEAR), np.float32) / 255 - mean) / std
    x = torch.from_numpy(x.transpose(2, 0, 1)).float()[None]
    with torch.no_grad():
        res = net(x)[0]
    res = F.interpolate(res, size=(h, w), mode="bilinear", align_corners=False)
    res = res.sigmoid().numpy()[0, 0]
    res = (res - res.min()) / (res.max() - res.min() + 1e-8)
    Image.fromarray((res * 255).astype(np.uint8)).save(os.path.join(out, name[:-4] + ".png"))
"""


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--version", default="v2")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "photos"
        src.mkdir()
        if ECSSD.is_dir():
            for p in sorted(ECSSD.glob("*.jpg"))[: args.photos]:
                shutil.copyfile(p, src / p.name)
        else:
            rng = np.random.default_rng(0)
            for i in range(args.photos):
                Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8)).save(
                    src / f"{i:04d}.jpg"
                )
        torch.manual_seed(0)
        from ras_lightning.models import RAS

        weights = tmp / f"RAS.{args.version}.pth"
        torch.save(RAS(args.version).official_state_dict(), weights)
        onnx_file = tmp / "ras.onnx"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ras_lightning.export",
                f"weights={weights}",
                "format=onnx",
                f"output={onnx_file}",
            ],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        cmds = {
            "authors' loop (eager fp32, batch 1)": [
                sys.executable,
                "-c",
                AUTHORS_LOOP,
                str(weights),
                str(src),
                str(tmp / "a"),
                args.version,
            ],
            "ras_lightning.predict, cold cache (defaults; first run: exports to the cache)": [
                sys.executable,
                "-m",
                "ras_lightning.predict",
                f"weights={weights}",
                f"input={src}",
                f"output={tmp / 'cold'}",
                "progress=false",
                "cache_dir=COLD",  # a new empty folder for every run
            ],
            "ras_lightning.predict, warm cache (defaults; every later run)": [
                sys.executable,
                "-m",
                "ras_lightning.predict",
                f"weights={weights}",
                f"input={src}",
                f"output={tmp / 'b'}",
                "progress=false",
                f"cache_dir={tmp / 'warm_cache'}",
            ],
            "ras_lightning.predict backend=torch": [
                sys.executable,
                "-m",
                "ras_lightning.predict",
                f"weights={weights}",
                "backend=torch",
                f"input={src}",
                f"output={tmp / 'd'}",
                "progress=false",
            ],
            "ras_lightning.predict weights=<exported .onnx>": [
                sys.executable,
                "-m",
                "ras_lightning.predict",
                f"weights={onnx_file}",
                f"input={src}",
                f"output={tmp / 'c'}",
                "progress=false",
            ],
        }
        (tmp / "a").mkdir()
        warm = cmds["ras_lightning.predict, warm cache (defaults; every later run)"]
        subprocess.run(warm, check=True, capture_output=True, cwd=REPO)  # fills the cache
        times: dict[str, list[float]] = {k: [] for k in cmds}
        load = os.getloadavg()
        for i in range(args.repeat):
            for k, cmd in cmds.items():
                cmd = [c.replace("cache_dir=COLD", f"cache_dir={tmp / f'cold{i}'}") for c in cmd]
                times[k].append(_time(cmd))
        load_after = os.getloadavg()
    base = min(times["authors' loop (eager fp32, batch 1)"])
    print(
        f"{args.photos} photos, RAS {args.version} at 352x352, whole process, best of "
        f"{args.repeat}; load average before {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
        f"after {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f} (1/5/15 min)"
    )
    print("| pipeline | seconds | photos/s | speed-up |")
    print("|---|---|---|---|")
    for k, v in times.items():
        t = min(v)
        print(f"| {k} | {t:.2f} | {args.photos / t:.2f} | {base / t:.2f}x |")
    print("all runs (s):")
    for k, v in times.items():
        print(f"  {k}: {', '.join(f'{t:.2f}' for t in v)}")


if __name__ == "__main__":
    main()
