"""Time the default `mebench run --protocol loso` and record its peak memory.

Usage: python benchmarks/bench_run.py [--subjects 12] [--clips 10] [--repeats 3]
Runs each configuration in a fresh subprocess (cold feature cache, then warm) and prints a
Markdown table of wall time and peak RSS. Target: <= 60 s and <= 1.5 GB on 2 cores.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=12)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    opts = parser.parse_args()
    rows = []
    for repeat in range(opts.repeats):
        tmp = tempfile.mkdtemp(prefix="mebench-bench-")
        env = {**os.environ, "MEBENCH_CACHE": os.path.join(tmp, "cache")}
        base = ["run", "--protocol", "loso", "--json", "--jobs", str(opts.jobs),
                "--dataset-opt", f"subjects={opts.subjects}", "--dataset-opt", f"clips_per_subject={opts.clips}"]
        t0 = time.perf_counter()
        cold = run_once([*base, "--out", os.path.join(tmp, "cold")], env)
        warm = run_once([*base, "--out", os.path.join(tmp, "warm")], env)
        rows.append((cold, warm, time.perf_counter() - t0))
        shutil.rmtree(tmp)
    print(f"default run: {opts.subjects} subjects x {opts.clips} clips, hoof+logreg, LOSO, jobs={opts.jobs}, "
          f"BLAS 1 thread per fold fit, {os.cpu_count()} cores")
    print("| measure | median | min | max |\n|---|---|---|---|")
    for label, pick in (("cold run wall (s)", lambda r: r[0][0]), ("cold run peak RSS (MB)", lambda r: r[0][1]),
                        ("warm-cache run wall (s)", lambda r: r[1][0]), ("warm-cache peak RSS (MB)", lambda r: r[1][1])):
        values = [pick(r) for r in rows]
        print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
