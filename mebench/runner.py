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
    if "+" in spec.features:  # a combination: options dispatched to the parts (features/combined.py)
        from .features.combined import build_combined

        return build_combined(spec.features, spec.features_opts, spec.seed)
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
        out = np.asarray(extractor.transform(samples.iloc[rows]), dtype=np.float64)  # (rows, ...) any fixed shape
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
    """Stateless features for every sample, through the on-disk cache; returns (X, skipped, stats).

    X stacks each sample's features, whatever their (fixed) shape: (n, d) for vectors, (n, 3, 28, 28)
    for images. A combination (``a+b``) extracts and caches each part on its own.
    """
    from joblib import Parallel, delayed

    from .cache import FeatureCache, sample_key
    from .features.combined import Combined

    if isinstance(extractor, Combined):
        return _extract_combined(extractor, samples, use_cache=use_cache, jobs=jobs, on_error=on_error)

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
    X = np.stack([features[p] for p in kept]) if kept else np.zeros((0, 0))
    stats = {"cache_token": token, "cache_hits": cache.hits, "cache_misses": cache.misses, "cache_enabled": use_cache,
             "seconds": round(time.perf_counter() - t0, 3), "counts": counts, **_provenance(extractor),
             "kept_positions": kept}
    return X, skipped, stats


def _provenance(extractor) -> dict:
    """Model files {name: sha256}, training data and the untrained mark of an extractor, for the manifest."""
    provenance = getattr(extractor, "provenance", None)
    return {"model_files": dict(provenance()) if callable(provenance) else {},
            "trained_on": sorted(getattr(extractor, "trained_on", ()) or ()),
            "untrained": bool(getattr(extractor, "untrained", False))}


def _extract_combined(combined, samples: pd.DataFrame, **options) -> tuple[np.ndarray, list[dict], dict]:
    """Each stateless part through :func:`extract_features` (cached on its own), then side by side."""
    runs = [(name, *extract_features(part, samples, **options)) for name, part in combined.parts]
    kept = sorted(set.intersection(*(set(stats["kept_positions"]) for _, _, _, stats in runs)))
    blocks, skipped, seen, parts, counts = [], [], set(), [], {}
    for name, X, part_skipped, stats in runs:
        row_of = {p: i for i, p in enumerate(stats.pop("kept_positions"))}
        blocks.append(X[[row_of[p] for p in kept]].reshape(len(kept), -1))
        for record in part_skipped:  # one record per sample, naming the part that failed it
            if record["sample_id"] not in seen:
                seen.add(record["sample_id"])
                skipped.append({**record, "extractor": name})
        for k, v in stats["counts"].items():
            counts[k] = counts.get(k, 0) + v
        parts.append({"name": name, **stats})
    X = np.hstack(blocks) if kept else np.zeros((0, 0))
    stats = {"cache_token": combined.cache_token(), "parts": parts,
             "cache_hits": sum(p["cache_hits"] for p in parts), "cache_misses": sum(p["cache_misses"] for p in parts),
             "cache_enabled": options["use_cache"], "seconds": round(sum(p["seconds"] for p in parts), 3),
             "counts": counts, **_provenance(combined), "kept_positions": kept}
    return X, skipped, stats


def _precompute_stateless_parts(combined, samples: pd.DataFrame, spec: RunSpec):
    """For a stateful combination: extract its stateless parts once (cached) and swap in lookups.

    Returns (combination with :class:`~mebench.features.combined.Precomputed` parts, the samples
    left after skips, skipped records, per-part statistics).
    """
    from .features.combined import Combined, Precomputed

    parts, skipped, stats, keep = [], [], [], np.ones(len(samples), bool)
    for name, part in combined.parts:
        if not getattr(part, "stateless", True):
            parts.append((name, part))
            continue
        X, part_skipped, part_stats = extract_features(part, samples, use_cache=spec.use_cache, jobs=spec.jobs,
                                                       on_error=spec.on_error)
        positions = part_stats.pop("kept_positions")
        ids = samples["sample_id"].iloc[positions].astype(str).tolist()
        mask = np.zeros(len(samples), bool)
        mask[positions] = True
        keep &= mask
        skipped += [{**r, "extractor": name} for r in part_skipped]
        stats.append({"name": name, **part_stats})
        parts.append((name, Precomputed(name, tuple(ids), X, tuple(part_stats["trained_on"]),
                                        part_stats["untrained"], part_stats["model_files"])))
    stats += [{"name": name, "stateful": True, **_provenance(part)}
              for name, part in combined.parts if not getattr(part, "stateless", True)]
    return Combined(parts), samples[keep].reset_index(drop=True), skipped, stats


def check_spec(spec: RunSpec) -> None:
    """Load plugin files and resolve every name, so mistakes surface before any work starts."""
    for plugin in spec.plugins:
        load_plugin_file(plugin)
    if spec.on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be 'raise' or 'skip', not {spec.on_error!r}.")
    for registry, name in ((DATASETS, spec.dataset), *((EXTRACTORS, n) for n in spec.features.split("+")),
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
        extraction = {"stateful": True, **_provenance(extractor)}
        if hasattr(extractor, "parts"):  # a stateful combination: its stateless parts are computed once
            extractor, samples, skipped_features, extraction["parts"] = _precompute_stateless_parts(
                extractor, samples, spec)
        X = samples
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


def fit_params_for(estimator, **candidates) -> dict:
    """The keyword arguments among ``candidates`` that the estimator's fit takes (routed as
    ``step__name`` through pipelines, to their final step); ``None`` values are dropped."""
    import inspect

    prefix, final = "", estimator
    while hasattr(final, "steps"):
        name, final = final.steps[-1]
        prefix += f"{name}__"
    try:
        accepted = inspect.signature(final.fit).parameters
    except (TypeError, ValueError):
        return {}
    return {prefix + k: v for k, v in candidates.items() if v is not None and k in accepted}


def _fold_scores(model, Xte, n_classes: int) -> np.ndarray:
    proba = np.asarray(model.predict_proba(Xte), dtype=np.float64)
    scores = np.zeros((len(proba), n_classes))
    scores[:, np.asarray(model.classes_, dtype=int)] = proba
    return scores


def _missing_classes_note(present, n_classes: int) -> str | None:
    if len(present) < n_classes:
        return f"training fold lacks {n_classes - len(present)} class(es); their scores are 0"
    return None


def _fit_predict_fold(estimator, X, y, train, test, n_classes: int, groups=None, leaky: bool = False,
                      progress: Callable | None = None) -> tuple[np.ndarray, str | None]:
    """Fit a clone on the training rows, score the test rows. ``groups`` (subject of every sample)
    reaches fit as the training rows' subjects when fit takes it; under a leaky protocol only, the
    test rows reach fit as ``eval_set`` (for test-set epoch selection)."""
    from sklearn.base import clone

    Xtr = X.iloc[train] if isinstance(X, pd.DataFrame) else X[train]
    Xte = X.iloc[test] if isinstance(X, pd.DataFrame) else X[test]
    present = np.unique(y[train])
    if len(present) == 1:
        scores = np.zeros((len(test), n_classes))
        scores[:, present[0]] = 1.0
        return scores, "training fold has a single class; predicted it for every test sample"
    kwargs = fit_params_for(estimator, groups=None if groups is None else np.asarray(groups)[train],
                            eval_set=(Xte, y[test]) if leaky else None, progress=progress)
    model = clone(estimator).fit(Xtr, y[train], **kwargs)  # callers pin BLAS to one thread
    notes = [_missing_classes_note(present, n_classes)]
    if leaky and not any(k.endswith("eval_set") for k in kwargs):
        notes.append("the leaky protocol had no effect: this classifier's fit takes no eval_set")
    return _fold_scores(model, Xte, n_classes), "; ".join(n for n in notes if n) or None


def _trains_folds_together(estimator) -> bool:
    """Whether the estimator trains several folds at once itself (``fit_folds``, e.g. the fused STSTNet)."""
    check = getattr(estimator, "thread_safe_training", None)
    return hasattr(estimator, "fit_folds") and callable(check) and bool(check())


def _fit_folds(prepared, estimator, X, y, groups, k: int, jobs: int, progress, fit_progress):
    """The folds trained together through ``estimator.fit_folds(X, y, trains, groups, jobs, progress)``,
    which returns one fitted clone per training set; each clone sees only its training rows.
    ``fit_progress`` gets fold index -1 (all folds at once)."""
    folds = prepared.split.folds
    scores = np.full((len(prepared.samples), k), np.nan)
    notes: list[str | None] = [None] * len(folds)
    trainable = []
    for i, fold in enumerate(folds):
        present = np.unique(y[fold.train])
        if len(present) == 1:
            scores[fold.test] = 0.0
            scores[np.ix_(fold.test, present)] = 1.0
            notes[i] = "training fold has a single class; predicted it for every test sample"
        else:
            trainable.append(i)
    inner = None if fit_progress is None else (lambda done, total: fit_progress(-1, done, total))
    models = estimator.fit_folds(X, y, [folds[i].train for i in trainable],
                                 groups=groups, jobs=jobs, progress=inner)
    for done, (i, model) in enumerate(zip(trainable, models), start=1):
        fold = folds[i]
        scores[fold.test] = _fold_scores(model, X[fold.test], k)
        notes[i] = _missing_classes_note(np.unique(y[fold.train]), k)
        if progress:
            progress(done, len(folds))
    return scores, notes


def cross_predict(prepared: Prepared, y: np.ndarray | None = None, estimator=None, jobs: int = 1,
                  progress: Callable | None = None,
                  fit_progress: Callable | None = None) -> tuple[np.ndarray, list[str | None]]:
    """Held-out class scores (n, k) for every sample, one fit per fold; optionally with other labels.

    ``progress(done, total)`` counts folds; ``fit_progress(fold_index, done, total)`` reports the
    epochs inside a fold for classifiers whose fit takes ``progress`` (sequential runs, or -1 for
    folds trained together). With ``jobs > 1``, a classifier that trains folds together in one
    process (``fit_folds`` + ``thread_safe_training()``) does so with ``jobs`` threads.
    """
    from joblib import Parallel, delayed, parallel_config
    from threadpoolctl import threadpool_limits

    y = prepared.y if y is None else np.asarray(y)
    estimator = prepared.estimator if estimator is None else estimator
    k = len(prepared.classes)
    folds = prepared.split.folds
    groups = prepared.samples["subject_id"].astype(str).to_numpy()
    leaky = bool(getattr(prepared.protocol, "leaky", False))
    if jobs > 1 and not leaky and not isinstance(prepared.X, pd.DataFrame) and _trains_folds_together(estimator):
        with threadpool_limits(1):
            return _fit_folds(prepared, estimator, prepared.X, y, groups, k, jobs, progress, fit_progress)
    scores = np.full((len(prepared.samples), k), np.nan)
    notes: list[str | None] = [None] * len(folds)
    if jobs > 1:  # one BLAS thread inside each worker
        with parallel_config(backend="loky", inner_max_num_threads=1):
            results = Parallel(n_jobs=jobs)(
                delayed(_fit_predict_fold)(estimator, prepared.X, y, f.train, f.test, k, groups, leaky)
                for f in folds)
        for i, (fold, (s, note)) in enumerate(zip(folds, results)):
            scores[fold.test], notes[i] = s, note
            if progress:
                progress(i + 1, len(folds))
    else:
        with threadpool_limits(1):
            for i, fold in enumerate(folds):
                inner = None if fit_progress is None else (lambda done, total, i=i: fit_progress(i, done, total))
                scores[fold.test], notes[i] = _fit_predict_fold(estimator, prepared.X, y, fold.train, fold.test, k,
                                                                groups, leaky, inner)
                if progress:
                    progress(i + 1, len(folds))
    return scores, notes


def predict_labels(scores: np.ndarray) -> np.ndarray:
    """Class codes from scores (first class wins ties)."""
    return np.argmax(scores, axis=1)


def compute_metrics(prepared: Prepared, scores: np.ndarray, metric_names=None) -> dict:
    """Pooled headline metrics plus per-fold and per-dataset diagnostics."""
    from .metrics import confusion, per_class
    from .stats.diagnostics import PER_SUBJECT_NOTE, per_subject

    metric_names = list(metric_names or prepared.spec.metrics)
    classes = prepared.classes
    y_true = np.asarray(classes)[prepared.y]
    y_pred = np.asarray(classes)[predict_labels(scores)]
    metric_fns = {m: METRICS.get(m) for m in metric_names}

    evaluated = prepared.evaluated  # samples held out in some fold; training-only ones carry no score

    def block(mask) -> dict:
        mask = mask & evaluated
        return {m: fn(y_true[mask], y_pred[mask], scores[mask], classes) for m, fn in metric_fns.items()}

    result = {
        "pooled": block(evaluated),
        "classes": list(classes),
        "n": int(evaluated.sum()),
        "class_counts": {c: int(np.sum(y_true[evaluated] == c)) for c in classes},
        "confusion_matrix": confusion(y_true[evaluated], y_pred[evaluated], classes),
        "per_class": per_class(y_true[evaluated], y_pred[evaluated], classes),
        "level": "pooled over all held-out predictions (MEGC convention)",
    }
    per_fold = []
    for fold in prepared.split.folds:
        mask = np.zeros(len(y_true), bool)
        mask[fold.test] = True
        entry = {"fold": fold.name, "n": int(mask.sum()), "n_classes_present": int(len(set(y_true[mask])))}
        entry.update(block(mask))
        per_fold.append(entry)
    result["per_fold"] = per_fold
    result["per_fold_note"] = "diagnostics only; never averaged into a headline (NaN where undefined)"
    result["per_subject"] = per_subject(y_true[evaluated], y_pred[evaluated], scores[evaluated], classes,
                                        prepared.samples["subject_id"].to_numpy()[evaluated], metric_names)
    result["per_subject_note"] = PER_SUBJECT_NOTE
    datasets = prepared.samples["dataset"].to_numpy()
    if len(set(datasets)) > 1:
        result["per_dataset"] = {d: block(datasets == d) | {"n": int(np.sum((datasets == d) & evaluated))}
                                 for d in sorted(set(datasets[evaluated]))}
    return result


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


def execute(spec: RunSpec, progress: Callable | None = None, with_majority: bool = True) -> RunResult:
    """Run the spec end to end and write the run directory."""
    from .fsutil import write_json
    from .store import prepare_run_dir, write_predictions

    t0 = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    prepared = prepare(spec)
    scores, notes = cross_predict(prepared, jobs=spec.jobs, progress=progress)
    metrics = compute_metrics(prepared, scores)
    warnings = list(getattr(prepared.dataset, "warnings", [])) + list(prepared.split.warnings)
    for fold, note in zip(prepared.split.folds, notes):
        if note:
            warnings.append(f"fold {fold.name}: {note}")
    if with_majority and spec.classifier != "majority":
        majority, _ = cross_predict(prepared, estimator=CLASSIFIERS.create("majority"), jobs=1)
        metrics["baselines"] = {"majority": compute_metrics(prepared, majority)["pooled"]}
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
    y_pred = predict_labels(scores)
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
    extractor = prepared.extractor
    features = ({name: _plain_params(part) for name, part in extractor.parts} if hasattr(extractor, "parts")
                else _plain_params(extractor))
    return {"features": features, "classifier": _plain_params(classifier)}


def _sample_hash(samples: pd.DataFrame) -> str:
    from .data.schema import sample_list_hash

    return sample_list_hash(samples)
