"""Cost of the refit studentised paired test (issue 17's time targets), measured in one run.

1. Rows for two linear pipelines (ridge: exact path; logreg: batched path) on a CASME II-sized array set
   (255 clips, 26 subjects, 3 classes), 999 permutation rows each, then the paired test; the generic
   refit of the same rows is timed on a few rows and extrapolated, as the plain baseline.
2. ``mebench compare A B --no-refit`` of two runs that already hold their rows (process wall time).
3. A default ``mebench stats`` of the default run (hoof + logreg, synthetic, 12 subjects), with the
   time estimate it prints first.

BLAS is pinned to one thread (threadpoolctl); state the CPU flags with the figures.
Usage: python benchmarks/bench_compare.py [--rows 999]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MEBENCH = [sys.executable, "-c", "from mebench.cli import main; main()"]


def casme_sized(seed: int = 0, n_subjects: int = 26, n: int = 255, d: int = 64):
    rng = np.random.default_rng(seed)
    subjects = np.sort(rng.integers(0, n_subjects, n))
    subjects[:n_subjects] = np.arange(n_subjects)  # every subject present
    subjects = np.sort(subjects)
    labels = rng.choice(["negative", "positive", "surprise"], n, p=[0.5, 0.3, 0.2])
    X = rng.normal(size=(n, d)) + rng.normal(size=(n_subjects, d))[subjects]
    X[:, :3] += 0.6 * (labels[:, None] == np.array(["negative", "positive", "surprise"]))
    return X, labels, subjects.astype(str)


def rows_timing(n_rows: int) -> dict:
    from threadpoolctl import threadpool_limits

    from mebench.classifiers.sklearn_family import LogReg
    from mebench.stats.permutation import compute_rows, observed_row, prepared_from_arrays, row_engine, row_store
    from mebench.stats.studentised import PipelineRows, studentised_test

    X, labels, subjects = casme_sized()
    out, rows = {}, {}
    with threadpool_limits(1):
        for name, est in (("ridge", None), ("logreg", LogReg())):
            prepared = prepared_from_arrays(X, labels, subjects, estimator=est)
            t0 = time.perf_counter()
            engine = row_engine(prepared)
            store = row_store(prepared, "hybrid", 0, ["accuracy"])
            from mebench.stats.permutation import choose_scheme

            scheme = choose_scheme(prepared.y, subjects)[0]
            store = row_store(prepared, scheme, 0, ["accuracy"])
            compute_rows(prepared, engine, store, scheme, 0, n_rows)
            obs = observed_row(prepared, engine, store)
            out[f"{name}_{engine.method}_s"] = round(time.perf_counter() - t0, 2)
            rows[name] = PipelineRows(store.metrics, obs[0], obs[1], *store.arrays(n_rows), scheme, 0)
            generic = row_store(prepared, scheme, 0, ["accuracy"])
            t0 = time.perf_counter()
            few = 5
            compute_rows(prepared, row_engine(prepared, "generic"), generic, scheme, 0, few)
            out[f"{name}_generic_{n_rows}_rows_projected_s"] = round((time.perf_counter() - t0) / few * n_rows, 1)
        t0 = time.perf_counter()
        for m in ("accuracy", "uar", "uf1", "auc"):
            studentised_test(rows["logreg"], rows["ridge"], m, n_rows)
        out["paired_test_s"] = round(time.perf_counter() - t0, 3)
    out["total_linear_pipelines_s"] = round(out.get("ridge_exact_s", 0) + out.get("logreg_batched_s",
                                                                                   out.get("logreg_generic_s", 0))
                                            + out["paired_test_s"], 2)
    return out


def cli_timing(n_rows: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for clf in ("logreg", "ridge"):
            runs[clf] = Path(tmp) / clf
            subprocess.run([*MEBENCH, "run", "--classifier", clf, "--out", str(runs[clf])], check=True,
                           capture_output=True)
        t0 = time.perf_counter()
        res = subprocess.run([*MEBENCH, "stats", str(runs["logreg"])], check=True, capture_output=True, text=True)
        out["default_stats_s"] = round(time.perf_counter() - t0, 1)
        out["default_stats_estimate"] = [line for line in res.stderr.splitlines() if "about" in line][:1]
        subprocess.run([*MEBENCH, "stats", str(runs["ridge"]), "--permutations", str(n_rows), "--early-stop", "0"],
                       check=True, capture_output=True)
        subprocess.run([*MEBENCH, "stats", str(runs["logreg"]), "--permutations", str(n_rows), "--early-stop", "0"],
                       check=True, capture_output=True)
        t0 = time.perf_counter()
        subprocess.run([*MEBENCH, "compare", str(runs["logreg"]), str(runs["ridge"]), "--no-refit", "--permutations",
                        str(n_rows)], check=True, capture_output=True)
        out["compare_stored_rows_s"] = round(time.perf_counter() - t0, 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=999)
    args = ap.parse_args()
    flags = [f for f in ("avx512f", "avx2", "fma") if f in Path("/proc/cpuinfo").read_text()]
    print({"cpu_flags": flags, "blas_threads": 1, **rows_timing(args.rows), **cli_timing(args.rows)})


if __name__ == "__main__":
    main()
