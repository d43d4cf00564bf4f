"""Issue 21, writes: every file ``eval``, ``score`` and ``export`` write goes in whole or not at
all, and a place that cannot be written is one line ``cannot write PATH: reason``, said before
the long work where it can be. Three kinds of place: an existing file where the output folder
(or the file's folder) should be, a read-only folder, a full disk (a device such as
``/dev/full``, refused as a destination; a real ``ENOSPC`` in the middle of the writes,
injected into the rename that finishes each file). In process (:func:`run_command`); the
CLI's one-line exit for the same error is in ``tests/test_reliability_cli.py``."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ras_lightning.models import export as models_export
from ras_lightning.utils import files
from ras_lightning.utils.errors import UserError, user_errors
from ras_lightning.utils.files import atomic_path, make_folder, probe_writable, write_atomic
from tests.conftest import run_command, toy_maps
from tests.test_eval_safety import EVAL_FAST, snapshot, tiny_set

FULL = os.strerror(errno.ENOSPC)  # "No space left on device"


def one_line(err: pytest.ExceptionInfo) -> str:
    """The raised message, which the CLI prints as its one ``error:`` line."""
    msg = str(err.value)
    assert "\n" not in msg.strip() and msg.startswith("cannot write "), msg
    return msg


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of unfinished writes under ``folder``."""
    return [p for p in folder.rglob(".*") if ".part" in p.name]


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder path (not there yet) in a place nothing can be written: a read-only folder;
    as root, who writes through permission bits, a folder under ``/sys`` (sysfs refuses new
    entries even to root)."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        yield ro / "out"
        ro.chmod(0o755)
        return
    place = Path("/sys/ras_lightning_write_test")
    try:
        place.mkdir()
    except OSError:
        yield place / "out"
        return
    place.rmdir()
    pytest.skip("running as root where /sys takes new folders: no read-only place to test")


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``full(name)``: from now on, finishing any write of a file whose name ends in ``name``
    ("" for all) fails as on a full disk (``ENOSPC`` from the rename, after the content went
    into the temporary file)."""
    real = os.replace

    def full(name: str = "") -> None:
        def replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
            if ".part" in Path(src).name and str(dst).endswith(name):
                raise OSError(errno.ENOSPC, FULL, str(dst))
            real(src, dst)

        monkeypatch.setattr(files.os, "replace", replace)

    return full


# ---- the helper ----------------------------------------------------------------------------


def test_write_atomic_replaces_whole_keeps_links_and_leaves_nothing_on_failure(
    tmp_path: Path, disk_full: Callable[[str], None]
) -> None:
    out = tmp_path / "a" / "b" / "metrics.json"
    write_atomic(out, "first\r\n")  # folders made, line endings as given
    assert out.read_bytes() == b"first\r\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()  # as any new file
    write_atomic(out, b"second")
    assert out.read_bytes() == b"second" and leftovers(tmp_path) == []
    # a symlink stays a symlink: the file it points to is written
    link = tmp_path / "link.json"
    link.symlink_to(out)
    write_atomic(link, "third")
    assert link.is_symlink() and out.read_text() == "third"

    # the block fails half-way: the old file is intact, the temporary file is gone
    with pytest.raises(RuntimeError, match="boom"), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert out.read_text() == "third" and leftovers(tmp_path) == []
    # a write error in the block is the one line, naming the final file
    with pytest.raises(UserError) as err, atomic_path(out) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, FULL)
    assert one_line(err) == f"cannot write {out}: {FULL}"
    assert out.read_text() == "third" and leftovers(tmp_path) == []
    # the disk is full when the file is finished
    disk_full("")
    with pytest.raises(UserError) as err:
        write_atomic(tmp_path / "new.md", "table")
    assert one_line(err) == f"cannot write {tmp_path / 'new.md'}: {FULL}"
    assert not (tmp_path / "new.md").exists() and leftovers(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_file_in_the_way_a_folder_or_a_device_as_destination_are_one_line(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("kept")
    with pytest.raises(UserError) as err:
        write_atomic(blocker / "sub" / "metrics.json", "{}")
    assert one_line(err) == (
        f"cannot write {blocker / 'sub' / 'metrics.json'}: {blocker} is a file, not a folder"
    )
    with pytest.raises(UserError, match="it is a file, not a folder"):
        make_folder(blocker)
    with pytest.raises(UserError, match="Is a directory"):
        write_atomic(tmp_path, "x")
    # a device is not replaced by a regular file (root could): refused, left as it is
    with pytest.raises(UserError) as err:
        write_atomic("/dev/full", "x")
    assert "not a regular file" in one_line(err)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert blocker.read_text() == "kept" and sorted(tmp_path.iterdir()) == [blocker]


def test_probe_writable_leaves_nothing_and_names_the_place(tmp_path: Path, read_only: Path) -> None:
    assert probe_writable(tmp_path / "x" / "y") == tmp_path / "x" / "y"
    assert list(tmp_path.iterdir()) == []  # the probe file and the folders made for it: gone
    probe_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError) as err:
        probe_writable(read_only)
    assert one_line(err).startswith(f"cannot write {read_only}: ")
    assert not read_only.exists()


# ---- score ---------------------------------------------------------------------------------


def test_score_output_is_a_file_read_only_or_full_disk(
    tmp_path: Path, read_only: Path, disk_full: Callable[[str], None]
) -> None:
    gt, pred = toy_maps(tmp_path / "in", n=3)
    inputs = snapshot(tmp_path / "in")
    args = [f"gt_dir={gt}", f"pred_dir={pred}", "workers=1", "progress=false"]
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    with pytest.raises(UserError) as err:
        run_command("score", *args, f"output_dir={blocker}")
    assert one_line(err) == f"cannot write {blocker}: it is a file, not a folder"
    assert blocker.read_text() == "a file, not a folder"

    with pytest.raises(UserError) as err:
        run_command("score", *args, f"output_dir={read_only}")
    assert one_line(err).startswith(f"cannot write {read_only}: ") and not read_only.exists()

    # the disk fills up when metrics.json is written, after the plots and curves: those are
    # whole, metrics.json and the tables after it are not there, no temporary file is left
    out = tmp_path / "scored"
    disk_full("metrics.json")
    with pytest.raises(UserError) as err:
        run_command("score", *args, f"output_dir={out}")
    assert one_line(err) == f"cannot write {out / 'metrics.json'}: {FULL}"
    names = {p.name for p in out.iterdir()}
    assert "metrics.json" not in names and "metrics.md" not in names
    assert any(n.startswith("pr_curve_") for n in names) and leftovers(out) == []
    assert snapshot(tmp_path / "in") == inputs


# ---- eval ----------------------------------------------------------------------------------


def test_eval_output_is_a_file_read_only_or_full_disk(
    tiny_ckpt: Path, tmp_path: Path, read_only: Path, disk_full: Callable[[str], None]
) -> None:
    root = tiny_set(tmp_path / "data", n=2)
    data = snapshot(root)
    args = [f"weights={tiny_ckpt}", f"data.root={root}", "data.test_sets=[TINY]", *EVAL_FAST]
    args.append("plots=false")
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    # said before the weights are loaded: a missing weights file is not reached
    missing = [*args[1:], f"weights={tmp_path / 'none.ckpt'}"]
    with pytest.raises(UserError) as err:
        run_command("eval", *missing, f"output_dir={blocker}")
    assert one_line(err) == f"cannot write {blocker}: it is a file, not a folder"
    with pytest.raises(UserError) as err:
        run_command("eval", *missing, f"output_dir={read_only}")
    assert one_line(err).startswith(f"cannot write {read_only}: ") and not read_only.exists()
    assert blocker.read_text() == "a file, not a folder"

    # a full disk at the first map: named, nothing under its name, no temporary file
    out = tmp_path / "eval"
    disk_full(".png")
    with pytest.raises(UserError) as err:
        run_command("eval", *args, f"output_dir={out}")
    msg = one_line(err)
    assert msg.startswith(f"cannot write {out / 'TINY'}") and msg.endswith(f".png: {FULL}")
    assert not list(out.rglob("*.png")) and leftovers(out) == []
    assert snapshot(root) == data


# ---- export --------------------------------------------------------------------------------


def test_export_destination_under_a_file_read_only_a_device_or_full_disk(
    tiny_ckpt: Path,
    tmp_path: Path,
    read_only: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("kept")
    # said before the weights are read: a missing weights file is not reached
    none = f"weights={tmp_path / 'none.ckpt'}"
    with pytest.raises(UserError) as err:
        run_command("export", none, "format=onnx", f"output={blocker / 'ras.onnx'}")
    assert (
        one_line(err) == f"cannot write {blocker / 'ras.onnx'}: {blocker} is a file, not a folder"
    )
    with pytest.raises(UserError) as err:
        run_command("export", none, "format=onnx", f"output={read_only / 'ras.onnx'}")
    assert one_line(err).startswith(f"cannot write {read_only / 'ras.onnx'}: ")
    assert not read_only.exists()
    # /dev/full: a device, not a file to replace; refused in one line, left as it is
    with pytest.raises(UserError) as err:
        run_command("export", none, "format=onnx", "output=/dev/full")
    assert one_line(err) == "cannot write /dev/full: not a regular file; name a file to write"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert blocker.read_text() == "kept"

    # the disk fills up half-way through the file (a rename that fails is the helper's test
    # above): an earlier export under that name is kept whole, no temporary file is left
    out = tmp_path / "RAS.v1.pth"
    out.write_bytes(b"an earlier export")
    real_open = open

    def half_written(path: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        f = real_open(path, mode, *args, **kwargs)
        if "w" in mode:

            def write(data: bytes) -> int:
                real_open(path, "ab").write(bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, FULL)

            f.write = write
        return f

    monkeypatch.setattr(models_export, "open", half_written, raising=False)
    with pytest.raises(UserError) as err:
        run_command("export", f"weights={tiny_ckpt}", "format=official", f"output={out}")
    assert one_line(err) == f"cannot write {out}: {FULL}"
    assert out.read_bytes() == b"an earlier export" and leftovers(tmp_path) == []


def test_export_that_fails_its_check_leaves_nothing_under_the_final_name(
    tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ONNX file is traced, given its metadata and checked under a temporary name; one
    that fails the check against PyTorch (here: made to) never gets the final name."""
    checked = []

    def far_off(kind: str, path: Path, *args: object) -> tuple[float, float]:
        checked.append(path)
        assert path.is_file() and path.parent == tmp_path and path != out
        return 1.0, 1.0

    monkeypatch.setattr(models_export, "max_difference", far_off)
    out = tmp_path / "ras.onnx"
    with pytest.raises(UserError, match="differs from PyTorch") as err:
        run_command(
            "export",
            f"weights={tiny_ckpt}",
            "format=onnx",
            f"output={out}",
            "check_sizes=[[32,32]]",
        )
    assert f"{out} not written" in str(err.value) and len(checked) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_says_it_in_one_error_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the CLI does with the error (:func:`user_errors`, the commands' ``main``): one
    line ``error: cannot write PATH: reason`` on stderr, exit status 1, no traceback."""
    gt, pred = toy_maps(tmp_path / "in", n=2)
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    capsys.readouterr()
    with pytest.raises(SystemExit) as done, user_errors():
        run_command("score", f"gt_dir={gt}", f"pred_dir={pred}", f"output_dir={blocker}")
    assert done.value.code == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert lines == [f"error: cannot write {blocker}: it is a file, not a folder"]
