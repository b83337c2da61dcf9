"""Evaluation speed: the runner's metrics on the vectorised path, and linear-SVM scores without Platt.

Usage: python benchmarks/bench_metrics.py [--repeats 5] [--rounds 3] [--json]

1. ``run.compute_metrics`` (pooled, per-fold, per-subject, per-dataset, majority control,
   prior-shift diagnostic) against the scalar reference that the runner used before: every block
   scored by the metric functions of ``mebench.metrics`` (scikit-learn's checked scorers) and the
   majority control refit fold by fold. Both on the default run (synthetic deception, 12 subjects x
   10 clips, hoof + logreg, LOSO) and on a 10x set (120 subjects x 10 clips, Gaussian features,
   ridge). Alternating rounds, median of ``--repeats``; the values of both paths are compared.
2. ``svm-linear`` held-out scores on a CASME II-sized set (255 samples, 26 subjects of uneven size,
   4425 Gaussian features with a weak class signal, 5 classes, LOSO): decision-function ranking
   scores (the default, no inner CV) against Platt probabilities (``probability=True``, an inner
   3-fold CV per fit) and against the previous svm-linear (libsvm's own linear kernel, Platt),
   alternating over ``--rounds`` rounds in one process.

BLAS is pinned to one thread (threadpoolctl), as in the runner.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

NAMES = ["accuracy", "uar", "uf1", "auc"]


def scalar_reference(prepared, scores, pred, names) -> dict:
    """The diagnostics as the runner computed them before: one scalar metric call per block."""
    from mebench.classifiers.sklearn_family import Majority
    from mebench.metrics import confusion, per_class
    from mebench.registry import METRICS
    from mebench.run import cross_predict

    fns = {m: METRICS.get(m) for m in names}
    classes = list(prepared.classes)
    C = np.asarray(classes)
    yt, yp, ev = C[prepared.y], C[np.maximum(pred, 0)], prepared.evaluated

    def block(mask, p=yp, s=scores):
        mask = mask & ev
        return {m: fn(yt[mask], p[mask], s[mask], classes) for m, fn in fns.items()}

    out = {"pooled": block(np.ones(len(yt), bool)), "confusion_matrix": confusion(yt[ev], yp[ev], classes),
           "per_class": per_class(yt[ev], yp[ev], classes)}
    out["per_fold"] = []
    for fold in prepared.split.folds:
        mask = np.zeros(len(yt), bool)
        mask[fold.test] = True
        out["per_fold"].append(block(mask))
    subjects = prepared.samples["subject_id"].to_numpy()
    out["per_subject"] = [block(subjects == s) for s in sorted(set(subjects[ev]))]
    cv = cross_predict(prepared, estimator=Majority())
    ms, mp = cv.scores, cv.pred
    out["majority"] = block(np.ones(len(yt), bool), C[np.maximum(mp, 0)], ms)
    priors, majority = np.zeros_like(scores), np.zeros(len(yt), int)
    for fold in prepared.split.folds:
        counts = np.bincount(prepared.y[fold.train], minlength=len(classes))
        priors[fold.test], majority[fold.test] = counts / counts.sum(), np.argmax(counts)
    out["prior_shift"] = block(np.ones(len(yt), bool), C[majority], priors)
    return out


def _max_difference(new: dict, ref: dict) -> float:
    pairs = [(new["pooled"], ref["pooled"]), (new["baselines"]["majority"], ref["majority"]),
             (new["prior_shift"]["pooled"], ref["prior_shift"])]
    pairs += list(zip(new["per_fold"], ref["per_fold"])) + list(zip(new["per_subject"], ref["per_subject"]))
    diffs = [abs(a[m] - b[m]) for a, b in pairs for m in NAMES if np.isfinite(a[m]) or np.isfinite(b[m])]
    return float(max(diffs))


def metrics_case(prepared, repeats: int) -> dict:
    from mebench.run import compute_metrics, cross_predict

    cv = cross_predict(prepared)

    scores, pred = cv.scores, cv.pred
    new = compute_metrics(prepared, scores, pred, NAMES)
    ref = scalar_reference(prepared, scores, pred, NAMES)
    t_new, t_ref = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        compute_metrics(prepared, scores, pred, NAMES)
        t_new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scalar_reference(prepared, scores, pred, NAMES)
        t_ref.append(time.perf_counter() - t0)
    return {"n": int(len(prepared.y)), "folds": len(prepared.split.folds),
            "vectorised_s": statistics.median(t_new), "scalar_s": statistics.median(t_ref),
            "ratio": statistics.median(t_ref) / statistics.median(t_new),
            "max_abs_difference": _max_difference(new, ref)}


def default_prepared():
    from mebench.run import RunSpec, prepare

    return prepare(RunSpec())


def tenfold_prepared():
    from mebench.classifiers.sklearn_family import RidgeScores
    from mebench.run import prepare_arrays

    rng = np.random.default_rng(0)
    subjects = np.repeat([f"s{i:03d}" for i in range(120)], 10)
    labels = np.concatenate([rng.permutation(["deceptive"] * 5 + ["truthful"] * 5) for _ in range(120)])
    X = rng.normal(size=(1200, 288)) + 0.3 * (labels == "truthful")[:, None]
    return prepare_arrays(X, labels, subjects, RidgeScores())


def casme_sized(seed: int = 0, d: int = 4425):
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(255 - 26 * 3, np.full(26, 1 / 26)) + 3
    subjects = np.repeat([f"casme2/sub{i + 1:02d}" for i in range(26)], sizes)
    classes = np.array(["disgust", "happiness", "others", "repression", "surprise"])
    y = rng.choice(5, size=255, p=[0.25, 0.13, 0.39, 0.11, 0.12])
    X = rng.normal(size=(255, d)) + 0.04 * np.eye(5)[y] @ rng.normal(size=(5, d))
    return X, classes[y], subjects


def previous_svm_linear(random_state: int = 0):
    """svm-linear as it was before: libsvm's own linear kernel, Platt probabilities from a 3-fold inner CV."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    cv = StratifiedKFold(3, shuffle=True, random_state=random_state)
    svc = SVC(kernel="linear", C=0.01, class_weight="balanced", random_state=random_state)
    return Pipeline([("scale", StandardScaler()),
                     ("model", CalibratedClassifierCV(svc, method="sigmoid", cv=cv, ensemble=False))])


def svm_case(rounds: int) -> dict:
    from mebench.classifiers.sklearn_family import LinearSVM
    from mebench.metrics import auc
    from mebench.run import cross_predict, prepare_arrays

    X, labels, subjects = casme_sized()
    out = {}
    for name, est in (("decision", LinearSVM()), ("platt", LinearSVM(probability=True)),
                      ("previous", previous_svm_linear())):
        out[name] = {"prepared": prepare_arrays(X, labels, subjects, est), "times": []}
    for _ in range(rounds):
        for name, case in out.items():
            t0 = time.perf_counter()
            cv = cross_predict(case["prepared"])
            scores, pred = cv.scores, cv.pred
            case["times"].append(time.perf_counter() - t0)
            case["auc"] = auc(labels, None, scores, sorted(set(labels)))
            case["accuracy"] = float(np.mean(np.asarray(sorted(set(labels)))[pred] == labels))
    res = {name: {"seconds": statistics.median(c["times"]), "auc": c["auc"], "accuracy": c["accuracy"]}
           for name, c in out.items()}
    res["ratio_platt_vs_decision"] = res["platt"]["seconds"] / res["decision"]["seconds"]
    res["ratio_previous_vs_decision"] = res["previous"]["seconds"] / res["decision"]["seconds"]
    return res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    from threadpoolctl import threadpool_limits

    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
           "load_average_start": os.getloadavg()[0]}
    with threadpool_limits(1):
        res["default"] = metrics_case(default_prepared(), opts.repeats)
        res["tenfold"] = metrics_case(tenfold_prepared(), opts.repeats)
        res["svm_linear"] = svm_case(opts.rounds)
    res["load_average_end"] = os.getloadavg()[0]
    if opts.json:
        print(json.dumps(res, indent=2))
        return
    print("| compute_metrics | n | folds | scalar reference (s) | vectorised (s) | ratio | max abs difference |")
    print("|---|---|---|---|---|---|---|")
    for key, label in (("default", "default run (hoof + logreg)"), ("tenfold", "10x set (ridge)")):
        r = res[key]
        print(f"| {label} | {r['n']} | {r['folds']} | {r['scalar_s']:.4g} | {r['vectorised_s']:.4g} | "
              f"{r['ratio']:.1f}x | {r['max_abs_difference']:.1e} |")
    s = res["svm_linear"]
    print("\n| svm-linear, CASME II-sized, LOSO (26 folds) | seconds | pooled AUC | accuracy |\n|---|---|---|---|")
    print(f"| decision-function ranking scores (default) | {s['decision']['seconds']:.3g} | {s['decision']['auc']:.3f} | "
          f"{s['decision']['accuracy']:.3f} |")
    print(f"| Platt probabilities (probability=True) | {s['platt']['seconds']:.3g} | {s['platt']['auc']:.3f} | "
          f"{s['platt']['accuracy']:.3f} |")
    print(f"| previous svm-linear (libsvm linear kernel, Platt 3-fold inner CV) | {s['previous']['seconds']:.3g} | "
          f"{s['previous']['auc']:.3f} | {s['previous']['accuracy']:.3f} |")
    print(f"\nratio Platt / decision: {s['ratio_platt_vs_decision']:.2f}x; previous / decision: "
          f"{s['ratio_previous_vs_decision']:.2f}x; load average "
          f"{res['load_average_start']:.2f} -> {res['load_average_end']:.2f}")


if __name__ == "__main__":
    main()
