"""Permutation test speed: exact linear path vs generic refit path vs sklearn's permutation_test_score.

Usage: python benchmarks/bench_stats.py [--permutations 1000] [--generic 40] [--rounds 3] [--sklearn 60]
                                       [--repeats 5] [--json]
       python benchmarks/bench_stats.py --reference /path/to/other/checkout [--rounds 5] [--repeats 5]
       (the exact path of this checkout against another's, alternating fresh processes)

Problem: CASME II-sized (255 samples, 26 subjects of uneven size, 1000 features, 5 classes),
leave-one-subject-out, ridge-type linear classifier. Timed:

* exact path: ``permutation_test(method="exact")`` with ``--permutations`` permutations,
  precomputation included (median of ``--repeats``), for one metric (accuracy, as sklearn) and
  for the four default metrics; the dataset-wide scheme (as sklearn without groups) and the
  automatic scheme;
* generic path: ``permutation_test(method="generic")`` with 1 and 2 jobs on ``--generic``
  permutations, each in a fresh process as ``mebench stats --jobs N`` would run it (the 2-worker
  pool start-up is timed separately and excluded), alternating over ``--rounds`` rounds so both
  see the same machine load, extrapolated to ``--permutations``; each round also measures the
  2-process speed-up of plain BLAS work, i.e. how much of the second core was free;
* sklearn: ``permutation_test_score(Pipeline(StandardScaler, RidgeClassifier), cv=<the same LOSO
  splits>, n_jobs=2, scoring="accuracy")`` on ``--sklearn`` permutations, extrapolated. Its
  p-value has the same definition, (C + 1) / (N + 1); its statistic is the mean of per-fold
  accuracies, not the pooled accuracy.

BLAS is pinned to one thread per worker (threadpoolctl in our workers; joblib's loky workers
are started with one BLAS thread each when n_jobs=2 on 2 cores).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(255 - 26 * 3, np.full(26, 1 / 26)) + 3       # 26 subjects, 3..~20 clips each
    subjects = np.repeat([f"casme2/sub{i + 1:02d}" for i in range(26)], sizes)
    classes = np.array(["disgust", "happiness", "others", "repression", "surprise"])
    y = rng.choice(5, size=255, p=[0.25, 0.13, 0.39, 0.11, 0.12])
    X = rng.normal(size=(255, 1000)) + 0.15 * np.eye(5)[y] @ rng.normal(size=(5, 1000))
    return X, classes[y], subjects


def _busy(n: int) -> int:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        a = np.random.default_rng(0).normal(size=(245, 1000))
        for _ in range(n):
            a @ a.T
    return 0


def parallel_ceiling(n: int = 200) -> float:
    """Speed-up of 2 processes over 1 on plain BLAS work right now (how much of 2 cores is free)."""
    from joblib import Parallel, delayed

    Parallel(n_jobs=2)(delayed(_busy)(1) for _ in range(2))
    t0 = time.perf_counter()
    _busy(2 * n)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    Parallel(n_jobs=2)(delayed(_busy)(n) for _ in range(2))
    return one / (time.perf_counter() - t0)


def _sha(values) -> str:
    import hashlib

    return hashlib.sha256(np.round(np.asarray(values, float), 12).tobytes()).hexdigest()


def generic_child(jobs: int, n: int) -> None:
    """In a fresh process, as `mebench stats --jobs N` runs: time the generic path (pool start excluded)."""
    from threadpoolctl import threadpool_limits

    from mebench.stats.permutation import permutation_test, prepared_from_arrays

    X, labels, subjects = problem()
    prepared = prepared_from_arrays(X, labels, subjects)
    start = 0.0
    with threadpool_limits(1):
        if jobs > 1:
            t0 = time.perf_counter()
            permutation_test(prepared, 2 * jobs, metrics=["accuracy"], method="generic", scheme="dataset", jobs=jobs)
            start = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = permutation_test(prepared, n, metrics=["accuracy"], method="generic", scheme="dataset", jobs=jobs)
        seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "pool_start_seconds": start, "null_sha256": _sha(res.null["accuracy"])}))


def generic_in_fresh_process(jobs: int, n: int) -> dict:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, __file__, "--generic-child", str(jobs), str(n)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def exact_child(n: int, repeats: int) -> None:
    """In a fresh process (whichever mebench is on the path): time the exact path, precomputation included."""
    from threadpoolctl import threadpool_limits

    from mebench.stats.permutation import permutation_test, prepared_from_arrays

    X, labels, subjects = problem()
    prepared = prepared_from_arrays(X, labels, subjects)
    with threadpool_limits(1):
        permutation_test(prepared, 20, metrics=["accuracy"], method="exact")
        one, _ = timed(lambda: permutation_test(prepared, n, metrics=["accuracy"], method="exact", scheme="dataset"),
                       repeats)
        four, _ = timed(lambda: permutation_test(prepared, n, method="exact"), repeats)
    print(json.dumps({"accuracy_dataset_s": one, "four_metrics_auto_s": four}))


def exact_against_reference(reference: str, n: int, rounds: int, repeats: int) -> dict:
    """The exact path of this checkout and of ``reference`` (another checkout's root), alternating
    fresh processes over ``rounds`` so both see the same machine load."""
    import subprocess
    import sys

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    times = {"this": [], "reference": []}
    for _ in range(rounds):
        for key, root in (("reference", reference), ("this", here)):
            env = {**os.environ, "PYTHONPATH": root}
            out = subprocess.run([sys.executable, __file__, "--exact-child", str(n), str(repeats)], env=env,
                                 capture_output=True, text=True, check=True)
            times[key].append(json.loads(out.stdout.strip().splitlines()[-1]))
    res = {}
    for metric in ("accuracy_dataset_s", "four_metrics_auto_s"):
        a = statistics.median(t[metric] for t in times["this"])
        b = statistics.median(t[metric] for t in times["reference"])
        res[metric] = {"this": a, "reference": b, "speedup": b / a}
    return res


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--generic", type=int, default=40, help="permutations timed on the generic path per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating 1-job / 2-job rounds of the generic path")
    parser.add_argument("--sklearn", type=int, default=60, help="permutations timed through sklearn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--reference", help="another checkout's root: time its exact path against this one's, "
                                                 "alternating fresh processes, and stop")
    parser.add_argument("--generic-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--exact-child", nargs=2, type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.generic_child:
        generic_child(*opts.generic_child)
        return
    if opts.exact_child:
        exact_child(*opts.exact_child)
        return
    if opts.reference:
        load = os.getloadavg()[0]
        res = exact_against_reference(opts.reference, opts.permutations, opts.rounds, opts.repeats)
        print(f"| exact path, {opts.permutations} permutations, precomputation included (s; median of {opts.rounds} "
              f"rounds x {opts.repeats}) | this checkout | reference | speed-up |\n|---|---|---|---|")
        for key, label in (("accuracy_dataset_s", "accuracy, dataset-wide scheme"),
                           ("four_metrics_auto_s", "4 metrics, automatic scheme")):
            r = res[key]
            print(f"| {label} | {r['this']:.4g} | {r['reference']:.4g} | {r['speedup']:.2f}x |")
        print(f"load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
        return

    from threadpoolctl import threadpool_limits

    from mebench.stats.permutation import permutation_test, prepared_from_arrays

    X, labels, subjects = problem()
    prepared = prepared_from_arrays(X, labels, subjects)
    N = opts.permutations
    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
           "load_average_start": os.getloadavg()[0], "n_permutations": N}
    with threadpool_limits(1):
        permutation_test(prepared, 20, metrics=["accuracy"], method="exact")  # warm imports and caches
        t, r = timed(lambda: permutation_test(prepared, N, metrics=["accuracy"], method="exact", scheme="dataset"),
                     opts.repeats)
        res["exact_accuracy_dataset_s"], res["exact_p_accuracy"] = t, r.p_values["accuracy"]
        t, _ = timed(lambda: permutation_test(prepared, N, method="exact", scheme="dataset"), opts.repeats)
        res["exact_4metrics_dataset_s"] = t
        t, r = timed(lambda: permutation_test(prepared, N, method="exact"), opts.repeats)
        res["exact_4metrics_auto_s"], res["auto_scheme"] = t, r.scheme

    G = opts.generic
    ones, twos, ceilings, startups, nulls = [], [], [], [], set()
    for _ in range(opts.rounds):  # alternate 1 and 2 jobs so both see the same machine load
        for jobs, store in ((1, ones), (2, twos)):
            child = generic_in_fresh_process(jobs, G)
            store.append(child["seconds"])
            nulls.add(child["null_sha256"])
            if jobs == 2:
                startups.append(child["pool_start_seconds"])
        ceilings.append(parallel_ceiling())
    with threadpool_limits(1):
        exact_g = permutation_test(prepared, G, metrics=["accuracy"], method="exact", scheme="dataset")
    t1, t2 = statistics.median(ones), statistics.median(twos)
    res.update(generic_permutations=G, generic_rounds=opts.rounds, generic_1job_s=t1, generic_2jobs_s=t2,
               generic_speedup=statistics.median([a / b for a, b in zip(ones, twos)]),
               generic_speedups=[a / b for a, b in zip(ones, twos)], parallel_ceilings=ceilings,
               generic_pool_start_s=statistics.median(startups),
               generic_1job_extrapolated_s=t1 * N / G, generic_2jobs_extrapolated_s=t2 * N / G,
               generic_identical_null_across_runs=len(nulls) == 1,
               generic_null_equals_exact=_sha(exact_g.null["accuracy"]) in nulls)

    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import permutation_test_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cv = [(f.train, f.test) for f in prepared.split.folds]
    est = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1.0))
    S = opts.sklearn
    permutation_test_score(est, X, labels, cv=cv, n_permutations=2, n_jobs=2, random_state=0)  # warm pool
    t, (score, _, p) = timed(lambda: permutation_test_score(est, X, labels, cv=cv, n_permutations=S, n_jobs=2,
                                                            scoring="accuracy", random_state=0))
    res.update(sklearn_permutations=S, sklearn_2jobs_s=t, sklearn_2jobs_extrapolated_s=t * N / S,
               sklearn_p=p, sklearn_per_100_s=t * 100 / S)
    res["ratio_sklearn_vs_exact_accuracy"] = res["sklearn_2jobs_extrapolated_s"] / res["exact_accuracy_dataset_s"]
    res["ratio_sklearn_vs_exact_4metrics"] = res["sklearn_2jobs_extrapolated_s"] / res["exact_4metrics_dataset_s"]
    res["load_average_end"] = os.getloadavg()[0]
    if opts.json:
        print(json.dumps(res, indent=2))
        return
    print("| measure | value |\n|---|---|")
    rows = [
        (f"exact path, {N} permutations, accuracy, dataset-wide scheme (s, median of {opts.repeats})",
         res["exact_accuracy_dataset_s"]),
        (f"exact path, {N} permutations, 4 metrics, dataset-wide scheme (s)", res["exact_4metrics_dataset_s"]),
        (f"exact path, {N} permutations, 4 metrics, automatic scheme ({res['auto_scheme']}) (s)",
         res["exact_4metrics_auto_s"]),
        (f"generic path, 1 job, {G} permutations (s, median of {opts.rounds} rounds)", res["generic_1job_s"]),
        (f"generic path, 2 jobs, {G} permutations (s, median of {opts.rounds} rounds)", res["generic_2jobs_s"]),
        ("generic path speed-up 1 → 2 jobs (median of per-round ratios)", res["generic_speedup"]),
        ("2-process ceiling on plain BLAS work, same rounds (median)", statistics.median(res["parallel_ceilings"])),
        (f"generic path, 1 job, extrapolated to {N} (s)", res["generic_1job_extrapolated_s"]),
        (f"sklearn permutation_test_score, 2 jobs, {S} permutations (s)", res["sklearn_2jobs_s"]),
        (f"sklearn, extrapolated to {N} (s)", res["sklearn_2jobs_extrapolated_s"]),
        ("ratio sklearn / exact (accuracy)", res["ratio_sklearn_vs_exact_accuracy"]),
        ("ratio sklearn / exact (4 metrics)", res["ratio_sklearn_vs_exact_4metrics"]),
        ("generic path: 2-worker pool start-up incl. 4 warm-up permutations, excluded above (s)", res["generic_pool_start_s"]),
    ]
    for name, value in rows:
        print(f"| {name} | {value:.4g} |")
    print(f"\ngeneric null distribution identical in every run (1 and 2 jobs): {res['generic_identical_null_across_runs']}; "
          f"equal to the exact path's (rounded to 1e-12): {res['generic_null_equals_exact']}")
    print("per-round speed-ups: " + ", ".join(f"{v:.2f}" for v in res["generic_speedups"])
          + "; ceilings: " + ", ".join(f"{v:.2f}" for v in res["parallel_ceilings"]))
    print(f"load average {res['load_average_start']:.2f} → {res['load_average_end']:.2f}; p (exact, pooled accuracy) "
          f"= {res['exact_p_accuracy']:.4f}; p (sklearn, mean fold accuracy) = {res['sklearn_p']:.4f}")


if __name__ == "__main__":
    main()
