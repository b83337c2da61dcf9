"""Worker processes never outlive their run: a real `mebench run --jobs 2` killed with SIGKILL, and
the two guards (parent-death signal, parent watchdog) each on their own."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _cli import cli_env, start_cli

from mebench import workers
from mebench.errors import ConfigError
from mebench.workers import available_cpus, cgroup_cpu_quota, resolve_jobs, usable_workers

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # [state, ppid, ...]


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_gone(pids, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


SLOW_EXTRACTOR = """
import time
import numpy as np
from mebench.registry import EXTRACTORS
from mebench.features import FeatureExtractor

@EXTRACTORS.register("slow-mean")
class SlowMean(FeatureExtractor):
    \"\"\"A quarter of a second per clip, so that --jobs 2 always judges the work worth two workers.\"\"\"

    def extract_one(self, row):
        time.sleep(0.25)
        return np.array([float(len(str(row.sample_id)))])
"""


@linux_only
def test_sigkill_of_a_parallel_run_leaves_no_worker(tmp_path):
    plugin = tmp_path / "slow_mean.py"
    plugin.write_text(SLOW_EXTRACTOR)
    proc = start_cli("run", "--jobs", "2", "--no-cache", "--plugins", plugin, "--features", "slow-mean",
                     "--dataset-opt", "subjects=8", "--dataset-opt", "clips_per_subject=20",
                     "--dataset-opt", "frames=8", "--out", tmp_path / "run", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [p for p in _descendants(proc.pid) if "loky" in _cmdline(p)]
            if sum("popen_loky" in _cmdline(p) for p in workers) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before its workers could be observed"
        assert sum("popen_loky" in _cmdline(p) for p in workers) >= 2, "no loky workers appeared"
        time.sleep(0.5)  # let the workers take their first tasks
        everything = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        left = _wait_gone(everything, 5.0)
        assert not left, f"still alive 5 s after the run was killed: {[(p, _cmdline(p)[:80]) for p in left]}"
    finally:
        for pid in _descendants(proc.pid) + workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()


def _orphan_check(tmp_path, arm_prctl: bool) -> None:
    """A parent starts a child that calls guard_worker(parent) and sleeps; the parent is SIGKILLed."""
    child = textwrap.dedent(f"""
        import os, sys, time
        from mebench import workers
        if not {arm_prctl!r}:
            sys.platform = "watchdog-only"  # no prctl: the watchdog thread alone must notice
        workers.guard_worker(int(sys.argv[1]))
        print("armed", flush=True)
        time.sleep(60)
    """)
    parent = textwrap.dedent(f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", {child!r}, str(os.getpid())], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "armed"
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], env=cli_env(), stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    child_pid = int(proc.stdout.readline())
    try:
        assert _alive(child_pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert not _wait_gone([child_pid], 4.0), "the orphaned worker kept running"
    finally:
        if _alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)


@linux_only
def test_parent_death_signal_ends_an_orphaned_worker(tmp_path):
    _orphan_check(tmp_path, arm_prctl=True)


@linux_only
def test_watchdog_alone_ends_an_orphaned_worker(tmp_path):
    _orphan_check(tmp_path, arm_prctl=False)


def test_jobs_follow_joblib(monkeypatch):
    """Negative --jobs count the CPUs this process may use (affinity, quota), not the machine's cores."""
    monkeypatch.setattr(workers, "available_cpus", lambda root=workers.CGROUP_ROOT: 4)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert [resolve_jobs(n) for n in (1, 3, -1, -2, -4, -10)] == [1, 3, 4, 3, 1, 1]
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ConfigError, match="--jobs"):
            resolve_jobs(bad)


@pytest.mark.parametrize("jobs, available, load, expected", [
    (2, 2, 0.0, 2),    # an idle machine: what was asked
    (2, 2, 0.4, 2),    # a little load rounds away
    (2, 2, 0.6, 1),    # one CPU busy: the second worker would only share it
    (2, 2, 7.3, 1),    # the measured case (load 6-18 on 2 cores): one process
    (8, 4, 0.0, 4),    # never more than the available CPUs
    (8, 16, 5.2, 8),   # enough free CPUs: all eight
    (8, 16, 12.0, 4),
    (1, 16, 0.0, 1),
])
def test_usable_workers_leave_busy_cpus_alone(jobs, available, load, expected, monkeypatch):
    monkeypatch.delenv(workers.EXACT_ENV, raising=False)
    assert usable_workers(jobs, available=available, load=load) == expected


def test_usable_workers_read_affinity_quota_and_load(monkeypatch):
    monkeypatch.delenv(workers.EXACT_ENV, raising=False)
    monkeypatch.setattr(workers, "available_cpus", lambda root=workers.CGROUP_ROOT: 6)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.2, 0.0, 0.0))
    assert usable_workers(8) == 4
    monkeypatch.setenv(workers.EXACT_ENV, "1")  # the asked-for number, whatever the load
    assert usable_workers(8) == 8


def test_available_cpus_is_the_affinity_capped_by_the_cgroup_quota(tmp_path, monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    assert available_cpus(str(tmp_path / "no-cgroup")) == 6
    (tmp_path / "cpu.max").write_text("250000 100000\n")  # a container started with --cpus 2.5
    monkeypatch.setattr(workers, "_cgroup_folders", lambda base, proc: [base])
    assert available_cpus(str(tmp_path)) == 2
    (tmp_path / "cpu.max").write_text("50000 100000\n")   # half a CPU: still one worker
    assert available_cpus(str(tmp_path)) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(str(tmp_path)) == 6


def test_cgroup_quota_v2_nested_and_v1(tmp_path):
    root = tmp_path / "cg"
    leaf = root / "system.slice" / "job.scope"
    leaf.mkdir(parents=True)
    proc = tmp_path / "cgroup"
    proc.write_text("0::/system.slice/job.scope\n")
    assert cgroup_cpu_quota(str(root), str(proc)) is None
    (leaf / "cpu.max").write_text("max 100000\n")
    (root / "system.slice" / "cpu.max").write_text("300000 100000\n")  # the tightest ancestor counts
    assert cgroup_cpu_quota(str(root), str(proc)) == 3.0
    (leaf / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(str(root), str(proc)) == 1.5
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(str(v1), str(tmp_path / "none")) is None
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    assert cgroup_cpu_quota(str(v1), str(tmp_path / "none")) == 2.0


def test_a_busy_machine_runs_folds_in_one_process(tmp_path, monkeypatch):
    """Where runs choose workers: at load 7 on 2 CPUs, --jobs 2 keeps folds and feature chunks in this
    process, even when the work would be worth workers on an idle machine."""
    from _api import run, small_spec

    from mebench import backends

    monkeypatch.delenv(workers.EXACT_ENV, raising=False)
    monkeypatch.setattr(backends, "MIN_PARALLEL_WORK_S", 0.0)
    monkeypatch.setattr(workers, "available_cpus", lambda root=workers.CGROUP_ROOT: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (7.0, 7.0, 7.0))
    manifest = run(small_spec(tmp_path / "busy", jobs=2, use_cache=False)).manifest
    assert not manifest["platform"]["folds_on_parallel_workers"]
    assert not manifest["features"]["chunks_on_parallel_workers"]
