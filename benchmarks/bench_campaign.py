"""Per-task times of a benchmark campaign, and its projected wall time on 1, 8 and 64 workers.

Usage: python benchmarks/bench_campaign.py [--samples 20] [--folds 3] [--seeds 5] [--json OUT]

The campaign: the MEGC 2019 composite (442 clips of 68 subjects, LOSO: 68 folds) x 10 pipelines x 5
seeds. Its tasks, as the runner and a Ray cluster see them (docs/CAMPAIGNS.md):

* feature extraction: one task per chunk of samples per extractor, done once per campaign (the
  feature cache on shared storage serves every pipeline, fold and seed that uses the extractor);
* folds: pipelines x seeds x 68 fit-and-predict tasks, each on its training subjects only.

Measured here on a MEGC-sized synthetic set (442 clips of 68 subjects, 3-class emotion task, 64x64
frames, BLAS pinned to 1 thread): extraction time per sample (on ``--samples`` samples) and fit time
per fold (on ``--folds`` LOSO folds; for the nets, per epoch at their published budget). The
projection schedules the tasks longest-first on W identical workers (LPT), extraction before folds,
and reports it with the lower bound max(total work / W, longest task).
"""
from __future__ import annotations

import argparse
import heapq
import json
import statistics
import time

import numpy as np

PIPELINES = [  # (name, extractor, extractor options, classifier, classifier options, epochs at full budget)
    ("hoof+logreg", "hoof", {}, "logreg", {}, None),
    ("hoof+svm-linear", "hoof", {}, "svm-linear", {}, None),
    ("lbptop+svm-linear", "lbptop", {}, "svm-linear", {}, None),
    ("lbptop+logreg", "lbptop", {}, "logreg", {}, None),
    ("mdmo+svm-linear", "mdmo", {}, "svm-linear", {}, None),
    ("biwoof+svm-linear", "biwoof", {"align": None}, "svm-linear", {}, None),
    ("lbptop+rf", "lbptop", {}, "rf", {}, None),
    ("flow-image+mlp", "flow-image", {"align": None, "flatten": True}, "mlp", {}, 100),
    ("flow-image+ststnet", "flow-image", {"align": None}, "ststnet", {}, 500),
    ("flow-image+off-apexnet", "flow-image", {"align": None}, "off-apexnet", {}, 100),
]
N_SAMPLES, N_SUBJECTS, N_FOLDS = 442, 68, 68


def megc_sized():
    from mebench.data.synthetic import SyntheticDataset

    samples = SyntheticDataset(subjects=N_SUBJECTS, clips_per_subject=7, frames=24, size=64, seed=0).load("emotion")
    keep = np.sort(np.random.default_rng(0).choice(len(samples), N_SAMPLES, replace=False))
    return samples.iloc[keep].reset_index(drop=True)


def extraction_seconds(samples, name, opts, n: int) -> float:
    from threadpoolctl import threadpool_limits

    from mebench.data.schema import label_free
    from mebench.registry import EXTRACTORS

    params = dict(opts)
    factory = EXTRACTORS.get(name)
    if "n_jobs" in factory().get_params():
        params["n_jobs"] = 1
    ext = EXTRACTORS.create(name, **params)
    view = label_free(samples, ("label", "emotion", "deception"))
    with threadpool_limits(1):
        ext.fit(view.iloc[:0]).transform(view.iloc[:2])  # warm up (imports, models)
        t = time.perf_counter()
        X = ext.transform(view.iloc[:n])
    return (time.perf_counter() - t) / n, X


def fold_seconds(samples, name, opts, clf, clf_opts, epochs, n_folds: int) -> float:
    from threadpoolctl import threadpool_limits

    from mebench.data.schema import label_free
    from mebench.registry import CLASSIFIERS, EXTRACTORS, PROTOCOLS
    from mebench.run import fit_predict_fold

    params = dict(opts)
    if "n_jobs" in EXTRACTORS.get(name)().get_params():
        params["n_jobs"] = 1
    X = np.asarray(EXTRACTORS.create(name, **params).fit(samples.iloc[:0]).transform(
        label_free(samples, ("label", "emotion", "deception"))))
    classes = sorted(samples["label"].unique())
    y = np.searchsorted(classes, samples["label"].to_numpy())
    folds = PROTOCOLS.create("loso").split(samples)[:n_folds]
    measured_epochs = 3 if epochs else None
    est_opts = dict(clf_opts)
    if epochs:
        est_opts.update(epochs=measured_epochs, selection="fixed")
    est = CLASSIFIERS.create(clf, **est_opts)
    groups = samples["subject_id"].to_numpy()
    times = []
    with threadpool_limits(1):
        for fold in folds:
            t = time.perf_counter()
            fit_predict_fold(est, X, y, fold.train, fold.test, len(classes), groups=groups)
            times.append(time.perf_counter() - t)
    per_fold = statistics.median(times)
    return per_fold * (epochs / measured_epochs) if epochs else per_fold


def lpt(tasks: list[float], workers: int) -> float:
    """Makespan of tasks scheduled longest-first on identical workers."""
    loads = [0.0] * workers
    heapq.heapify(loads)
    for t in sorted(tasks, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + t)
    return max(loads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=32, help="samples per extraction task")
    parser.add_argument("--json")
    opts = parser.parse_args()
    samples = megc_sized()
    per_sample, per_fold = {}, {}
    for _, ext, ext_opts, _, _, _ in PIPELINES:
        key = (ext, json.dumps(ext_opts, sort_keys=True))
        if key not in per_sample:
            per_sample[key] = extraction_seconds(samples, ext, ext_opts, opts.samples)[0]
    for name, ext, ext_opts, clf, clf_opts, epochs in PIPELINES:
        per_fold[name] = fold_seconds(samples, ext, ext_opts, clf, clf_opts, epochs, opts.folds)

    extraction_tasks = []
    for seconds in per_sample.values():
        n_chunks = -(-N_SAMPLES // opts.chunk)
        extraction_tasks += [seconds * opts.chunk] * n_chunks
    fold_tasks = [per_fold[name] for name, *_ in PIPELINES for _ in range(opts.seeds) for _ in range(N_FOLDS)]
    total = sum(extraction_tasks) + sum(fold_tasks)
    print(f"MEGC-sized set: {N_SAMPLES} clips, {N_SUBJECTS} subjects, LOSO {N_FOLDS} folds; "
          f"{len(PIPELINES)} pipelines x {opts.seeds} seeds; BLAS 1 thread per task\n")
    print("| task | measured | tasks | work (s) |\n|---|---|---|---|")
    for (ext, o), s in per_sample.items():
        print(f"| extract `{ext}` {o if o != '{}' else ''} | {s * 1000:.1f} ms/sample | {-(-N_SAMPLES // opts.chunk)} "
              f"| {s * N_SAMPLES:.1f} |")
    for name, *_ in PIPELINES:
        print(f"| fold of `{name}` | {per_fold[name]:.3f} s/fold | {opts.seeds * N_FOLDS} | "
              f"{per_fold[name] * opts.seeds * N_FOLDS:.1f} |")
    print(f"\ntotal work: {total / 3600:.2f} CPU-hours\n")
    print("| workers | projected wall (LPT) | lower bound |\n|---|---|---|")
    out = {"per_sample_s": {f"{k[0]} {k[1]}": v for k, v in per_sample.items()}, "per_fold_s": per_fold,
           "total_work_s": total, "projection": {}}
    for w in (1, 8, 64):
        wall = lpt(extraction_tasks, w) + lpt(fold_tasks, w)
        bound = max(total / w, max(fold_tasks))
        out["projection"][w] = {"wall_s": wall, "lower_bound_s": bound}
        print(f"| {w} | {wall / 3600:.2f} h ({wall / 60:.1f} min) | {bound / 60:.1f} min |")
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
