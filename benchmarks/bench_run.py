"""Time the default `mebench run --protocol loso` and record its peak memory.

Usage: python benchmarks/bench_run.py [--subjects 12] [--clips 10] [--repeats 3]
       python benchmarks/bench_run.py --checkouts BEFORE_DIR AFTER_DIR [--repeats 5]

Runs each configuration in a fresh subprocess (cold feature cache, then warm) and prints a
Markdown table of wall time and peak RSS. Target: <= 60 s and <= 1.5 GB on 2 cores.
``--checkouts`` times the same runs with two source trees (e.g. git worktrees of two commits),
alternating in every round so both see the same machine load, and prints the after/before ratios.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(args: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `mebench run` in a child process."""
    code = ("import resource, sys, time; from mebench.cli import main; t=time.perf_counter();\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('WALL', time.perf_counter()-t); print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    values = dict(line.split() for line in out.stdout.splitlines() if line.startswith(("WALL", "RSS")))
    return float(values["WALL"]), float(values["RSS"]) / 1024.0


def one_round(opts, env_extra: dict | None = None) -> tuple:
    tmp = tempfile.mkdtemp(prefix="mebench-bench-")
    env = {**os.environ, "MEBENCH_CACHE": os.path.join(tmp, "cache"), **(env_extra or {})}
    base = ["run", "--protocol", "loso", "--json", "--jobs", str(opts.jobs),
            "--dataset-opt", f"subjects={opts.subjects}", "--dataset-opt", f"clips_per_subject={opts.clips}"]
    t0 = time.perf_counter()
    cold = run_once([*base, "--out", os.path.join(tmp, "cold")], env)
    warm = run_once([*base, "--out", os.path.join(tmp, "warm")], env)
    shutil.rmtree(tmp)
    return cold, warm, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--checkouts", nargs=2, metavar=("BEFORE", "AFTER"))
    opts = parser.parse_args()
    if opts.checkouts:
        rounds = {c: [] for c in opts.checkouts}
        for _ in range(opts.repeats):
            for checkout in opts.checkouts:
                rounds[checkout].append(one_round(opts, {"PYTHONPATH": os.path.abspath(checkout)}))
        before, after = (rounds[c] for c in opts.checkouts)
        print(f"default run, {opts.subjects} subjects x {opts.clips} clips, {opts.repeats} alternating rounds")
        print("| measure | before (median s) | after (median s) | after / before |\n|---|---|---|---|")
        for label, k in (("cold run wall", 0), ("warm-cache run wall", 1)):
            b = statistics.median(r[k][0] for r in before)
            a = statistics.median(r[k][0] for r in after)
            print(f"| {label} | {b:.3f} | {a:.3f} | {a / b:.3f} |")
        return
    rows = [one_round(opts) for _ in range(opts.repeats)]
    print(f"default run: {opts.subjects} subjects x {opts.clips} clips, hoof+logreg, LOSO, jobs={opts.jobs}, "
          f"BLAS 1 thread per fold fit, {os.cpu_count()} cores")
    print("| measure | median | min | max |\n|---|---|---|---|")
    for label, pick in (("cold run wall (s)", lambda r: r[0][0]), ("cold run peak RSS (MB)", lambda r: r[0][1]),
                        ("warm-cache run wall (s)", lambda r: r[1][0]), ("warm-cache peak RSS (MB)", lambda r: r[1][1])):
        values = [pick(r) for r in rows]
        print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
