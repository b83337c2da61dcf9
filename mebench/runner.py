"""Execute a run spec: dataset -> protocol -> features -> classifier per fold -> predictions -> store."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import __version__
from .errors import ConfigError, DataError, MebenchError
from .registry import CLASSIFIERS, DATASETS, EXTRACTORS, METRICS, PROTOCOLS, accepted_params, load_plugin_file

DEFAULT_METRICS = ("accuracy", "uar", "uf1", "auc")
KEY_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "statsmodels", "torch", "torchvision",
                "opencv-contrib-python", "mediapipe", "joblib", "threadpoolctl")


@dataclass
class RunSpec:
    """Everything that defines a run; CLI flags and YAML configs resolve to one of these."""

    dataset: str = "synthetic"
    root: str | None = None
    dataset_opts: dict = field(default_factory=dict)
    task: str | None = None
    features: str = "hoof"
    features_opts: dict = field(default_factory=dict)
    classifier: str = "logreg"
    classifier_opts: dict = field(default_factory=dict)
    protocol: str = "loso"
    protocol_opts: dict = field(default_factory=dict)
    metrics: tuple = DEFAULT_METRICS
    seed: int = 0
    jobs: int = 1
    out: str | None = None
    plugins: tuple = ()
    use_cache: bool = True
    on_error: str = "raise"

    def config(self) -> dict:
        """The resolved configuration recorded in the manifest (no output or execution knobs)."""
        cfg = asdict(self)
        for key in ("out", "jobs", "plugins", "use_cache"):
            cfg.pop(key)
        cfg["metrics"] = list(self.metrics)
        return cfg

    @property
    def pipeline(self) -> str:
        return f"{self.features}+{self.classifier}"


@dataclass
class Prepared:
    """A run ready to be cross-predicted (also used by permutation tests)."""

    spec: RunSpec
    dataset: Any
    samples: pd.DataFrame
    classes: list
    y: np.ndarray               # integer codes into ``classes``
    split: Any                  # protocols.SplitReport
    X: Any                      # feature matrix (stateless extractor) or the samples table
    estimator: Any              # classifier, or Pipeline(extractor, classifier) if stateful
    seeds: dict
    extraction: dict
    extractor: Any = None       # the extractor as configured (unfitted)
    protocol: Any = None        # the protocol object that made ``split``

    @property
    def evaluated(self) -> np.ndarray:
        """Mask of samples held out in some fold (others only train)."""
        mask = np.zeros(len(self.samples), bool)
        for fold in self.split.folds:
            mask[fold.test] = True
        return mask


@dataclass
class RunResult:
    run_dir: Path
    run_id: str
    metrics: dict
    manifest: dict
    predictions: pd.DataFrame


def _with_seed(factory, opts: dict, seed: int, key: str = "random_state") -> tuple[dict, int | None]:
    names, _ = accepted_params(factory)
    opts = dict(opts)
    if key in names:
        opts.setdefault(key, seed)
        return opts, opts[key]
    return opts, None


def build_dataset(spec: RunSpec):
    factory = DATASETS.get(spec.dataset)
    opts, dataset_seed = _with_seed(factory, spec.dataset_opts, spec.seed, key="seed")
    dataset = DATASETS.create(spec.dataset, root=spec.root, **opts)
    return dataset, dataset_seed


def build_classifier(spec: RunSpec):
    factory = CLASSIFIERS.get(spec.classifier)
    opts, seed = _with_seed(factory, spec.classifier_opts, spec.seed)
    return CLASSIFIERS.create(spec.classifier, **opts), seed


def build_extractor(spec: RunSpec):
    factory = EXTRACTORS.get(spec.features)
    opts, seed = _with_seed(factory, spec.features_opts, spec.seed)
    return EXTRACTORS.create(spec.features, **opts), seed


def build_protocol(spec: RunSpec):
    factory = PROTOCOLS.get(spec.protocol)
    opts, seed = _with_seed(factory, spec.protocol_opts, spec.seed)
    return PROTOCOLS.create(spec.protocol, **opts), seed


def _extract_rows(extractor, samples: pd.DataFrame, positions: list[int], threads_inside: bool = True):
    """Transform rows as one batch (so extractors can vectorise or thread); if any row fails,
    redo the batch row by row. Returns (features by position, errors by position, counts)."""
    from threadpoolctl import threadpool_limits

    def counted(rows):
        extractor.counts_ = {}
        out = np.asarray(extractor.transform(samples.iloc[rows]), dtype=np.float64)
        return out, dict(getattr(extractor, "counts_", None) or {})

    features, errors, counts = {}, {}, {}
    with threadpool_limits(1):
        if not threads_inside and "n_jobs" in extractor.get_params(deep=False):
            extractor.set_params(n_jobs=1)
        try:
            batch, batch_counts = counted(positions)
            return dict(zip(positions, batch)), {}, batch_counts
        except DataError:
            pass
        for pos in positions:
            try:
                row, row_counts = counted([pos])
                features[pos] = row[0]
            except DataError as exc:  # a policy-driven skip (e.g. no face, on_no_face="skip") carries .skip
                errors[pos] = (str(exc), bool(getattr(exc, "skip", False)))
                row_counts = dict(getattr(extractor, "counts_", None) or {})
            for k, v in row_counts.items():
                counts[k] = counts.get(k, 0) + int(v)
    return features, errors, counts


def extract_features(extractor, samples: pd.DataFrame, *, use_cache: bool, jobs: int,
                     on_error: str) -> tuple[np.ndarray, list[dict], dict]:
    """Stateless features for every sample, through the on-disk cache; returns (X, skipped, stats)."""
    from joblib import Parallel, delayed

    from .cache import FeatureCache, sample_key

    extractor.fit(samples.iloc[:0] if len(samples) else samples)
    cache = FeatureCache(enabled=use_cache)
    token = extractor.cache_token()
    keys = [sample_key(r) for r in samples.to_dict("records")]
    features: dict[int, np.ndarray] = {}
    for pos, key in enumerate(keys):
        cached = cache.get(token, key)
        if cached is not None:
            features[pos] = cached
    todo = [p for p in range(len(samples)) if p not in features]
    errors, counts = {}, {}
    t0 = time.perf_counter()
    if todo:
        chunk = 32 if jobs <= 1 else max(1, min(32, -(-len(todo) // (jobs * 4))))
        chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
        if jobs > 1:  # processes over chunks; extractors' own threads off to avoid oversubscription
            from sklearn.base import clone

            results = Parallel(n_jobs=jobs, backend="loky")(
                delayed(_extract_rows)(clone(extractor).fit(samples.iloc[:0]), samples, c, False) for c in chunks)
        else:
            results = [_extract_rows(extractor, samples, c) for c in chunks]
        for feats, errs, cnts in results:
            for pos, value in feats.items():
                features[pos] = value
                cache.put(token, keys[pos], value)
            errors.update(errs)
            for k, v in cnts.items():
                counts[k] = counts.get(k, 0) + v
    fatal = [p for p, (_, policy_skip) in errors.items() if not policy_skip]
    if fatal and on_error != "skip":
        pos = min(fatal)
        sample_id, message = str(samples.iloc[pos]["sample_id"]), errors[pos][0]
        if sample_id not in message:
            message = f"sample {sample_id}: {message}"
        hint = None if "--on-error" in message else "Fix the input, or pass --on-error skip to record and skip bad samples."
        raise DataError(message, hint=hint)
    skipped = [{"sample_id": str(samples.iloc[p]["sample_id"]), "reason": errors[p][0], "stage": "features",
                "policy": "extractor policy" if errors[p][1] else "--on-error skip"} for p in sorted(errors)]
    kept = [p for p in range(len(samples)) if p in features]
    widths = {features[p].shape for p in kept}
    if len(widths) > 1:
        raise MebenchError(f"extractor {type(extractor).__name__} returned features of different shapes {sorted(widths)}.")
    X = np.vstack([features[p] for p in kept]) if kept else np.zeros((0, 0))
    stats = {"cache_token": token, "cache_hits": cache.hits, "cache_misses": cache.misses, "cache_enabled": use_cache,
             "seconds": round(time.perf_counter() - t0, 3), "counts": counts, "kept_positions": kept}
    return X, skipped, stats


def check_spec(spec: RunSpec) -> None:
    """Load plugin files and resolve every name, so mistakes surface before any work starts."""
    for plugin in spec.plugins:
        load_plugin_file(plugin)
    if spec.on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be 'raise' or 'skip', not {spec.on_error!r}.")
    for registry, name in ((DATASETS, spec.dataset), (EXTRACTORS, spec.features),
                           (CLASSIFIERS, spec.classifier), (PROTOCOLS, spec.protocol)):
        registry.entry(name)
    for name in spec.metrics:
        METRICS.entry(name)


def prepare(spec: RunSpec) -> Prepared:
    """Load the dataset, split it, and compute stateless features."""
    from sklearn.pipeline import Pipeline

    check_spec(spec)
    dataset, dataset_seed = build_dataset(spec)
    samples = dataset.load(spec.task)
    if len(samples) == 0:
        raise DataError(f"dataset {spec.dataset!r} has no samples.", hint="Check --root and the dataset options.")
    extractor, extractor_seed = build_extractor(spec)
    classifier, classifier_seed = build_classifier(spec)
    protocol, protocol_seed = build_protocol(spec)
    skipped_features: list[dict] = []
    if getattr(extractor, "stateless", True):
        X, skipped_features, extraction = extract_features(
            extractor, samples, use_cache=spec.use_cache, jobs=spec.jobs, on_error=spec.on_error)
        samples = samples.iloc[extraction.pop("kept_positions")].reset_index(drop=True)
        estimator = classifier
    else:
        X, extraction = samples, {"stateful": True}
        estimator = Pipeline([("features", extractor), ("classifier", classifier)])
    if samples["subject_id"].nunique() < 2:
        raise MebenchError(
            f"dataset {spec.dataset!r} has {samples['subject_id'].nunique()} subject(s) left; subject-wise "
            "evaluation needs at least two. Add subjects (synthetic: --dataset-opt subjects=N)."
        )
    split = protocol.run(samples, identities=getattr(dataset, "identities", True))
    times_tested = np.zeros(len(samples), int)
    for fold in split.folds:
        times_tested[fold.test] += 1
    if (times_tested > 1).any():
        first = int(np.flatnonzero(times_tested > 1)[0])
        raise MebenchError(
            f"protocol {spec.protocol!r} puts sample {samples['sample_id'].iloc[first]!r} in the test set of "
            f"{times_tested[first]} folds; mebench keeps one held-out prediction per sample. Use test folds that "
            "partition the samples."
        )
    if (times_tested == 0).any():
        split.warnings.append(f"{int((times_tested == 0).sum())} sample(s) are in no test fold: used for training "
                              "only, never evaluated")
    classes = sorted(samples["label"].astype(str).unique())
    if len(classes) < 2:
        raise MebenchError(f"dataset {spec.dataset!r} has a single class ({classes[0]!r}); nothing to classify.")
    y = np.searchsorted(classes, samples["label"].astype(str).to_numpy())
    seeds = {"run": spec.seed, "dataset": dataset_seed, "features": extractor_seed,
             "classifier": classifier_seed, "protocol": protocol_seed}
    extraction["skipped"] = skipped_features
    return Prepared(spec, dataset, samples, classes, y, split, X, estimator, seeds, extraction, extractor, protocol)


def _fit_predict_fold(estimator, X, y, train, test, n_classes: int) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Fit a clone on the training rows; return the test rows' (scores (n_test, k), predicted codes, note).

    ``predict`` gives the predictions; ``predict_proba`` (else ``decision_function``, through a
    logistic/softmax map) gives the scores, whose columns are placed on the full label set (classes
    absent from the training fold score 0). A classifier with a ``classes`` parameter (the controls)
    is given the full label set instead, so its scores cover every class in every fold.
    """
    from sklearn.base import clone

    Xtr = X.iloc[train] if isinstance(X, pd.DataFrame) else X[train]
    Xte = X.iloc[test] if isinstance(X, pd.DataFrame) else X[test]
    present = np.unique(y[train])
    scores = np.zeros((len(test), n_classes))
    model = clone(estimator)
    takes_classes = "classes" in model.get_params(deep=False)  # e.g. controls: scores over the full label set
    if takes_classes:
        model.set_params(classes=np.arange(n_classes))
    elif len(present) == 1:
        scores[:, present[0]] = 1.0
        return scores, np.full(len(test), present[0]), "training fold has a single class; predicted it for every test sample"
    model.fit(Xtr, y[train])  # callers pin BLAS to one thread
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(Xte)
    else:
        from .classifiers.sklearn_family import softmax_scores

        proba = softmax_scores(model.decision_function(Xte))
    scores[:, np.asarray(model.classes_, dtype=int)] = np.asarray(proba, dtype=np.float64)
    pred = np.asarray(model.predict(Xte)).astype(np.int64)
    note = None
    if len(present) < n_classes and not takes_classes:
        note = f"training fold lacks {n_classes - len(present)} class(es); their scores are 0"
    return scores, pred, note


def cross_predict(prepared: Prepared, y: np.ndarray | None = None, estimator=None, jobs: int = 1,
                  progress: Callable | None = None) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Held-out class scores (n, k) and predicted class codes (n,) for every sample, one fit per fold;
    optionally with other labels. Samples in no test fold keep NaN scores and code -1."""
    from joblib import Parallel, delayed, parallel_config
    from threadpoolctl import threadpool_limits

    y = prepared.y if y is None else np.asarray(y)
    estimator = prepared.estimator if estimator is None else estimator
    k = len(prepared.classes)
    folds = prepared.split.folds
    scores = np.full((len(prepared.samples), k), np.nan)
    pred = np.full(len(prepared.samples), -1, dtype=np.int64)
    notes: list[str | None] = [None] * len(folds)
    if jobs > 1:  # one BLAS thread inside each worker
        with parallel_config(backend="loky", inner_max_num_threads=1):
            results = Parallel(n_jobs=jobs)(
                delayed(_fit_predict_fold)(estimator, prepared.X, y, f.train, f.test, k) for f in folds)
        for i, (fold, (s, p, note)) in enumerate(zip(folds, results)):
            scores[fold.test], pred[fold.test], notes[i] = s, p, note
            if progress:
                progress(i + 1, len(folds))
    else:
        with threadpool_limits(1):
            for i, fold in enumerate(folds):
                scores[fold.test], pred[fold.test], notes[i] = _fit_predict_fold(
                    estimator, prepared.X, y, fold.train, fold.test, k)
                if progress:
                    progress(i + 1, len(folds))
    return scores, pred, notes


def compute_metrics(prepared: Prepared, scores: np.ndarray, pred: np.ndarray, metric_names=None) -> dict:
    """Pooled headline metrics, per-fold, per-subject and per-dataset diagnostics, the majority
    control and the prior-shift diagnostic; all on the vectorised metric path.

    ``scores`` (n, k) and ``pred`` (n,) class codes are the held-out predictions (``cross_predict``).
    """
    from .metrics import (ABSENT_CLASS_CONVENTION, MAJORITY_NOTE, PRIOR_SHIFT_NOTE, confusion_codes,
                          majority_baseline, per_class_from_confusion, prior_shift)
    from .metrics.diagnostics import PER_SUBJECT_NOTE, per_subject_codes, subset_entries

    metric_names = list(metric_names or prepared.spec.metrics)
    for name in metric_names:
        METRICS.entry(name)
    classes = list(prepared.classes)
    evaluated = prepared.evaluated  # samples held out in some fold; training-only ones carry no score
    y, p, s = prepared.y[evaluated], np.asarray(pred)[evaluated], np.asarray(scores, float)[evaluated]
    folds = prepared.split.folds
    k = len(classes)

    def masks_of(groups: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(groups), len(prepared.samples)), bool)
        for i, idx in enumerate(groups):
            out[i, idx] = True
        return out[:, evaluated]

    pooled = subset_entries(metric_names, classes, y, p, s, np.ones((1, len(y)), bool))[0]
    cm = confusion_codes(y, p, k)
    result = {
        "pooled": {m: pooled[m] for m in metric_names},
        "classes": classes,
        "n": int(evaluated.sum()),
        "class_counts": {c: int(cm[i].sum()) for i, c in enumerate(classes)},
        "confusion_matrix": cm.tolist(),
        "per_class": per_class_from_confusion(cm, classes),
        "level": "pooled over all held-out predictions (MEGC convention)",
        "absent_classes": ABSENT_CLASS_CONVENTION,
    }
    per_fold = subset_entries(metric_names, classes, y, p, s, masks_of([f.test for f in folds]))
    result["per_fold"] = [{"fold": f.name, **e} for f, e in zip(folds, per_fold)]
    result["per_fold_note"] = "diagnostics only; never averaged into a headline (NaN where undefined)"
    result["per_subject"] = per_subject_codes(y, p, s, classes, prepared.samples["subject_id"].to_numpy()[evaluated],
                                              metric_names)
    result["per_subject_note"] = PER_SUBJECT_NOTE
    datasets = prepared.samples["dataset"].astype(str).to_numpy()
    if len(set(datasets)) > 1:
        names = sorted(set(datasets[evaluated]))
        entries = subset_entries(metric_names, classes, y, p, s, masks_of([np.flatnonzero(datasets == d) for d in names]))
        result["per_dataset"] = {d: {**{m: e[m] for m in metric_names}, "n": e["n"]} for d, e in zip(names, entries)}
    result["baselines"] = {"majority": majority_baseline(prepared.y, folds, classes, metric_names)}
    result["baselines_note"] = {"majority": MAJORITY_NOTE}
    result["prior_shift"] = {"pooled": prior_shift(prepared.y, folds, classes, metric_names), "note": PRIOR_SHIFT_NOTE}
    return result


def prepare_arrays(X, labels, subjects, estimator, protocol: str = "loso", metrics=None, seed: int = 0,
                   sample_ids=None, classifier: str | None = None) -> Prepared:
    """A :class:`Prepared` run over an in-memory feature matrix (statistics, tests, benchmarks).

    ``labels`` and ``subjects`` are per-row values; ``protocol`` is a registered protocol name.
    """
    labels = np.asarray(labels).astype(str)
    subjects = np.asarray(subjects).astype(str)
    n = len(labels)
    ids = np.asarray(sample_ids).astype(str) if sample_ids is not None else np.array([f"s{i:05d}" for i in range(n)])
    samples = pd.DataFrame({"sample_id": ids, "dataset": "arrays", "subject_id": subjects, "label": labels})
    classes = sorted(set(labels))
    y = np.searchsorted(classes, labels)
    split = PROTOCOLS.create(protocol).run(samples)
    spec = RunSpec(dataset="arrays", classifier=classifier or type(estimator).__name__, protocol=protocol,
                   metrics=tuple(metrics or DEFAULT_METRICS), seed=seed)
    return Prepared(spec=spec, dataset=None, samples=samples, classes=classes, y=y, split=split,
                    X=np.asarray(X, dtype=np.float64), estimator=estimator, seeds={"run": seed}, extraction={})


def _git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict:
    versions = {"mebench": __version__, "python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def run_identity(spec: RunSpec, fingerprint: dict, fold_hash: str) -> str:
    blob = json.dumps({"config": spec.config(), "fingerprint": fingerprint, "folds": fold_hash}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
    task = spec.task or "default"
    return f"{spec.dataset}-{task}-{spec.features}-{spec.classifier}-{spec.protocol}-{digest}"


def execute(spec: RunSpec, progress: Callable | None = None) -> RunResult:
    """Run the spec end to end and write the run directory."""
    from .fsutil import write_json
    from .store import prepare_run_dir, write_predictions

    t0 = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    prepared = prepare(spec)
    scores, y_pred, notes = cross_predict(prepared, jobs=spec.jobs, progress=progress)
    metrics = compute_metrics(prepared, scores, y_pred)
    warnings = list(getattr(prepared.dataset, "warnings", [])) + list(prepared.split.warnings)
    for fold, note in zip(prepared.split.folds, notes):
        if note:
            warnings.append(f"fold {fold.name}: {note}")
    fingerprint = prepared.dataset.fingerprint()
    fingerprint["sample_list_sha256_after_skips"] = _sample_hash(prepared.samples)
    run_id = run_identity(spec, fingerprint, prepared.split.fold_hash)
    metrics["run_id"] = run_id

    classes = prepared.classes
    fold_of = np.empty(len(prepared.samples), dtype=object)
    order = []
    for fold in prepared.split.folds:
        fold_of[fold.test] = fold.name
        order.extend(fold.test.tolist())
    s = prepared.samples
    predictions = pd.DataFrame({
        "run_id": run_id,
        "dataset": s["dataset"].astype(str).to_numpy(),
        "protocol": spec.protocol,
        "pipeline": spec.pipeline,
        "fold": fold_of.astype(str),
        "subject_id": s["subject_id"].astype(str).to_numpy(),
        "sample_id": s["sample_id"].astype(str).to_numpy(),
        "y_true": np.asarray(classes)[prepared.y],
        "y_pred": np.asarray(classes)[y_pred],
    })
    for j, c in enumerate(classes):
        predictions[f"score_{c}"] = scores[:, j]
    predictions = predictions.iloc[order].reset_index(drop=True)

    skipped = list(getattr(prepared.dataset, "skipped", [])) + prepared.extraction.get("skipped", [])
    extraction = {k: v for k, v in prepared.extraction.items() if k != "skipped"}
    manifest = {
        "run_id": run_id,
        "mebench_version": __version__,
        "versions": package_versions(),
        "git_hash": _git_hash(),
        "config": spec.config(),
        "pipeline": spec.pipeline,
        "resolved_params": _resolved_params(prepared),
        "seeds": prepared.seeds,
        "dataset": {**fingerprint, "task": spec.task or prepared.dataset.tasks[0],
                    "identities": getattr(prepared.dataset, "identities", True),
                    "counts": dict(getattr(prepared.dataset, "counts", {})),
                    "info": type(prepared.dataset).info()},
        "protocol": {"name": spec.protocol, "n_folds": len(prepared.split.folds),
                     "fold_hash": prepared.split.fold_hash,
                     "subject_wise": getattr(prepared.protocol, "subject_wise", None),
                     "shared_subjects": prepared.split.shared_subjects,
                     "audit": list(prepared.split.warnings)},
        "features": {"name": spec.features, **extraction},
        "skipped": skipped,
        "n_skipped": len(skipped),
        "warnings": warnings,
        "started": started,
        "duration_s": round(time.time() - t0, 3),
        "platform": {"system": platform.platform(), "python": sys.version.split()[0],
                     "jobs": spec.jobs, "blas_threads_per_worker": 1},
    }
    run_dir = prepare_run_dir(spec.out, run_id)
    write_predictions(run_dir / "predictions.parquet", predictions)
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "manifest.json", manifest)
    return RunResult(run_dir, run_id, metrics, manifest, predictions)


def _plain_params(estimator) -> dict:
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    return {k: v for k, v in sorted(params.items()) if isinstance(v, (int, float, str, bool, type(None)))}


def _resolved_params(prepared: Prepared) -> dict:
    """Every scalar parameter of the extractor and classifier actually used, defaults included."""
    estimator = prepared.estimator
    classifier = estimator.named_steps["classifier"] if "features" in getattr(estimator, "named_steps", {}) else estimator
    return {"features": _plain_params(prepared.extractor), "classifier": _plain_params(classifier)}


def _sample_hash(samples: pd.DataFrame) -> str:
    from .data.schema import sample_list_hash

    return sample_list_hash(samples)
