"""Every command's ``--help`` (its own keys, described, two examples), one-line errors for a
missing mandatory argument, and paths with commas, brackets, spaces and non-ASCII letters
passed as the README shows (through the real CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli, write_image

#: command -> keys its help must describe
OWN_KEYS = {
    "train": ["strategy=", "data.root=", "model/backbone=", "optimizer.lr=", "trainer.max_epochs"],
    "eval": ["weights=", "output_dir=", "data.root=", "data.test_sets=", "convention=", "plots="],
    "predict": ["weights=", "input=", "output=", "type=", "threshold=", "overwrite="],
    "score": ["gt_dir=", "pred_dir=", "output_dir=", "missing=", "convention=", "workers="],
    "export": ["weights=", "output=", "format=", "fold_bn=", "check_sizes="],
    "benchmark": ["weights=", "size=", "device=", "runs=", "warmup="],
}


@pytest.mark.parametrize("command", list(OWN_KEYS))
def test_help_shows_the_commands_own_keys_and_two_examples(command: str) -> None:
    res = run_cli(command, "--help")
    assert res.returncode == 0, res.stderr[-2000:]
    text = res.stdout
    assert text.startswith(f"ras-{command} (python -m ras_lightning.{command})")
    for key in OWN_KEYS[command]:
        line = next((ln for ln in text.splitlines() if ln.strip().startswith(key)), None)
        assert line is not None, f"{key} missing from {command} --help"
        assert len(line.split(key, 1)[1].split()) >= 2, f"{key} has no description: {line!r}"
    examples = text.split("Examples:", 1)[1].split("\n\n")[0]
    assert examples.count(f"python -m ras_lightning.{command} ") == 2
    # Hydra's generic help lists every config group; a command shows only its own settings
    assert "== Configuration groups ==" not in text and "Powered by Hydra" not in text
    if command != "train":
        assert "optimizer" not in text and "trainer" not in text
    assert "quote" in text.lower()  # how to pass awkward paths


@pytest.mark.parametrize(
    ("command", "args", "key"),
    [
        ("eval", [], "weights"),
        ("eval", ["weights=w.pth"], "output_dir"),
        ("predict", ["weights=w.pth", "input=photos"], "output"),
        ("score", ["gt_dir=gt", "pred_dir=maps"], "output_dir"),
        ("score", ["output_dir=out"], "gt_dir"),
        ("export", ["weights=w.pth"], "output"),
        ("benchmark", [], "weights"),
    ],
)
def test_missing_argument_is_one_line_with_an_example(
    command: str, args: list[str], key: str, tmp_path: Path
) -> None:
    res = run_cli(command, *args, cwd=tmp_path)
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and f"{key}=" in lines[0]
    assert f"python -m ras_lightning.{command} " in lines[0]  # an example command
    assert "Traceback" not in res.stderr and "hydra.run.dir" not in res.stderr
    assert not list(tmp_path.iterdir())  # nothing written, no empty folder


def test_paths_with_commas_brackets_spaces_and_accents_quoted_as_the_readme(
    tmp_path: Path,
) -> None:
    """The README's form: the value in single quotes, inside the shell's double quotes
    (here one argv element each, as the shell passes it)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "input=\"'/photos/a,b [1] é.jpg'\"" in readme
    odd = tmp_path / "a,b [1] é"
    rng = np.random.default_rng(0)
    for i in range(3):
        mask = np.zeros((32, 40), np.uint8)
        mask[4 + i : 20, 6:30] = 255
        write_image(odd / "gt" / f"m{i}.png", mask)
        noisy = np.clip(mask * 0.8 + rng.integers(0, 40, mask.shape), 0, 255)
        write_image(odd / "maps" / f"m{i}.png", noisy.astype(np.uint8))
    out = tmp_path / "out, é [2]"
    res = run_cli(
        "score",
        f"gt_dir='{odd / 'gt'}'",
        f"pred_dir='{odd / 'maps'}'",
        f"output_dir='{out}'",
        "workers=1",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "metrics.json").is_file() and "| a,b [1] é | maps | 3 |" in res.stdout
    # unquoted, Hydra's grammar refuses the same value
    res = run_cli("score", f"gt_dir={odd / 'gt'}", f"pred_dir={odd / 'maps'}", "output_dir=o")
    assert res.returncode == 1 and not (tmp_path / "o").exists()


def test_benchmark_reports_each_phase_as_it_goes(tmp_path: Path) -> None:
    from tests.test_export import seeded_ckpt

    ckpt = seeded_ckpt(tmp_path / "ras.ckpt")
    res = run_cli(
        "benchmark", f"weights={ckpt}", "size=64", "runs=2", "warmup=1", "onnxruntime=false"
    )
    assert res.returncode == 0, res.stderr[-2000:]
    progress = [ln for ln in res.stderr.splitlines() if ln.startswith("benchmark: ")]
    # a line before each timed phase and one with its result after it, then the table
    assert "1 warm-up + 2 timed runs at 64x64" in progress[0]
    assert progress[1] == "benchmark: eager fp32 (the authors' loop) ..."
    assert progress[2].startswith("benchmark: eager fp32 (the authors' loop): ")
    assert "FPS (" in progress[2] and len(progress) == 5
    assert "| eager fp32 (the authors' loop) |" in res.stdout
