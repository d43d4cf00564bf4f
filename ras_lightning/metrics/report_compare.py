"""``compare``'s ``report.html``: a and b side by side, image by image.

The page of :mod:`ras_lightning.metrics.report_page` with two "methods", a and b (each side's
per-image values; the mean over its runs for a group of runs), and a ``b − a`` column per
metric, by which the rows are sorted by default (MAE: where b does worst against a first).
The table shows a, b and the difference with its interval and verdict (comparison.json).

Pictures are not made again: they are linked or copied from the report of each side's (first) folder
into ``report_files/a`` and ``report_files/b`` (copied once: a copy of the same size and
modification time is kept), so the page works from a copied folder; a side whose folder has
no report (``report=false``, a training run) shows its values without pictures.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from ras_lightning.metrics import report_images as pics
from ras_lightning.metrics.comparison import META, Source, aligned, paired_rows, sanitize
from ras_lightning.metrics.per_image import add_up, image_values
from ras_lightning.metrics.registry import CONVENTIONS
from ras_lightning.metrics.report_page import DATA_PREFIX, REPORT, _round, _write_page

log = logging.getLogger("ras_lightning.metrics")

DIFF = "b \u2212 a"


def _their_report(folder: Path) -> dict[str, dict]:
    """The datasets of the report in ``folder`` by name ({} when it has none)."""
    path = folder / pics.FILES / "data.js"
    try:
        text = path.read_text()
        data = json.loads(text[len(DATA_PREFIX) :]) if text.startswith(DATA_PREFIX) else {}
    except (OSError, ValueError):
        return {}
    return {d["name"]: d for d in data.get("datasets", [])}


def _copy(src: Path, dest: Path) -> bool:
    """Link or copy ``src`` to ``dest`` unless one of the same size and mtime is there."""
    try:
        st = src.stat()
    except OSError:
        return False
    try:
        have = dest.stat()
        if have.st_size == st.st_size and have.st_mtime_ns == st.st_mtime_ns:
            return True
    except OSError:
        pass
    pics.link_or_copy(src, dest)
    return True


def _pictures(
    out: Path, side: str, source: Source, theirs: dict | None, images: Sequence[str]
) -> dict[str, dict[str, list]]:
    """{"thumbs"|"full": {kind: [path or None per image]}} of ``side``'s pictures, copied
    from ``source``'s report (kinds: photo, mask, map, err)."""
    found: dict[str, dict[str, list]] = {"thumbs": {}, "full": {}}
    if not theirs or source.method not in theirs["methods"]:
        return found
    k = theirs["methods"].index(source.method)
    row = {im: i for i, im in enumerate(theirs["images"])}
    kinds = {"photo": "photo", "mask": "mask", "map": f"map{k}", "err": f"err{k}"}
    for what in ("thumbs", "full"):
        for kind, key in kinds.items():
            paths = theirs.get(what, {}).get(key)
            if not paths:
                continue
            col = []
            for im in images:
                rel = paths[row[im]] if im in row else None
                if rel is None:
                    col.append(None)
                    continue
                rel = unquote(rel)  # their URL -> their file
                mine = f"{pics.FILES}/{side}/" + rel.removeprefix(f"{pics.FILES}/")
                col.append(quote(mine) if _copy(source.folder / rel, out / mine) else None)
            if any(col):
                found[what][kind] = col
    return found


def write_compare_report(
    out: str | os.PathLike,
    a: Sequence[Source],
    b: Sequence[Source],
    result: Mapping,
    title: str | None = None,
) -> Path:
    """``out/report.html`` of ``compare``'s ``result`` (comparison.json's content) for the
    groups ``a`` and ``b``; returns its path."""
    start = time.perf_counter()
    out = Path(out)
    pics.forget_folders()
    meta = result[META]
    labels = [meta["a"]["label"], meta["b"]["label"]]
    conv = CONVENTIONS[meta["convention"]]
    paired, _ = paired_rows({"a": a, "b": b})
    datasets, names = [], []
    for p in paired:
        if p.dataset not in result:
            continue
        images = sorted(p.images)
        order = [p.images.index(im) for im in images]
        values: dict[str, dict[str, list]] = {}
        curves: dict[str, dict] = {}
        for label, group in zip(labels, (a, b), strict=True):
            per_run = []
            for s in group:
                stats, _ = aligned(s, p)
                per_run.append(
                    [image_values({k: v[i] for k, v in stats.items()}, s.convention) for i in order]
                )
            names = names or list(per_run[0][0])
            values[label] = {
                n: [_mean([run[i][n] for run in per_run]) for i in range(len(images))]
                for n in names
            }
            sums = [add_up(_rows(aligned(s, p)[0], len(images))) for s in group]
            mean_curves = [conv.curves(t, len(images)) for t in sums]
            curves[label] = {
                k: _round(np.mean([c[k] for c in mean_curves], axis=0)) for k in mean_curves[0]
            }
        diff = {
            n: [
                None if va is None or vb is None else vb - va
                for va, vb in zip(values[labels[0]][n], values[labels[1]][n], strict=True)
            ]
            for n in names
        }
        table = {}
        rows = sanitize(result[p.dataset])
        for side, label in zip(("a", "b"), labels, strict=True):
            table[label] = {
                "count": len(images),
                "metrics": {m: {"value": r[side]} for m, r in rows.items()},
                "curves": curves[label],
            }
        table[DIFF] = {
            "count": len(images),
            "metrics": {
                m: {
                    "value": r["difference"],
                    "low": r["low"],
                    "high": r["high"],
                    "note": f"{r['verdict']}, p={_p(r.get('p_holm'))}",
                }
                for m, r in rows.items()
            },
            "curves": {},
            "derived": True,
        }
        theirs = [_their_report(g[0].folder).get(p.dataset) for g in (a, b)]
        pics_a = _pictures(out, "a", a[0], theirs[0], images)
        pics_b = _pictures(out, "b", b[0], theirs[1], images)
        thumbs, full = {}, {}
        for what, target in (("thumbs", thumbs), ("full", full)):
            for kind in ("photo", "mask"):
                col = pics_a[what].get(kind) or pics_b[what].get(kind)
                if col:
                    target[kind] = col
            for j, side in enumerate((pics_a, pics_b)):
                for kind in ("map", "err"):
                    if side[what].get(kind):
                        target[f"{kind}{j}"] = side[what][kind]
        datasets.append(
            {
                "name": p.dataset,
                "methods": labels,
                "table": table,
                "images": images,
                "values": values,
                "extra": {DIFF: diff},
                "thumbs": thumbs,
                "full": full,
            }
        )
    info = [
        [f"{side}", f"{meta[side]['label']}: " + ", ".join(meta[side]["folders"])]
        for side in ("a", "b")
    ]
    info.append(["test", f"{meta['test']}, Holm-corrected over {meta['tests']} tests"])
    if len(a) > 1 or len(b) > 1:
        info.append(["per image", "the mean over each group's runs; pictures of its first run"])
    sort = f"extra:{DIFF}:mae" if "mae" in names else None
    page = _write_page(
        out, datasets, names, title or "Comparison: a vs b", meta["convention"], info, True, sort
    )
    log.info("wrote %s (%.1f s)", out / REPORT, time.perf_counter() - start)
    return page


def _rows(stats: Mapping[str, np.ndarray], n: int) -> list[dict]:
    return [{k: v[i] for k, v in stats.items()} for i in range(n)]


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def _p(p: float | None) -> str:
    return "n/a" if p is None or not np.isfinite(p) else f"{p:.3g}"
