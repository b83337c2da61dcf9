"""Lazy frame access. A sample's ``frames`` column holds a locator string:

* a directory of images (frames numbered by the last integer in each file name);
* a video file (``.mp4``, ``.avi``, ``.wmv``, ...), frames numbered from 0;
* a single image file (one frame, numbered 0);
* ``scheme:<payload>`` for a scheme in the ``SCHEMES`` registry (``synthetic:<json>``, the
  procedurally generated clips of :mod:`mebench.data.synthetic`, registers itself there lazily).

``open_clip(locator)`` returns a :class:`Clip` whose frames are read only when asked for;
:class:`ArrayClip` wraps frames in memory and :class:`SubClip` restricts a clip to a frame range.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DataError
from ..registry import SCHEMES

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".wmv", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg")
# Bump when decoding changes pixel values; the feature cache keys on it.
FRAMES_VERSION = "2"
_DIGITS = re.compile(r"\d+")
# An image file name ending in its frame number: the stem's last digit run, then the extension in
# any ASCII case (spelled out: re.IGNORECASE would also let "ı" and "İ" match "i").
_NUMBERED_IMAGE = re.compile(r"(\d+)\D*\.(?:%s)\Z" % "|".join(
    "".join(f"[{c.lower()}{c.upper()}]" for c in e[1:]) for e in IMAGE_EXTENSIONS))


def frame_number(name: str) -> int | None:
    """The last integer in a file name: ``reg_img46.jpg`` -> 46, ``006_05562.jpg`` -> 5562."""
    runs = _DIGITS.findall(os.path.splitext(os.path.basename(name))[0])
    return int(runs[-1]) if runs else None


def numbered_images(folder: str | Path) -> list[tuple[int, os.DirEntry]]:
    """``(frame number, entry)`` of each image file in ``folder`` whose stem holds an integer (the
    last one, as :func:`frame_number`), in directory order. Raises what ``os.scandir`` raises."""
    found = []
    with os.scandir(folder) as entries:  # one regex per name: 16,000 names in a few ms
        for entry in entries:
            match = _NUMBERED_IMAGE.search(entry.name)
            if match is not None and entry.is_file():
                found.append((int(match.group(1)), entry))
    return found


class Clip:
    """A sequence of frames addressed by absolute frame number."""

    locator: str = ""

    @property
    def indices(self) -> list[int]:
        raise NotImplementedError

    @property
    def n_frames(self) -> int:
        return len(self.indices)

    def read(self, index: int, grey: bool = False, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frame ``index`` (absolute number) as uint8 HxWx3 RGB, or HxW when ``grey``.

        ``size`` is (width, height). Every frame of a clip must have the size of the first frame
        read from it; a frame that differs raises DataError naming both frames.
        """
        frame = self._read_grey(index) if grey else self._read(index)
        self._check_size(index, frame)
        return _convert(frame, grey, size)

    def _check_size(self, index: int, frame: np.ndarray) -> None:
        ref = self.__dict__.get("_ref_shape")
        shape = tuple(frame.shape[:2])
        if ref is None:
            self._ref_shape = (index, shape)
        elif ref[1] != shape:
            raise DataError(
                f"frame {index} is {shape[1]}x{shape[0]} pixels but frame {ref[0]} is {ref[1][1]}x{ref[1][0]}; "
                "all frames of a clip must share one size",
                file=self.frame_file(index),
                hint="Re-extract or resize this frame, or pass --on-error skip to record and skip the sample.",
            )

    def frame_file(self, index: int) -> str:
        """The file that holds frame ``index`` (for error messages)."""
        return self.locator

    def require_frames(self, n: int = 2, purpose: str = "this step") -> None:
        """Raise DataError unless the clip has at least ``n`` frames."""
        if self.n_frames < n:
            raise DataError(
                f"clip has {self.n_frames} frame{'s' if self.n_frames != 1 else ''}; {purpose} needs at least {n}",
                file=self.locator,
                hint="Check the frame folder or video, or pass --on-error skip to record and skip the sample.",
            )

    def frames_between(self, start: int | None = None, stop: int | None = None, what: str = "") -> list[int]:
        """Absolute frame numbers in ``[start, stop]`` (inclusive; None is open); none is a DataError."""
        idx = [i for i in self.indices if (start is None or i >= start) and (stop is None or i <= stop)]
        if not idx:
            span = f"frames run {self.indices[0]}..{self.indices[-1]}" if self.indices else "the clip has no frames"
            raise DataError(f"{what + ': ' if what else ''}no frame lies in {start}..{stop}; {span}",
                            file=self.locator, hint="Check the onset/offset columns against the frame numbers on disk.")
        return idx

    def iter_frames(self, start: int | None = None, stop: int | None = None, grey: bool = False,
                    size: tuple[int, int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Stream ``(index, frame)`` for absolute indices in ``[start, stop]`` (inclusive)."""
        for idx in self.frames_between(start, stop):
            yield idx, self.read(idx, grey=grey, size=size)

    def _read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def _read_grey(self, index: int) -> np.ndarray:
        """Frame ``index`` as grey, or RGB for ``_convert`` to turn grey; readers may decode grey directly."""
        return self._read(index)


def _convert(frame: np.ndarray, grey: bool, size) -> np.ndarray:
    """``frame`` as grey or RGB, resized to ``size`` (width, height) when given; no copy when nothing changes."""
    if frame.ndim == 2 and not grey:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if grey and frame.ndim == 3:
        import cv2

        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if size is not None and (frame.shape[1], frame.shape[0]) != tuple(size):
        import cv2

        frame = cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)
    return frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)


class ImageSequenceClip(Clip):
    """Frames stored as numbered image files in one folder."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.locator = str(folder)
        if not self.folder.is_dir():
            raise DataError("frame folder not found", file=self.folder,
                            hint="Check --root and the dataset variant (raw or cropped).")
        paths: dict[int, str] = {}  # plain strings: no Path object per frame
        for number, entry in numbered_images(self.folder):
            if number in paths:
                raise DataError(f"two frame files carry number {number}: {os.path.basename(paths[number])} and "
                                f"{entry.name}", file=self.folder)
            paths[number] = entry.path
        if not paths:
            raise DataError("frame folder holds no numbered image files", file=self.folder,
                            hint=f"Expected files such as img1.jpg ({', '.join(IMAGE_EXTENSIONS)}).")
        self._paths = dict(sorted(paths.items()))
        self._files: dict[int, Path] | None = None

    @property
    def files(self) -> dict[int, Path]:
        """Frame number -> file."""
        if self._files is None:
            self._files = {i: Path(p) for i, p in self._paths.items()}
        return self._files

    @property
    def indices(self) -> list[int]:
        return list(self._paths)

    def _file(self, index: int) -> str:
        try:
            return self._paths[index]
        except KeyError:
            raise DataError(f"frame {index} not found; frames run {min(self._paths)}..{max(self._paths)}",
                            file=self.folder) from None

    def path(self, index: int) -> Path:
        return Path(self._file(index))

    def frame_file(self, index: int) -> str:
        return self._paths.get(index, self.locator)

    def _read(self, index: int) -> np.ndarray:
        return read_image(self._file(index))

    def _read_grey(self, index: int) -> np.ndarray:
        return read_image(self._file(index), grey=True)


def read_image(path: str | Path, grey: bool = False) -> np.ndarray:
    """Decode an image file to RGB (or grey) uint8; an empty, truncated or corrupt file raises DataError
    naming it.

    The file is read in one call and decoded from memory by ``cv2.imdecode``, which refuses a
    truncated JPEG (``cv2.imread`` would fill the lost part with grey and only warn), straight to RGB
    (``IMREAD_COLOR_RGB``, no colour conversion after). This costs what a bare ``cv2.imread`` costs
    (``benchmarks/bench_data_check.py``) and reads any path, non-ASCII ones on Windows included.
    """
    import cv2

    rgb = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10
    flag = cv2.IMREAD_GRAYSCALE if grey else (cv2.IMREAD_COLOR if rgb is None else rgb)
    try:
        with open(path, "rb", buffering=0) as fh:
            data = fh.readall()
    except OSError as exc:
        raise DataError(f"cannot read image file ({exc.strerror or exc})", file=path) from None
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag) if data else None
    if image is None:
        problem = "empty image file (0 bytes)" if not data else "cannot decode image (truncated or corrupt file)"
        raise DataError(problem, file=path,
                        hint="Re-extract the frame, or pass --on-error skip to record and skip this sample.")
    if rgb is None and not grey:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


class SingleImageClip(Clip):
    """One image treated as a one-frame clip (a pre-extracted apex or a flow image)."""

    def __init__(self, path: str | Path):
        self.file = Path(path)
        self.locator = str(path)
        if not self.file.is_file():
            raise DataError("image file not found", file=self.file)

    @property
    def indices(self) -> list[int]:
        return [0]

    def _read(self, index: int) -> np.ndarray:
        if index != 0:
            raise DataError(f"frame {index} requested from a single image", file=self.file)
        return read_image(self.file)


class VideoClip(Clip):
    """A video file decoded with OpenCV; frames are numbered from 0."""

    def __init__(self, path: str | Path):
        import cv2

        self.file = Path(path)
        self.locator = str(path)
        if not self.file.is_file():
            raise DataError("video file not found", file=self.file)
        cap = cv2.VideoCapture(str(self.file))
        if not cap.isOpened():
            raise DataError("OpenCV cannot open this video", file=self.file,
                            hint="Convert it to mp4 (H.264) or extract its frames into a folder.")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        if count <= 0:  # some containers (wmv, streamed avi) do not store a count: decode to count
            count = 0
            while cap.grab():
                count += 1
        cap.release()
        self._count = count
        self._cache: tuple[int, np.ndarray] | None = None
        self._cap = None
        self._pos = 0

    @property
    def indices(self) -> list[int]:
        return list(range(self._count))

    def _read(self, index: int) -> np.ndarray:
        import cv2

        if not 0 <= index < self._count:
            raise DataError(f"frame {index} outside the video's {self._count} frames", file=self.file)
        if self._cap is None or index < self._pos:
            if self._cap is not None:
                self._cap.release()
            self._cap = cv2.VideoCapture(str(self.file))
            self._pos = 0
            if index > 0:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                self._pos = int(self._cap.get(cv2.CAP_PROP_POS_FRAMES))
        frame = None
        while self._pos <= index:
            ok, frame = self._cap.read()
            if not ok:
                raise DataError(f"cannot decode frame {self._pos} of {self._count} (truncated or corrupt video)",
                                file=self.file,
                                hint="Re-encode the video (e.g. to H.264 mp4) or pass --on-error skip.")
            self._pos += 1
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def __del__(self):
        if getattr(self, "_cap", None) is not None:
            self._cap.release()


def open_clip(locator: str) -> Clip:
    """Resolve a ``frames`` locator to a lazily read :class:`Clip`."""
    if not isinstance(locator, str) or not locator:
        raise DataError(f"sample has no frames locator ({locator!r})",
                        hint="This extractor needs frames; use a dataset copy that includes them.")
    prefix, sep, _ = locator.partition(":")
    if sep and len(prefix) > 1 and prefix in SCHEMES:
        return SCHEMES.get(prefix)(locator)
    path = Path(locator)
    if path.is_dir():
        return ImageSequenceClip(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return VideoClip(path)
    if suffix in IMAGE_EXTENSIONS:
        return SingleImageClip(path)
    if not path.exists():
        raise DataError("frames location not found", file=path,
                        hint="Check --root; frames must be a folder of images, a video or an image file.")
    raise DataError(f"unsupported frames file type {suffix!r}", file=path)


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
        self._indices = clip.frames_between(start, stop)[::step]

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


def frames_signature(locator) -> str:
    """A cheap content signature of a frames location: file names, sizes and mtimes."""
    if not isinstance(locator, str) or not locator:
        return ""
    path = Path(locator)
    if path.is_dir():
        with os.scandir(path) as it:
            entries = sorted((e.name, st.st_size, st.st_mtime_ns)
                             for e in it
                             if e.is_file() and (st := e.stat()))
        return hashlib.sha256(repr(entries).encode()).hexdigest()
    if path.is_file():
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    return locator  # synthetic and other schemes: the locator is the content


def video_frame_count(path: str | Path) -> int | None:
    """The frame count OpenCV reports for a video file; None when it cannot tell."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return n if n > 0 else None
    finally:
        cap.release()
