"""Every command's ``--help`` (its own keys, described, two examples), one-line errors for a
missing mandatory argument, and paths with commas, brackets, spaces and non-ASCII letters
passed as the README shows.

The console scripts' smoke tests are here, one per command, through the real CLI: ``--help``,
a missing argument as one ``error:`` line (exit 1, nothing written), and for ``predict`` and
``eval`` a tiny real run on a warm ONNX cache that imports no torch (what only a fresh process
shows). Everything else runs in process (:func:`tests.conftest.run_command`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.errors import OverrideParseException

from ras_lightning.utils.errors import UserError
from tests.conftest import run_cli, run_command, write_image

#: command -> keys its help must describe
OWN_KEYS = {
    "train": ["strategy=", "data.root=", "model/backbone=", "optimizer.lr=", "trainer.max_epochs"],
    "eval": ["weights=", "output_dir=", "data.root=", "data.test_sets=", "convention=", "plots="],
    "predict": ["weights=", "input=", "output=", "type=", "threshold=", "overwrite="],
    "score": ["gt_dir=", "pred_dir=", "output_dir=", "missing=", "convention=", "workers="],
    "export": ["weights=", "output=", "format=", "fold_bn=", "check_sizes="],
    "benchmark": ["weights=", "size=", "device=", "runs=", "warmup="],
    "compare": ["a=", "b=", "output_dir=", "runs=", "ci=", "bootstrap=", "permutations="],
    "audit": ["output_dir=", "data.root=", "train_dir=", "+test_dirs=", "max_distance="],
}

#: (command, arguments, the missing key it must name)
MISSING = [
    ("eval", [], "weights"),
    ("eval", ["weights=w.pth"], "output_dir"),
    ("predict", ["weights=w.pth", "input=photos"], "output"),
    ("score", ["gt_dir=gt", "pred_dir=maps"], "output_dir"),
    ("score", ["output_dir=out"], "gt_dir"),
    ("export", ["weights=w.pth"], "output"),
    ("benchmark", [], "weights"),
    ("compare", [], "a"),
    ("compare", ["a=x", "b=y"], "output_dir"),
    ("audit", [], "output_dir"),
]


def _imported(stderr: str) -> set[str]:
    """Modules named by ``PYTHONPROFILEIMPORTTIME=1`` output."""
    return {ln.rsplit("|", 1)[-1].strip() for ln in stderr.splitlines() if "|" in ln}


def _check_help(command: str) -> None:
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


def _check_missing_argument(command: str, args: list[str], key: str, cwd: Path) -> None:
    res = run_cli(command, *args, cwd=cwd)
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and f"{key}=" in lines[0]
    assert f"python -m ras_lightning.{command} " in lines[0]  # an example command
    assert "Traceback" not in res.stderr and "hydra.run.dir" not in res.stderr
    assert not list(cwd.iterdir())  # nothing written, no empty folder


def _check_warm_cache_run(
    command: str, request: pytest.FixtureRequest, tmp_path: Path, out: Path
) -> None:
    """``predict`` / ``eval`` on the session's checkpoint, its ONNX cache entry filled: ONNX
    Runtime alone, no torch or Lightning imported (NumPy scoring for ``eval``)."""
    from ras_lightning.inference.onnx_predictor import OnnxPredictor

    ckpt = request.getfixturevalue("tiny_ckpt")
    OnnxPredictor(ckpt)  # fills the cache (RAS_LIGHTNING_CACHE, the session's) if needed
    if command == "predict":
        photo = write_image(tmp_path / "photos" / "a.jpg", np.zeros((30, 40, 3), np.uint8))
        args = [f"input={photo.parent}", f"output={out}"]
    else:
        root = request.getfixturevalue("demo_root")
        args = [f"data.root={root}", "data.test_sets=[DEMO-TE]", f"output_dir={out}"]
        args += ["fps=false", "plots=false"]
    res = run_cli(command, f"weights={ckpt}", *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    imported = _imported(res.stderr)
    assert "onnxruntime" in imported and "torch" not in imported and "lightning" not in imported
    if command == "predict":
        assert "1 written, 0 skipped" in res.stdout and (out / "a.png").is_file()
    else:
        assert len(list((out / "DEMO-TE").glob("*.png"))) == 7
        assert "| DEMO-TE | last.ckpt | 7 |" in res.stdout


@pytest.mark.parametrize("command", list(OWN_KEYS))
def test_console_script_smoke(command: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The one test per command through the real CLI (``python -m ras_lightning.<command>``)."""
    _check_help(command)
    first = next((case for case in MISSING if case[0] == command), None)
    if first is not None:
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        _check_missing_argument(command, first[1], first[2], cwd)
    if command in ("predict", "eval"):
        _check_warm_cache_run(command, request, tmp_path, tmp_path / "out")


@pytest.mark.parametrize(("command", "args", "key"), MISSING)
def test_missing_argument_is_one_line_with_an_example(
    command: str, args: list[str], key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the process's side (exit 1, no traceback, no run folder): test_console_script_smoke
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as err:
        run_command(command, *args)
    msg = str(err.value)  # the CLI prints "error: <msg>"
    assert "\n" not in msg and f"{key}=" in msg
    assert f"python -m ras_lightning.{command} " in msg  # an example command
    assert not list(tmp_path.iterdir())  # nothing written, no empty folder


def test_paths_with_commas_brackets_spaces_and_accents_quoted_as_the_readme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's form: the value in single quotes, inside the shell's double quotes
    (here one argument each, as the shell passes it; Hydra's override grammar reads them)."""
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
    run_command(
        "score",
        f"gt_dir='{odd / 'gt'}'",
        f"pred_dir='{odd / 'maps'}'",
        f"output_dir='{out}'",
        "workers=1",
    )
    assert (out / "metrics.json").is_file()
    assert "| a,b [1] é | maps | 3 |" in capsys.readouterr().out
    # unquoted, Hydra's grammar refuses the same value
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OverrideParseException):
        run_command("score", f"gt_dir={odd / 'gt'}", f"pred_dir={odd / 'maps'}", "output_dir=o")
    assert not (tmp_path / "o").exists()


def test_benchmark_reports_each_phase_as_it_goes(
    tiny_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_command(
        "benchmark", f"weights={tiny_ckpt}", "size=64", "runs=2", "warmup=1", "onnxruntime=false"
    )
    out = capsys.readouterr()
    progress = [ln for ln in out.err.splitlines() if ln.startswith("benchmark: ")]
    # a line before each timed phase and one with its result after it, then the table
    assert "1 warm-up + 2 timed runs at 64x64" in progress[0]
    assert progress[1] == "benchmark: eager fp32 (the authors' loop) ..."
    assert progress[2].startswith("benchmark: eager fp32 (the authors' loop): ")
    assert "FPS (" in progress[2] and len(progress) == 5
    assert "| eager fp32 (the authors' loop) |" in out.out
