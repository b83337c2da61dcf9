"""Permutation rows of ``logreg``: generic refit (``run.cross_predict`` per row) vs the batched path.

Usage: python benchmarks/bench_logreg_rows.py [--generic 20] [--batched 1000] [--rounds 2] [--cli] [--json]

Problems (leave-one-subject-out, ``LogReg()`` defaults: C=0.1, class_weight='balanced'):

* ``default``: the default pipeline of ``mebench run`` (synthetic dataset, 12 subjects, 120 clips,
  hoof features (288), logreg), built with ``mebench.run.prepare(RunSpec())``;
* ``casme2-sized``: arrays of CASME II's size: 255 clips, 26 subjects of uneven size, 3 classes
  (50/30/20 %), 288 features with a weak class signal.

For each problem the label rows are those ``mebench stats`` draws (automatic scheme, seed 0). In
``--rounds`` alternating rounds (both paths see the same machine load) the generic path refits
``--generic`` rows and the batched path solves ``--batched`` rows (its label-free precomputation
included); per-row medians give the ratio and the projected time of 1000 rows. The first
``--generic`` rows of both paths are compared (largest score difference, predicted codes that
differ). BLAS is pinned to one thread (threadpoolctl) in both.

``--cli``: also makes a default run with ``mebench run`` in a temporary directory and times the whole
``mebench stats RUN`` (1000 permutations, 2000 bootstrap resamples: the defaults) in a fresh process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def default_problem():
    from mebench.run import RunSpec, prepare

    return prepare(RunSpec())


def casme2_sized_problem(seed: int = 0):
    from mebench.classifiers.sklearn_family import LogReg
    from mebench.stats.permutation import prepared_from_arrays

    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(255 - 26 * 3, np.full(26, 1 / 26)) + 3       # 26 subjects, 3..~20 clips each
    subjects = np.repeat([f"casme2/sub{i + 1:02d}" for i in range(26)], sizes)
    y = rng.choice(3, size=255, p=[0.5, 0.3, 0.2])
    X = rng.normal(size=(255, 288)) + 0.15 * np.eye(3)[y] @ rng.normal(size=(3, 288))
    return prepared_from_arrays(X, np.array(["negative", "positive", "surprise"])[y], subjects, estimator=LogReg())


def label_rows(prepared, n: int) -> np.ndarray:
    from mebench.stats.permutation import choose_scheme, permuted_codes

    subjects = prepared.samples["subject_id"].astype(str).to_numpy()
    scheme = choose_scheme(prepared.y, subjects)[0]
    return permuted_codes(prepared.y, subjects, scheme, 0, 0, n)


def time_generic(prepared, Y):
    from mebench.run import cross_predict

    t0 = time.perf_counter()
    out = [cross_predict(prepared, y=y) for y in Y]
    return time.perf_counter() - t0, np.stack([o.scores for o in out]), np.stack([o.pred for o in out])


def time_batched(prepared, Y):
    from mebench.stats.permutation import logreg_operator, logreg_predict

    t0 = time.perf_counter()
    op = logreg_operator(prepared)
    pred, scores = logreg_predict(op, Y, len(prepared.classes))
    return time.perf_counter() - t0, scores, pred, op.fallbacks


def bench_problem(name, prepared, n_generic, n_batched, rounds):
    from threadpoolctl import threadpool_limits

    Y = label_rows(prepared, max(n_generic, n_batched))
    ev = prepared.evaluated
    generic, batched = [], []
    with threadpool_limits(1):
        for r in range(rounds):
            tg, Sg, Pg = time_generic(prepared, Y[:n_generic])
            tb, Sb, Pb, fallbacks = time_batched(prepared, Y[:n_batched])
            generic.append(tg / n_generic)
            batched.append(tb / n_batched)
            print(f"  {name} round {r + 1}: generic {tg:.2f} s / {n_generic} rows, batched {tb:.2f} s / "
                  f"{n_batched} rows", file=sys.stderr)
    g, b = statistics.median(generic), statistics.median(batched)
    diff = np.abs(Sg[:, ev] - Sb[:n_generic][:, ev]).max()
    return {"problem": name, "n_samples": int(len(prepared.y)), "n_features": int(prepared.X.shape[1]),
            "n_classes": len(prepared.classes), "n_folds": len(prepared.split.folds),
            "generic_rows": n_generic, "batched_rows": n_batched, "rounds": rounds,
            "generic_s_per_row": g, "batched_s_per_row": b, "ratio": g / b,
            "projected_1000_generic_s": 1000 * g, "projected_1000_batched_s": 1000 * b,
            "max_score_difference_vs_generic": float(diff),
            "codes_differing_vs_generic": int((Pg[:, ev] != Pb[:n_generic][:, ev]).sum()),
            "codes_compared": int(n_generic * ev.sum()), "fallbacks": int(fallbacks)}


def time_cli() -> dict:
    """``mebench run`` (defaults) then ``time mebench stats RUN`` in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MEBENCH_CACHE": os.path.join(tmp, "cache")}
        run_dir = os.path.join(tmp, "run")
        subprocess.run([sys.executable, "-m", "mebench.cli", "run", "--out", run_dir], check=True, env=env,
                       capture_output=True)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "mebench.cli", "stats", run_dir, "--json"], check=True, env=env,
                             capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        res = json.loads(out.stdout)
    perm = res["permutation"]
    return {"mebench_stats_s": seconds, "method": perm["method"], "permutation_s": perm["seconds"],
            "n_permutations": perm["n_permutations"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generic", type=int, default=20, help="rows refitted by the generic path per round")
    ap.add_argument("--batched", type=int, default=1000, help="rows solved by the batched path per round")
    ap.add_argument("--casme-batched", type=int, default=200, help="batched rows per round, CASME II-sized problem")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cli", action="store_true", help="also time the whole `mebench stats` of a default run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average_at_start": os.getloadavg()}, "blas_threads": 1, "problems": []}
    for name, make, n_b in (("default", default_problem, args.batched),
                            ("casme2-sized", casme2_sized_problem, args.casme_batched)):
        results["problems"].append(bench_problem(name, make(), args.generic, n_b, args.rounds))
    if args.cli:
        results["cli"] = time_cli()
    results["machine"]["load_average_at_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for p in results["problems"]:
        print(f"{p['problem']}: {p['n_samples']} samples x {p['n_features']} features, {p['n_classes']} classes, "
              f"{p['n_folds']} folds")
        print(f"  generic {p['generic_s_per_row'] * 1e3:.1f} ms/row, batched {p['batched_s_per_row'] * 1e3:.2f} ms/row:"
              f" {p['ratio']:.1f}x; 1000 rows: generic {p['projected_1000_generic_s']:.0f} s, batched "
              f"{p['projected_1000_batched_s']:.1f} s")
        print(f"  vs generic on {p['generic_rows']} rows: max |score difference| "
              f"{p['max_score_difference_vs_generic']:.1e}, codes differing {p['codes_differing_vs_generic']} of "
              f"{p['codes_compared']}; fallbacks {p['fallbacks']}")
    if "cli" in results:
        c = results["cli"]
        print(f"mebench stats of a default run: {c['mebench_stats_s']:.1f} s ({c['method']} path, "
              f"{c['n_permutations']} permutations in {c['permutation_s']:.1f} s)")
    print(f"load average {results['machine']['load_average_at_start']} -> {results['machine']['load_average_at_end']}")


if __name__ == "__main__":
    main()
