"""Frames I/O: image sequences and videos, ranges, resizing, grey/colour, streaming, bad frames."""
from __future__ import annotations

import numpy as np
import pytest

from mebench.errors import DataError
from mebench.io import (
    ArrayClip,
    SubClip,
    as_clip,
    check_clip,
    open_clip,
    read_frames,
    stream,
    write_frames,
    write_video,
)


def _frames(n=6, h=48, w=64):
    import cv2
    from skimage.data import astronaut

    base = cv2.resize(astronaut()[30:230, 120:320], (w, h), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(np.roll(base, 3 * i, axis=1)) for i in range(n)]


@pytest.mark.parametrize("pattern", ["img{}.jpg", "reg_img{}.png", "frame_{}.bmp", "006_{:05d}.jpg"])
def test_image_sequences_are_numbered_by_the_last_integer(tmp_path, pattern):
    frames = _frames()
    write_frames(tmp_path / "clip", frames, pattern=pattern, first=46)
    clip = open_clip(str(tmp_path / "clip"))
    assert clip.indices == list(range(46, 52))
    got = clip.read(48)
    assert got.shape == (48, 64, 3) and got.dtype == np.uint8
    tol = 12 if pattern.endswith(".jpg") else 0
    assert np.abs(got.astype(int) - frames[2]).mean() <= tol


@pytest.mark.parametrize("ext", ["mp4", "avi", "wmv"])
def test_videos_stream_in_order_with_ranges_resizing_and_grey(tmp_path, ext):
    frames = _frames(10)
    path = write_video(tmp_path / f"clip.{ext}", frames, fps=25)
    clip = open_clip(str(path))
    assert clip.n_frames == 10 and clip.indices[0] == 0
    got = list(stream(clip, start=3, stop=7, step=2, grey=True, size=(32, 24)))
    assert [i for i, _ in got] == [3, 5, 7]
    assert all(f.shape == (24, 32) and f.dtype == np.uint8 for _, f in got)
    colour = dict(stream(clip, start=2, stop=8))
    assert np.abs(colour[5].astype(int) - frames[5]).mean() < 12      # the right frame, not a neighbour
    assert np.abs(colour[5].astype(int) - frames[8]).mean() > np.abs(colour[5].astype(int) - frames[5]).mean()
    # random access backwards re-opens the capture and still returns the right frame
    assert np.abs(clip.read(1).astype(int) - frames[1]).mean() < 12


def test_stream_is_lazy_and_reads_one_frame_at_a_time():
    reads = []

    class Counting(ArrayClip):
        def _read(self, index):
            reads.append(index)
            return super()._read(index)

    clip = Counting(np.zeros((50, 16, 16, 3), np.uint8), first=1)
    it = stream(clip, start=10, stop=40)
    next(it)
    next(it)
    assert reads == [10, 11]


def test_read_frames_subclip_and_as_clip(tmp_path):
    arr = np.stack(_frames(8))
    clip = as_clip(arr)
    assert isinstance(clip, ArrayClip) and clip.indices == list(range(8))
    stack = read_frames(clip, start=2, stop=5, size=32)
    assert stack.shape == (4, 32, 32, 3)
    sub = SubClip(clip, 3, 6)
    assert sub.indices == [3, 4, 5, 6]
    with pytest.raises(DataError, match="outside this range"):
        sub.read(1)
    with pytest.raises(DataError, match="no frame lies in 20..30"):
        SubClip(clip, 20, 30)
    write_frames(tmp_path / "seq", arr, first=1)
    assert as_clip(tmp_path / "seq").indices == list(range(1, 9))
    assert check_clip(tmp_path / "seq") == {"n_frames": 8, "width": 64, "height": 48, "first": 1, "last": 8}


# -- bad input ---------------------------------------------------------------------------------
def test_truncated_frame_is_named(tmp_path):
    paths = write_frames(tmp_path / "clip", _frames(), first=1)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) // 3])
    clip = open_clip(str(tmp_path / "clip"))
    clip.read(1)
    with pytest.raises(DataError, match=r"img3\.jpg.*") as err:
        list(stream(clip))
    assert "truncated or corrupt" in str(err.value)
    with pytest.raises(DataError, match=r"img3\.jpg"):
        check_clip(clip)


def test_corrupt_png_is_named(tmp_path):
    paths = write_frames(tmp_path / "clip", _frames(3), pattern="f{}.png", first=1)
    paths[0].write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    with pytest.raises(DataError, match=r"f1\.png"):
        open_clip(str(tmp_path / "clip")).read(1)


def test_frames_of_different_sizes_name_the_frame(tmp_path):
    frames = _frames(5)
    frames[3] = frames[3][:40, :60]
    write_frames(tmp_path / "clip", frames, first=1)
    clip = open_clip(str(tmp_path / "clip"))
    with pytest.raises(DataError) as err:
        list(stream(clip, size=32))  # resizing must not hide the mismatch
    text = str(err.value)
    assert "frame 4 is 60x40" in text and "frame 1 is 64x48" in text and "img4.jpg" in text


@pytest.mark.parametrize("n", [0, 1])
def test_clip_with_fewer_than_two_frames(tmp_path, n):
    if n == 0:
        clip = ArrayClip(np.zeros((0, 16, 16, 3), np.uint8), locator="empty")
    else:
        write_frames(tmp_path / "clip", _frames(1), first=1)
        clip = open_clip(str(tmp_path / "clip"))
    with pytest.raises(DataError, match=f"clip has {n} frame.*needs at least 2"):
        check_clip(clip)


def test_truncated_video_is_an_error_naming_the_file(tmp_path):
    path = write_video(tmp_path / "clip.avi", _frames(30), fps=25)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    clip = open_clip(str(path))
    with pytest.raises(DataError, match=r"clip\.avi"):
        for idx in range(35):
            clip.read(idx)


def test_read_image_decodes_the_same_pixels_as_imdecode(tmp_path):
    """The imread fast path (RGB straight from the decoder) changes no pixel, so cached features stay valid."""
    import cv2

    from mebench.io import read_image

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(3, 40, 56, 3), dtype=np.uint8)
    paths = write_frames(tmp_path / "jpg", frames) + write_frames(tmp_path / "png", frames, pattern="f{}.png")
    for path in paths:
        data = np.fromfile(str(path), dtype=np.uint8)
        colour = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(read_image(path), colour)
        assert np.array_equal(read_image(path, grey=True), cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))
    # a JPEG that lost its last bytes is refused, although cv2.imread alone would return grey-filled pixels
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[:-40])
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_image(paths[0])
