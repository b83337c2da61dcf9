"""``--jobs`` on a busy machine: ``--jobs 1``, ``--jobs 2`` as chosen now (usable_workers), and ``--jobs 2``
forced to two workers (``MEBENCH_JOBS_EXACT=1``, the former behaviour), in alternating rounds.

Each command is a fresh ``mebench run`` (no feature cache, so extraction chunks and folds are both
candidates for workers); the 1-minute load average before it, its wall time and whether folds or
chunks went to workers are printed as a markdown table, with each variant's median wall time as a
ratio to ``--jobs 1`` of the same round.

    python benchmarks/bench_jobs_load.py --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ["run", "--no-cache", "--dataset-opt", "subjects=16", "--dataset-opt", "frames=20"]
VARIANTS = {"--jobs 1": (["--jobs", "1"], {}), "--jobs 2 (now)": (["--jobs", "2"], {}),
            "--jobs 2 forced (before)": (["--jobs", "2"], {"MEBENCH_JOBS_EXACT": "1"})}


def one(out: Path, args: list, env: dict) -> dict:
    load = os.getloadavg()[0]
    full_env = {key: value for key, value in os.environ.items() if key != "MEBENCH_JOBS_EXACT"}
    full_env.update({"PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", **env})
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mebench.cli", *RUN, *args, "--out", str(out)], env=full_env, check=True,
                   capture_output=True)
    wall = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    return {"load": load, "wall": wall, "folds_parallel": manifest["platform"]["folds_on_parallel_workers"],
            "chunks_parallel": manifest["features"]["chunks_on_parallel_workers"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MEBENCH_CACHE"] = str(Path(tmp) / "cache")
        for r in range(rounds):
            for name, (args, env) in VARIANTS.items():
                rows.append({"round": r + 1, "variant": name, **one(Path(tmp) / f"{r}-{len(rows)}", args, env)})
    print("| round | variant | load before | wall (s) | ratio to --jobs 1 | folds on workers | chunks on workers |")
    print("|---|---|---|---|---|---|---|")
    base = {row["round"]: row["wall"] for row in rows if row["variant"] == "--jobs 1"}
    for row in rows:
        print(f"| {row['round']} | {row['variant']} | {row['load']:.1f} | {row['wall']:.1f} | "
              f"{row['wall'] / base[row['round']]:.2f} | {row['folds_parallel']} | {row['chunks_parallel']} |")
    for name in VARIANTS:
        ratios = [row["wall"] / base[row["round"]] for row in rows if row["variant"] == name]
        print(f"median ratio {name}: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
