"""Streamed frames I/O for the face front-end, on top of :mod:`mebench.data.frames`.

* :func:`as_clip` turns a locator string, a path, a :class:`Clip` or an in-memory array into a Clip;
* :func:`stream` yields ``(index, frame)`` over a frame range, resized and grey/colour on request,
  one frame at a time (a whole dataset is never held in memory);
* :func:`read_frames` stacks a (short) range into one array;
* :class:`SubClip` restricts a clip to a frame range; :class:`ArrayClip` wraps frames in memory;
* :func:`check_clip` decodes every frame once and reports the first bad one by file;
* :func:`write_frames` / :func:`write_video` write image sequences and videos (fixtures, exports).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..data.frames import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Clip, ImageSequenceClip, SingleImageClip,  # noqa: F401
                           VideoClip, frame_number, open_clip, read_image)
from ..errors import DataError



def size_wh(size) -> tuple[int, int] | None:
    """Normalise a size argument: an int is a square, a pair is (width, height)."""
    if size is None:
        return None
    if np.isscalar(size):
        return int(size), int(size)
    w, h = size
    return int(w), int(h)


class ArrayClip(Clip):
    """Frames held in memory: a (T, H, W) or (T, H, W, 3) uint8 array, numbered from ``first``."""

    def __init__(self, frames, first: int = 0, locator: str = "<array>"):
        frames = np.asarray(frames)
        if frames.ndim not in (3, 4) or frames.dtype != np.uint8:
            raise DataError(f"ArrayClip needs a (T, H, W[, 3]) uint8 array; got {frames.dtype} {frames.shape}")
        self.frames = frames
        self.first = int(first)
        self.locator = locator

    @property
    def indices(self) -> list[int]:
        return list(range(self.first, self.first + len(self.frames)))

    def _read(self, index: int) -> np.ndarray:
        i = int(index) - self.first
        if not 0 <= i < len(self.frames):
            raise DataError(f"frame {index} outside frames {self.first}..{self.first + len(self.frames) - 1}",
                            file=self.locator)
        return self.frames[i]


class SubClip(Clip):
    """The frames of ``clip`` with absolute numbers in ``[start, stop]`` (inclusive), every ``step``-th."""

    def __init__(self, clip: Clip, start: int | None = None, stop: int | None = None, step: int = 1):
        if step < 1:
            raise ValueError(f"step must be >= 1, not {step}")
        self.clip = clip
        self.locator = clip.locator
        self._indices = [i for i in clip.indices if (start is None or i >= start) and (stop is None or i <= stop)][::step]
        if not self._indices:
            raise DataError(f"no frames in range {start}..{stop}; the clip's frames run "
                            f"{clip.indices[0] if clip.indices else '?'}..{clip.indices[-1] if clip.indices else '?'}",
                            file=clip.locator, hint="Check the onset/offset columns against the frame numbers.")

    @property
    def indices(self) -> list[int]:
        return list(self._indices)

    def frame_file(self, index: int) -> str:
        return self.clip.frame_file(index)

    def read(self, index, grey=False, size=None):
        if index not in self._indices:
            raise DataError(f"frame {index} is outside this range ({self._indices[0]}..{self._indices[-1]})",
                            file=self.locator)
        return self.clip.read(index, grey=grey, size=size)


def as_clip(source) -> Clip:
    """A :class:`Clip` from a locator string, a Path, a Clip, or a (T, H, W[, 3]) uint8 array."""
    if isinstance(source, Clip):
        return source
    if isinstance(source, Path):
        return open_clip(str(source))
    if isinstance(source, str):
        return open_clip(source)
    if isinstance(source, np.ndarray) or isinstance(source, (list, tuple)):
        return ArrayClip(np.asarray(source))
    raise TypeError(f"cannot make a clip from {type(source).__name__}")


def frame_range(clip: Clip, start: int | None = None, stop: int | None = None) -> list[int]:
    """Absolute frame numbers of ``clip`` in ``[start, stop]``; a range outside the clip is a DataError."""
    idx = [i for i in clip.indices if (start is None or i >= start) and (stop is None or i <= stop)]
    if not idx:
        raise DataError(f"no frames in range {start}..{stop}; frames run {clip.indices[0]}..{clip.indices[-1]}"
                        if clip.indices else "clip has no frames", file=clip.locator,
                        hint="Check the onset/offset columns against the frame numbers on disk.")
    return idx


def stream(source, start: int | None = None, stop: int | None = None, step: int = 1, grey: bool = False,
           size=None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for frames in ``[start, stop]`` one at a time (decoded lazily).

    Videos are decoded sequentially (no seeking per frame); image folders read one file per frame.
    """
    clip = as_clip(source)
    wh = size_wh(size)
    for k, idx in enumerate(frame_range(clip, start, stop)):
        if k % step == 0:
            yield idx, clip.read(idx, grey=grey, size=wh)


def read_frames(source, indices: Iterable[int] | None = None, start: int | None = None, stop: int | None = None,
                grey: bool = False, size=None) -> np.ndarray:
    """Stack frames into one (T, H, W[, 3]) uint8 array (for short ranges; use :func:`stream` for long ones)."""
    clip = as_clip(source)
    wh = size_wh(size)
    idx = list(indices) if indices is not None else frame_range(clip, start, stop)
    return np.stack([clip.read(i, grey=grey, size=wh) for i in idx])


def check_clip(source, min_frames: int = 2) -> dict:
    """Decode every frame once: size consistency, decodability and frame count.

    Returns ``{"n_frames", "width", "height", "first", "last"}``; a bad frame raises DataError
    naming its file.
    """
    clip = as_clip(source)
    clip.require_frames(min_frames, "a clip")
    shape = None
    for idx in clip.indices:
        frame = clip.read(idx)
        shape = frame.shape
    return {"n_frames": clip.n_frames, "width": int(shape[1]), "height": int(shape[0]),
            "first": clip.indices[0], "last": clip.indices[-1]}


def write_frames(folder: str | Path, frames: Iterable[np.ndarray], pattern: str = "img{}.jpg", first: int = 1,
                 quality: int = 95) -> list[Path]:
    """Write RGB (or grey) uint8 frames as numbered images ``pattern.format(n)``; returns the paths."""
    import cv2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, frame in enumerate(frames):
        frame = np.asarray(frame)
        path = folder / pattern.format(first + k)
        bgr = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
        ok, buf = cv2.imencode(path.suffix, bgr, params)
        if not ok:
            raise DataError(f"cannot encode frame {first + k} as {path.suffix}", file=path)
        buf.tofile(str(path))
        paths.append(path)
    return paths


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 30.0, codec: str | None = None) -> Path:
    """Write RGB uint8 frames to a video file (mp4v for .mp4, MJPG for .avi, WMV2 for .wmv)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = codec or {".mp4": "mp4v", ".avi": "MJPG", ".wmv": "WMV2", ".mkv": "MJPG"}.get(path.suffix.lower(), "MJPG")
    writer = None
    try:
        for frame in frames:
            frame = np.asarray(frame)
            if frame.ndim == 2:
                frame = np.repeat(frame[:, :, None], 3, axis=2)
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps), (w, h))
                if not writer.isOpened():
                    raise DataError(f"OpenCV cannot write {codec} video", file=path)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return path


__all__ = ["ArrayClip", "SubClip", "as_clip", "frame_range", "stream", "read_frames", "check_clip",
           "write_frames", "write_video", "size_wh", "open_clip", "read_image", "frame_number",
           "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]
