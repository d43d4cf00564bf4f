"""Issue 21's newcomer edges, in process: ``train --help`` shows what a run without arguments
uses and the models as README describes them; debug runs land where help and README say;
``score`` records its convention in both files; table cells are escaped; ``compare=paper``
says when the run is not the paper's setup; counts agree with their nouns; ``build/`` is
ignored."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from ras_lightning import CONFIG_DIR
from ras_lightning.metrics.reports import paper_caveats, paper_table, write_tables
from ras_lightning.utils.errors import UserError
from ras_lightning.utils.text import plural
from tests.conftest import REPO, compose_config, run_command, tiny_train_args, toy_maps, write_image

HELP = CONFIG_DIR / "hydra" / "help"


def _help_text(command: str) -> str:
    return yaml.safe_load((HELP / f"{command}.yaml").read_text())["template"]


def _scalar(text: str) -> object:
    """A value as the help shows it (``1e-3`` is a number to Hydra, a string to YAML 1.1)."""
    value = yaml.safe_load(text)
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def test_train_help_shows_the_no_argument_run_and_the_models_as_readme() -> None:
    text = _help_text("train")
    cfg = compose_config(return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    checked = 0
    for line in text.splitlines():
        m = re.match(r"^  ([a-z_./]+)=(\S+)\s", line)
        if m is None or m.group(2).isupper() or "|" in m.group(2):
            continue  # placeholders (DIR, NAME) and lists of choices
        key, shown = m.groups()
        if key in choices:
            assert choices[key] == shown, f"--help says {key}={shown}, the run uses {choices[key]}"
        else:
            value = OmegaConf.select(cfg, key, default="<absent>")
            assert _scalar(shown) == value, f"--help says {key}={shown}, the run {value}"
        checked += 1
    assert checked >= 10, text
    # the README's table: v1 plain conv heads, v2 BatchNorm heads
    model_line = next(ln for ln in text.splitlines() if ln.strip().startswith("model="))
    model_text = model_line + text.split(model_line, 1)[1].split("\n", 1)[1].split("\n")[0]
    assert re.search(r"v1 \(ECCV 2018\) plain conv heads", model_text), model_text
    assert re.search(r"v2 \(TIP 2020\) BatchNorm heads", model_text), model_text
    readme = (REPO / "README.md").read_text()
    assert "| head | conv + ReLU | conv + BatchNorm + ReLU |" in readme


#: every other command with the settings it cannot run without
REQUIRED = {
    "eval": ["weights=w", "output_dir=o"],
    "predict": ["weights=w", "input=i", "output=o"],
    "score": ["output_dir=o"],
    "export": ["weights=w", "output=o"],
    "benchmark": ["weights=w"],
    "compare": ["output_dir=o"],
    "audit": ["output_dir=o"],
}


@pytest.mark.parametrize("command", sorted(REQUIRED))
def test_every_help_shows_the_values_a_run_uses(command: str) -> None:
    cfg = compose_config(*REQUIRED[command], config=command)
    checked = 0
    for line in _help_text(command).splitlines():
        m = re.match(r"^  ([a-z_.]+)=(\S+)\s", line)
        if m is None or m.group(2).isupper() or "|" in m.group(2) or ".." in m.group(2):
            continue  # placeholders (PATH, DIR, {..}) and lists of choices
        key, shown = m.groups()
        value = OmegaConf.select(cfg, key, default="<absent>", throw_on_missing=False)
        assert _scalar(shown) == value, f"{command} --help says {key}={shown}, the run {value}"
        checked += 1
    assert checked >= 3


def _run_dir(*overrides: str) -> Path:
    """The run folder a ``train`` run with ``overrides`` gets (relative to the working folder)."""
    cfg = compose_config(*overrides, return_hydra_config=True)
    raw = OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"]
    assert raw.startswith("${paths.log_dir}/${task_name}/runs/"), raw
    log_dir = OmegaConf.to_container(cfg.paths, resolve=False)["log_dir"]
    assert log_dir.endswith("/logs"), log_dir
    return Path("logs", cfg.task_name, "runs")


@pytest.mark.parametrize("debug", ["default", "limit", "overfit", "fast_dev_run"])
def test_debug_runs_land_where_help_and_readme_say(debug: str) -> None:
    assert _run_dir(f"debug={debug}") == Path("logs/debug/runs")
    assert _run_dir() == Path("logs/train/runs")
    assert "debug=...: logs/debug/runs/" in (HELP / "train.yaml").read_text()
    assert "`logs/debug/runs/<date>_<time>/`" in (REPO / "README.md").read_text()


def test_readme_lists_every_output_of_a_run() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## A run's outputs", 1)[1].split("\n## ", 1)[0]
    for name in (
        "metrics.json",
        "checkpoints/last.ckpt",
        "panels/",
        "train.log",
        "csv/",
        ".hydra/",
    ):
        assert f"`{name}" in section, name


@pytest.mark.parametrize("convention", ["pysodmetrics", "f3net"])
def test_score_records_its_convention_in_both_files(tmp_path: Path, convention: str) -> None:
    gt, pred = toy_maps(tmp_path, n=3)
    out = tmp_path / "out"
    args = [f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={out}", "workers=1", "plots=false"]
    run_command("score", *args, f"convention={convention}")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["convention"] == convention
    assert all(isinstance(v, float) for k, v in metrics.items() if k != "convention")
    table = (out / "metrics.md").read_text().splitlines()
    assert table[0].endswith("| convention |") and table[2].endswith(f"| {convention} |")
    assert (out / "metrics.csv").read_text().splitlines()[1].endswith(f",{convention}")


def _cells(row: str) -> int:
    """The cells of a Markdown table row (an escaped ``\\|`` does not split a cell)."""
    return len(re.split(r"(?<!\\)\|", row.strip())) - 2


def test_a_method_name_with_a_pipe_keeps_the_columns(tmp_path: Path) -> None:
    row = {"dataset": "A|B", "method": "ours | v2\nfinal", "count": 3, "mae": 0.1, "max_f": 0.9}
    write_tables([row], tmp_path, convention="f3net")
    head, rule, line = (tmp_path / "metrics.md").read_text().splitlines()
    assert _cells(head) == _cells(line) == rule.count("---")
    assert "| A\\|B | ours \\| v2 final | 3 |" in line
    paper_row = {**row, "adaptive_e": 0.9, "s_measure": 0.9, "adaptive_f": 0.9}
    lines = paper_table([paper_row], "f3net", "v2", compare=True)
    table = [ln for ln in lines if ln.startswith("|")]
    assert len({_cells(ln) for ln in table if not ln.startswith("|-")}) == 1, table


def test_compare_paper_warns_and_notes_a_setup_unlike_the_papers(
    tiny_ckpt: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    for i in range(2):
        mask = np.zeros((40, 48), np.uint8)
        mask[8:32, 10 + i : 40] = 255
        write_image(
            tmp_path / "data" / "ECSSD" / "images" / f"p{i}.jpg",
            rng.integers(0, 255, (40, 48, 3), np.uint8),
        )
        write_image(tmp_path / "data" / "ECSSD" / "masks" / f"p{i}.png", mask)
    out = tmp_path / "out"
    args = [f"weights={tiny_ckpt}", f"data.root={tmp_path / 'data'}", "data.test_sets=[ECSSD]"]
    fast = ["backend=torch", "fps=false", "workers=1", "progress=false", "plots=false"]
    with caplog.at_level(logging.WARNING, logger="ras_lightning"):
        run_command(
            "eval", *args, *fast, f"output_dir={out}", "compare=paper", "convention=pysodmetrics"
        )
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for part in ("backbone resnet18", "input 64x64 px", "pysodmetrics convention"):
        assert any(part in w and "compare=paper" in w for w in warned), (part, warned)
    note = (out / "metrics.md").read_text().split("| ECSSD | paper (RAS", 1)[1]
    assert "Note: not the paper's setup: backbone resnet18" in note and "64x64" in note
    # the paper's own setup has nothing to note; eval's default convention is the paper's
    assert paper_caveats("f3net", "resnet50", 352) == []
    assert paper_caveats("f3net", None, 352) == []  # an ONNX file that does not say
    assert compose_config("output_dir=x", "weights=w", config="eval").convention == "f3net"


def test_counts_agree_with_their_nouns(tiny_ckpt: Path, demo_root: Path, tmp_path: Path) -> None:
    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    args = tiny_train_args(demo_root, tmp_path / "run", f"ckpt_path={tiny_ckpt}")
    with pytest.raises(UserError, match=r"trained 1 epoch, trainer\.max_epochs=1"):
        run_command("train", *args, "trainer.max_epochs=1")


def test_build_folder_is_ignored() -> None:
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "/build/" in ignored or "build/" in ignored


def test_lightning_notes_a_user_cannot_act_on_are_left_out_others_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ras_lightning.training.quiet import quiet_trainer

    notes = [
        "The number of training batches (2) is smaller than the logging interval Trainer(...)",
        "The 'train_dataloader' does not have many workers which may be a bottleneck.",
    ]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_trainer(on_gpu=False):
            for note in notes:
                warnings.warn(note, UserWarning, stacklevel=1)
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, 1)
            warnings.warn("something else", UserWarning, stacklevel=1)
        with quiet_trainer(on_gpu=True):
            warnings.warn(notes[1], UserWarning, stacklevel=1)  # on a GPU it is advice
    assert [str(w.message) for w in seen] == ["something else", notes[1]]
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    with caplog.at_level(logging.INFO, logger=rank_zero.name):
        with quiet_trainer(on_gpu=False):
            rank_zero.info("💡 Tip: try installing litlogger")
            rank_zero.info("GPU available: False, used: False")
        rank_zero.info("💡 Tip: outside the block")
    assert [r.getMessage() for r in caplog.records] == [
        "GPU available: False, used: False",
        "💡 Tip: outside the block",
    ]


def test_the_training_loader_is_resumable_in_lightnings_terms() -> None:
    from lightning.fabric.utilities.types import _Stateful

    from ras_lightning.data.samplers import ResumableLoader

    loader = ResumableLoader(list(range(4)), batch_size=2)
    assert isinstance(loader, _Stateful)
    loader.load_state_dict(loader.state_dict())


_VIDEO_PROBE = """
import sys
from pathlib import Path

from ras_lightning.inference.video import open_video
import cv2, numpy as np

tmp = Path(sys.argv[1])
writer = cv2.VideoWriter(str(tmp / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (32, 24))
for i in range(3):
    writer.write(np.full((24, 32, 3), 60 * i, np.uint8))
writer.release()
data = (tmp / "clip.mp4").read_bytes()
(tmp / "head.mp4").write_bytes(data[: len(data) // 2])  # the moov box cut
(tmp / "tail.mp4").write_bytes(data[len(data) // 2 :])  # "moov atom not found"
print([open_video(tmp / n).isOpened() for n in ("clip.mp4", "head.mp4", "tail.mp4")])
"""


def test_ffmpeg_lines_left_out_when_a_video_is_opened(tmp_path: Path) -> None:
    # a fresh process: OpenCV sets FFmpeg's log level once, at its first use in a process
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    res = subprocess.run(
        [sys.executable, "-c", _VIDEO_PROBE, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[True, False, False]" and res.stderr == "", res.stderr


def test_torchscript_deprecation_left_out_only_where_torchscript_is_asked_for() -> None:
    from ras_lightning.models.export import _jit_asked_for

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with _jit_asked_for():
            warnings.warn("`torch.jit.trace` is deprecated. Please switch", FutureWarning, 1)
        warnings.warn("`torch.jit.trace` is deprecated. Please switch", FutureWarning, 1)
    assert len(seen) == 1
