"""``metrics.tex``: the scores as a booktabs LaTeX table, ready for a paper.

One column per metric, titled with an arrow for its direction from the registry
(``$\\uparrow$`` higher is better, ``$\\downarrow$`` lower is better); one row per method and
dataset, grouped by dataset (the name on its first row, ``\\midrule`` between groups). Within a
dataset the best value of each column is bold and the second underlined, ranked on the printed
(rounded) values so that ties print alike; a dataset with one method marks nothing (there is
nothing to compare), one with two marks only the best (the second would be the last). Method,
dataset and metric names are escaped, so a name such as ``U2Net_p & co`` compiles as written.
Needs ``\\usepackage{booktabs}``.

With ``tex_ci=true`` (``score``/``eval``; :func:`latex_table`'s ``tex_ci``) each value that
has a confidence interval (a row's :data:`~ras_lightning.metrics.intervals.CI_KEY`) is followed
by ``$\\pm$`` its half-width in small print (:mod:`ras_lightning.metrics.intervals`); the
marks stay on the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ras_lightning.metrics.intervals import CI_KEY, Intervals, check_tex_ci
from ras_lightning.metrics.registry import METRICS, metric_names
from ras_lightning.utils.files import write_atomic

__all__ = ["check_tex_ci", "escape", "latex_table", "write_latex"]

# characters that LaTeX would read as commands (or, in the default OT1 font encoding, print as
# other glyphs) -> the text they stand for
_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def escape(text: object) -> str:
    """``text`` as LaTeX text: special characters escaped (one pass, so an escape is never
    escaped again) and line breaks as spaces (a blank line would end the table row)."""
    return "".join(_ESCAPES.get(c, c) for c in " ".join(str(text).splitlines()))


def _number(value: object, digits: int) -> str | None:
    """``value`` printed with ``digits`` decimals, or None when absent or not finite."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return f"{value:.{digits}f}" if math.isfinite(value) else None


def _marks(cells: Sequence[str | None], higher_is_better: bool) -> list[str]:
    """Each printed cell of one column within one dataset, bold if best, underlined if
    second (by printed value: equal prints get equal marks)."""
    distinct = sorted({float(c) for c in cells if c is not None}, reverse=higher_is_better)
    rank = {v: i for i, v in enumerate(distinct)}
    shown = sum(c is not None for c in cells)  # how many methods have a value to compare
    out = []
    for c in cells:
        if c is None:
            out.append("--")
        elif shown >= 2 and rank[float(c)] == 0:
            out.append(rf"\textbf{{{c}}}")
        elif shown >= 3 and rank[float(c)] == 1:
            out.append(rf"\underline{{{c}}}")
        else:
            out.append(c)
    return out


def _with_ci(cell: str, row: Mapping[str, object], name: str, digits: int) -> str:
    """``cell`` followed by ``$\\pm$`` the half-width of the row's interval of ``name``, in
    small print (the cell as it is when there is none)."""
    intervals = row.get(CI_KEY)
    if cell == "--" or not isinstance(intervals, Intervals):
        return cell
    half = intervals.half(name, row.get(name))
    return cell if half is None else rf"{cell}\,{{\scriptsize$\pm${half:.{digits}f}}}"


def latex_table(
    rows: Sequence[Mapping[str, object]],
    convention: str | None = None,
    digits: int = 3,
    tex_ci: bool = False,
) -> str:
    """``rows`` of {dataset, method, <metric>: value} as a booktabs ``tabular`` (see the
    module); the metrics are those in any row, in the registry's order; a missing or
    non-finite value prints as ``--`` and is not ranked. ``tex_ci``: each value with an
    interval (the row's :data:`CI_KEY`) followed by ``$\\pm$`` its half-width."""
    names = [k for k in metric_names() if any(k in r for r in rows)]
    arrows = {True: r"$\uparrow$", False: r"$\downarrow$"}
    head = [f"{escape(METRICS[k].title)} {arrows[METRICS[k].higher_is_better]}" for k in names]
    made_by = f", convention {escape(convention)}" if convention else ""
    lines = [
        rf"% ras-lightning scores{made_by}; needs \usepackage{{booktabs}}",
        "% per dataset: best of each column in bold, second underlined",
        r"% too wide for the page? \resizebox{\linewidth}{!}{\input{metrics.tex}} (graphicx)",
        *(
            [f"% value $\\pm$ h: {_ci_note(rows)}"]
            if tex_ci and any(isinstance(r.get(CI_KEY), Intervals) for r in rows)
            else []
        ),
        rf"\begin{{tabular}}{{ll{'r' * len(names)}}}",
        r"\toprule",
        " & ".join(["Dataset", "Method", *head]) + r" \\",
    ]
    datasets = list(dict.fromkeys(str(r["dataset"]) for r in rows))  # first-seen order
    for dataset in datasets:
        group = [r for r in rows if str(r["dataset"]) == dataset]
        columns = [
            _marks([_number(r.get(k), digits) for r in group], METRICS[k].higher_is_better)
            for k in names
        ]
        lines.append(r"\midrule")
        for i, r in enumerate(group):
            first = escape(dataset) if i == 0 else ""
            values = [col[i] for col in columns]
            if tex_ci:
                values = [_with_ci(v, r, k, digits) for v, k in zip(values, names, strict=True)]
            cells = [first, escape(r["method"]), *values]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _ci_note(rows: Sequence[Mapping[str, object]]) -> str:
    """What the ``$\\pm$`` means (the first row's interval settings), for the comment line."""
    intervals = next(r[CI_KEY] for r in rows if isinstance(r.get(CI_KEY), Intervals))
    return intervals.note().removeprefix("± : ")


def write_latex(
    rows: Sequence[Mapping[str, object]],
    path: Path,
    convention: str | None = None,
    tex_ci: bool = False,
) -> Path:
    """:func:`latex_table` of ``rows`` at ``path``, whole or not at all."""
    return write_atomic(path, latex_table(rows, convention, tex_ci=tex_ci))
