"""On-disk cache of clip alignments (transforms, landmarks, counts), keyed by content hash."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from ..io import Clip

ALIGN_VERSION = "1"


def cache_key(clip: Clip, parts: dict) -> str | None:
    """Content key of an alignment request, or None for clips without a stable identity.

    ``clip`` is a source clip (frames on disk or in memory), never an already aligned one.
    """
    from ..io import ArrayClip, frames_signature

    if isinstance(clip, ArrayClip):
        content = hashlib.sha256(clip.frames.tobytes()).hexdigest() + repr(clip.frames.shape) + str(clip.first)
    elif not clip.locator or clip.locator.startswith("<"):
        return None
    else:
        content = f"{clip.locator}|{frames_signature(clip.locator)}"
    parts = dict(parts, content=content, version=ALIGN_VERSION)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(key: str) -> Path:
    from ..fsutil import cache_dir

    return cache_dir() / "aligned" / key[:2] / f"{key}.npz"


def save(path: Path, a: dict) -> None:
    """Store one alignment (see :func:`mebench.face.align.align_clip`) atomically."""
    from ..fsutil import atomic_write_bytes

    idx = np.array(list(a["transforms"]), dtype=np.int64)
    fl_idx = np.array(list(a["frame_landmarks"]), dtype=np.int64)
    meta = {k: a[k] for k in ("mode", "onset", "size", "landmarks_source", "blendshapes", "fallback", "counts")}
    meta["frame_blendshapes"] = {str(k): v for k, v in a["frame_blendshapes"].items()}
    buf = io.BytesIO()
    np.savez(buf, indices=idx, transforms=np.stack(list(a["transforms"].values())),
             landmarks=a["landmarks"].astype(np.float32), fl_indices=fl_idx,
             frame_landmarks=(np.stack(list(a["frame_landmarks"].values())).astype(np.float32)
                              if len(fl_idx) else np.zeros((0, 478, 3), np.float32)),
             meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:  # a full or read-only cache only costs the alignment next time
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        _warn_once(f"the alignment cache at {path.parent.parent} cannot be written ({reason}); alignments are "
                   "recomputed next time.")


_warned: set = set()


def _warn_once(text: str) -> None:
    import sys

    if text not in _warned:
        _warned.add(text)
        print(f"warning: {text}", file=sys.stderr)


def load(path: Path) -> dict | None:
    """A stored alignment, or None when absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            a = dict(meta)
            a["transforms"] = {int(i): m for i, m in zip(z["indices"], z["transforms"])}
            a["landmarks"] = z["landmarks"].astype(np.float64)
            a["frame_landmarks"] = {int(i): p for i, p in zip(z["fl_indices"], z["frame_landmarks"])}
            a["frame_blendshapes"] = {int(k): v for k, v in meta["frame_blendshapes"].items()}
        return a
    except (OSError, ValueError, KeyError):
        return None
