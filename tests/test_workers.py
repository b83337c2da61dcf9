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

from mebench.errors import ConfigError
from mebench.workers import resolve_jobs

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
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert [resolve_jobs(n) for n in (1, 3, -1, -2, -4, -10)] == [1, 3, 4, 3, 1, 1]
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ConfigError, match="--jobs"):
            resolve_jobs(bad)
