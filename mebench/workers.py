"""Worker processes that never outlive the run that started them.

joblib's loky workers wait for work for up to 300 s; when the parent is killed (SIGKILL, OOM
killer) nothing tells them, so they linger. :func:`worker_pool` configures joblib so that every
worker, as it starts, arms two guards:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its
  parent dies;
* everywhere, a daemon thread that polls ``os.getppid()`` every :data:`POLL_S` seconds and exits
  the worker once it has been re-parented (the fallback where ``prctl`` is unavailable, and a
  second line if the signal was armed after the parent had already gone).

:func:`resolve_jobs` gives ``--jobs`` joblib's meaning, counted on the CPUs this process may use
(:func:`available_cpus`: its affinity mask and its cgroup's CPU quota, not the machine's core count):
``N >= 1`` workers, ``-1`` all of them, ``-2`` all but one, and so on (never fewer than one); ``0`` is
an error. :func:`usable_workers` is what a parallel step starts, when it starts: the asked-for number
capped by the available CPUs that the current load leaves free, because workers sharing busy cores
with other processes made a run slower than one process (``--jobs 2`` at load 6-18 on 2 cores took
about three times as long). ``MEBENCH_JOBS_EXACT=1`` starts exactly the asked-for number (tests that
must exercise workers on a loaded machine). Results never depend on the worker count.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .errors import ConfigError

POLL_S = 0.5
CGROUP_ROOT = "/sys/fs/cgroup"
EXACT_ENV = "MEBENCH_JOBS_EXACT"
_PR_SET_PDEATHSIG = 1
_guarded = {"parent": None}


def resolve_jobs(jobs, flag: str = "--jobs") -> int:
    """The number of workers ``jobs`` asks for (joblib's convention for negatives, on :func:`available_cpus`)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise ConfigError(f"{flag} must be an integer (N workers, or -1 for all cores), not {jobs!r}.")
    if jobs == 0:
        raise ConfigError(f"{flag} 0 means no worker at all; pass a positive number of workers, or -1 for all "
                          "cores (-2 all but one, as joblib counts).")
    if jobs > 0:
        return jobs
    return max(1, available_cpus() + 1 + jobs)


def usable_workers(jobs: int, available: int | None = None, load: float | None = None) -> int:
    """Workers to start now for ``jobs`` asked for: at most the available CPUs, less those the 1-minute load
    average shows busy (rounded), and never fewer than one. ``available`` and ``load`` default to
    :func:`available_cpus` and ``os.getloadavg()``; ``$MEBENCH_JOBS_EXACT=1`` returns ``jobs`` unchanged."""
    if jobs <= 1 or os.environ.get(EXACT_ENV, "").strip() not in ("", "0"):
        return max(1, jobs)
    available = available_cpus() if available is None else available
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # no load average (Windows): count only the CPUs
            load = 0.0
    return max(1, min(jobs, available - int(math.floor(load + 0.5))))


def available_cpus(root: str = CGROUP_ROOT) -> int:
    """CPUs this process may run on: its affinity mask, capped by its cgroup's CPU quota (a container's
    ``--cpus``), rounded down and never below one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        cpus = min(cpus, max(1, int(quota)))
    return max(1, cpus)


def cgroup_cpu_quota(root: str = CGROUP_ROOT, proc_cgroup: str = "/proc/self/cgroup") -> float | None:
    """The CPU quota (in CPUs) of this process's cgroup and its ancestors, the tightest one; None if none.

    cgroup v2: ``cpu.max`` (``"max 100000"`` or ``"<quota> <period>"``) in the process's cgroup folder and
    every folder above it; cgroup v1: ``cpu/cpu.cfs_quota_us`` over ``cpu.cfs_period_us`` (-1: none).
    """
    base = Path(root)
    limits = []
    for folder in _cgroup_folders(base, proc_cgroup):
        limits.append(_read_quota(folder / "cpu.max"))
    limits.append(_read_v1_quota(base / "cpu"))
    limits.append(_read_v1_quota(base / "cpu,cpuacct"))
    found = [q for q in limits if q is not None]
    return min(found) if found else None


def _cgroup_folders(base: Path, proc_cgroup: str) -> list:
    """The v2 cgroup folder of this process and its ancestors up to ``base`` (just ``base`` if unknown)."""
    relative = ""
    try:
        for line in Path(proc_cgroup).read_text().splitlines():
            if line.startswith("0::"):
                relative = line[3:].strip().lstrip("/")
    except OSError:
        pass
    folder = base / relative if relative else base
    folders = [folder]
    while folder != base and base in folder.parents:
        folder = folder.parent
        folders.append(folder)
    return folders


def _read_quota(path: Path) -> float | None:
    try:
        quota, _, period = path.read_text().strip().partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _read_v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


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
