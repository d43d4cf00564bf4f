"""``metrics.tex`` (:mod:`ras_lightning.metrics.latex`): booktabs, arrows, best/second marks
per dataset, escaping; ``score`` writes it; ``tex_ci=true`` is refused without intervals
(``ci=null``; with them: tests/test_bootstrap.py); eval's paper table keeps the published
figure's column order."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ras_lightning.metrics.latex import escape, latex_table, write_latex
from ras_lightning.metrics.published import PAPER_COLUMNS
from ras_lightning.metrics.reports import paper_table
from ras_lightning.utils.errors import UserError
from tests.conftest import run_command, toy_maps

# two datasets x three methods; max_f: higher is better, mae: lower is better
ROWS = [
    {"dataset": "SOD", "method": "A", "count": 3, "max_f": 0.80, "mae": 0.050},
    {"dataset": "SOD", "method": "B", "count": 3, "max_f": 0.90, "mae": 0.070},
    {"dataset": "SOD", "method": "C", "count": 3, "max_f": 0.85, "mae": 0.030},
    {"dataset": "HKU_IS & 50%", "method": "A", "count": 2, "max_f": 0.70, "mae": 0.020},
    {"dataset": "HKU_IS & 50%", "method": "B", "count": 2, "max_f": 0.60, "mae": 0.040},
    {"dataset": "HKU_IS & 50%", "method": "C", "count": 2, "max_f": 0.65, "mae": 0.010},
]


def _body(tex: str) -> list[list[str]]:
    """The cells of each method row (between the header and \\bottomrule)."""
    lines = tex.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Dataset &")) + 1
    end = lines.index(r"\bottomrule")
    rows = [ln for ln in lines[start:end] if ln != r"\midrule"]
    return [re.split(r"(?<!\\)&", ln.removesuffix(r" \\")) for ln in rows]


def _balanced(tex: str) -> bool:
    depth = 0
    for c in re.sub(r"\\[{}]", "", tex):  # escaped braces print; they do not group
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return False
    return depth == 0


def test_table_marks_best_and_second_per_dataset_and_direction() -> None:
    tex = latex_table(ROWS, convention="pysodmetrics")
    assert _balanced(tex)
    for word in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert word in tex
    header = next(ln for ln in tex.splitlines() if ln.startswith("Dataset &"))
    # registry order (mae first), each with its direction's arrow
    assert header == r"Dataset & Method & MAE $\downarrow$ & maxF $\uparrow$ \\"
    body = _body(tex)
    assert len(body) == len(ROWS)  # one row per method per dataset
    assert [c[1].strip() for c in body] == ["A", "B", "C"] * 2
    assert [c[0].strip() for c in body] == ["SOD", "", "", r"HKU\_IS \& 50\%", "", ""]
    mae, max_f = [[c[i].strip() for c in body] for i in (2, 3)]
    assert mae[:3] == [r"\underline{0.050}", "0.070", r"\textbf{0.030}"]  # lower is better
    assert max_f[:3] == ["0.800", r"\textbf{0.900}", r"\underline{0.850}"]
    assert mae[3:] == [r"\underline{0.020}", "0.040", r"\textbf{0.010}"]
    assert max_f[3:] == [r"\textbf{0.700}", "0.600", r"\underline{0.650}"]


def test_escaping_missing_values_and_small_groups() -> None:
    assert escape("a&b%c$d#e_f{g}h~i^j\\k") == (
        r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"
    )
    rows = [
        {"dataset": "D", "method": "x_1 {new}", "max_f": 0.5, "mae": float("nan")},
        {"dataset": "D", "method": "y", "max_f": 0.4},
        {"dataset": "E", "method": "only", "max_f": 0.3, "mae": 0.1},
    ]
    tex = latex_table(rows)
    assert _balanced(tex)
    body = _body(tex)
    assert body[0][1].strip() == r"x\_1 \{new\}"
    # two methods: the best is bold, nothing underlined; no value prints as --
    assert [c[2].strip() for c in body] == ["--", "--", "0.100"]
    assert [c[3].strip() for c in body] == [r"\textbf{0.500}", "0.400", "0.300"]


def test_score_writes_metrics_tex_and_refuses_tex_ci(tmp_path: Path) -> None:
    gt, pred = toy_maps(tmp_path, n=3)
    out = tmp_path / "out"
    args = (f"gt_dir={gt}", f"pred_dir={pred}", "workers=1", "plots=false", "progress=false")
    with pytest.raises(UserError, match=r"tex_ci=true: .*intervals need `ci`"):
        run_command("score", *args, f"output_dir={out}", "tex_ci=true", "ci=null")
    assert not out.exists()  # refused before any work
    with pytest.raises(UserError, match="tex_ci='yes': must be true or false"):
        run_command("score", *args, f"output_dir={out}", "tex_ci=yes")
    run_command("score", *args, f"output_dir={out}", "method=my_maps")
    tex = (out / "metrics.tex").read_text()
    assert (out / "metrics.csv").is_file()
    assert _balanced(tex) and "convention pysodmetrics" in tex
    assert len(_body(tex)) == 1 and r"my\_maps" in tex


def test_eval_refuses_tex_ci_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="intervals need `ci`"):
        run_command(
            "eval",
            f"weights={tmp_path / 'none.ckpt'}",
            f"output_dir={tmp_path}",
            "tex_ci=true",
            "ci=null",
        )


def test_paper_table_columns_in_the_published_order() -> None:
    # the published RAS figure: E-measure (adaptive), S-measure, F-measure (adaptive), MAE
    assert PAPER_COLUMNS == ("adaptive_e", "s_measure", "adaptive_f", "mae")
    row = {"dataset": "ECSSD", "method": "m", "count": 1}
    row |= {"adaptive_e": 0.9, "s_measure": 0.8, "adaptive_f": 0.7, "mae": 0.1}
    head = paper_table([row], "f3net", "v2", compare=False)[2]
    titles = ["E-measure (adaptive)", "S-measure", "F-measure (adaptive)", "MAE"]
    assert [head.index(t) for t in titles] == sorted(head.index(t) for t in titles)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_metrics_tex_compiles_with_pdflatex(tmp_path: Path) -> None:
    odd = {"dataset": "D", "method": "a&b%c$d#e_f{g}h~i^j\\k<l>m|n", "max_f": 0.5, "mae": 0.1}
    table = write_latex([*ROWS, odd], tmp_path / "metrics.tex", "f3net")
    doc = tmp_path / "doc.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n"
        f"\\resizebox{{\\linewidth}}{{!}}{{\\input{{{table.name}}}}}\n\\end{{document}}\n"
    )
    cmd = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0
