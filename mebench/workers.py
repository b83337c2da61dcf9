"""Worker processes that never outlive the run that started them.

joblib's loky workers wait for work for up to 300 s; when the parent is killed (SIGKILL, OOM
killer) nothing tells them, so they linger. :func:`worker_pool` configures joblib so that every
worker, as it starts, arms two guards:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its
  parent dies;
* everywhere, a daemon thread that polls ``os.getppid()`` every :data:`POLL_S` seconds and exits
  the worker once it has been re-parented (the fallback where ``prctl`` is unavailable, and a
  second line if the signal was armed after the parent had already gone).

:func:`resolve_jobs` gives ``--jobs`` joblib's meaning: ``N >= 1`` workers, ``-1`` all cores,
``-2`` all but one, and so on (never fewer than one); ``0`` is an error.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

from .errors import ConfigError

POLL_S = 0.5
_PR_SET_PDEATHSIG = 1
_guarded = {"parent": None}


def resolve_jobs(jobs, flag: str = "--jobs") -> int:
    """The number of worker processes ``jobs`` asks for (joblib's convention for negatives)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise ConfigError(f"{flag} must be an integer (N workers, or -1 for all cores), not {jobs!r}.")
    if jobs == 0:
        raise ConfigError(f"{flag} 0 means no worker at all; pass a positive number of workers, or -1 for all "
                          "cores (-2 all but one, as joblib counts).")
    if jobs > 0:
        return jobs
    return max(1, (os.cpu_count() or 1) + 1 + jobs)


def guard_worker(parent_pid: int) -> None:
    """Initialiser of a worker process: exit as soon as ``parent_pid`` is no longer our parent."""
    if _guarded["parent"] == parent_pid:
        return
    _guarded["parent"] = parent_pid
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl (e.g. a sandbox): the watchdog thread remains
            pass
    if os.getppid() != parent_pid:  # the parent died before the guard was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="mebench-parent-watchdog", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def worker_pool(**backend_params):
    """``joblib.parallel_config`` for mebench's process pools: loky, one BLAS thread per worker,
    and workers that die with their parent. Use as ``with worker_pool(): Parallel(n_jobs=...)(...)``."""
    from joblib import parallel_config

    params = {"inner_max_num_threads": 1, **backend_params}
    return parallel_config(backend="loky", initializer=guard_worker, initargs=(os.getpid(),), **params)
