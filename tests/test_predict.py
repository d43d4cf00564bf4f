"""``predict`` in process (``predict.run``, as the CLI runs it): no file lost or mixed up, the
output types, videos, and the Python API (``SaliencyPredictor``) against the command. Photos
and videos are made here, tiny; the weights are the session's tiny checkpoint."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ras_lightning.data.readers import read_photo
from ras_lightning.inference.outputs import TYPES, render
from ras_lightning.utils.errors import UserError
from tests.conftest import REPO, run_command, write_image


@pytest.fixture
def predict(tiny_ckpt: Path, command_output: Callable[[], str]) -> Callable[..., str]:
    """``predict`` on the session's checkpoint with ``args``, in process; returns what it
    printed and logged. After a ``pytest.raises``, ``predict.said()`` gives that text."""

    def call(*args: str) -> str:
        command_output()  # start from this run's text
        run_command("predict", f"weights={tiny_ckpt}", "progress=false", *args)
        return command_output()

    call.said = command_output  # type: ignore[attr-defined]
    return call


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _photos(root: Path) -> Path:
    """Same-stem pairs, a sub-folder, a truncated copy, an empty file and a text file."""
    src = root / "photos"
    rng = np.random.default_rng(0)
    write_image(src / "0001.jpg", rng.integers(0, 255, (40, 56, 3), np.uint8))
    write_image(src / "0001.png", rng.integers(0, 255, (36, 48, 3), np.uint8))
    write_image(src / "sub" / "b.jpg", rng.integers(0, 255, (33, 44, 3), np.uint8))
    data = (src / "0001.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (src / "empty.jpg").touch()
    (src / "notes.txt").write_text("not a photo")
    return src


def test_same_stems_broken_files_resume_and_globs(predict: Callable, tmp_path: Path) -> None:
    src = _photos(tmp_path)
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    log = predict(f"input={src}", f"output={out}", "recursive=true")
    assert "3 written, 3 skipped (2 unreadable, 1 not an image or video)" in log
    for name in ("truncated.jpg", "empty.jpg", "notes.txt"):
        assert re.search(rf"skipped \S*{name}", log), name
    # both same-stem photos kept, each with its own map; other names unchanged
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["0001.jpg.png", "0001.png.png", "sub/b.png"]
    assert _png(out / "0001.jpg.png").shape == (40, 56)
    assert _png(out / "0001.png.png").shape == (36, 48)
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before

    # overwrite=false resumes: outputs already there are kept and counted, the rest written
    (out / "sub" / "b.png").unlink()
    kept = out / "0001.jpg.png"
    kept.write_bytes(b"an earlier run's file")
    log = predict(f"input={src}", f"output={out}", "recursive=true", "overwrite=false")
    assert "1 written, 5 skipped (2 unreadable, 1 not an image or video, 2 already there)" in log
    assert kept.read_bytes() == b"an earlier run's file" and (out / "sub" / "b.png").is_file()
    # nothing left to do is not a failure
    log = predict(f"input={src}", f"output={out}", "recursive=true", "overwrite=false")
    assert "0 written, 6 skipped" in log and "3 already there" in log, log

    # a ** glob keeps the sub-folders; a stem alone in the selection keeps the plain name
    log = predict(f"input='{src}/**/*.jpg'", f"output={tmp_path / 'glob'}")
    assert "2 written, 2 skipped (2 unreadable)" in log, log
    assert (tmp_path / "glob" / "0001.png").is_file() and (tmp_path / "glob/sub/b.png").is_file()


def test_refusals_write_errors_and_single_file_output(predict: Callable, tmp_path: Path) -> None:
    src = _photos(tmp_path)
    # a name still shared after keeping extensions: refused before any work, listing the files
    write_image(src / "clash" / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    write_image(src / "clash" / "a.png", np.zeros((8, 8, 3), np.uint8))
    write_image(src / "clash" / "a.jpg.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="would write the same output") as err:
        predict(f"input={src / 'clash'}", f"output={tmp_path / 'c'}")
    assert "clash/a.jpg," in str(err.value) and "clash/a.jpg.png" in str(err.value)
    assert not (tmp_path / "c").exists()  # a refused run leaves no folder behind

    # output under a file, or a file name for several inputs: refused, nothing created
    with pytest.raises(UserError, match="inside the input folder"):
        predict(f"input={src}", f"output={src / 'notes.txt' / 'x'}")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError) as err:
        predict(f"input={src}", f"output={blocker / 'out'}")
    assert f"cannot create {blocker / 'out'}: {blocker} is a file" in str(err.value)
    with pytest.raises(UserError, match="names one file but input has"):
        predict(f"input={src}", f"output={tmp_path / 'masks.png'}")
    assert not (tmp_path / "masks.png").exists()

    # a file that cannot be written is an error naming it, never counted as written
    out = tmp_path / "out"
    (out / "0001.png").mkdir(parents=True)  # a folder in the way of sub-less 0001.jpg's map
    with pytest.raises(UserError) as err:
        predict(f"input={src / '0001.jpg'}", f"output={out}")
    assert f"cannot write {out / '0001.png'}: Is a directory" in str(err.value)
    assert "0 written" in predict.said() and not list(out.glob(".*part"))
    if os.geteuid() != 0:  # root writes into read-only folders
        ro = tmp_path / "readonly"
        ro.mkdir(mode=0o555)
        with pytest.raises(UserError, match="permission denied"):
            predict(f"input={src}", f"output={ro}")
        assert not list(ro.iterdir())

    # nothing written (every input unreadable) is a failure; output=FILE.png writes that file
    with pytest.raises(UserError, match="nothing written"):
        predict(f"input={src / 'truncated.jpg'}", f"output={tmp_path / 'none'}")
    assert "0 written, 1 skipped (1 unreadable)" in predict.said()
    assert not (tmp_path / "none").exists()
    one = tmp_path / "single" / "mask.png"
    log = predict(f"input={src / 'sub' / 'b.jpg'}", f"output={one}", "type=mask")
    assert "1 written, 0 skipped" in log, log
    assert one.is_file() and _png(one).shape == (33, 44)
    assert set(np.unique(_png(one))) <= {0, 255}
    # one input file: its folder may take an output of another name, never the file itself
    beside = src / "sub" / "b_mask.png"
    predict(f"input={src / 'sub' / 'b.jpg'}", f"output={beside}")
    assert beside.is_file()
    photo = src / "0001.png"
    with pytest.raises(UserError, match="is an input file"):
        predict(f"input={photo}", f"output={photo}")
    assert _png(photo).shape == (36, 48, 3)


def _exif_rotated_jpeg(path: Path) -> None:
    """A 56x40 JPEG tagged 'rotate 90 clockwise' (orientation 6): viewers show it 40x56."""
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (40, 56, 3), np.uint8)
    pixels[10:30, 10:30] = (250, 30, 30)
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, exif=exif, quality=95)


def test_every_type_at_the_photos_size_with_exif_and_the_api(
    predict: Callable, tiny_ckpt: Path, tmp_path: Path
) -> None:
    from ras_lightning import SaliencyPredictor

    src = tmp_path / "photos"
    _exif_rotated_jpeg(src / "tagged.jpg")
    write_image(src / "plain.png", np.random.default_rng(2).integers(0, 255, (30, 50, 3), np.uint8))
    back = write_image(tmp_path / "beach.png", np.full((20, 20, 3), (0, 90, 200), np.uint8))
    photos = {name: read_photo(str(src / name)) for name in ("tagged.jpg", "plain.png")}
    assert photos["tagged.jpg"].shape == (56, 40, 3)  # EXIF orientation applied
    api = SaliencyPredictor(tiny_ckpt)  # the CLI's default engine (ONNX Runtime on a CPU)
    for kind in TYPES:
        out = tmp_path / kind
        extra = [f"background={back}"] if kind == "background" else [f"type={kind}"]
        if kind == "mask":
            extra.append("threshold=0.3")
        log = predict(f"input={src}", f"output={out}", *extra)
        assert "2 written, 0 skipped" in log, (kind, log)
        for name, photo in photos.items():
            got = _png(out / Path(name).with_suffix(".png"))
            smap = _png(tmp_path / "map" / Path(name).with_suffix(".png"))
            back_rgb = read_photo(str(back)) if kind == "background" else None
            want = render(photo, smap, kind, 0.3, back_rgb)
            assert got.shape[:2] == photo.shape[:2] and np.array_equal(got, want), (kind, name)
            # the Python API gives the same array for the same photo
            if kind == "background":
                mine = api.predict(src / name, background=back)
            else:
                mine = api.predict(src / name, type=kind, threshold=0.3)
            assert np.array_equal(mine, got), (kind, name)
    mask = _png(tmp_path / "mask" / "plain.png")
    assert set(np.unique(mask)) == {0, 255}
    assert not np.array_equal(
        mask, render(photos["plain.png"], _png(tmp_path / "map/plain.png"), "mask")
    )
    rgba = _png(tmp_path / "rgba" / "tagged.png")
    assert rgba.shape == (56, 40, 4) and np.array_equal(rgba[..., :3], photos["tagged.jpg"])
    # the deprecated cutout=true is type=rgba
    log = predict(f"input={src}", f"output={tmp_path / 'old'}", "cutout=true")
    assert "deprecated" in log
    assert np.array_equal(_png(tmp_path / "old" / "plain.png"), _png(tmp_path / "rgba/plain.png"))
    # settings are checked before any work
    for bad, said in [
        ("type=sepia", "type= must be one of"),
        ("threshold=128", "threshold is a fraction"),
        (f"background={src / 'nope.jpg'}", "background: cannot read image"),
    ]:
        with pytest.raises(UserError, match=re.escape(said)):
            predict(f"input={src}", f"output={tmp_path / 'bad'}", bad)
    assert not (tmp_path / "bad").exists()


def _video(path: Path, fourcc: str, frames: int = 8, fps: float = 10.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (64, 48))
    for i in range(frames):
        frame = np.full((48, 64, 3), 40, np.uint8)
        cv2.circle(frame, (16 + 4 * i, 24), 10, (20, 200, 240), -1)
        writer.write(frame)
    writer.release()


def _read_video(path: Path) -> tuple[float, list[np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    fps, frames = cap.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return fps, frames


def test_videos_keep_frame_rate_size_and_container(
    predict: Callable, tiny_ckpt: Path, tmp_path: Path
) -> None:
    from ras_lightning import SaliencyPredictor

    src = tmp_path / "clips"
    src.mkdir()
    _video(src / "clip.avi", "MJPG")
    _video(src / "walk.mp4", "mp4v", frames=5, fps=12.5)
    (src / "broken.mkv").write_bytes(b"not a video")
    out = tmp_path / "out"
    log = predict(f"input={src}", f"output={out}", "type=green")
    assert "2 written, 1 skipped (1 unreadable)" in log and "broken.mkv" in log, log
    api = SaliencyPredictor(tiny_ckpt)
    for name, n, fps in (("clip.avi", 8, 10.0), ("walk.mp4", 5, 12.5)):
        got_fps, got = _read_video(out / name)
        _, frames = _read_video(src / name)
        assert got_fps == pytest.approx(fps) and len(got) == n, name
        assert all(f.shape == (48, 64, 3) for f in got)
        # each frame is the frame composited on green by its map (up to the codec's loss)
        want = api.predict(frames, type="green")
        diff = np.mean([np.abs(g.astype(int) - w).mean() for g, w in zip(got, want, strict=True)])
        assert diff < 6, (name, diff)
        assert np.abs(got[0].astype(int) - frames[0]).mean() > 2 * diff  # not the input again
    assert not list(out.glob(".*"))  # no partial files left
    # a video cannot be a cut-out; refused before any work
    with pytest.raises(UserError, match="no video form"):
        predict(f"input={src}", f"output={tmp_path / 'rgba'}", "type=rgba")
    assert not (tmp_path / "rgba").exists()
    # one video to a named file
    predict(f"input={src / 'clip.avi'}", f"output={tmp_path / 'one.avi'}")
    assert len(_read_video(tmp_path / "one.avi")[1]) == 8


def test_readme_python_snippet_runs(tiny_ckpt: Path, tmp_path: Path) -> None:
    """The README's Python API block, verbatim, in a folder holding RAS.v2.pth (here the
    session's checkpoint under that name: weights are told by their content) and photo.jpg."""
    text = (REPO / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "SaliencyPredictor" in b
    )
    shutil.copy(tiny_ckpt, tmp_path / "RAS.v2.pth")
    _exif_rotated_jpeg(tmp_path / "photo.jpg")
    write_image(tmp_path / "other.png", np.zeros((20, 30, 3), np.uint8))
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        scope: dict = {}
        exec(compile(block, "README.md", "exec"), scope)  # noqa: S102
    finally:
        os.chdir(cwd)
    assert scope["saliency"].shape == (56, 40) and scope["saliency"].dtype == np.uint8
    assert scope["cutout"].shape == (56, 40, 4)
    assert [m.shape for m in scope["maps"]] == [(56, 40), (20, 30)]
    assert np.array_equal(scope["maps"][0], scope["saliency"])
