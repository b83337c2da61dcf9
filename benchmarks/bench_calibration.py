"""Calibration suite of the paired tests and intervals under leave-one-subject-out (issue 17).

Measures, on synthetic data whose truth is known:

* the false-positive rate at alpha = 0.05 of the refit studentised paired test (the default) and of
  the subject swap (secondary), for accuracy, UAR, UF1 and AUC, between like pipelines (ridge on two
  independent 16-feature sets), unlike pipelines (ridge on 16 vs 40 features) and a pipeline against
  the stratified-random control, at 12, 26 and 68 subjects, on null data (labels independent of the
  features), and between two informative, equally good pipelines ("equal": the null the studentised
  test is built for);
* the coverage of 95% intervals of a LOSO pipeline's pooled metric and of a paired difference against
  their known null values (0.5 for accuracy, UAR and AUC of balanced binary labels; 0 for a difference
  of like pipelines), for the subject-cluster BCa bootstrap and the influence-SE t interval;
* the power of both tests at 26 subjects for a difference in AUC of about 0.15 (the swap test's power
  size-adjusted with its own null p-value quantile from the unlike cell).

The simulator runs the runner's own code: ridge rows come from the exact linear path (the operator
of ``RidgeScores`` refit per fold, tested equal to refitting), the control's predictions from
``run.cross_predict`` (with the within-subject scheme every training fold keeps its class counts, so
its refit predictions are the same on every row; checked on the first dataset). ``--check-cli`` runs
a few datasets through ``mebench run`` / ``mebench stats`` / ``mebench compare`` and checks that their
p-values equal the simulator's.

Usage: python benchmarks/bench_calibration.py [--quick] [--jobs 2] [--out benchmarks/results/calibration.json]
then python benchmarks/bench_calibration.py --write-table (regenerates mebench/stats/calibration_table.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binom
from scipy.stats import t as student_t

METRICS = ["accuracy", "uar", "uf1", "auc"]
ALPHA = 0.05
CLIPS = 10          # clips per subject, half of each label (labels vary within subjects)
ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "calibration.json"
TABLE = ROOT.parent / "mebench" / "stats" / "calibration_table.py"


def simulate(seed: int, n_subjects: int, effects=(0.0, 0.0, 0.0)):
    """Features of three pipelines (16, 16, 40 dims) with a subject offset, and balanced binary labels."""
    rng = np.random.default_rng([seed, n_subjects, 17])
    subjects = np.repeat(np.arange(n_subjects), CLIPS)
    labels = np.tile(np.r_[np.zeros(CLIPS // 2), np.ones(CLIPS - CLIPS // 2)], n_subjects).astype(int)
    sets = []
    for d, effect in zip((16, 16, 40), effects):
        offset = rng.normal(size=(n_subjects, d))[subjects]
        X = offset + rng.normal(size=(len(labels), d))
        X[:, :4] += effect * (labels[:, None] - 0.5)
        sets.append(X)
    return sets, labels.astype(str), subjects.astype(str)


def pipeline_rows(X, labels, subjects, estimator, n_rows: int, seed: int):
    """PipelineRows of one pipeline and its observed predictions, through the runner's own code."""
    from mebench.run import cross_predict
    from mebench.stats.influence import influence_sums
    from mebench.stats.permutation import compute_rows, prepared_from_arrays, row_engine, row_store
    from mebench.stats.permutation.schemes import permuted_codes, subject_codes
    from mebench.stats.studentised import PipelineRows

    prepared = prepared_from_arrays(X, labels, subjects, estimator=estimator)
    sc = subject_codes(subjects)
    if estimator is None:  # ridge: the exact linear path gives the refit's predictions (tested equal)
        engine = row_engine(prepared, "exact")
        pred, scores = (a[0] for a in engine.predict(prepared.y[None]))
        store = row_store(prepared, "within-subject", seed, METRICS)
        compute_rows(prepared, engine, store, "within-subject", seed, n_rows)
        values, sums = store.arrays(n_rows, METRICS)
    else:  # the control: refits give the same predictions on every row (training class counts unchanged)
        cv = cross_predict(prepared, jobs=1)
        pred, scores = cv.pred, cv.scores
        Y = permuted_codes(prepared.y, subjects, "within-subject", seed, 0, n_rows)
        values, sums = influence_sums(METRICS, Y, pred[None], scores[None], sc, int(sc.max()) + 1, 2)
    obs = influence_sums(METRICS, prepared.y[None], pred[None], scores[None], sc, int(sc.max()) + 1, 2)
    rows = PipelineRows(METRICS, obs[0][0], obs[1][0], values, sums, "within-subject", seed)
    return rows, (pred, scores), prepared


def one_dataset(seed: int, n_subjects: int, n_rows: int, n_swaps: int, kind: str, effects) -> dict:
    """p-values of both tests for the pairs of one simulated dataset, and interval hits."""
    from threadpoolctl import threadpool_limits

    from mebench.classifiers.sklearn_family import StratifiedRandom
    from mebench.stats.paired import paired_randomisation
    from mebench.stats.studentised import studentised_test

    out = {}
    with threadpool_limits(1):
        sets, labels, subjects = simulate(seed, n_subjects, effects)
        a, pa, prep = pipeline_rows(sets[0], labels, subjects, None, n_rows, seed)
        y = prep.y
        pairs = {}
        if kind == "null":
            b, pb, _ = pipeline_rows(sets[1], labels, subjects, None, n_rows, seed)
            c, pc, _ = pipeline_rows(sets[2], labels, subjects, None, n_rows, seed)
            r, pr, _ = pipeline_rows(sets[0], labels, subjects, StratifiedRandom(random_state=seed), n_rows, seed)
            pairs = {"like": (a, b, pa, pb), "unlike": (a, c, pa, pc), "random": (a, r, pa, pr)}
        else:  # "equal": both informative with the same effect; "power": A stronger than B
            b, pb, _ = pipeline_rows(sets[1], labels, subjects, None, n_rows, seed)
            pairs = {kind: (a, b, pa, pb)}
        for name, (ra, rb, qa, qb) in pairs.items():
            swap = paired_randomisation(y, qa, qb, subjects, [0, 1], METRICS, n_swaps, seed)
            out[name] = {m: {"studentised": studentised_test(ra, rb, m, n_rows).p_value, "swap": swap[m].p_value,
                             "delta": float(ra.observed_values[i] - rb.observed_values[i])}
                         for i, m in enumerate(METRICS)}
        if kind in ("null", "equal"):  # coverage: null values (0.5, a like difference 0) or the population's
            truth = {m: 0.5 for m in METRICS} if kind == "null" else population(n_subjects, effects[0])
            out["coverage"] = coverage(y, subjects, a, b, pa, pb, truth, n_subjects, seed)
    return out


MEBENCH = [sys.executable, "-c", "from mebench.cli import main; main()"]
RUNNER_DATA = dict(subjects=12, clips_per_subject=10, frames=8, size=32, effect=0.0)
RUNNER_HOOF = dict(size=32, grid=4)


def runner_spec(seed: int, classifier: str, out=None):
    from mebench.run import RunSpec

    return RunSpec(dataset_opts={**RUNNER_DATA, "seed": seed}, features_opts=RUNNER_HOOF, classifier=classifier,
                   use_cache=False, out=None if out is None else str(out))


def runner_dataset(seed: int, n_rows: int) -> dict:
    """hoof+logreg vs hoof+ridge on a null synthetic dataset, prepared by the runner's own code."""
    from threadpoolctl import threadpool_limits

    from mebench.run import prepare
    from mebench.stats.permutation import compute_rows, observed_row, row_engine, row_store
    from mebench.stats.studentised import PipelineRows, studentised_test

    rows = {}
    with threadpool_limits(1):
        for clf in ("logreg", "ridge"):
            prepared = prepare(runner_spec(seed, clf))
            engine = row_engine(prepared)
            store = row_store(prepared, "within-subject", 0, METRICS)
            compute_rows(prepared, engine, store, "within-subject", 0, n_rows)
            obs_v, obs_s, _ = observed_row(prepared, engine, store)
            rows[clf] = PipelineRows(METRICS, obs_v, obs_s, *store.arrays(n_rows, METRICS), "within-subject", 0)
            rows[clf + "_method"] = engine.method
    return {"methods": [rows["logreg_method"], rows["ridge_method"]],
            **{m: studentised_test(rows["logreg"], rows["ridge"], m, n_rows).p_value for m in METRICS}}


def check_cli(seeds, n_rows: int, workdir: Path) -> list:
    """The same datasets through `mebench run`, `mebench stats` and `mebench compare --no-refit`: p-values must
    equal the simulator's (the runner's code path end to end)."""
    import subprocess

    out = []
    for seed in seeds:
        dirs = {}
        for clf in ("logreg", "ridge"):
            spec = runner_spec(seed, clf)
            dirs[clf] = workdir / f"{clf}-{seed}"
            opts = [f"--dataset-opt={k}={v}" for k, v in spec.dataset_opts.items()]
            opts += [f"--features-opt={k}={v}" for k, v in spec.features_opts.items()]
            subprocess.run([*MEBENCH, "run", "--classifier", clf, "--no-cache", *opts,
                            "--out", str(dirs[clf])], check=True, capture_output=True)
            subprocess.run([*MEBENCH, "stats", str(dirs[clf]), "--permutations", str(n_rows),
                            "--early-stop", "0", "--bootstrap", "10", "--json"], check=True, capture_output=True)
        res = subprocess.run([*MEBENCH, "compare", str(dirs["logreg"]), str(dirs["ridge"]),
                              "--no-refit", "--permutations", str(n_rows), "--early-stop", "0", "--bootstrap", "10",
                              "--swaps", "10", "--json"], check=True, capture_output=True, text=True)
        cli = {m: e["p_value"] for m, e in json.loads(res.stdout)["metrics"].items()}
        sim = runner_dataset(seed, n_rows)
        out.append({"seed": seed, "cli": cli, "simulator": {m: sim[m] for m in METRICS},
                    "equal": all(cli[m] == sim[m] for m in METRICS)})
    return out


def intervals(value, sums, row_values, row_sums, n_subjects: int) -> dict:
    """Influence t interval and the package's permutation-widened one (mebench.stats.studentised)."""
    from mebench.stats.studentised import widened_interval

    t_crit = student_t.ppf(0.975, n_subjects - 1)
    se = np.sqrt(n_subjects / (n_subjects - 1) * np.sum(sums ** 2))
    wide = widened_interval(value, sums, row_values, row_sums, 0.95)
    return {"t": [float(value - t_crit * se), float(value + t_crit * se)], "perm": [wide["low"], wide["high"]],
            "ratio": wide["ratio"]}


def coverage(y, subjects, a, b, pa, pb, truth: dict, n_subjects: int, seed: int) -> dict:
    """Intervals of A's metric and of A - B against their true values (``truth``; 0 for the difference)."""
    from mebench.stats.bootstrap import cluster_bootstrap, cluster_bootstrap_difference

    single = cluster_bootstrap(y, pa[0], pa[1], subjects, [0, 1], METRICS, 1000, seed, 0.95, "bca")
    diff = cluster_bootstrap_difference(y, pa, pb, subjects, [0, 1], METRICS, 1000, seed, 0.95, "bca")
    out = {}
    for i, m in enumerate(METRICS):
        one = intervals(a.observed_values[i], a.observed_sums[:, i], a.values[:, i], a.sums[:, :, i], n_subjects)
        two = intervals(a.observed_values[i] - b.observed_values[i], a.observed_sums[:, i] - b.observed_sums[:, i],
                        a.values[:, i] - b.values[:, i], a.sums[:, :, i] - b.sums[:, :, i], n_subjects)
        out[m] = {"value": float(a.observed_values[i]), "truth": truth[m],
                  "bca": [single[m].ci_low, single[m].ci_high], "t": one["t"], "perm": one["perm"],
                  "diff_bca": [diff[m].ci_low, diff[m].ci_high], "diff_t": two["t"], "diff_perm": two["perm"]}
    return out


_POPULATION: dict = {}


def population(n_subjects: int, effect: float, draws: int = 30, test_subjects: int = 200) -> dict:
    """The population value of pipeline A's metrics: ridge trained on n_subjects - 1 subjects of the generative
    model, scored on many new subjects, averaged over training draws (the estimand of a LOSO estimate)."""
    key = (n_subjects, effect)
    if key not in _POPULATION:
        from mebench.classifiers.sklearn_family import RidgeScores
        from mebench.metrics.batch import batch_metrics

        vals = []
        for draw in range(draws):
            sets, labels, subjects = simulate(10_000 + draw, n_subjects - 1 + test_subjects, (effect, 0, 0))
            X, y = sets[0], np.unique(labels, return_inverse=True)[1]
            train = subjects.astype(int) < n_subjects - 1
            model = RidgeScores().fit(X[train], y[train])
            scores = model.predict_proba(X[~train])
            pred = model.predict(X[~train])
            vals.append(batch_metrics(METRICS, [0, 1], y[~train][None], pred[None], scores[None])[0])
        _POPULATION[key] = dict(zip(METRICS, np.mean(vals, axis=0).tolist()))
    return _POPULATION[key]


CELLS_FULL = [(12, 300), (26, 300), (68, 150)]
CELLS_QUICK = [(12, 40), (26, 20)]


def run(cells, n_rows: int, n_swaps: int, jobs: int, power_datasets: int, equal_datasets: int) -> dict:
    from joblib import Parallel, delayed

    results = {"alpha": ALPHA, "n_rows": n_rows, "n_swaps": n_swaps, "clips_per_subject": CLIPS, "cells": {}}
    t0 = time.perf_counter()
    for n_subjects, n_datasets in cells:
        res = Parallel(n_jobs=jobs)(delayed(one_dataset)(s, n_subjects, n_rows, n_swaps, "null", (0, 0, 0))
                                    for s in range(n_datasets))
        results["cells"][str(n_subjects)] = {"datasets": n_datasets, "null": res}
        print(f"{n_subjects} subjects: {n_datasets} null datasets, {time.perf_counter() - t0:.0f} s", flush=True)
    n_eq = equal_datasets
    res = Parallel(n_jobs=jobs)(delayed(one_dataset)(1000 + s, 26, n_rows, n_swaps, "equal", (0.6, 0.6, 0))
                                for s in range(n_eq))
    results["equal"] = {"subjects": 26, "datasets": n_eq, "effects": [0.6, 0.6], "runs": res}
    res = Parallel(n_jobs=jobs)(delayed(one_dataset)(2000 + s, 26, n_rows, n_swaps, "power", (1.2, 0.45, 0))
                                for s in range(power_datasets))
    results["power"] = {"subjects": 26, "datasets": power_datasets, "effects": [1.2, 0.45], "runs": res}
    results["seconds"] = round(time.perf_counter() - t0, 1)
    return results


def band(n: int, alpha: float = ALPHA) -> tuple[float, float]:
    """The central 95% binomial band of a rejection rate over n datasets at rate alpha (0.0767 at 300 datasets:
    the issue's "<= .075 at 300")."""
    return binom.ppf(0.025, n, alpha) / n, binom.ppf(0.975, n, alpha) / n


def _coverage_summary(target: dict, runs: list, cell: str) -> None:
    """Share of intervals that contain the true value, per method, target and metric, into ``target``."""
    for m in METRICS:
        for key in ("bca", "t", "perm", "diff_bca", "diff_t", "diff_perm"):
            truth_of = (lambda r: 0.0) if key.startswith("diff") else (
                (lambda r: r["coverage"][m]["truth"]) if m != "uf1" or cell == "equal" else
                (lambda r, mean=float(np.mean([x["coverage"][m]["value"] for x in runs])): mean))
            hits = [lo <= truth_of(r) <= hi for r in runs for lo, hi in [r["coverage"][m].get(key, (None, None))]
                    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)]
            method, what = (key[5:], "difference") if key.startswith("diff") else (key, "single")
            target.setdefault(method, {}).setdefault(what, {}).setdefault(m, {})[cell] = \
                float(np.mean(hits)) if hits else None


def summarise(results: dict) -> dict:
    """FPR per test, pair, metric and size; coverage per method; power."""
    summary = {"fpr": {}, "coverage": {}, "band": {}, "equal": {}, "power": {},
               "meta": {"cells": {size: cell["datasets"] for size, cell in results["cells"].items()},
                        "n_rows": results["n_rows"], "n_swaps": results["n_swaps"], "clips_per_subject": CLIPS,
                        "equal_datasets": results["equal"]["datasets"], "power_datasets": results["power"]["datasets"],
                        "seconds": results.get("seconds")}}
    for size, cell in results["cells"].items():
        runs = cell["null"]
        summary["band"][size] = band(len(runs))
        for pair in ("like", "unlike", "random"):
            for test in ("studentised", "swap"):
                for m in METRICS:
                    ps = np.array([r[pair][m][test] for r in runs if r[pair][m][test] is not None])
                    summary["fpr"].setdefault(test, {}).setdefault(m, {}).setdefault(pair, {})[size] = \
                        float(np.mean(ps <= ALPHA)) if len(ps) else None
        _coverage_summary(summary["coverage"], runs, size)
    for test in ("studentised", "swap"):
        for m in METRICS:
            ps = np.array([r["equal"][m][test] for r in results["equal"]["runs"]])
            summary["equal"].setdefault(test, {})[m] = float(np.mean(ps <= ALPHA))
    _coverage_summary(summary["coverage"], results["equal"]["runs"], "equal")
    summary["meta"]["equal_population"] = results["equal"]["runs"][0]["coverage"]["accuracy"]["truth"]
    deltas = [r["power"]["auc"]["delta"] for r in results["power"]["runs"]]
    summary["power"]["auc_delta_mean"] = float(np.mean(deltas))
    stud = np.array([r["power"]["auc"]["studentised"] for r in results["power"]["runs"]])
    summary["power"]["studentised"] = float(np.mean(stud <= ALPHA))
    null_swap = np.array([r["unlike"]["auc"]["swap"] for r in results["cells"]["26"]["null"]]) \
        if "26" in results["cells"] else None
    swap = np.array([r["power"]["auc"]["swap"] for r in results["power"]["runs"]])
    summary["power"]["swap_raw"] = float(np.mean(swap <= ALPHA))
    if null_swap is not None:
        cut = float(np.quantile(null_swap, ALPHA))  # the swap's p-value threshold with a 5% null rejection rate
        summary["power"]["swap_size_adjusted"] = float(np.mean(swap < cut))
        summary["power"]["swap_threshold"] = cut
    return summary


def markdown(summary: dict) -> str:
    meta = summary["meta"]
    sizes = list(meta["cells"])
    per_cell = ", ".join(f"{s} subjects: {n}" for s, n in meta["cells"].items())
    lines = [f"Null datasets per cell: {per_cell}; "
             f"{meta['n_rows']} permutation rows per refit test, {meta['n_swaps']} swap patterns; "
             f"{CLIPS} clips per subject; alpha = {ALPHA}. 95% binomial band: "
             + ", ".join(f"{s}: {lo:.3f}-{hi:.3f}" for s, (lo, hi) in summary["band"].items()) + ".", "",
             "| test | pair | " + " | ".join(f"{m} ({s})" for m in METRICS for s in sizes) + " |",
             "|---|---|" + "---|" * (len(METRICS) * len(sizes))]
    for test in ("studentised", "swap"):
        for pair in ("like", "unlike", "random"):
            cells = [summary["fpr"][test][m][pair][s] for m in METRICS for s in sizes]
            lines.append(f"| {test} | {pair} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in cells) + " |")
    lines += ["", f"Both informative, equally good (26 subjects, {meta['equal_datasets']} datasets): "
              + "; ".join(f"{t}: " + ", ".join(f"{m} {summary['equal'][t][m]:.3f}" for m in METRICS)
                          for t in ("studentised", "swap")), "",
              "| interval | target | " + " | ".join(f"{m} ({s})" for m in METRICS for s in sizes + ["26 informative"])
              + " |", "|---|---|" + "---|" * (len(METRICS) * (len(sizes) + 1))]
    for method in ("bca", "t", "perm"):
        for what in ("single", "difference"):
            cells = [summary["coverage"][method][what][m].get(s) for m in METRICS for s in sizes + ["equal"]]
            lines.append(f"| {method} | {what} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in cells) + " |")
    p = summary["power"]
    lines += ["", f"Power at 26 subjects ({meta['power_datasets']} datasets, mean ΔAUC {p['auc_delta_mean']:.3f}): "
              f"studentised {p['studentised']:.3f}; swap {p['swap_raw']:.3f} unadjusted"
              + (f", {p['swap_size_adjusted']:.3f} size-adjusted (p < {p['swap_threshold']:.4f})"
                 if "swap_size_adjusted" in p else "") + "."]
    return "\n".join(lines)


def table_from(summary: dict) -> dict:
    """The calibration table of the package, from the recorded summary."""
    meta, bands = summary["meta"], summary["band"]
    table = {"tests": {}, "coverage": summary["coverage"], "equal": summary["equal"], "power": summary["power"],
             "setting": (f"null synthetic LOSO data, {meta['clips_per_subject']} clips per subject, balanced binary "
                         "labels varying within subjects; like, unlike and control pairs at "
                         + ", ".join(f"{s} subjects ({n} datasets)" for s, n in meta["cells"].items())
                         + f"; {meta['n_rows']} permutation rows; benchmarks/bench_calibration.py")}
    for test, by_metric in summary["fpr"].items():
        for m, by_pair in by_metric.items():
            rates = [v for pair in by_pair.values() for v in pair.values() if v is not None]
            in_band = all(v <= bands[s][1] for pair in by_pair.values() for s, v in pair.items() if v is not None)
            table["tests"].setdefault(test, {})[m] = {"in_band": bool(in_band), "min": min(rates), "max": max(rates),
                                                      "cells": by_pair}
    return table


def write_table(summary: dict) -> None:
    """Generate mebench/stats/calibration_table.py from the recorded summary."""
    text = json.dumps(table_from(summary), indent=1, sort_keys=True)
    TABLE.write_text('"""Measured calibration of the paired tests and intervals (generated; do not edit).\n\n'
                     "Written by ``python benchmarks/bench_calibration.py --write-table`` from\n"
                     '``benchmarks/results/calibration-summary.json``; see benchmarks/RESULTS.md.\n"""\n\n'
                     f"MEASURED = {text}\n".replace(": true", ": True").replace(": false", ": False")
                     .replace(": null", ": None"))


SUMMARY = ROOT / "results" / "calibration-summary.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small version (minutes)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rows", type=int, default=199)
    ap.add_argument("--swaps", type=int, default=499)
    ap.add_argument("--out", type=Path, default=Path("/tmp/mebench-calibration.json"),
                    help="raw per-dataset results (large; not committed)")
    ap.add_argument("--summary", type=Path, default=SUMMARY, help="the recorded summary (committed)")
    ap.add_argument("--write-table", action="store_true", help="regenerate the package's table from --summary")
    ap.add_argument("--from-raw", action="store_true", help="summarise --out again instead of running")
    ap.add_argument("--power", type=float, nargs=2, metavar=("EFFECT_A", "EFFECT_B"),
                    help="only (re)measure the power cell at these effects, into --summary")
    ap.add_argument("--runner", type=int, default=0, metavar="N",
                    help="add the real-runner cell: hoof+logreg vs hoof+ridge on N null synthetic datasets")
    ap.add_argument("--check-cli", type=int, default=0, metavar="K",
                    help="run K of those datasets through the CLI and check their p-values equal the simulator's")
    args = ap.parse_args()
    if args.power:
        from joblib import Parallel, delayed

        summary = json.loads(args.summary.read_text())
        res = Parallel(n_jobs=args.jobs)(delayed(one_dataset)(2000 + s, 26, args.rows, args.swaps, "power",
                                                              (*args.power, 0)) for s in range(150))
        cut = summary["power"].get("swap_threshold")
        stud = np.array([r["power"]["auc"]["studentised"] for r in res])
        swap = np.array([r["power"]["auc"]["swap"] for r in res])
        summary["power"] = {"effects": list(args.power), "datasets": len(res),
                            "auc_delta_mean": float(np.mean([r["power"]["auc"]["delta"] for r in res])),
                            "studentised": float(np.mean(stud <= ALPHA)), "swap_raw": float(np.mean(swap <= ALPHA)),
                            "swap_threshold": cut, "swap_size_adjusted": float(np.mean(swap < cut)) if cut else None}
        summary["meta"]["power_datasets"] = len(res)
        args.summary.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        print("power:", summary["power"])
        return
    if args.runner or args.check_cli:
        from joblib import Parallel, delayed

        summary = json.loads(args.summary.read_text())
        t0 = time.perf_counter()
        if args.runner:
            res = Parallel(n_jobs=args.jobs)(delayed(runner_dataset)(s, args.rows) for s in range(args.runner))
            summary["runner"] = {"datasets": args.runner, "subjects": RUNNER_DATA["subjects"], "n_rows": args.rows,
                                 "methods": res[0]["methods"], "band": band(args.runner),
                                 "fpr": {m: float(np.mean([r[m] <= ALPHA for r in res])) for m in METRICS},
                                 "seconds": round(time.perf_counter() - t0, 1)}
            print("runner cell:", summary["runner"])
        if args.check_cli:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                summary["cli_check"] = check_cli(range(args.check_cli), args.rows, Path(tmp))
            print("CLI check:", summary["cli_check"])
        args.summary.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        return
    if args.write_table:
        write_table(json.loads(args.summary.read_text()))
        print(f"wrote {TABLE}")
        return
    if args.from_raw:
        results = json.loads(args.out.read_text())
    else:
        cells = CELLS_QUICK if args.quick else CELLS_FULL
        results = run(cells, args.rows, args.swaps, args.jobs, 20 if args.quick else 150, 20 if args.quick else 150)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results))
    summary = summarise(results)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    print(markdown(summary))
    print(f"{results['seconds']} s; jobs {args.jobs}, BLAS 1 thread per worker")


if __name__ == "__main__":
    main()
