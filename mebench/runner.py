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
from .errors import ConfigError, DataError, LabelAccessError, MebenchError, PluginError
from .data.schema import label_free
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
    hidden: tuple = ()          # target columns removed from the table extractors see
    fit_targets: Any = None     # a stateful extractor's annotation targets (DataFrame), training rows only per fold

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
    dataset = _guarded(lambda: DATASETS.create(spec.dataset, root=spec.root, **opts), f"dataset {spec.dataset!r}",
                       "while starting")
    return dataset, dataset_seed


def _guarded(call: Callable, what: str, where: str):
    """``call()``; an unexpected exception inside a component (a loader bug, an option it does not
    check) becomes a clear error naming the component."""
    try:
        return call()
    except MebenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a component bug becomes a clear error
        if _debug():
            raise
        raise _component_failure(exc, what, where) from None


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


def _component_failure(exc: Exception, what: str, where: str, hidden=()) -> MebenchError:
    """A clear error for an unexpected exception inside a component; label access gets its own."""
    text = str(exc)
    if type(exc).__name__ == "InvalidParameterError":  # scikit-learn's parameter validation, at fit time
        return ConfigError(f"{what}: invalid parameter {where}: {text} Check the --classifier-opt/--features-opt "
                           "values.")
    if isinstance(exc, (AttributeError, KeyError)):
        for column in hidden:
            if f"'{column}'" in text or text == column:
                return LabelAccessError(
                    f"{what} read the column {column!r} {where}, but extractors never see target columns "
                    f"(hidden here: {', '.join(hidden)}). Features must come from the clips and their annotations; "
                    "a stateful extractor learns from labels only through fit(X, y).")
    return PluginError(f"{what} raised {type(exc).__name__} {where}: {text}. This is a bug in that component "
                       "(or an input it does not handle); run with MEBENCH_DEBUG=1 to see the traceback.")


def _extract_rows(extractor, samples: pd.DataFrame, positions: list[int], threads_inside: bool = True,
                  hidden: tuple = ()):
    """Transform rows as one batch (so extractors can vectorise or thread); if any row fails,
    redo the batch row by row. Returns (features by position, errors by position, counts)."""
    from threadpoolctl import threadpool_limits

    what = f"extractor {type(extractor).__name__}"

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
        except MebenchError as exc:
            if not isinstance(exc, DataError):
                raise
        except Exception:  # noqa: BLE001 - redone row by row below, to name the failing sample
            if _debug():
                raise
        for pos in positions:
            try:
                row, row_counts = counted([pos])
                features[pos] = row[0]
            except DataError as exc:  # a policy-driven skip (e.g. no face, on_no_face="skip") carries .skip
                errors[pos] = (str(exc), bool(getattr(exc, "skip", False)))
                row_counts = dict(getattr(extractor, "counts_", None) or {})
            except MebenchError:
                raise
            except Exception as exc:  # noqa: BLE001 - a component bug becomes a clear error
                if _debug():
                    raise
                sample = samples["sample_id"].iloc[pos] if "sample_id" in samples.columns else pos
                raise _component_failure(exc, what, f"on sample {sample}", hidden) from None
            for k, v in row_counts.items():
                counts[k] = counts.get(k, 0) + int(v)
    return features, errors, counts


def _debug() -> bool:
    import os

    return os.environ.get("MEBENCH_DEBUG", "") not in ("", "0")


def _close_face_models() -> None:
    """Close the MediaPipe landmarkers extraction opened (only if the face pipeline was used)."""
    pool = sys.modules.get("mebench.face.landmarker_pool")
    if pool is not None:
        pool.close_shared_landmarkers()


def extract_features(extractor, samples: pd.DataFrame, *, use_cache: bool, jobs: int,
                     on_error: str, hidden: tuple = ()) -> tuple[np.ndarray, list[dict], dict]:
    """Stateless features for every sample, through the on-disk cache; returns (X, skipped, stats).

    ``samples`` is the label-free view; ``hidden`` names the target columns removed from it.
    """
    try:
        return _extract_features(extractor, samples, use_cache=use_cache, jobs=jobs, on_error=on_error,
                                 hidden=hidden)
    finally:
        _close_face_models()


def _extract_features(extractor, samples, *, use_cache, jobs, on_error, hidden):
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

            from .workers import worker_pool

            with worker_pool():  # workers die with this process, even on SIGKILL
                results = Parallel(n_jobs=jobs)(
                    delayed(_extract_rows)(clone(extractor).fit(samples.iloc[:0]), samples, c, False, hidden)
                    for c in chunks)
        else:
            results = [_extract_rows(extractor, samples, c, hidden=hidden) for c in chunks]
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
    """Load plugin files, check the spec's types and ranges and resolve every name, so mistakes
    surface before any work starts."""
    from .preflight import check_spec_values

    for plugin in spec.plugins:
        load_plugin_file(plugin)
    check_spec_values(spec)
    for registry, name in ((DATASETS, spec.dataset), (EXTRACTORS, spec.features),
                           (CLASSIFIERS, spec.classifier), (PROTOCOLS, spec.protocol)):
        registry.entry(name)
    for name in spec.metrics:
        METRICS.entry(name)


def prepare(spec: RunSpec) -> Prepared:
    """Load the dataset, split it, and compute stateless features."""
    from sklearn.pipeline import Pipeline

    from .preflight import check_components, ensure_models

    check_spec(spec)
    dataset, dataset_seed = build_dataset(spec)
    extractor, extractor_seed = build_extractor(spec)
    classifier, classifier_seed = build_classifier(spec)
    protocol, protocol_seed = build_protocol(spec)
    check_components(spec, dataset, extractor, classifier, protocol)  # parameters, before any data is read
    ensure_models(extractor, f"extractor {spec.features!r}")  # model files, before any feature
    samples = _guarded(lambda: dataset.load(spec.task), f"dataset {spec.dataset!r}", "while loading")
    if "apex_source" in samples.columns and (samples["apex_source"] == "spot").any():
        from .face.spotting import resolve_spot_apexes  # the apex=spot policy, before any extraction

        samples, apex_counts = resolve_spot_apexes(samples)
        dataset.counts.update(apex_counts)
    if len(samples) == 0:
        raise DataError(f"dataset {spec.dataset!r} has no samples.", hint="Check --root and the dataset options.")
    fit_targets = tuple(getattr(extractor, "fit_targets", ()) or ())
    hidden = tuple(dict.fromkeys(target_columns(dataset, spec.task) + fit_targets))
    view = label_free(samples, hidden)  # extractors never see a label
    skipped_features: list[dict] = []
    annotation_targets = None
    if getattr(extractor, "stateless", True):
        X, skipped_features, extraction = extract_features(
            extractor, view, use_cache=spec.use_cache, jobs=spec.jobs, on_error=spec.on_error, hidden=hidden)
        samples = samples.iloc[extraction.pop("kept_positions")].reset_index(drop=True)
        estimator = classifier
    else:
        X, extraction = view, {"stateful": True}
        estimator = Pipeline([("features", extractor), ("classifier", classifier)])
        if fit_targets:
            annotation_targets = samples.reindex(columns=list(fit_targets))
    extraction["hidden_columns"] = [c for c in hidden if c in samples.columns]
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
    return Prepared(spec, dataset, samples, classes, y, split, X, estimator, seeds, extraction, extractor, protocol,
                    hidden, annotation_targets)


def target_columns(dataset, task: str | None) -> tuple[str, ...]:
    """The target columns of ``task`` that ``dataset`` declares (label columns for any plugin dataset)."""
    from .data.schema import ALWAYS_TARGETS

    declared = getattr(dataset, "targets", None)
    return tuple(declared(task)) if callable(declared) else ALWAYS_TARGETS


def _fit_predict_fold(estimator, X, y, train, test, n_classes: int, annotation_targets=None,
                      hidden: tuple = ()) -> tuple[np.ndarray, str | None]:
    from sklearn.base import clone

    Xtr = X.iloc[train] if isinstance(X, pd.DataFrame) else X[train]
    Xte = X.iloc[test] if isinstance(X, pd.DataFrame) else X[test]
    present = np.unique(y[train])
    scores = np.zeros((len(test), n_classes))
    if len(present) == 1:
        scores[:, present[0]] = 1.0
        return scores, "training fold has a single class; predicted it for every test sample"
    fit_params = {}
    if annotation_targets is not None:  # a stateful extractor's targets: training rows only
        fit_params["features__targets"] = annotation_targets.iloc[train]
    try:
        model = clone(estimator).fit(Xtr, y[train], **fit_params)  # callers pin BLAS to one thread
        proba = np.asarray(model.predict_proba(Xte), dtype=np.float64)
        if not np.isfinite(proba).all():
            raise PluginError(f"pipeline {_describe(estimator)} returned non-finite class scores (NaN or infinity) "
                              f"for {int((~np.isfinite(proba)).any(axis=1).sum())} of {len(proba)} held-out samples; "
                              "check its parameters (e.g. a zero temperature or regularisation).")
    except MebenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a component bug becomes a clear error
        if _debug():
            raise
        raise _component_failure(exc, f"pipeline {_describe(estimator)}", "while fitting or predicting a fold",
                                 hidden) from None
    scores[:, np.asarray(model.classes_, dtype=int)] = proba
    note = None
    if len(present) < n_classes:
        note = f"training fold lacks {n_classes - len(present)} class(es); their scores are 0"
    return scores, note


def _describe(estimator) -> str:
    steps = getattr(estimator, "named_steps", None)
    return " -> ".join(type(v).__name__ for v in steps.values()) if steps else type(estimator).__name__


def cross_predict(prepared: Prepared, y: np.ndarray | None = None, estimator=None, jobs: int = 1,
                  progress: Callable | None = None) -> tuple[np.ndarray, list[str | None]]:
    """Held-out class scores (n, k) for every sample, one fit per fold; optionally with other labels."""
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    from .workers import worker_pool

    y = prepared.y if y is None else np.asarray(y)
    estimator = prepared.estimator if estimator is None else estimator
    k = len(prepared.classes)
    folds = prepared.split.folds
    scores = np.full((len(prepared.samples), k), np.nan)
    notes: list[str | None] = [None] * len(folds)
    if jobs > 1:  # one BLAS thread inside each worker
        with worker_pool():  # one BLAS thread per worker; workers die with this process
            results = Parallel(n_jobs=jobs)(
                delayed(_fit_predict_fold)(estimator, prepared.X, y, f.train, f.test, k, prepared.fit_targets,
                                           prepared.hidden) for f in folds)
        for i, (fold, (s, note)) in enumerate(zip(folds, results)):
            scores[fold.test], notes[i] = s, note
            if progress:
                progress(i + 1, len(folds))
    else:
        with threadpool_limits(1):
            for i, fold in enumerate(folds):
                scores[fold.test], notes[i] = _fit_predict_fold(estimator, prepared.X, y, fold.train, fold.test, k,
                                                                prepared.fit_targets, prepared.hidden)
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
    from .models import fetch_log
    from .store import claim_run_dir, prepare_run_dir, write_run

    t0 = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    claimed = claim_run_dir(spec.out)  # fail before any work when the run could not be written
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
    flags, reasons = run_flags(prepared)
    for flag in flags:
        warnings.append(f"{flag}: {reasons[flag]}")
    extractor = prepared.extractor
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
                     "leaky": bool(getattr(prepared.protocol, "leaky", False)),
                     "shared_subjects": prepared.split.shared_subjects,
                     "audit": list(prepared.split.warnings)},
        "features": {"name": spec.features, **extraction,
                     "trained_on": sorted(getattr(extractor, "trained_on", ()) or ()),
                     "provenance": extractor.provenance() if hasattr(extractor, "provenance") else {}},
        "flags": flags,
        "flag_reasons": reasons,
        "roles": {"control": bool(getattr(_classifier_of(prepared.estimator), "is_control", False)),
                  "probe": bool(getattr(extractor, "is_probe", False))},
        "model_fetches": fetch_log(since=t0),  # network access during this run (mebench.models)
        "skipped": skipped,
        "n_skipped": len(skipped),
        "warnings": warnings,
        "started": started,
        "duration_s": round(time.time() - t0, 3),
        "platform": {"system": platform.platform(), "python": sys.version.split()[0],
                     "jobs": spec.jobs, "blas_threads_per_worker": 1},
    }
    run_dir = claimed or prepare_run_dir(None, run_id)
    manifest = write_run(run_dir, predictions, metrics, manifest)
    return RunResult(run_dir, run_id, metrics, manifest, predictions)


def run_flags(prepared: Prepared) -> tuple[list[str], dict[str, str]]:
    """The run's honesty flags (LEAKY, contaminated, untrained) with a one-line reason each."""
    reasons: dict[str, str] = {}
    split, protocol, spec = prepared.split, prepared.protocol, prepared.spec
    if getattr(protocol, "leaky", False):
        reasons["LEAKY"] = (f"protocol {spec.protocol!r} reproduces a leaky practice "
                            f"({getattr(protocol, 'leak', 'it uses the test subject before predicting')})")
    elif split.shared_subjects:
        n = len(split.shared_subjects)
        reasons["LEAKY"] = (f"protocol {spec.protocol!r} is not subject-disjoint: subjects appear in both train and "
                            f"test in {n} fold(s)")
    elif not getattr(prepared.dataset, "identities", True):
        reasons["LEAKY"] = "the dataset has no speaker identities, so leakage between clips of one person is unknown"
    extractor = prepared.extractor
    trained_on = {str(d).lower() for d in (getattr(extractor, "trained_on", ()) or ())}
    evaluated = {spec.dataset.lower()} | {str(d).lower() for d in prepared.samples["dataset"].unique()}
    overlap = sorted(trained_on & evaluated)
    if overlap:
        reasons["contaminated"] = (f"extractor {spec.features!r} holds a model trained on {', '.join(overlap)}, "
                                   "the data this run evaluates on")
    if getattr(extractor, "untrained", False):
        reasons["untrained"] = f"extractor {spec.features!r} ran with randomly initialised weights (weights=none)"
    return sorted(reasons), reasons


def _classifier_of(estimator):
    steps = getattr(estimator, "named_steps", None)
    return steps["classifier"] if steps and "classifier" in steps else estimator


def _plain_params(estimator) -> dict:
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    return {k: v for k, v in sorted(params.items()) if isinstance(v, (int, float, str, bool, type(None)))}


def _resolved_params(prepared: Prepared) -> dict:
    """Every scalar parameter of the extractor and classifier actually used, defaults included."""
    classifier = _classifier_of(prepared.estimator)
    return {"features": _plain_params(prepared.extractor), "classifier": _plain_params(classifier)}


def _sample_hash(samples: pd.DataFrame) -> str:
    from .data.schema import sample_list_hash

    return sample_list_hash(samples)
