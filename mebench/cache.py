"""On-disk cache for stateless features, keyed by sample content and extractor identity."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .fsutil import atomic_write_bytes, cache_dir
from .io import frames_signature

# Columns that never influence a feature (labels must not, or a cache could leak them).
_IGNORED_COLUMNS = {"label", "emotion", "deception", "label_raw", "split", "official_fold"}


def sample_key(row: dict, root: str | Path | None = None) -> str:
    """Content key of one sample: every non-label column plus the frames signature.

    Paths under the dataset ``root`` enter the key relative to it, so a dataset moved to another
    folder, or given by a relative instead of an absolute ``--root``, is served from the cache; the
    frames signature (file names, sizes, mtimes) does not depend on where the files live.
    """
    prefixes = _root_prefixes(root)
    items = {k: _relative(_plain(v), prefixes) for k, v in row.items() if k not in _IGNORED_COLUMNS}
    items["__frames__"] = frames_signature(row.get("frames"))
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


def _root_prefixes(root) -> tuple[str, ...]:
    if root is None:
        return ()
    forms = {str(root), os.path.abspath(root), str(Path(root).resolve())}
    return tuple(sorted((f.rstrip(os.sep) + os.sep for f in forms), key=len, reverse=True))


def _relative(value, prefixes):
    if prefixes and isinstance(value, str):
        for prefix in prefixes:
            if value.startswith(prefix):
                return "<root>/" + value[len(prefix):]
    return value


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    try:
        if value is None or (not isinstance(value, (list, tuple, set, dict, str)) and value != value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, set):
        return sorted(map(str, value))
    return value


_full: list[str] = []  # why the cache stopped taking entries in this run (a full disk), once


def reset_full_cache_warning() -> None:
    """At the start of a run: the disk may have room again."""
    _full.clear()


def full_cache_warning() -> str | None:
    """The warning of a cache that ran out of space during this run, if it did."""
    return _full[0] if _full else None


class FeatureCache:
    """Stores one .npy per (extractor token, sample key); counts hits and misses."""

    def __init__(self, root: Path | None = None, enabled: bool = True):
        self.enabled = enabled
        self.root = (root or cache_dir()) / "features"
        self.hits = 0
        self.misses = 0

    def _path(self, token: str, key: str) -> Path:
        digest = hashlib.sha256(f"{token}|{key}".encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.npy"

    def get(self, token: str, key: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        path = self._path(token, key)
        if path.is_file():
            try:
                value = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                value = None
            if value is not None:
                self.hits += 1
                return value
        self.misses += 1
        return None

    def put(self, token: str, key: str, value: np.ndarray) -> None:
        if not self.enabled:
            return
        import io

        if _full:
            return
        buf = io.BytesIO()
        np.save(buf, np.asarray(value, dtype=np.float64), allow_pickle=False)
        try:
            atomic_write_bytes(self._path(token, key), buf.getvalue())
        except OSError as exc:  # a full (or read-only) cache is no cache: the run goes on and says so
            import sys

            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            _full.append(f"the feature cache at {self.root} is full ({reason}); the rest of this run's features "
                         "are computed without storing them. Free space there (or set MEBENCH_CACHE) to cache them "
                         "again.")
            print(f"warning: {_full[0]}", file=sys.stderr)
