"""Draw the RAS architecture figure used by the README: ``python docs/architecture.py``.

Writes ``docs/ras_architecture.png`` (matplotlib only; no network is built).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

BACKBONE = "#cfe2f3"
HEAD = "#fce5cd"
RA = "#f4cccc"
OUT = "#d9ead3"
V1 = "#eeeeee"


def box(ax, x, y, w, h, text, color, size=9, dashed=False, weight="normal") -> None:
    """A rounded box centred at (x, y)."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            fc=color,
            ec="#444444",
            lw=1.0,
            ls="--" if dashed else "-",
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=size, weight=weight)


def arrow(ax, a, b, color="#333333", style="-|>", ls="-", rad=0.0) -> None:
    ax.add_patch(
        FancyArrowPatch(
            a,
            b,
            arrowstyle=style,
            mutation_scale=11,
            color=color,
            lw=1.1,
            ls=ls,
            connectionstyle=f"arc3,rad={rad}",
        )
    )


def draw(path: Path) -> Path:
    fig, (ax, ax2) = plt.subplots(
        1, 2, figsize=(13, 6.2), gridspec_kw={"width_ratios": [1.55, 1.0]}
    )
    for a in (ax, ax2):
        a.set_axis_off()
        a.set_aspect("equal")
    ax.set_xlim(-0.6, 10.4)
    ax.set_ylim(-0.9, 6.6)

    # backbone column (top: input photo, bottom: deepest feature)
    ys = [5.2, 4.2, 3.2, 2.2, 1.2]
    names = [
        "conv1  x1\nstride 2, 64 ch",
        "layer1  x2\nstride 4, 256 ch",
        "layer2  x3\nstride 8, 512 ch",
        "layer3  x4\nstride 16, 1024 ch",
        "layer4  x5\nstride 32, 2048 ch",
    ]
    box(ax, 1.0, 6.2, 1.6, 0.5, "photo", "white", 9)
    arrow(ax, (1.0, 5.95), (1.0, 5.52))
    for i, (y, n) in enumerate(zip(ys, names, strict=True)):
        box(ax, 1.0, y, 2.0, 0.62, n, BACKBONE, 8, dashed=i == 0)
        if i:
            arrow(ax, (1.0, ys[i - 1] - 0.31), (1.0, y + 0.31))
    ax.text(1.0, 0.5, "ResNet-50", ha="center", fontsize=10, weight="bold")

    # decoder: MSCM on x5, RA blocks on x4..x2 (x1: v1 only)
    box(ax, 4.3, 1.2, 1.9, 0.62, "MSCM\n4 dilated branches", HEAD, 8, weight="bold")
    arrow(ax, (2.0, 1.2), (3.35, 1.2))
    ra_x = 4.3
    for i, y in zip((4, 3, 2, 1), ys[3::-1], strict=True):
        box(ax, ra_x, y, 1.9, 0.62, f"RA{i}", RA if i > 1 else V1, 9, dashed=i == 1, weight="bold")
        arrow(ax, (2.0, y), (ra_x - 0.95, y), ls="--" if i == 1 else "-")
    # side outputs
    out_x = 7.6
    labels = {
        1.2: "y5 (coarse)",
        2.2: "y4",
        3.2: "y3",
        4.2: "y2  saliency map (v2)",
        5.2: "y1  saliency map (v1)",
    }
    for y, lab in labels.items():
        box(ax, out_x, y, 2.3, 0.5, lab, OUT if y < 5 else V1, 8, dashed=y > 5)
        arrow(ax, (ra_x + 0.95, y), (out_x - 1.15, y), ls="--" if y > 5 else "-")
    # top-down: each prediction (upsampled) guides the next RA block
    for y0, y1 in zip(ys[::-1][:-1], ys[::-1][1:], strict=True):
        arrow(
            ax,
            (5.6, y0 + 0.1),
            (ra_x + 0.55, y1 - 0.31),
            "#b45f06",
            rad=0.35,
            ls="--" if y1 > 5 else "-",
        )
    ax.text(6.05, 1.75, "y up x2", fontsize=7.5, color="#b45f06")
    ax.text(
        out_x,
        0.45,
        "every side output: BCE + IoU loss\n(deep supervision)",
        ha="center",
        fontsize=8,
        style="italic",
    )
    ax.text(
        4.9,
        -0.55,
        "dashed: v1 (ECCV 2018 code) only; v2 (TIP 2020 code) adds BatchNorm to the head",
        ha="center",
        fontsize=8,
        color="#555555",
    )
    ax.set_title("RAS: top-down refinement with reverse attention", fontsize=12, weight="bold")

    # right: inside a reverse-attention block
    ax2.set_xlim(-0.3, 6.3)
    ax2.set_ylim(-0.9, 6.6)
    box(ax2, 1.2, 5.7, 1.9, 0.5, "side feature x_i", BACKBONE, 8.5)
    box(ax2, 4.6, 5.7, 2.2, 0.5, "coarser logit y (up)", OUT, 8.5)
    box(ax2, 1.2, 4.5, 1.9, 0.55, "1x1 conv to 64 ch\n(+BN, ReLU in v2)", HEAD, 7.5)
    box(ax2, 4.6, 4.5, 2.2, 0.55, "a = sigmoid(-y)\nreverse attention", RA, 8.5, weight="bold")
    box(ax2, 2.9, 3.3, 0.6, 0.5, "x", "white", 11)
    box(ax2, 2.9, 2.15, 2.6, 0.6, "3 x [3x3 conv, (BN), ReLU]\n3x3 conv to 1 ch", HEAD, 8)
    box(ax2, 2.9, 1.0, 0.6, 0.5, "+", "white", 12)
    box(ax2, 2.9, -0.1, 2.6, 0.5, "refined logit y_i = y + residual", OUT, 8.5)
    arrow(ax2, (1.2, 5.45), (1.2, 4.78))
    arrow(ax2, (4.6, 5.45), (4.6, 4.78))
    arrow(ax2, (1.2, 4.22), (2.6, 3.35))
    arrow(ax2, (4.6, 4.22), (3.2, 3.35))
    arrow(ax2, (2.9, 3.05), (2.9, 2.45))
    arrow(ax2, (2.9, 1.85), (2.9, 1.25))
    arrow(ax2, (5.75, 5.7), (3.2, 1.0), "#b45f06", rad=-0.35)
    arrow(ax2, (2.9, 0.75), (2.9, 0.15))
    ax2.text(5.75, 2.6, "identity\n(residual)", fontsize=8, color="#b45f06", ha="center")
    ax2.text(
        0.05,
        2.75,
        "what is already\nsalient is erased:\nthe block learns the\nmissing parts and\nthe edges",
        fontsize=8,
        style="italic",
        va="center",
    )
    ax2.set_title("one RA block", fontsize=12, weight="bold")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


if __name__ == "__main__":
    out = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("ras_architecture.png")
    )
    print(draw(out))
