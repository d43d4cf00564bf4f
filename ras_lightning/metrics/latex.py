"""``metrics.tex``: the scores as a booktabs LaTeX table, ready for a paper.

One column per metric, titled with an arrow for its direction from the registry
(``$\\uparrow$`` higher is better, ``$\\downarrow$`` lower is better); one row per method and
dataset, grouped by dataset (the name on its first row, ``\\midrule`` between groups). Within a
dataset the best value of each column is bold and the second underlined, ranked on the printed
(rounded) values so that ties print alike; a dataset with one method marks nothing (there is
nothing to compare), one with two marks only the best (the second would be the last). Method,
dataset and metric names are escaped, so a name such as ``U2Net_p & co`` compiles as written.
Needs ``\\usepackage{booktabs}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ras_lightning.metrics.registry import METRICS, metric_names
from ras_lightning.utils.errors import UserError
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


def check_tex_ci(tex_ci: object, intervals: bool = False) -> None:
    """Refuse, before any work, a ``tex_ci`` that is not a boolean, or ``tex_ci=true`` when
    no confidence intervals are computed (``intervals``): printing the table without them
    would drop what was asked for without saying so."""
    if not isinstance(tex_ci, bool):
        raise UserError(f"tex_ci={tex_ci!r}: must be true or false")
    if tex_ci and not intervals:
        raise UserError(
            "tex_ci=true: no intervals to print; intervals need `ci` (confidence intervals, "
            "issue 22 part 2), which this version does not compute yet; set tex_ci=false"
        )


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


def latex_table(
    rows: Sequence[Mapping[str, object]], convention: str | None = None, digits: int = 3
) -> str:
    """``rows`` of {dataset, method, <metric>: value} as a booktabs ``tabular`` (see the
    module); the metrics are those in any row, in the registry's order; a missing or
    non-finite value prints as ``--`` and is not ranked."""
    names = [k for k in metric_names() if any(k in r for r in rows)]
    arrows = {True: r"$\uparrow$", False: r"$\downarrow$"}
    head = [f"{escape(METRICS[k].title)} {arrows[METRICS[k].higher_is_better]}" for k in names]
    made_by = f", convention {escape(convention)}" if convention else ""
    lines = [
        rf"% ras-lightning scores{made_by}; needs \usepackage{{booktabs}}",
        "% per dataset: best of each column in bold, second underlined",
        r"% too wide for the page? \resizebox{\linewidth}{!}{\input{metrics.tex}} (graphicx)",
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
            cells = [first, escape(r["method"]), *(col[i] for col in columns)]
            lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_latex(
    rows: Sequence[Mapping[str, object]], path: Path, convention: str | None = None
) -> Path:
    """:func:`latex_table` of ``rows`` at ``path``, whole or not at all."""
    return write_atomic(path, latex_table(rows, convention))
