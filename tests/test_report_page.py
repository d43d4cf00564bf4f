"""report.html of ``score`` and ``eval``: the page, its data, its pictures (made once) and
``report=false``. The page in a real browser: tests/test_report_browser.py (slow)."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ras_lightning.metrics import report_images as pics
from ras_lightning.metrics.report_page import DATA_PREFIX, _hrefs
from tests.conftest import fingerprint, run_command, tiny_set, toy_maps, write_image


def read_data(out: Path) -> dict:
    text = (out / "report_files" / "data.js").read_text()
    assert text.startswith(DATA_PREFIX)
    return json.loads(text[len(DATA_PREFIX) :])


def pictures(out: Path) -> dict[str, int]:
    """Every picture under report_files and its modification time."""
    files = out / "report_files"
    return {
        str(p.relative_to(files)): p.stat().st_mtime_ns
        for p in files.rglob("*")
        if p.is_file() and p.suffix in (".png", ".jpg")
    }


def two_methods(tmp_path: Path) -> tuple[Path, Path, Path]:
    """toy masks, their noisy maps, and a second method: inverted maps (much worse)."""
    gt, pred = toy_maps(tmp_path, n=6)
    worse = tmp_path / "worse"
    worse.mkdir()
    for p in sorted(pred.iterdir()):
        Image.fromarray(255 - np.asarray(Image.open(p))).save(worse / p.name)
    return gt, pred, worse


def score(gt: Path, methods: dict[str, Path], out: Path, *extra: str) -> None:
    listing = ", ".join(f"{k}: {v}" for k, v in methods.items())
    run_command(
        "score",
        f"+datasets={{toy: {gt}}}",
        f"+methods={{{listing}}}",
        f"output_dir={out}",
        "progress=false",
        "workers=1",
        "bootstrap=50",
        *extra,
    )


def test_score_report(tmp_path: Path) -> None:
    gt, pred, worse = two_methods(tmp_path)
    out = tmp_path / "out"
    inputs = {
        d: (fingerprint(d), [p.stat().st_mode for p in sorted(d.iterdir())]) for d in (gt, pred)
    }
    score(gt, {"noisy": pred, "inverted": worse}, out)
    # full-size copies may be hard links to the inputs: those stay as they were
    assert inputs == {
        d: (fingerprint(d), [p.stat().st_mode for p in sorted(d.iterdir())]) for d in (gt, pred)
    }
    page = (out / "report.html").read_text()
    data = read_data(out)
    # offline: nothing remote in the page or anything it loads
    for text in (page, *(p.read_text() for p in (out / "report_files").glob("*.[jc]s*"))):
        assert not re.search(r"https?://", text)
    assert 'src="report_files/data.js"' in page and 'src="report_files/report.js"' in page
    (d,) = data["datasets"]
    assert d["name"] == "toy" and d["methods"] == ["noisy", "inverted"]
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert d["images"] == sorted({r["image"] for r in rows}) and len(d["images"]) == 6
    for r in rows:  # the per-image values as per_image.csv holds them
        i = d["images"].index(r["image"])
        assert d["values"][r["method"]]["mae"][i] == float(r["mae"])
    # the table: metrics.json's values, each inside its bootstrap interval
    metrics = json.loads((out / "metrics.json").read_text())["toy"]
    for method, t in d["table"].items():
        assert t["count"] == 6
        for name, cell in t["metrics"].items():
            assert cell["value"] == metrics[method][name]
            assert cell["low"] <= cell["value"] + 1e-12 and cell["value"] <= cell["high"] + 1e-12
        assert len(t["curves"]["precision"]) == 256
    assert data["has_ci"] and data["threshold"] == pics.THRESHOLD
    # every thumbnail and full-size view is there and small; no photo in score
    assert "photo" not in d["thumbs"]
    for kind in ("mask", "map0", "err0", "map1", "err1"):
        assert len(d["thumbs"][kind]) == 6 and len(d["full"][kind]) == 6
        for rel in d["thumbs"][kind]:
            with Image.open(out / rel) as im:
                assert max(im.size) <= pics.THUMB
        for rel in d["full"][kind]:
            assert (out / rel).is_file() and not rel.startswith("..")
    # the inverted maps are worse: their MAE per image above the noisy maps'
    noisy, inverted = d["values"]["noisy"]["mae"], d["values"]["inverted"]["mae"]
    assert all(b > a for a, b in zip(noisy, inverted, strict=True))

    # a second run reads no picture again; a changed map remakes only its image's pictures
    before = pictures(out)
    score(gt, {"noisy": pred, "inverted": worse}, out)
    assert pictures(out) == before
    st = (pred / "img2.png").stat()
    os.utime(pred / "img2.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    score(gt, {"noisy": pred, "inverted": worse}, out)
    changed = {k for k, v in pictures(out).items() if before[k] != v}
    assert changed and all(Path(k).stem == "img2" for k in changed), changed
    # an image no longer scored: its pictures go
    (gt / "img5.png").rename(tmp_path / "img5.png")
    score(gt, {"noisy": pred, "inverted": worse}, out, "missing=skip")
    assert {k for k in before if Path(k).stem == "img5"} and not {
        k for k in pictures(out) if Path(k).stem == "img5"
    }


def test_report_false(tmp_path: Path) -> None:
    gt, pred = toy_maps(tmp_path, n=3)
    out = tmp_path / "out"
    run_command(
        "score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={out}", "report=false", "ci=null"
    )
    assert (out / "metrics.md").is_file()
    assert not (out / "report.html").exists() and not (out / "report_files").exists()


def test_overlay_colours_and_labels(tmp_path: Path) -> None:
    mask = np.zeros((4, 4), np.uint8)
    mask[:2] = 255
    saliency = np.zeros((4, 4), np.uint8)
    saliency[1:3] = 90  # max 90: min-max normalised, 90 -> 255 counts as object
    rgb = np.asarray(pics.overlay(mask, saliency).convert("RGB"))
    assert tuple(rgb[0, 0]) == pics.FN_COLOR  # object missed
    assert tuple(rgb[1, 0]) == pics.TP_COLOR
    assert tuple(rgb[2, 0]) == pics.FP_COLOR  # background called object
    assert tuple(rgb[3, 0]) == pics.TN_COLOR
    # a 0/1-label mask is shown as it scores (0/255), not copied black
    labels = (mask > 0).astype(np.uint8)
    write_image(tmp_path / "gt" / "a.png", labels)
    write_image(tmp_path / "maps" / "a.png", saliency)
    out = tmp_path / "out"
    out.mkdir()
    (job,) = pics.plan_jobs(
        out, "set one", ["a"], None, {"a": str(tmp_path / "gt" / "a.png")},
        [{"a": str(tmp_path / "maps" / "a.png")}],
    )  # fmt: skip
    assert pics.run_job(job, out) == []
    shown = np.asarray(Image.open(out / job.full["mask"]))
    assert set(np.unique(shown)) == {0, 255}
    assert "set_one~" in job.full["mask"]  # a folder name from a dataset name with a space


def test_eval_report(tiny_ckpt: Path, tmp_path: Path) -> None:
    root = tiny_set(tmp_path / "data", n=3)
    out = tmp_path / "eval"
    run_command(
        "eval",
        f"weights={tiny_ckpt}",
        f"data.root={root}",
        "data.test_sets=[TINY]",
        f"output_dir={out}",
        "fps=false",
        "progress=false",
        "workers=1",
        "ci=null",
        "plots=false",
        "device=cpu",
    )
    data = read_data(out)
    (d,) = data["datasets"]
    assert d["images"] == ["p0", "p1", "p2"]
    # eval's maps are linked where they are; photos and masks (outside) copied in
    assert d["full"]["map0"] == ["TINY/p0.png", "TINY/p1.png", "TINY/p2.png"]
    assert all(p.startswith("report_files/full/") for p in d["full"]["photo"] + d["full"]["mask"])
    assert len(d["thumbs"]["photo"]) == 3 and all(d["thumbs"]["err0"])
    info = dict(data["info"])
    assert info["weights"] == str(tiny_ckpt) and info["backbone"] == "resnet18"
    assert info["training size"] == "64" and "epochs trained" in info


def test_compare_report(tmp_path: Path) -> None:
    gt, pred, worse = two_methods(tmp_path)
    for name, maps in (("a", pred), ("b", worse)):
        run_command(
            "score", f"gt_dir={gt}", f"pred_dir={maps}", f"output_dir={tmp_path / name}",
            "progress=false", "workers=1", "ci=null",
        )  # fmt: skip
    out = tmp_path / "cmp"
    run_command(
        "compare", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", f"output_dir={out}",
        "bootstrap=50", "permutations=200",
    )  # fmt: skip
    data = read_data(out)
    (d,) = data["datasets"]
    a, b = d["methods"]
    diff = d["extra"]["b \u2212 a"]["mae"]
    assert len(d["images"]) == 6 and diff == [
        vb - va for va, vb in zip(d["values"][a]["mae"], d["values"][b]["mae"], strict=True)
    ]
    assert data["sort"] == "extra:b \u2212 a:mae"  # sorted by the per-image difference
    comparison = json.loads((out / "comparison.json").read_text())[d["name"]]
    assert d["table"]["b \u2212 a"]["metrics"]["mae"]["value"] == comparison["mae"]["difference"]
    # the sides' pictures copied in: the page works from a copy of the comparison folder
    for kind in ("mask", "map0", "err0", "map1", "err1"):
        assert all(p.startswith("report_files/") and (out / p).is_file() for p in d["full"][kind])
    before = pictures(out)
    run_command(
        "compare", f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", f"output_dir={out}",
        "bootstrap=50", "permutations=200",
    )  # fmt: skip
    assert pictures(out) == before


def test_odd_names_are_urls(tmp_path: Path) -> None:
    """A map inside the output folder is linked by a relative URL (``#`` encoded); the
    pictures made get file-name-safe names."""
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6] = 255
    write_image(tmp_path / "gt" / "a#1.png", mask)
    out = tmp_path / "out"
    write_image(out / "my set" / "a#1.png", mask)
    jobs = pics.plan_jobs(
        out, "my set", ["a#1"], None, {"a#1": str(tmp_path / "gt" / "a#1.png")},
        [{"a#1": str(out / "my set" / "a#1.png")}],
    )  # fmt: skip
    assert pics.run_job(jobs[0], out) == []
    thumbs, full = _hrefs(out, jobs, 1)
    assert full["map0"] == ["my%20set/a%231.png"]
    assert all("#" not in p[0] and " " not in p[0] for p in (*thumbs.values(), *full.values()))
