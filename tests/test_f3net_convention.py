"""``convention=f3net`` (:mod:`ras_lightning.metrics.f3net`) against F3Net's MATLAB code.

The oracle is F3Net's ``eval/main.m`` (weijun88/F3Net) run unchanged by Octave. Its numbers are
recorded in ``tests/fixtures/f3net_octave_sod.json`` (provenance inside), so the comparisons run
without Octave whenever ``../shared`` has the SOD maps; with ``octave`` on PATH and
``F3NET_EVAL_DIR`` naming a folder with F3Net's ``eval/*.m``, the tests also run Octave live.
F3Net's code is not part of this repository. Re-record with::

    F3NET_EVAL_DIR=/path/to/F3Net/eval .venv/bin/python tests/test_f3net_convention.py --record
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from ras_lightning.metrics.f3net import image_stats, imresize, read_gray_matlab, summarise

REPO = Path(__file__).resolve().parents[1]
SOD = REPO.parent / "shared" / "data" / "SOD"
FIXTURE = REPO / "tests" / "fixtures" / "f3net_octave_sod.json"
METHODS = ("Amulet", "DSS", "PiCANet")
RESIZED_METHOD = "DSS"
EDGE_METHOD = "Amulet"
# main.m's printed variables -> summarise() keys
TOOLBOX_KEYS = {
    "maxF": "max_f",
    "fm": "adaptive_f",
    "mae": "mae",
    "wfm": "weighted_f",
    "sm": "s_measure",
    "em": "adaptive_e",
}
PER_IMAGE_KEYS = ("mae", "adaptive_f", "weighted_f", "s_measure", "adaptive_e")  # results{k,2:6}
TOL = 1e-4
# main.m, unchanged, reads ./maps/F3Net/ECSSD/*.png and ../data/ECSSD/mask/<name>; then dump
# its workspace at full precision
OCTAVE_SCRIPT = (
    "pkg load image; addpath('{eval_dir}'); main; "
    "printf('RESULT %.17g %.17g %.17g %.17g %.17g %.17g\\n', maxF, fm, mae, wfm, sm, em); "
    "printf('PREC'); printf(' %.17g', prec); printf('\\n'); "
    "printf('REC'); printf(' %.17g', rec); printf('\\n'); "
    "for k = 1:rows(results), printf('IMG %s', results{{k,1}}); for c = 2:6, "
    "if isempty(results{{k,c}}), printf(' skipped'); else printf(' %.17g', results{{k,c}}); end; "
    "end; printf('\\n'); end"
)
OCTAVE_CMD = ["octave", "--no-gui", "--no-window-system", "--quiet", "--no-init-file", "--eval"]

# MATLAB's own imresize outputs for this uint8 input (bicubic), as quoted in the test block of
# Octave's image package 2.14.0 imresize.m ("reference results from matlab")
IMRESIZE_INPUT = [
    [116, 227, 153, 69, 146, 194, 59, 130, 139, 106],
    [2, 47, 137, 249, 90, 75, 16, 24, 158, 44],
    [155, 68, 46, 84, 166, 156, 69, 204, 32, 152],
    [71, 221, 137, 230, 210, 153, 192, 115, 30, 118],
    [107, 143, 108, 52, 51, 73, 101, 21, 175, 90],
    [54, 158, 143, 77, 26, 168, 113, 229, 165, 225],
    [9, 47, 133, 135, 130, 207, 236, 43, 19, 73],
    [129, 60, 59, 243, 64, 181, 249, 56, 32, 86],
]
# (shape) or (scale) cases for Octave's imresize, on uint8 and on double input
IMRESIZE_CASES = [
    {"shape": [5, 7]},
    {"shape": [3, 4]},
    {"shape": [13, 6]},
    {"shape": [16, 21]},
    {"shape": [11, 14]},
    {"shape": [2, 25]},
    {"shape": [4, 5]},
    {"shape": [24, 10]},
]


# --------------------------------------------------------------------------------- our scoring
def _score_names(args: tuple[str, str, list[str], bool]) -> tuple[dict, dict]:
    gt_dir, map_dir, names, octave_resize = args
    totals: dict = {}
    per_image = {}
    for name in names:
        pred = read_gray_matlab(Path(map_dir) / name)
        gt = read_gray_matlab(Path(gt_dir) / name)
        if octave_resize and pred.shape != gt.shape:
            pred = octave_imresize(pred, gt.shape)
        s = image_stats(pred, gt)
        per_image[name] = [s[k] for k in PER_IMAGE_KEYS]
        for k, v in s.items():
            totals[k] = totals[k] + v if k in totals else v
    return totals, per_image


def score_folder(
    gt_dir: Path, map_dir: Path, workers: int = 2, octave_resize: bool = False
) -> dict:
    """Ours on every ``*.png`` of ``map_dir``: metrics, mean P/R curves, per-image scores.

    ``octave_resize``: resize maps with :func:`octave_imresize` instead of MATLAB's imresize.
    """
    names = sorted(p.name for p in Path(map_dir).glob("*.png"))
    chunks = [names[i::workers] for i in range(workers)]
    jobs = [(str(gt_dir), str(map_dir), c, octave_resize) for c in chunks if c]
    if len(jobs) > 1:
        with ProcessPoolExecutor(len(jobs)) as pool:
            parts = list(pool.map(_score_names, jobs))
    else:
        parts = [_score_names(j) for j in jobs]
    totals: dict = {}
    per_image: dict = {}
    for t, p in parts:
        per_image.update(p)
        for k, v in t.items():
            totals[k] = totals[k] + v if k in totals else v
    out = summarise(totals, len(names))
    out["precision"] = totals["precision"] / len(names)
    out["recall"] = totals["recall"] / len(names)
    out["per_image"] = per_image
    return out


# ------------------------------------------------------------------- Octave's imresize, emulated
def _symmetric(i: np.ndarray, n: int) -> np.ndarray:
    """Octave imresize's ``pad_indices(i, n, "symmetric")``, 0-based."""
    i = i - 1
    m = np.mod(i, n)
    return np.where(np.mod(np.floor_divide(i, n), 2) == 1, n - m, m + 1) - 1


def _cubic_same_type(h: np.ndarray) -> np.ndarray:
    a = np.abs(h)
    a01 = (a <= 1).astype(h.dtype)
    a12 = ((a <= 2) & (a > 1)).astype(h.dtype)
    a2 = a * a
    a3 = a2 * a
    return (1.5 * a3 - 2.5 * a2 + 1) * a01 + (-0.5 * a3 + 2.5 * a2 - 4 * a + 2) * a12


def octave_imresize(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Octave 7 / image 2.14's ``imresize(arr, shape)`` (bicubic), step for step.

    Unlike MATLAB's (:func:`ras_lightning.metrics.f3net.imresize`): columns first; an 8/16-bit
    image in single precision; kernel weights not normalised; one rounding at the end. Only to
    prove the rest of the port on resized maps against the Octave oracle.
    """
    integer = np.issubdtype(arr.dtype, np.integer)
    ft = np.float32 if integer and arr.dtype.itemsize <= 2 else np.float64
    scales = (shape[0] / arr.shape[0], shape[1] / arr.shape[1])
    im = arr.astype(ft)
    for axis in (1, 0):
        scale = scales[axis]
        if scale == 1:
            continue
        zi = (0.5 + 1 / scale / 2 + np.arange(shape[axis]) / scale).astype(ft)
        size = 4.0
        if scale < 1:
            s = ft(scale)

            def kernel(h: np.ndarray, s=s) -> np.ndarray:
                return s * _cubic_same_type(s * h)

            size /= scale
        else:
            kernel = _cubic_same_type
        idx = np.floor(zi)
        dz = zi - idx
        pad = int(np.ceil(size / 2))
        out_shape = list(im.shape)
        out_shape[axis] = zi.size
        out = np.zeros(out_shape, ft)
        for shift in range(1 - pad, pad + 1):
            src = _symmetric(idx.astype(np.int64) + shift, im.shape[axis])
            w = kernel(ft(shift) - dz)
            out += np.take(im, src, axis=axis) * (w[:, None] if axis == 0 else w[None, :])
        im = out
    if not integer:
        return im
    info = np.iinfo(arr.dtype)
    r = np.sign(im) * np.floor(np.abs(im.astype(np.float64)) + 0.5)
    return np.clip(r, info.min, info.max).astype(arr.dtype)


# ------------------------------------------------------------------------- derived test folders
def _names(n: int | None = None) -> list[str]:
    return sorted(p.name for p in (SOD / "gt").glob("*.png"))[:n]


def build_resized(dst: Path) -> tuple[Path, Path]:
    """SOD maps of RESIZED_METHOD at other sizes (pure NumPy, so deterministic).

    Image i: i % 3 == 0 half size (imresize enlarges); 1: rows x3 - 1, columns x2 (it shrinks,
    antialiased); 2: rows halved, columns x2 - 1 (one dimension each way).
    """
    dst.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(_names()):
        m = read_gray_matlab(SOD / "maps" / RESIZED_METHOD / name)
        if i % 3 == 0:
            m = m[::2, ::2]
        elif i % 3 == 1:
            m = np.repeat(np.repeat(m, 3, axis=0)[:-1], 2, axis=1)
        else:
            m = np.repeat(m[::2], 2, axis=1)[:, :-1]
        cv2.imwrite(str(dst / name), np.ascontiguousarray(m))
    return SOD / "gt", dst


EDGE_CASES = (
    "all-zero map",
    "all-zero mask",
    "all-255 mask",
    "RGB map: R = map, G = 255 - map, B = 0 (main.m keeps channel 1)",
    "16-bit map (map * 257)",
    "palette PNG map: indices = map, palette reversed (imread gives the indices)",
    "mask stored as 0/1 labels",
    "unchanged",
)


def build_edge(dst: Path) -> tuple[Path, Path]:
    """Eight SOD images of EDGE_METHOD, the i-th changed as EDGE_CASES[i] says."""
    from PIL import Image

    gt_dir, map_dir = dst / "gt", dst / "maps"
    gt_dir.mkdir(parents=True, exist_ok=True)
    map_dir.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(_names(len(EDGE_CASES))):
        m = read_gray_matlab(SOD / "maps" / EDGE_METHOD / name)
        g = read_gray_matlab(SOD / "gt" / name)
        g = np.where(g >= 128, 255, 0).astype(np.uint8)
        if i == 0:
            m = np.zeros_like(m)
        elif i == 1:
            g = np.zeros_like(g)
        elif i == 2:
            g = np.full_like(g, 255)
        elif i == 3:
            m = np.dstack([np.zeros_like(m), 255 - m, m])  # OpenCV writes BGR
        elif i == 4:
            m = m.astype(np.uint16) * 257
        elif i == 6:
            g = (g // 255).astype(np.uint8)
        if i == 5:
            im = Image.fromarray(m, mode="P")
            im.putpalette([v for k in range(256) for v in (255 - k,) * 3])
            im.save(map_dir / name)
        else:
            cv2.imwrite(str(map_dir / name), m)
        cv2.imwrite(str(gt_dir / name), g)
    return gt_dir, map_dir


def build_single(dst: Path, what: str) -> tuple[Path, Path]:
    """One image: ``constant_map`` (map all 128) or ``edge_column_mask`` (mask = last column)."""
    name = _names(1)[0]
    gt_dir, map_dir = dst / "gt", dst / "maps"
    gt_dir.mkdir(parents=True, exist_ok=True)
    map_dir.mkdir(parents=True, exist_ok=True)
    m = read_gray_matlab(SOD / "maps" / EDGE_METHOD / name)
    g = np.where(read_gray_matlab(SOD / "gt" / name) >= 128, 255, 0).astype(np.uint8)
    if what == "constant_map":
        m = np.full_like(m, 128)
    else:
        g = np.zeros_like(g)
        g[:, -1] = 255
    cv2.imwrite(str(map_dir / name), m)
    cv2.imwrite(str(gt_dir / name), g)
    return gt_dir, map_dir


# ------------------------------------------------------------------------------------ the oracle
def octave_available() -> Path | None:
    d = os.environ.get("F3NET_EVAL_DIR")
    if shutil.which("octave") and d and (Path(d) / "main.m").is_file():
        return Path(d).resolve()
    return None


def run_octave(eval_dir: Path, gt_dir: Path, map_dir: Path, work: Path) -> dict:
    """main.m run unchanged by Octave on one folder; ``error`` holds Octave's if it stops."""
    run = work / "eval"
    (run / "maps" / "F3Net").mkdir(parents=True)
    (work / "data" / "ECSSD").mkdir(parents=True)
    (run / "maps" / "F3Net" / "ECSSD").symlink_to(Path(map_dir).resolve())
    (work / "data" / "ECSSD" / "mask").symlink_to(Path(gt_dir).resolve())
    proc = subprocess.run(
        [*OCTAVE_CMD, OCTAVE_SCRIPT.format(eval_dir=eval_dir)],
        cwd=run,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out: dict = {"per_image": {}}
    for line in proc.stdout.splitlines():
        head, *vals = line.split()
        if head == "RESULT":
            out.update({k: float(v) for k, v in zip(TOOLBOX_KEYS.values(), vals, strict=True)})
        elif head in ("PREC", "REC"):
            out["precision" if head == "PREC" else "recall"] = [float(v) for v in vals]
        elif head == "IMG":
            out["per_image"][vals[0]] = [None if v == "skipped" else float(v) for v in vals[1:]]
    if "max_f" not in out:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        out = {"error": errors[0] if errors else proc.stderr.strip()[-300:]}
    return out


def run_octave_imresize(cases: list[dict], work: Path) -> list[dict]:
    """Octave's imresize of IMRESIZE_INPUT (uint8 and double) for each case."""
    script = ["pkg load image;", f"A = {_octave_matrix(IMRESIZE_INPUT)};"]
    for i, c in enumerate(cases):
        arg = f"[{c['shape'][0]} {c['shape'][1]}]"
        for cls in ("uint8", "double"):
            script.append(
                f"B = double(imresize({cls}(A), {arg})); printf('CASE {i} {cls} %d %d', "
                f"rows(B), columns(B)); printf(' %.17g', B'); printf('\\n');"
            )
    proc = subprocess.run(
        [*OCTAVE_CMD, " ".join(script)], cwd=work, capture_output=True, text=True, timeout=300
    )
    results = [dict(c) for c in cases]
    for line in proc.stdout.splitlines():
        if line.startswith("CASE"):
            _, i, cls, h, w, *vals = line.split()
            arr = np.array([float(v) for v in vals]).reshape(int(h), int(w))
            results[int(i)][cls] = arr.tolist()
    return results


def _octave_matrix(rows: list[list[int]]) -> str:
    return "[" + "; ".join(" ".join(str(v) for v in r) for r in rows) + "]"


def matlab_reference() -> list[dict]:
    """MATLAB's bicubic outputs quoted in Octave's imresize.m test block (see IMRESIZE_INPUT)."""
    path = next(Path("/usr/share/octave/packages").glob("image-*/imresize.m"))
    text = "\n".join(ln[3:] for ln in path.read_text().splitlines() if ln.startswith("%!"))
    text = text[text.index('imresize (uint8 (in), 1.5, "bicubic")') - 3000 :]
    text = text[text.index("in = [116") :]
    found = re.findall(
        r"out = \[([^\]]*)\];\s*assert \(imresize \(uint8 \(in\), ([^,]+), \"bicubic\"(.*?)\),",
        text,
        re.S,
    )
    return [
        {
            "scale": sc.strip(),
            "antialiasing": "false" not in rest,
            "output": [[int(v) for v in r.split()] for r in body.strip().splitlines()],
        }
        for body, sc, rest in found
    ]


# ------------------------------------------------------------------------------------- recording
def record() -> None:
    """Run the oracle on everything and write FIXTURE (needs Octave and F3NET_EVAL_DIR)."""
    eval_dir = octave_available()
    assert eval_dir is not None, "needs octave on PATH and F3NET_EVAL_DIR=<F3Net eval folder>"
    version = subprocess.run(
        [
            "octave",
            "--no-gui",
            "--quiet",
            "--eval",
            "disp(version); pkg load image; p = pkg('list', 'image'); disp(p{1}.version)",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folders = {m: (SOD / "gt", SOD / "maps" / m) for m in METHODS}
        folders["resized"] = build_resized(tmp / "resized")
        folders["edge"] = build_edge(tmp / "edge")
        folders["constant_map"] = build_single(tmp / "constant", "constant_map")
        folders["edge_column_mask"] = build_single(tmp / "column", "edge_column_mask")
        with ThreadPoolExecutor(4) as pool:
            runs = dict(
                zip(
                    folders,
                    pool.map(
                        lambda kv: run_octave(eval_dir, *kv[1], tmp / "run" / kv[0]),
                        folders.items(),
                    ),
                    strict=True,
                )
            )
        (tmp / "im").mkdir()
        imresize_octave = run_octave_imresize(IMRESIZE_CASES, tmp / "im")
    for key in METHODS + ("resized",):
        runs[key].pop("per_image")  # the dataset numbers are the point; keeps the file small
    fixture = {
        "provenance": {
            "oracle": "F3Net eval/main.m (unchanged) with the .m files beside it, run by Octave",
            "f3net_repo": "https://github.com/weijun88/F3Net",
            "f3net_commit": _f3net_commit(eval_dir),
            "octave": version[0] if version else None,
            "octave_image_package": version[1] if len(version) > 1 else None,
            "layout": "<work>/eval/maps/F3Net/ECSSD -> map folder, <work>/data/ECSSD/mask -> "
            "mask folder; run in <work>/eval",
            "command": [*OCTAVE_CMD, OCTAVE_SCRIPT.format(eval_dir="<F3NET_EVAL_DIR>")],
            "recorded_by": "F3NET_EVAL_DIR=<F3Net>/eval python tests/test_f3net_convention.py "
            "--record",
            "data": "../shared/data/SOD: gt/ (300 masks), maps/{Amulet,DSS,PiCANet}",
            "matlab_imresize_reference": "MATLAB outputs quoted in the %! test block of Octave "
            "image package imresize.m (bicubic, uint8)",
        },
        "sod": {m: runs[m] for m in METHODS},
        "resized": {"method": RESIZED_METHOD, "how": build_resized.__doc__, **runs["resized"]},
        "edge": {"method": EDGE_METHOD, "cases": list(EDGE_CASES), **runs["edge"]},
        "constant_map": runs["constant_map"],
        "edge_column_mask": runs["edge_column_mask"],
        "imresize": {
            "input": IMRESIZE_INPUT,
            "matlab": matlab_reference(),
            "octave": imresize_octave,
        },
    }
    write_fixture(fixture)
    print(f"wrote {FIXTURE}")


def write_fixture(fixture: dict) -> None:
    """FIXTURE as indented JSON with each list of numbers on one line."""
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixture, indent=1)
    # one line per list of numbers
    text = re.sub(
        r"\[\s+([^\[\]{}\"]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m[1]) + "]", text
    )
    FIXTURE.write_text(text + "\n")


def _f3net_commit(eval_dir: Path) -> str | None:
    env_commit = os.environ.get("F3NET_COMMIT")
    if env_commit:
        return env_commit
    proc = subprocess.run(
        ["git", "-C", str(eval_dir), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return proc.stdout.strip() or None


# ----------------------------------------------------------------------------------------- tests
needs_sod = pytest.mark.skipif(
    not (SOD / "gt").is_dir(), reason=f"{SOD} absent (../shared is not in a user's clone)"
)
needs_octave = pytest.mark.skipif(
    octave_available() is None,
    reason="needs octave (with octave-image) on PATH and F3NET_EVAL_DIR=<F3Net eval folder>",
)


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(FIXTURE.read_text())


def assert_close(ours: dict, oracle: dict, what: str, tol: float = TOL) -> None:
    for key in TOOLBOX_KEYS.values():
        assert abs(ours[key] - oracle[key]) <= tol, (what, key, ours[key], oracle[key])
    for key in ("precision", "recall"):
        diff = np.abs(np.asarray(ours[key]) - np.asarray(oracle[key])).max()
        assert diff <= tol, (what, key, diff)
    assert ours["max_f_dataset_pr"] == ours["max_f"]


@pytest.mark.slow  # a real-data cross-check (the SOD maps at full size)
@needs_sod
def test_sod_against_recorded_octave(recorded: dict) -> None:
    for method in METHODS:
        ours = score_folder(SOD / "gt", SOD / "maps" / method)
        assert_close(ours, recorded["sod"][method], method)


@pytest.mark.slow  # a real-data cross-check (the SOD maps at full size)
@needs_sod
def test_resized_maps_against_recorded_octave(recorded: dict, tmp_path: Path) -> None:
    folders = build_resized(tmp_path)
    # with Octave's imresize, everything else of ours agrees with the oracle as on SOD
    assert_close(score_folder(*folders, octave_resize=True), recorded["resized"], "resized")
    # with MATLAB's (ours): the six metrics stay within 1e-4 of Octave's (~2e-5 here); the
    # curves' ends (thresholds near 255, few pixels) move by up to ~1.5e-3
    ours = score_folder(*folders)
    for key in TOOLBOX_KEYS.values():
        assert abs(ours[key] - recorded["resized"][key]) <= TOL, key


@needs_sod
def test_edge_cases_against_recorded_octave(recorded: dict, tmp_path: Path) -> None:
    oracle = recorded["edge"]
    ours = score_folder(*build_edge(tmp_path))
    assert_close(ours, oracle, "edge")
    names = sorted(oracle["per_image"])
    for i, name in enumerate(names):
        want = oracle["per_image"][name]
        got = ours["per_image"][name]
        if i in (0, 1):  # skipped by main.m: counted with zeros
            assert want == [None] * 5 and got == [0.0] * 5
        else:
            np.testing.assert_allclose(got, want, atol=TOL, err_msg=EDGE_CASES[i])


@needs_sod
def test_constant_map(recorded: dict, tmp_path: Path) -> None:
    # Octave's mat2gray keeps a constant image's integer class, and wFmeasure.m stops on a
    # non-double map; MATLAB's mat2gray gives double ones, which is what we score
    assert "error" in recorded["constant_map"]
    gt_dir, map_dir = build_single(tmp_path, "constant_map")
    name = _names(1)[0]
    g = read_gray_matlab(gt_dir / name) > 0
    s = image_stats(read_gray_matlab(map_dir / name), read_gray_matlab(gt_dir / name))
    assert s["mae"] == pytest.approx(1 - g.mean())
    p, r = g.mean(), 1.0  # every pixel is >= min(2 * mean, 1) = 1
    assert s["adaptive_f"] == pytest.approx(1.3 * p * r / (0.3 * p + r))
    assert all(np.all(np.isfinite(v)) for v in s.values())


@needs_sod
def test_mask_on_the_last_column_is_nan_as_in_matlab(recorded: dict, tmp_path: Path) -> None:
    oracle = recorded["edge_column_mask"]
    ours = score_folder(*build_single(tmp_path, "edge_column_mask"), workers=1)
    assert np.isnan(oracle["s_measure"]) and np.isnan(ours["s_measure"])
    for key in ("max_f", "adaptive_f", "mae", "weighted_f", "adaptive_e"):
        assert abs(ours[key] - oracle[key]) <= TOL, key


def test_imresize_matches_matlab_reference(recorded: dict) -> None:
    a = np.array(recorded["imresize"]["input"], dtype=np.uint8)
    assert recorded["imresize"]["matlab"]
    for case in recorded["imresize"]["matlab"]:
        scale = eval(case["scale"], {})  # "1.5", "4/3", ...
        got = imresize(a, scale=scale, antialiasing=case["antialiasing"])
        np.testing.assert_array_equal(got, np.array(case["output"], dtype=np.uint8), str(case))
    # MATLAB's double results for a 1x2 / 2x1 input (same test block): 10.2778, 8, 5.7222
    row = imresize(np.array([[10.0, 6.0]]), (3, 3))
    np.testing.assert_allclose(row[1], [10.27777777777777, 8, 5.72222222222222], atol=1e-13)
    col = imresize(np.array([[10.0], [6.0]]), (3, 3))
    np.testing.assert_allclose(col[:, 1], [10.27777777777777, 8, 5.72222222222222], atol=1e-13)


def test_imresize_against_recorded_octave(recorded: dict) -> None:
    a = np.array(recorded["imresize"]["input"], dtype=np.uint8)
    for case in recorded["imresize"]["octave"]:
        shape = tuple(case["shape"])
        # the emulation used on resized maps is Octave's imresize exactly
        np.testing.assert_array_equal(octave_imresize(a, shape), np.array(case["uint8"]))
        np.testing.assert_array_equal(
            octave_imresize(a.astype(np.float64), shape), np.array(case["double"])
        )
        # MATLAB's (ours) and Octave's agree where Octave's weights sum to 1 (enlarging,
        # shrinking by 1/k) up to the rounding of the intermediate image; not otherwise
        ours = imresize(a.astype(np.float64), shape)
        if all(o >= i or i % o == 0 for o, i in zip(shape, a.shape, strict=True)):
            np.testing.assert_allclose(ours, case["double"], atol=1e-9, err_msg=str(shape))
            assert np.abs(imresize(a, shape) - np.array(case["uint8"])).max() <= 1


def test_imresize_basics() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (9, 13), dtype=np.uint8)
    np.testing.assert_array_equal(imresize(a, a.shape), a)
    assert imresize(a, (20, 5)).dtype == np.uint8
    assert imresize(a, (20, 5)).shape == (20, 5)
    const = np.full((7, 11), 77, np.uint8)
    np.testing.assert_array_equal(imresize(const, (4, 30)), np.full((4, 30), 77, np.uint8))


def test_all_zero_map_and_mask_count_as_zero() -> None:
    g = np.zeros((20, 30), np.uint8)
    g[5:15, 10:20] = 255
    m = np.zeros_like(g)
    for pred, gt in ((m, g), (g, m), (m, m)):
        s = image_stats(pred, gt)
        assert all(np.all(v == 0) for v in s.values())
    totals = {k: v * 2 for k, v in image_stats(g, g).items()}
    assert summarise(totals, 3)["mae"] == 0
    assert summarise(totals, 3)["s_measure"] == pytest.approx(2 / 3)


@needs_sod
@needs_octave
def test_live_octave(tmp_path: Path) -> None:
    """Octave on 60 images per method, 30 resized maps and the edge cases, against ours."""
    eval_dir = octave_available()
    jobs = {}
    for method in METHODS:
        d = tmp_path / "sub" / method
        d.mkdir(parents=True)
        for name in _names(60):
            (d / name).symlink_to(SOD / "maps" / method / name)
        jobs[method] = (SOD / "gt", d)
    jobs["edge"] = build_edge(tmp_path / "edge")
    d = tmp_path / "resized"
    build_resized(tmp_path / "resized_all")
    d.mkdir()
    for name in _names(30):
        (d / name).symlink_to(tmp_path / "resized_all" / name)
    jobs["resized"] = (SOD / "gt", d)
    with ThreadPoolExecutor(2) as pool:
        oracle = dict(
            zip(
                jobs,
                pool.map(
                    lambda kv: run_octave(eval_dir, *kv[1], tmp_path / "run" / kv[0]), jobs.items()
                ),
                strict=True,
            )
        )
    for key, folders in jobs.items():
        assert_close(score_folder(*folders, octave_resize=True), oracle[key], key)


@pytest.mark.slow
@needs_sod
@needs_octave
def test_live_octave_reproduces_the_fixture(recorded: dict, tmp_path: Path) -> None:
    """The recorded numbers are what Octave gives now (all 300 images, 3 methods, resized)."""
    eval_dir = octave_available()
    jobs = {m: (SOD / "gt", SOD / "maps" / m) for m in METHODS}
    jobs["resized"] = build_resized(tmp_path / "resized")
    for key, folders in jobs.items():
        live = run_octave(eval_dir, *folders, tmp_path / "run" / key)
        want = recorded["sod"][key] if key in METHODS else recorded["resized"]
        for k in TOOLBOX_KEYS.values():
            assert live[k] == pytest.approx(want[k], abs=1e-12), (key, k)


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        record()
    else:
        sys.exit(pytest.main([__file__, *sys.argv[1:]]))
