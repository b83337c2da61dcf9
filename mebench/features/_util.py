"""Helpers shared by the handcrafted extractors: row fields, frame ranges, streaming, threads."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

import numpy as np

from ..errors import ConfigError, DataError


def keep_params(estimator, arguments: dict) -> None:
    """Store each ``__init__`` argument (``arguments``: its ``locals()``) unchanged under its own name, as
    scikit-learn's ``get_params`` expects."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):  # __class__: there when __init__ calls super()
            setattr(estimator, name, value)


def field(row, name: str, default=None):
    """``row.name`` with pandas NA / NaN / missing column read as ``default``."""
    value = getattr(row, name, default)
    if value is None:
        return default
    try:
        if value != value:  # NaN
            return default
    except (TypeError, ValueError):  # pd.NA refuses truth testing
        return default
    return value


def frame_field(row, name: str) -> int | None:
    value = field(row, name)
    return None if value is None else int(value)


def sample_name(row) -> str:
    return str(field(row, "sample_id", "?"))


def pair(value, name: str, owner: str) -> tuple[int, int]:
    """A (rows, cols) option given as one positive int or two; a ConfigError naming ``owner`` otherwise."""
    values = [value] * 2 if np.isscalar(value) else list(value)
    if len(values) != 2 or min(int(x) for x in values) < 1:
        raise ConfigError(f"{owner}: {name} needs 2 positive values (rows, cols) or one, got {value!r}")
    return int(values[0]), int(values[1])


def n_workers(n_jobs) -> int:
    """Threads to use: ``n_jobs`` >= 1 literally, -1 (or None) for every core this process may use."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    if n_jobs is None or int(n_jobs) < 0:
        return max(1, available)
    if int(n_jobs) == 0:
        raise ConfigError("n_jobs must be a positive number of threads, or -1 for all cores")
    return int(n_jobs)


def thread_map(fn: Callable, items: Iterable, n_jobs) -> list:
    """``[fn(x) for x in items]`` on a thread pool, in order; BLAS pinned to one thread per worker.

    numpy and OpenCV release the GIL in their heavy loops, so threads scale on clips. The first
    exception (in item order) propagates unchanged, so a DataError still names its sample.
    """
    items = list(items)
    workers = min(n_workers(n_jobs), max(1, len(items)))
    if workers <= 1:
        return [fn(x) for x in items]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, x) for x in items]
        return [f.result() for f in futures]


def map_rows(owner, X, one: Callable, n_jobs) -> list:
    """``one(row) -> (value, counts)`` for every row of the samples table ``X``, on threads, in order;
    the counts are summed into ``owner.counts_`` (set fresh) and the values returned."""
    owner.counts_ = {}
    results = thread_map(one, list(X.itertuples(index=False)), n_jobs)
    for _, counts in results:
        merge_counts(owner.counts_, counts)
    return [value for value, _ in results]


def merge_counts(total: dict, part: dict) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value


def open_row_clip(row, what: str, min_frames: int = 1):
    """The sample's :class:`~mebench.io.Clip`, with a DataError naming the sample when unusable."""
    from ..io import open_clip

    locator = field(row, "frames")
    if locator is None:
        raise DataError(f"sample {sample_name(row)} has no frames; {what} reads frames",
                        hint="Use a dataset copy that includes the frames, or another --features.")
    clip = open_clip(locator)
    if clip.n_frames < min_frames:
        kind = "a single image" if clip.n_frames == 1 else f"{clip.n_frames} frames"
        raise DataError(f"sample {sample_name(row)} has {kind}; {what} needs at least {min_frames} frames",
                        file=locator, hint="Use an extractor for still images, or --on-error skip to skip it.")
    return clip


def segment_indices(clip, row, segment: str) -> list[int]:
    """Absolute frame numbers to use: onset..offset (when annotated and ``segment='onset-offset'``) or all."""
    idx = list(clip.indices)
    if segment not in ("onset-offset", "all"):
        raise ConfigError(f"segment must be 'onset-offset' or 'all', not {segment!r}")
    if segment == "onset-offset":
        onset, offset = frame_field(row, "onset"), frame_field(row, "offset")
        if onset is not None or offset is not None:
            sel = [i for i in idx if (onset is None or i >= onset) and (offset is None or i <= offset)]
            if not sel:
                raise DataError(f"sample {sample_name(row)}: no frame lies in onset..offset {onset}..{offset}; "
                                f"frames run {idx[0]}..{idx[-1]}", file=clip.locator,
                                hint="Check the onset/offset columns against the frame numbers on disk.")
            idx = sel
    return idx


def aligned_clip(clip, row, align, size, first: int, last: int, counts: dict, landmark_frames=()):
    """``clip`` itself (``align`` None/False) or the face-aligned clip over [first, last]."""
    if not align:
        return clip
    if align not in ("per-clip", "tracked"):
        raise ConfigError(f"align must be None, 'per-clip' or 'tracked', not {align!r}")
    from ..face.align import align_clip

    aligned = align_clip(clip, first, last, size=int(size or 128), mode=align, landmark_frames=landmark_frames)
    merge_counts(counts, {f"align_{k}": v for k, v in aligned.counts.items()})
    return aligned


def read_volume(clip, indices: list[int], size, row) -> np.ndarray:
    """Stream frames ``indices`` in greyscale into one (T, H, W) uint8 array (frames must share a size)."""
    wh = None if size is None else (int(size), int(size))
    volume = None
    for k, i in enumerate(indices):
        frame = clip.read(i, grey=True, size=wh)
        if volume is None:
            volume = np.empty((len(indices),) + frame.shape, np.uint8)
        elif frame.shape != volume.shape[1:]:
            where = clip.frame_file(i) if hasattr(clip, "frame_file") else clip.locator
            raise DataError(f"sample {sample_name(row)}: frame {i} is {frame.shape[1]}x{frame.shape[0]} but frame "
                            f"{indices[0]} is {volume.shape[2]}x{volume.shape[1]}", file=where,
                            hint="All frames of a clip must share one size; set size=... to resize them.")
        volume[k] = frame
    return volume
