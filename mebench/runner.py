"""Execute a run spec: dataset -> protocol -> features -> classifier per fold -> predictions -> store."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import __version__
from .data.schema import label_free
from .errors import ConfigError, DataError, LabelAccessError, MebenchError, PluginError
from .registry import CLASSIFIERS, DATASETS, EXTRACTORS, METRICS, PROTOCOLS, accepted_params, load_plugin_file
from .workers import resolve_jobs

DEFAULT_METRICS = ("accuracy", "uar", "uf1", "auc")
KEY_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "statsmodels", "torch", "torchvision", "timm",
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
    backend: str = "loky"

    def config(self) -> dict:
        """The resolved configuration recorded in the manifest (no output or execution knobs)."""
        cfg = asdict(self)
        for key in ("out", "jobs", "plugins", "use_cache", "backend"):
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
        out = np.asarray(extractor.transform(samples.iloc[rows]), dtype=np.float64)  # (rows, ...) any fixed shape
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


def extract_features(extractor, samples: pd.DataFrame, *, use_cache: bool, jobs: int, on_error: str,
                     hidden: tuple = (), root=None, backend: str = "loky",
                     user_params=()) -> tuple[np.ndarray, list[dict], dict]:
    """Stateless features for every sample, through the on-disk cache; returns (X, skipped, stats).

    ``samples`` is the label-free view; ``hidden`` names the target columns removed from it; paths
    under the dataset ``root`` enter cache keys relative to it. With ``jobs`` > 1, an extractor with its
    own ``n_jobs`` threads uses that many (unless ``user_params`` set it); others get ``backend``
    worker processes over chunks once the first chunk shows the work is worth it.
    """
    try:
        return _extract_features(extractor, samples, use_cache=use_cache, jobs=jobs, on_error=on_error,
                                 hidden=hidden, root=root, backend=backend, user_params=user_params)
    finally:
        _close_face_models()


def _extract_features(extractor, samples, *, use_cache, jobs, on_error, hidden, root, backend, user_params):
    from joblib import delayed

    from .cache import FeatureCache, sample_key
    from .features.combined import Combined

    if isinstance(extractor, Combined):
        return _extract_combined(extractor, samples, use_cache=use_cache, jobs=jobs, on_error=on_error, hidden=hidden,
                                 root=root, backend=backend, user_params=user_params)

    extractor.fit(samples.iloc[:0] if len(samples) else samples)
    cache = FeatureCache(enabled=use_cache)
    token = extractor.cache_token()
    keys = [sample_key(r, root) for r in samples.to_dict("records")]
    features: dict[int, np.ndarray] = {}
    for pos, key in enumerate(keys):
        cached = cache.get(token, key)
        if cached is not None:
            features[pos] = cached
    todo = [p for p in range(len(samples)) if p not in features]
    errors, counts = {}, {}
    t0 = time.perf_counter()
    parallel = False

    def collect(result):  # every chunk reaches the cache as soon as it is done, so a kill loses little
        feats, errs, cnts = result
        for pos, value in feats.items():
            features[pos] = value
            cache.put(token, keys[pos], value)
        errors.update(errs)
        for k, v in cnts.items():
            counts[k] = counts.get(k, 0) + v

    if todo:
        threads = "n_jobs" in extractor.get_params(deep=False)
        if threads and "n_jobs" not in user_params:  # the extractor's own threads are the run's workers
            extractor.set_params(n_jobs=jobs)
        size = int(getattr(extractor, "chunk_rows", 32))  # rows per transform call (deep extractors take more)
        chunk = size if jobs <= 1 or threads else max(1, min(size, -(-len(todo) // (jobs * 4))))
        chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
        t_first = time.perf_counter()
        collect(_extract_rows(extractor, samples, chunks[0], hidden=hidden))
        rest = chunks[1:]
        per_chunk = time.perf_counter() - t_first
        if jobs > 1 and not threads and len(rest) > 1 and per_chunk * len(rest) > MIN_PARALLEL_WORK_S:
            from sklearn.base import clone

            from .backends import parallel_backend, run_tasks

            parallel = True
            workers = min(jobs, len(rest))
            with parallel_backend(backend, workers):
                tasks = (delayed(_extract_rows)(clone(extractor).fit(samples.iloc[:0]), samples, c, False, hidden)
                         for c in rest)
                for result in run_tasks(tasks, workers):
                    collect(result)
        else:
            for c in rest:
                collect(_extract_rows(extractor, samples, c, hidden=hidden))
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
             "chunks_on_parallel_workers": parallel,
             "seconds": round(time.perf_counter() - t0, 3), "counts": counts, **_provenance(extractor),
             "kept_positions": kept}
    return X, skipped, stats


def _provenance(extractor) -> dict:
    """Model files {name: sha256}, training data and the untrained mark of an extractor, for the manifest."""
    model_files = getattr(extractor, "model_files", None)
    return {"model_files": dict(model_files()) if callable(model_files) else {},
            "trained_on": sorted(getattr(extractor, "trained_on", ()) or ()),
            "untrained": bool(getattr(extractor, "untrained", False))}


def _extract_combined(combined, samples: pd.DataFrame, **options) -> tuple[np.ndarray, list[dict], dict]:
    """Each stateless part through :func:`extract_features` (cached on its own), then side by side."""
    runs = [(name, *extract_features(part, samples, **options)) for name, part in combined.parts]
    kept = sorted(set.intersection(*(set(stats["kept_positions"]) for _, _, _, stats in runs)))
    blocks, skipped, seen, parts, counts = [], [], set(), [], {}
    for name, X, part_skipped, stats in runs:
        row_of = {p: i for i, p in enumerate(stats.pop("kept_positions"))}
        if kept:
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


def _precompute_stateless_parts(combined, samples: pd.DataFrame, spec: RunSpec, hidden: tuple, root=None):
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
        X, part_skipped, part_stats = extract_features(part, samples, use_cache=spec.use_cache,
                                                       jobs=resolve_jobs(spec.jobs), on_error=spec.on_error,
                                                       hidden=hidden, root=root, backend=spec.backend)
        positions = part_stats.pop("kept_positions")
        ids = samples["sample_id"].iloc[positions].astype(str).tolist()
        mask = np.zeros(len(samples), bool)
        mask[positions] = True
        keep &= mask
        known = {r["sample_id"] for r in skipped}
        skipped += [{**r, "extractor": name} for r in part_skipped if r["sample_id"] not in known]
        stats.append({"name": name, **part_stats})
        parts.append((name, Precomputed(name, tuple(ids), X, tuple(part_stats["trained_on"]),
                                        part_stats["untrained"], part_stats["model_files"])))
    stats += [{"name": name, "stateful": True, **_provenance(part)}
              for name, part in combined.parts if not getattr(part, "stateless", True)]
    return Combined(parts), samples[keep].reset_index(drop=True), skipped, stats


def check_spec(spec: RunSpec) -> None:
    """Load plugin files, check the spec's types and ranges and resolve every name, so mistakes
    surface before any work starts."""
    from .preflight import check_spec_values

    for plugin in spec.plugins:
        load_plugin_file(plugin)
    check_spec_values(spec)
    for registry, name in ((DATASETS, spec.dataset), *((EXTRACTORS, n) for n in spec.features.split("+")),
                           (CLASSIFIERS, spec.classifier), (PROTOCOLS, spec.protocol)):
        registry.entry(name)
    for name in spec.metrics:
        METRICS.entry(name)


def prepare(spec: RunSpec, on_loaded: Callable | None = None) -> Prepared:
    """Load the dataset, split it, and compute stateless features.

    ``on_loaded(dataset)`` runs once the dataset is loaded, before any feature is extracted.
    """
    from sklearn.pipeline import Pipeline

    from .preflight import check_components, ensure_models

    check_spec(spec)
    dataset, dataset_seed = build_dataset(spec)
    extractor, extractor_seed = build_extractor(spec)
    classifier, classifier_seed = build_classifier(spec)
    protocol, protocol_seed = build_protocol(spec)
    check_components(spec, dataset, extractor, classifier, protocol)  # parameters, before any data is read
    ensure_models(extractor, f"extractor {spec.features!r}")  # model files, before any feature
    ensure_models(_classifier_of(classifier), f"classifier {spec.classifier!r}")  # a net's starting weights
    samples = _guarded(lambda: dataset.load(spec.task), f"dataset {spec.dataset!r}", "while loading")
    if on_loaded is not None:
        on_loaded(dataset)
    if "apex_source" in samples.columns and (samples["apex_source"] == "spot").any():
        from .face.spotting import resolve_spot_apexes  # the apex=spot policy, before any extraction

        samples, apex_counts = resolve_spot_apexes(samples, on_error=spec.on_error)
        dataset.skipped = list(getattr(dataset, "skipped", [])) + apex_counts.pop("skipped", [])
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
            extractor, view, use_cache=spec.use_cache, jobs=resolve_jobs(spec.jobs), on_error=spec.on_error,
            hidden=hidden, root=getattr(dataset, "root", None), backend=spec.backend, user_params=spec.features_opts)
        samples = samples.iloc[extraction.pop("kept_positions")].reset_index(drop=True)
        estimator = classifier
    else:
        X, extraction = view, {"stateful": True, **_provenance(extractor)}
        if hasattr(extractor, "parts"):  # a stateful combination: its stateless parts are computed once
            extractor, kept_view, skipped_features, extraction["parts"] = _precompute_stateless_parts(
                extractor, view, spec, hidden, getattr(dataset, "root", None))
            samples = samples.set_index("sample_id", drop=False).loc[kept_view["sample_id"]].reset_index(drop=True)
            X = kept_view
        estimator = Pipeline([("features", extractor), ("classifier", classifier)])
        if fit_targets:
            annotation_targets = samples.reindex(columns=list(fit_targets))
    extraction["hidden_columns"] = [c for c in hidden if c in samples.columns]
    _check_input_shape(X, classifier, spec)
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


def _check_input_shape(X, classifier, spec: RunSpec) -> None:
    """Images per sample (flow-image, maps=true) reach only a classifier that takes images (a net)."""
    if not isinstance(X, np.ndarray) or X.ndim <= 2:
        return
    if getattr(classifier, "accepts_arrays", False):
        return  # a net checks the exact shape itself
    raise ConfigError(
        f"extractor {spec.features!r} gives each sample an array of shape {X.shape[1:]}, but classifier "
        f"{spec.classifier!r} takes feature vectors. Use a net that takes images (ststnet, off-apexnet, resnet-e2e), "
        "or flat features (--features-opt flatten=true for flow-image, maps=false for the resnet extractors).")


def target_columns(dataset, task: str | None) -> tuple[str, ...]:
    """The label columns every dataset has, plus the target columns of ``task`` that ``dataset``
    declares; a plugin that overrides ``targets`` cannot un-hide ``label`` and its kin."""
    from .data.schema import ALWAYS_TARGETS

    declared = getattr(dataset, "targets", None)
    extra = tuple(declared(task)) if callable(declared) else ()
    return tuple(dict.fromkeys(ALWAYS_TARGETS + extra))


@dataclass
class CrossPredictions:
    """Held-out predictions of every fold: scores (n, k) and predicted codes (n,), NaN / -1 where untested."""

    scores: np.ndarray
    pred: np.ndarray
    notes: list
    resumed: int = 0          # folds taken from a checkpoint instead of refitted
    parallel: bool = False    # whether the folds ran on parallel workers
    seconds: float = 0.0      # wall time of the cross-prediction (resumed folds cost nothing)


@dataclass(frozen=True)
class ArrayFile:
    """A feature matrix saved once as .npy; tasks open it memory-mapped instead of receiving a copy."""

    path: str

    def load(self):
        return np.load(self.path, mmap_mode="r")


# Below this much estimated serial work (seconds), parallel workers cost more than they save
# (starting a worker and importing the scientific stack takes ~0.8 s here).
MIN_PARALLEL_WORK_S = 2.5


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


def _single_class(code: int, n_test: int, n_classes: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A training fold with one class predicts it for every test sample, with score 1."""
    scores = np.zeros((n_test, n_classes))
    scores[:, code] = 1.0
    return (scores, np.full(n_test, code, dtype=np.int64),
            "training fold has a single class; predicted it for every test sample")


def fit_predict_fold(estimator, X, y, train, test, n_classes: int, annotation_targets=None, hidden: tuple = (),
                     keep_model: bool = False, groups=None, leaky: bool = False, progress: Callable | None = None,
                     pin_blas: bool = True):
    """Fit a fresh clone on the training rows, predict the test rows: (scores, predicted codes, note, model).

    ``predict`` gives the predictions; ``predict_proba`` (else ``decision_function``, through a
    logistic/softmax map) gives the scores, or ``scores_and_predictions`` both where a classifier has
    it. Score columns are placed on the full label set (a class absent from the training fold scores
    0). A classifier with a ``classes`` parameter (the controls) is given the full label set
    instead, so its scores cover every class in every fold.
    BLAS is pinned to one thread (``pin_blas=False``: the caller already did, for a whole loop).

    ``groups`` (the subject of every sample) reaches fit as the training rows' subjects when fit takes
    it, so nets select models on subject-disjoint inner splits; under a leaky protocol only, the test
    rows reach fit as ``eval_set`` (test-set epoch selection, reproduced for research on inflation).
    """
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    if isinstance(X, ArrayFile):
        X = X.load()
    Xtr = X.iloc[train] if isinstance(X, pd.DataFrame) else np.asarray(X[train])
    Xte = X.iloc[test] if isinstance(X, pd.DataFrame) else np.asarray(X[test])
    present = np.unique(y[train])
    model = clone(estimator)
    takes_classes = "classes" in model.get_params(deep=False)  # the controls: scores over the full label set
    if takes_classes:
        model.set_params(classes=np.arange(n_classes))
    elif len(present) == 1:
        return (*_single_class(present[0], len(test), n_classes), None)
    fit_params = fit_params_for(model, groups=None if groups is None else np.asarray(groups)[train],
                                eval_set=(Xte, y[test]) if leaky else None, progress=progress)
    if annotation_targets is not None:  # a stateful extractor's targets: training rows only
        fit_params["features__targets"] = annotation_targets.iloc[train]
    with _as_component_failure(estimator, hidden):
        with threadpool_limits(1) if pin_blas else nullcontext():
            model.fit(Xtr, y[train], **fit_params)
            scores, pred = _held_out_scores(model, estimator, Xte, n_classes)
    notes = []
    if len(present) < n_classes and not takes_classes:
        notes.append(f"training fold lacks {n_classes - len(present)} class(es); their scores are 0")
    if leaky and not any(k.endswith("eval_set") for k in fit_params):
        notes.append("the leaky protocol had no effect: this classifier's fit takes no eval_set")
    return scores, pred, "; ".join(notes) or None, (model if keep_model else None)


@contextmanager
def _as_component_failure(estimator, hidden: tuple = ()):
    """A bug inside a fold's fit or predict becomes a clear error naming the pipeline (MEBENCH_DEBUG=1: the traceback)."""
    try:
        yield
    except MebenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - a component bug becomes a clear error
        if _debug():
            raise
        raise _component_failure(exc, f"pipeline {_describe(estimator)}", "while fitting or predicting a fold",
                                 hidden) from None


def _held_out_scores(model, estimator, Xte, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores on the full label set, predicted codes) of a fitted fold model on the test rows.

    ``predict_proba`` (else ``decision_function`` through a softmax) gives the scores, and ``predict``
    the predictions (``scores_and_predictions``, where a classifier has it, gives both); a class the
    model never saw scores 0; non-finite scores are an error naming the pipeline.
    """
    pred = None
    if hasattr(model, "scores_and_predictions"):  # both from one pass (the SVMs' decision function)
        proba, pred = model.scores_and_predictions(Xte)
    elif hasattr(model, "predict_proba"):
        proba = model.predict_proba(Xte)
    else:
        from .classifiers.sklearn_family import softmax_scores

        proba = softmax_scores(model.decision_function(Xte))
    proba = np.asarray(proba, dtype=np.float64)
    if not np.isfinite(proba).all():
        raise PluginError(f"pipeline {_describe(estimator)} returned non-finite class scores (NaN or infinity) "
                          f"for {int((~np.isfinite(proba)).any(axis=1).sum())} of {len(proba)} held-out "
                          "samples; check its parameters (e.g. a zero temperature or regularisation).")
    scores = np.zeros((proba.shape[0], n_classes))
    scores[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return scores, np.asarray(model.predict(Xte) if pred is None else pred).astype(np.int64)


def _trains_folds_together(estimator) -> bool:
    """Whether the estimator trains several folds at once itself (``fit_folds``, e.g. the fused STSTNet)."""
    check = getattr(estimator, "thread_safe_training", None)
    return hasattr(estimator, "fit_folds") and callable(check) and bool(check())


def _describe(estimator) -> str:
    steps = getattr(estimator, "named_steps", None)
    return " -> ".join(type(v).__name__ for v in steps.values()) if steps else type(estimator).__name__


def cross_predict(prepared: Prepared, y: np.ndarray | None = None, estimator=None, jobs: int = 1,
                  progress: Callable | None = None, backend: str | None = None, checkpoint=None,
                  scratch: str | Path | None = None, fit_progress: Callable | None = None) -> CrossPredictions:
    """Held-out predictions for every sample, one fit per fold; optionally with other labels.

    Folds found in ``checkpoint`` (a :class:`mebench.checkpoint.RunCheckpoint`) are not refitted,
    and each newly finished fold is written to it at once. With ``jobs`` > 1 the first pending fold
    runs here and is timed; the rest go to ``backend`` workers only when the remaining work is worth
    starting them (``MIN_PARALLEL_WORK_S``), so ``--jobs`` never makes a small run slower. A classifier
    that trains folds together in one process (``fit_folds`` + ``thread_safe_training()``, the fused
    STSTNet) does so with ``jobs`` threads. Results do not depend on the worker count or the engine.
    ``progress(done, total)`` counts folds; ``fit_progress(fold_index, done, total)`` reports epochs
    inside a fold for classifiers whose fit takes ``progress`` (-1 for folds trained together).
    """
    from joblib import delayed

    from .backends import parallel_backend, run_tasks

    started = time.perf_counter()
    y = prepared.y if y is None else np.asarray(y)
    estimator = prepared.estimator if estimator is None else estimator
    keep_model = checkpoint is not None and bool(getattr(_classifier_of(estimator), "save_fold_models", False))
    k = len(prepared.classes)
    folds = prepared.split.folds
    ids = prepared.samples["sample_id"].astype(str).to_numpy()
    out = CrossPredictions(np.full((len(prepared.samples), k), np.nan), np.full(len(prepared.samples), -1, np.int64),
                           [None] * len(folds))
    keys = {}
    pending = []
    for i, fold in enumerate(folds):
        if checkpoint is not None:
            keys[i] = checkpoint.fold_key(fold.name, ids[fold.train], ids[fold.test])
            hit = checkpoint.load_fold(i, keys[i], len(fold.test), k)
            if hit is not None:
                out.scores[fold.test], out.pred[fold.test], out.notes[i] = hit
                out.resumed += 1
                continue
        pending.append(i)
    done = len(folds) - len(pending)
    if progress:
        progress(done, len(folds))

    def record(i, result):
        nonlocal done
        scores, pred, note, model = result
        fold = folds[i]
        out.scores[fold.test], out.pred[fold.test], out.notes[i] = scores, pred, note
        if checkpoint is not None:
            if model is not None and keep_model:
                checkpoint.save_model(fold.name, model)
            checkpoint.save_fold(i, keys[i], scores, pred, note)
        done += 1
        if progress:
            progress(done, len(folds))

    groups = prepared.samples["subject_id"].astype(str).to_numpy()
    leaky = bool(getattr(prepared.protocol, "leaky", False))
    args = (prepared.fit_targets, prepared.hidden, keep_model, groups, leaky)
    if (jobs > 1 and len(pending) > 1 and not leaky and isinstance(prepared.X, np.ndarray)
            and prepared.fit_targets is None and _trains_folds_together(estimator)):
        _fit_folds_together(prepared, estimator, y, pending, groups, k, jobs, record, fit_progress)
        out.seconds = time.perf_counter() - started
        return out
    from threadpoolctl import threadpool_limits

    if pending:
        t0 = time.perf_counter()
        first = pending.pop(0)
        inner = None if fit_progress is None else (lambda done, total: fit_progress(first, done, total))
        with threadpool_limits(1):
            record(first, fit_predict_fold(estimator, prepared.X, y, folds[first].train, folds[first].test, k, *args,
                                           inner, False))
        per_fold = time.perf_counter() - t0
    workers = min(jobs, len(pending))
    if workers > 1 and per_fold * len(pending) > MIN_PARALLEL_WORK_S:
        out.parallel = True
        X = _shared_array(prepared.X, scratch)
        with parallel_backend(backend or "loky", workers):
            tasks = (delayed(fit_predict_fold)(estimator, X, y, folds[i].train, folds[i].test, k, *args)
                     for i in pending)
            for i, result in zip(pending, run_tasks(tasks, workers)):
                record(i, result)
    else:
        with threadpool_limits(1):
            for i in pending:
                inner = None if fit_progress is None else (lambda done, total, i=i: fit_progress(i, done, total))
                record(i, fit_predict_fold(estimator, prepared.X, y, folds[i].train, folds[i].test, k, *args, inner,
                                           False))
    out.seconds = time.perf_counter() - started
    return out


def _fit_folds_together(prepared, estimator, y, pending, groups, k: int, jobs: int, record, fit_progress) -> None:
    """Train the pending folds together through ``estimator.fit_folds(X, y, trains, groups, jobs, progress)``,
    which returns one fitted clone per training set (each saw only its training rows), then record each."""
    from threadpoolctl import threadpool_limits

    folds, X = prepared.split.folds, prepared.X
    trainable = []
    for i in pending:
        present = np.unique(y[folds[i].train])
        if len(present) == 1:
            record(i, (*_single_class(present[0], len(folds[i].test), k), None))
        else:
            trainable.append(i)
    inner = None if fit_progress is None else (lambda done, total: fit_progress(-1, done, total))
    with threadpool_limits(1), _as_component_failure(estimator, prepared.hidden):
        models = estimator.fit_folds(X, y, [folds[i].train for i in trainable], groups=groups, jobs=jobs,
                                     progress=inner)
        for i, model in zip(trainable, models):
            scores, pred = _held_out_scores(model, estimator, X[folds[i].test], k)
            missing = k - len(np.unique(y[folds[i].train]))
            note = f"training fold lacks {missing} class(es); their scores are 0" if missing else None
            record(i, (scores, pred, note, model))


def _shared_array(X, scratch):
    """``X`` as an :class:`ArrayFile` in ``scratch`` when it is a large array (shipped once), else ``X``."""
    if scratch is None or not isinstance(X, np.ndarray) or X.nbytes < (1 << 20):
        return X
    import io

    from .fsutil import atomic_write_bytes

    path = Path(scratch) / "features.npy"  # written afresh: never a copy left by an earlier process
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(X), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
    return ArrayFile(str(path))


def compute_metrics(prepared: Prepared, scores: np.ndarray, pred: np.ndarray, metric_names=None) -> dict:
    """Pooled headline metrics, per-fold, per-subject and per-dataset diagnostics, the majority
    control and the prior-shift diagnostic; all on the vectorised metric path.

    ``scores`` (n, k) and ``pred`` (n,) class codes are the held-out predictions (``cross_predict``).
    """
    from .metrics import (
        ABSENT_CLASS_CONVENTION,
        MAJORITY_NOTE,
        PRIOR_SHIFT_NOTE,
        confusion_codes,
        majority_baseline,
        per_class_from_confusion,
        prior_shift,
    )
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


def run_identity(spec: RunSpec, fingerprint: dict) -> str:
    """Run id from the resolved config and the dataset as loaded (known before any extraction)."""
    blob = json.dumps({"config": spec.config(), "fingerprint": fingerprint}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
    task = spec.task or "default"
    return f"{spec.dataset}-{task}-{spec.features}-{spec.classifier}-{spec.protocol}-{digest}"


def execute(spec: RunSpec, progress: Callable | None = None, fit_progress: Callable | None = None) -> RunResult:
    """Run the spec end to end and write the run directory, resuming an interrupted run found there.

    The run directory is created before any feature is extracted; features reach the cache chunk by
    chunk and every finished fold is checkpointed, so a killed run continues where it stopped when
    re-run into the same directory (``--resume RUN_DIR``, or the same ``--out``). The final
    ``predictions.parquet``, ``metrics.json`` and ``manifest.json`` are written last.
    """
    from .checkpoint import RunCheckpoint
    from .store import claim_run_dir, new_run_dir

    t0 = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    claimed = claim_run_dir(spec.out)  # fail before any work when the run could not be written
    where: dict = {}

    def open_run(dataset) -> None:  # the dataset is loaded, nothing extracted yet
        run_id = run_identity(spec, dataset.fingerprint())
        state = {"run_id": run_id, "config": spec.config(), "plugins": [str(Path(p).resolve()) for p in spec.plugins],
                 "code": code_identity(spec.plugins), "started": started}
        run_dir = claimed or new_run_dir(run_id)
        where.update(run_id=run_id, run_dir=run_dir, checkpoint=RunCheckpoint(run_dir, state).open())

    try:
        prepared = prepare(spec, on_loaded=open_run)
        checkpoint, run_dir, run_id = where["checkpoint"], where["run_dir"], where["run_id"]
        cv = cross_predict(prepared, jobs=resolve_jobs(spec.jobs), progress=progress, backend=spec.backend,
                           checkpoint=checkpoint, scratch=checkpoint.root, fit_progress=fit_progress)
        return _finish_run(spec, prepared, cv, run_dir, run_id, checkpoint, t0, started)
    finally:
        if "checkpoint" in where:
            where["checkpoint"].close()  # the lock (a no-op after finish)


def code_identity(plugins) -> dict:
    """What must not change between a kill and a resume: mebench's version and commit, and the
    content of the plugin files (fold shards computed by other code are never mixed in)."""
    from .hashing import file_sha256

    return {"mebench_version": __version__, "git_hash": _git_hash(),
            "plugins_sha256": {str(Path(p).resolve()): file_sha256(p) if Path(p).is_file() else None
                               for p in plugins}}


def _finish_run(spec: RunSpec, prepared: Prepared, cv, run_dir, run_id: str, checkpoint, t0: float,
                started: str) -> RunResult:
    """Metrics, predictions and manifest of a run whose folds are all done; written last."""
    from .models import fetch_log
    from .store import write_run

    metrics = compute_metrics(prepared, cv.scores, cv.pred)
    warnings = list(getattr(prepared.dataset, "warnings", [])) + list(prepared.split.warnings)
    for fold, note in zip(prepared.split.folds, cv.notes):
        if note:
            warnings.append(f"fold {fold.name}: {note}")
    fingerprint = prepared.dataset.fingerprint()
    fingerprint["sample_list_sha256_after_skips"] = _sample_hash(prepared.samples)
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
        "y_pred": np.asarray(classes)[np.maximum(cv.pred, 0)],
    })
    for j, c in enumerate(classes):
        predictions[f"score_{c}"] = cv.scores[:, j]
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
        "classifier": _classifier_provenance(spec, prepared),
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
                     "jobs": spec.jobs, "backend": spec.backend, "folds_on_parallel_workers": cv.parallel,
                     "folds_seconds": round(cv.seconds, 3), "blas_threads_per_worker": 1},
        "resume": {"folds_resumed": cv.resumed, "folds_computed": len(prepared.split.folds) - cv.resumed,
                   "features_from_cache": prepared.extraction.get("cache_hits", 0),
                   "first_started": checkpoint.first_started},  # started / duration_s: this session
    }
    manifest = write_run(run_dir, predictions, metrics, manifest)
    checkpoint.finish()
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
    evaluated = {spec.dataset.lower()} | {str(d).lower() for d in prepared.samples["dataset"].unique()}
    contaminated = []  # a net's starting weights count too; a net trained from scratch is not "untrained"
    for what, part in ((f"extractor {spec.features!r}", prepared.extractor),
                       (f"classifier {spec.classifier!r}", _classifier_of(prepared.estimator))):
        overlap = sorted({str(d).lower() for d in (getattr(part, "trained_on", ()) or ())} & evaluated)
        if overlap:
            contaminated.append(f"{what} holds a model trained on {', '.join(overlap)}, the data this run evaluates on")
    if contaminated:
        reasons["contaminated"] = "; ".join(contaminated)
    if getattr(prepared.extractor, "untrained", False):
        reasons["untrained"] = f"extractor {spec.features!r} ran with randomly initialised weights (weights=none)"
    return sorted(reasons), reasons


def _classifier_provenance(spec: RunSpec, prepared: Prepared) -> dict:
    """The classifier's name, and for a net that starts from weights, their files and training data."""
    clf = _classifier_of(prepared.estimator)
    out: dict = {"name": spec.classifier}
    if callable(getattr(clf, "model_files", None)):
        out.update(model_files=clf.model_files(), trained_on=sorted(getattr(clf, "trained_on", ()) or ()),
                   from_scratch=bool(getattr(clf, "untrained", False)))
    return out


def _classifier_of(estimator):
    steps = getattr(estimator, "named_steps", None)
    return steps["classifier"] if steps and "classifier" in steps else estimator


def _plain_params(estimator) -> dict:
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    return {k: v for k, v in sorted(params.items()) if isinstance(v, (int, float, str, bool, type(None)))}


def _resolved_params(prepared: Prepared) -> dict:
    """Every scalar parameter of the extractor and classifier actually used, defaults included."""
    classifier = _classifier_of(prepared.estimator)
    extractor = prepared.extractor
    features = ({name: _plain_params(part) for name, part in extractor.parts} if hasattr(extractor, "parts")
                else _plain_params(extractor))
    return {"features": features, "classifier": _plain_params(classifier)}


def _sample_hash(samples: pd.DataFrame) -> str:
    from .data.schema import sample_list_hash

    return sample_list_hash(samples)
