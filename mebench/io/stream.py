"""Streamed frame I/O on top of :mod:`mebench.io.clips`.

* :func:`stream` yields ``(index, frame)`` over a frame range, resized and grey/colour on request,
  one frame at a time (a whole dataset is never held in memory);
* :func:`read_frames` stacks a (short) range into one array;
* :func:`check_clip` decodes every frame once and reports the first bad one by file;
* :func:`decode_frames` decodes chosen frames and collects every problem (``mebench data check``);
* :func:`write_frames` / :func:`write_video` write image sequences and videos (fixtures, exports).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import DataError
from .clips import as_clip


def size_wh(size) -> tuple[int, int] | None:
    """Normalise a size argument: an int is a square, a pair is (width, height)."""
    if size is None:
        return None
    if np.isscalar(size):
        return int(size), int(size)
    w, h = size
    return int(w), int(h)


def stream(source, start: int | None = None, stop: int | None = None, step: int = 1, grey: bool = False,
           size=None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for frames in ``[start, stop]`` one at a time (decoded lazily).

    Videos are decoded sequentially (no seeking per frame); image folders read one file per frame.
    """
    clip = as_clip(source)
    wh = size_wh(size)
    for k, idx in enumerate(clip.frames_between(start, stop)):
        if k % step == 0:
            yield idx, clip.read(idx, grey=grey, size=wh)


def read_frames(source, indices: Iterable[int] | None = None, start: int | None = None, stop: int | None = None,
                grey: bool = False, size=None) -> np.ndarray:
    """Stack frames into one (T, H, W[, 3]) uint8 array (for short ranges; use :func:`stream` for long ones)."""
    clip = as_clip(source)
    wh = size_wh(size)
    idx = list(indices) if indices is not None else clip.frames_between(start, stop)
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


def decode_frames(clip, indices: Iterable[int]) -> tuple[int, list[dict]]:
    """Decode frames ``indices`` of ``clip`` the way a run reads them, collecting every problem.

    Returns ``(n_decoded, problems)``; a problem is ``{"kind", "frame", "file", "message"}`` with kind
    ``missing`` (no such frame), ``empty`` (a 0-byte file), ``undecodable`` (truncated or corrupt) or
    ``size`` (a frame whose size differs from the clip's first decoded frame, which a run refuses).
    """
    from .clips import ImageSequenceClip, read_image

    present = set(clip.indices)
    decoded, problems, ref = 0, [], None
    folder = isinstance(clip, ImageSequenceClip)
    for idx in sorted(set(int(i) for i in indices)):
        file = clip.frame_file(idx)
        if idx not in present:
            problems.append({"kind": "missing", "frame": idx, "file": clip.locator,
                             "message": f"frame {idx} is not on disk ({clip.locator})"})
            continue
        try:
            frame = read_image(file) if folder else clip._read(idx)  # as Clip.read, without its size check
        except DataError as exc:
            text = str(exc)
            kind = "empty" if text.startswith("empty image file") else "undecodable"
            reason = {"empty": "empty file (0 bytes)", "undecodable": "cannot decode (truncated or corrupt file)"}[kind]
            if not folder:
                reason = text.split(". ")[0]
            problems.append({"kind": kind, "frame": idx, "file": file, "message": f"frame {idx}: {reason} {file}"})
            continue
        decoded += 1
        shape = tuple(frame.shape[:2])
        if ref is None:
            ref = (idx, shape)
        elif shape != ref[1]:
            problems.append({"kind": "size", "frame": idx, "file": file,
                             "message": f"frame {idx} is {shape[1]}x{shape[0]} pixels but frame {ref[0]} is "
                                        f"{ref[1][1]}x{ref[1][0]}; all frames of a clip must share one size ({file})"})
    return decoded, problems


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
