"""Base file services: atomic writes that respect the umask, JSON with NaN as null, the cache folder."""
from __future__ import annotations

import errno
import json
import math
import os
import secrets
import tempfile
import threading
from pathlib import Path

_umask_lock = threading.Lock()


def _current_umask() -> int:
    with _umask_lock:
        mask = os.umask(0)
        os.umask(mask)
    return mask


# errno -> what a full disk looks like to the user
FULL_DISK = {errno.ENOSPC: "no space is left on the device (ENOSPC)",
             errno.EFBIG: "the file-size limit is reached (EFBIG; see ulimit -f)",
             getattr(errno, "EDQUOT", -1): "the disk quota is exceeded (EDQUOT)"}


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one, never a part.

    A full disk (or a file-size limit, or a quota) is a :class:`~mebench.errors.DiskFullError` naming ``path``;
    nothing partial is left behind, and what was written before stays.
    """
    try:
        _atomic_write_bytes(path, data)
    except OSError as exc:
        if exc.errno not in FULL_DISK:
            raise
        from .errors import DiskFullError

        raise DiskFullError(Path(path), FULL_DISK[exc.errno]) from None


def _atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """:func:`atomic_write_bytes` itself.

    On Linux the bytes go to an anonymous file (``O_TMPFILE``) that gets a name only once complete,
    so a killed process leaves no partial file behind; elsewhere a temporary file beside ``path`` is
    renamed over it. Files get the permissions a plain ``open(path, "w")`` would (0666 minus the
    umask), so a lab's shared results or cache folder stays readable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, 0o666)
    except (AttributeError, OSError):  # no O_TMPFILE here (not Linux, or a file system without it)
        fd = None
    if fd is not None:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:  # linkat(..., AT_SYMLINK_FOLLOW): the file gets a name only now, complete
                os.link(f"/proc/self/fd/{fh.fileno()}", tmp, src_dir_fd=dir_fd, follow_symlinks=True)
            except OSError:
                fd = None  # /proc unavailable: fall back to a named temporary file below
            finally:
                os.close(dir_fd)
        if fd is not None:
            os.replace(tmp, path)
            return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def json_safe(obj):
    """A JSON-safe copy: numpy scalars and arrays to Python values, NaN and infinities to null."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [json_safe(v) for v in (sorted(obj, key=str) if isinstance(obj, set) else obj)]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_text(obj) -> str:
    """Deterministic JSON text (sorted keys, NaN as null, trailing newline)."""
    return json.dumps(json_safe(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def unwritable_reason(folder: str | Path) -> str | None:
    """Why nothing can be written into ``folder`` (a read-only filesystem, no permission, a full disk), or None.

    Probed by creating an unnamed temporary file there, so the folder is left exactly as it was."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, json_text(obj).encode())


def cache_dir() -> Path:
    """The user cache directory; ``MEBENCH_CACHE`` overrides it."""
    env = os.environ.get("MEBENCH_CACHE")
    if env:
        path = Path(env)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("mebench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def lock_file(fh, wait: bool = True) -> bool:
    """Take an exclusive ``flock`` on the open file ``fh`` (``open(path, "a+")`` keeps a holder's content),
    until :func:`unlock_file` or every descriptor of ``fh`` is closed. False only when ``wait`` is False and
    another process holds it; True without ``fcntl`` (not POSIX: no cross-process lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def unlock_file(fh) -> None:
    """Release a lock taken by :func:`lock_file` (also for copies of the descriptor a child inherited)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
