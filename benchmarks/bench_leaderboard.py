"""Leaderboard build time over stored runs, and how it grows with the number of runs.

Usage: python benchmarks/bench_leaderboard.py [--datasets 5] [--pipelines 10] [--repeats 3]
                                             [--jobs 2] [--scaling] [--json]

Problem: ``--datasets`` x ``--pipelines`` run directories with CASME II-sized predictions
(255 samples, 26 subjects of uneven size, 5 classes, leave-one-subject-out: 26 folds), written
once to a temporary folder in the run-directory format (predictions.parquet, metrics.json, and a
manifest with file hashes, fold hash and sample-list hash computed as the runner does). Pipelines
differ in skill, so columns have a clear best and a spread of p-values.

Timed (median of ``--repeats``, fresh interpreter state not needed: nothing is cached between
builds): finding and loading every run (sha256 of every file, parquet parse), then the whole
leaderboard for one metric (UF1): a 95% subject-cluster BCa bootstrap per cell (B = 2000), the
paired subject-level randomisation test of every ranked pipeline against its column's best
(10000 swap patterns) with Holm, the mean ranks (Friedman), and rendering to all five formats.
``--jobs`` columns are computed in parallel threads (BLAS pinned to one thread).
``--scaling`` repeats the build for 10 .. 100 runs. Both wall time and the process's CPU time
are printed: on a shared machine the CPU time is what the build costs a free core.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = ["disgust", "happiness", "others", "repression", "surprise"]


def write_runs(root: Path, n_datasets: int, n_pipelines: int, seed: int = 0) -> list[Path]:
    import pandas as pd

    from mebench.data.schema import sample_list_hash
    from mebench.fsutil import write_json
    from mebench.leaderboard.runs import recompute_fold_hash, sha256_bytes
    from mebench.registry import METRICS
    from mebench.store import write_predictions

    dirs = []
    for d in range(n_datasets):
        rng = np.random.default_rng([seed, d])
        sizes = rng.multinomial(255 - 26 * 3, np.full(26, 1 / 26)) + 3
        subj = np.repeat([f"bench{d}/sub{i + 1:02d}" for i in range(26)], sizes)
        y = rng.choice(5, size=255, p=[0.25, 0.13, 0.39, 0.11, 0.12])
        ids = np.array([f"bench{d}/s{i:03d}" for i in range(255)])
        samples = pd.DataFrame({"sample_id": ids, "subject_id": subj, "label": np.array(CLASSES)[y]})
        for p in range(n_pipelines):
            skill = 0.1 + 0.12 * p
            logits = rng.normal(size=(255, 5))
            logits[np.arange(255), y] += skill * 3
            scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            pred = scores.argmax(axis=1)
            run_id = f"bench{d}-feat{p}-logreg"
            preds = pd.DataFrame({"run_id": run_id, "dataset": f"bench{d}", "protocol": "loso",
                                  "pipeline": f"feat{p}+logreg", "fold": subj, "subject_id": subj, "sample_id": ids,
                                  "y_true": np.array(CLASSES)[y], "y_pred": np.array(CLASSES)[pred]})
            for j, c in enumerate(CLASSES):
                preds[f"score_{c}"] = scores[:, j]
            out = root / f"bench{d}" / f"feat{p}"
            write_predictions(out / "predictions.parquet", preds)
            pooled = {m: METRICS.get(m)(np.array(CLASSES)[y], np.array(CLASSES)[pred], scores, CLASSES)
                      for m in ("accuracy", "uar", "uf1", "auc")}
            write_json(out / "metrics.json", {"pooled": pooled, "classes": CLASSES, "n": 255, "run_id": run_id,
                                              "baselines": {"majority": {"uf1": 0.112}},
                                              "prior_shift": {"pooled": {"uf1": 0.09}, "note": "synthetic"}})
            files = {n: sha256_bytes((out / n).read_bytes()) for n in ("predictions.parquet", "metrics.json")}
            write_json(out / "manifest.json", {
                "run_id": run_id, "pipeline": f"feat{p}+logreg", "mebench_version": "bench",
                "config": {"dataset": f"bench{d}", "task": "emotion", "protocol": "loso", "features": f"feat{p}",
                           "classifier": "logreg", "dataset_opts": {}, "protocol_opts": {}, "seed": 0},
                "seeds": {"run": 0},
                "dataset": {"dataset": f"bench{d}", "task": "emotion", "sample_list_sha256": sample_list_hash(samples),
                            "annotation_files": {}, "n_samples": 255, "n_subjects": 26},
                "protocol": {"name": "loso", "n_folds": 26, "fold_hash": recompute_fold_hash(preds),
                             "subject_wise": True, "shared_subjects": {}},
                "features": {"name": f"feat{p}", "trained_on": []}, "files": files, "flags": [], "flag_reasons": {},
                "roles": {"control": False, "probe": False}, "warnings": [], "skipped": [], "n_skipped": 0})
            dirs.append(out)
    return dirs


def build_once(folder: Path, jobs: int) -> dict:
    from threadpoolctl import threadpool_limits

    from mebench.leaderboard.render import FORMATS, render
    from mebench.leaderboard.runs import load_runs
    from mebench.leaderboard.tables import BoardOptions, build_board

    with threadpool_limits(1):
        c0 = time.process_time()
        t0 = time.perf_counter()
        runs = load_runs([folder])
        t1 = time.perf_counter()
        board = build_board(runs, BoardOptions(metric="uf1", n_resamples=2000, n_permutations=10000), jobs=jobs)
        t2 = time.perf_counter()
        for fmt in FORMATS:
            render(board, fmt)
        t3 = time.perf_counter()
        cpu = time.process_time() - c0
    return {"load_s": t1 - t0, "compute_s": t2 - t1, "render_s": t3 - t2, "total_s": t3 - t0, "cpu_s": cpu,
            "n_runs": len(runs), "n_columns": len(board["columns"]),
            "n_tests": sum(1 for c in board["cells"] if c["p_value"] is not None)}


def measure(n_datasets: int, n_pipelines: int, jobs: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_runs(folder, n_datasets, n_pipelines)
        build_once(folder, jobs)  # warm imports
        rounds = [build_once(folder, jobs) for _ in range(repeats)]
    out = {k: statistics.median(r[k] for r in rounds)
           for k in ("load_s", "compute_s", "render_s", "total_s", "cpu_s")}
    out.update({k: rounds[0][k] for k in ("n_runs", "n_columns", "n_tests")}, datasets=n_datasets,
               pipelines=n_pipelines, jobs=jobs, totals=[r["total_s"] for r in rounds])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--pipelines", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scaling", action="store_true", help="also time 10..100 runs")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
           "load_average_start": os.getloadavg()[0]}
    res["main"] = measure(opts.datasets, opts.pipelines, opts.jobs, opts.repeats)
    res["main_1job"] = measure(opts.datasets, opts.pipelines, 1, opts.repeats)
    if opts.scaling:
        res["scaling"] = [measure(d, p, opts.jobs, opts.repeats)
                          for d, p in ((1, 10), (2, 10), (5, 4), (5, 10), (10, 10), (5, 20))]
    res["load_average_end"] = os.getloadavg()[0]
    if opts.json:
        print(json.dumps(res, indent=2))
        return
    print("| runs (datasets x pipelines) | jobs | paired tests | load (s) | compute (s) | render (s) | total wall (s) "
          "| total CPU (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in [res["main"], res["main_1job"], *res.get("scaling", [])]:
        print(f"| {r['n_runs']} ({r['datasets']} x {r['pipelines']}) | {r['jobs']} | {r['n_tests']} | "
              f"{r['load_s']:.2f} | {r['compute_s']:.2f} | {r['render_s']:.3f} | {r['total_s']:.2f} | {r['cpu_s']:.2f} |")
    print(f"\nload average {res['load_average_start']:.2f} -> {res['load_average_end']:.2f}; {res['machine']}")


if __name__ == "__main__":
    main()
