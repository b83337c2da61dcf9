"""Features for a run: the label-free view, the on-disk cache, chunks on parallel workers, skips.

Stateless extractors run once over every sample, chunk by chunk through the feature cache, before
any fold; a stateful one is fitted per fold inside the classifier's pipeline (its stateless parts,
in a combination, are extracted here once).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import backends, crashwatch
from ..data.schema import label_free
from ..errors import ConfigError, DataError, MebenchError
from ..workers import resolve_jobs, usable_workers
from .build import target_columns
from .failures import component_errors, debug
from .spec import Loaded, RunSpec


@dataclass
class Features:
    """What the extract stage hands the split: the samples left after skips and what the folds fit on."""

    samples: pd.DataFrame       # the samples kept (labels included), in the rows of ``X``
    X: Any                      # feature matrix (stateless extractor) or the label-free samples table
    estimator: Any              # the classifier, or Pipeline(extractor, classifier) for a stateful extractor
    extractor: Any              # the extractor as configured (a stateful combination: with precomputed parts)
    extraction: dict            # cache statistics, provenance, hidden columns and skipped samples
    fit_targets: Any = None     # a stateful extractor's annotation targets (DataFrame)


def extract(loaded: Loaded, progress: Callable | None = None) -> Features:
    """The extract stage: the ``apex=spot`` policy, the label-free view, then the features.

    Parameters
    ----------
    loaded : Loaded
    progress : callable, optional
        ``progress(done, total)`` in samples, as stateless features are computed (not called when every
        sample comes from the cache).

    Returns
    -------
    Features
    """
    from sklearn.pipeline import Pipeline

    from ..cache import full_cache_warning, reset_full_cache_warning

    reset_full_cache_warning()  # a cache that filled up in an earlier run of this process may have room again
    spec, dataset, samples = loaded.spec, loaded.dataset, loaded.samples
    extractor, classifier = loaded.extractor, loaded.classifier
    if "apex_source" in samples.columns and (samples["apex_source"] == "spot").any():
        from ..face.spotting import resolve_spot_apexes  # the apex=spot policy, before any extraction

        samples, apex_counts = resolve_spot_apexes(samples, on_error=spec.on_error)
        dataset.skipped = list(getattr(dataset, "skipped", [])) + apex_counts.pop("skipped", [])
        dataset.counts.update(apex_counts)
    if len(samples) == 0:
        raise DataError(f"dataset {spec.dataset!r} has no samples.", hint="Check --root and the dataset options.")
    fit_targets = tuple(getattr(extractor, "fit_targets", ()) or ())
    hidden = tuple(dict.fromkeys(target_columns(dataset, spec.task) + fit_targets))
    view = label_free(samples, hidden)  # extractors never see a label
    skipped: list[dict] = []
    annotation_targets = None
    root = getattr(dataset, "root", None)
    if getattr(extractor, "stateless", True):
        X, skipped, extraction = extract_features(
            extractor, view, use_cache=spec.use_cache, jobs=resolve_jobs(spec.jobs), on_error=spec.on_error,
            root=root, backend=spec.backend, user_params=spec.features_opts, progress=progress)
        samples = samples.iloc[extraction.pop("kept_positions")].reset_index(drop=True)
        estimator = classifier
    else:
        X, extraction = view, {"stateful": True, **_provenance(extractor)}
        if hasattr(extractor, "parts"):  # a stateful combination: its stateless parts are computed once
            extractor, kept_view, skipped, extraction["parts"] = _precompute_stateless_parts(extractor, view, spec,
                                                                                             root, progress)
            samples = samples.set_index("sample_id", drop=False).loc[kept_view["sample_id"]].reset_index(drop=True)
            X = kept_view
        estimator = Pipeline([("features", extractor), ("classifier", classifier)])
        if fit_targets:
            annotation_targets = samples.reindex(columns=list(fit_targets))
    extraction["hidden_columns"] = [c for c in hidden if c in samples.columns]
    extraction["skipped"] = skipped
    if full_cache_warning():
        extraction["cache_warning"] = full_cache_warning()
    _check_input_shape(X, classifier, spec)
    return Features(samples, X, estimator, extractor, extraction, annotation_targets)


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


def _extract_rows(extractor, samples: pd.DataFrame, positions: list[int], threads_inside: bool = True):
    """(features, errors, counts) by position: rows as one batch (extractors vectorise), row by row if one fails."""
    from threadpoolctl import threadpool_limits

    what = f"extractor {type(extractor).__name__}"

    def counted(rows):
        extractor.counts_ = {}
        out = np.asarray(extractor.transform(samples.iloc[rows]), dtype=np.float64)  # (rows, ...) any fixed shape
        return out, dict(getattr(extractor, "counts_", None) or {})

    features, errors, counts = {}, {}, {}
    first = samples["sample_id"].iloc[positions[0]] if positions and "sample_id" in samples.columns else "?"
    crashwatch.note(f"{what} was extracting features ({len(positions)} samples from {first})")
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
            if debug():
                raise
        for pos in positions:
            sample = samples["sample_id"].iloc[pos] if "sample_id" in samples.columns else pos
            try:
                with component_errors(what, f"on sample {sample}", getattr(samples, "hidden_columns", ())):
                    row, row_counts = counted([pos])
                features[pos] = row[0]
            except DataError as exc:  # a policy-driven skip (e.g. no face, on_no_face="skip") carries .skip
                errors[pos] = (str(exc), bool(getattr(exc, "skip", False)))
                row_counts = dict(getattr(extractor, "counts_", None) or {})
            for k, v in row_counts.items():
                counts[k] = counts.get(k, 0) + int(v)
    return features, errors, counts


def extract_features(extractor, samples: pd.DataFrame, *, use_cache: bool, jobs: int, on_error: str, root=None,
                     backend: str = "loky", user_params=(), progress: Callable | None = None
                     ) -> tuple[np.ndarray, list[dict], dict]:
    """Stateless features for every sample, through the on-disk cache.

    With ``jobs`` > 1 an extractor with ``n_jobs`` threads uses that many (unless ``user_params`` set
    it); others get ``backend`` workers over chunks once the first chunk shows it is worth it.

    Parameters
    ----------
    extractor, samples : stateless FeatureExtractor or Combined, label-free DataFrame
    use_cache, jobs, on_error, root, backend, user_params
        The run's options; the dataset root (cache keys hold paths relative to it); the options set.
    progress : callable, optional
        ``progress(done, total)`` in samples (cached ones count as done), after every chunk; a
        combination counts every part's samples.

    Returns
    -------
    X, skipped, stats : ndarray, list of dict, dict
        One row per kept sample; skip records; cache statistics, timings, counts, provenance and
        ``kept_positions`` (the rows of ``samples`` in ``X``).
    """
    try:
        return _extract_features(extractor, samples, use_cache=use_cache, jobs=jobs, on_error=on_error, root=root,
                                 backend=backend, user_params=user_params, progress=progress)
    finally:  # close the MediaPipe landmarkers extraction opened (only if the face pipeline was used)
        pool = sys.modules.get("mebench.face.landmarker_pool")
        if pool is not None:
            pool.close_shared_landmarkers()


def _extract_features(extractor, samples, *, use_cache, jobs, on_error, root, backend, user_params, progress=None):
    from joblib import delayed

    from ..cache import FeatureCache, sample_key
    from ..features.combined import Combined

    if isinstance(extractor, Combined):
        return _extract_combined(extractor, samples, use_cache=use_cache, jobs=jobs, on_error=on_error, root=root,
                                 backend=backend, user_params=user_params, progress=progress)

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
        if progress:
            progress(len(features) + len(errors), len(samples))

    if todo:
        if progress:
            progress(len(features), len(samples))
        threads = "n_jobs" in extractor.get_params(deep=False)
        if threads and "n_jobs" not in user_params:  # the extractor's own threads are the run's workers
            extractor.set_params(n_jobs=usable_workers(jobs))
        size = int(getattr(extractor, "chunk_rows", 32))  # rows per transform call (deep extractors take more)
        chunk = size if jobs <= 1 or threads else max(1, min(size, -(-len(todo) // (jobs * 4))))
        chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
        t_first = time.perf_counter()
        collect(_extract_rows(extractor, samples, chunks[0]))
        rest = chunks[1:]
        per_chunk = time.perf_counter() - t_first
        workers = min(usable_workers(jobs), len(rest)) if jobs > 1 and not threads else 1
        if workers > 1 and per_chunk * len(rest) > backends.MIN_PARALLEL_WORK_S:
            from sklearn.base import clone

            parallel = True
            with backends.parallel_backend(backend, workers):
                tasks = (delayed(_extract_rows)(clone(extractor).fit(samples.iloc[:0]), samples, c, False)
                         for c in rest)
                for result in backends.run_tasks(tasks, workers):
                    collect(result)
        else:
            for c in rest:
                collect(_extract_rows(extractor, samples, c))
    _refuse_non_finite(extractor, samples, features, errors, on_error)
    fatal = [p for p, (_, policy_skip) in errors.items() if not policy_skip]
    if fatal and on_error != "skip":
        pos = min(fatal)
        sample_id, message = str(samples.iloc[pos]["sample_id"]), errors[pos][0]
        if sample_id not in message:
            message = f"sample {sample_id}: {message}"
        hint = (None if "--on-error" in message
                else "Fix the input, or pass --on-error skip to record and skip bad samples.")
        raise DataError(message, hint=hint)
    skipped = [{"sample_id": str(samples.iloc[p]["sample_id"]), "reason": errors[p][0], "stage": "features",
                "policy": "extractor policy" if errors[p][1] else "--on-error skip"} for p in sorted(errors)]
    kept = [p for p in range(len(samples)) if p in features]
    widths = {features[p].shape for p in kept}
    if len(widths) > 1:
        raise MebenchError(f"extractor {type(extractor).__name__} returned features of different shapes "
                           f"{sorted(widths)}.")
    X = np.stack([features[p] for p in kept]) if kept else np.zeros((0, 0))
    stats = {"cache_token": token, "cache_hits": cache.hits, "cache_misses": cache.misses, "cache_enabled": use_cache,
             "chunks_on_parallel_workers": parallel,
             "seconds": round(time.perf_counter() - t0, 3), "counts": counts, **_provenance(extractor),
             "kept_positions": kept}
    return X, skipped, stats


def _refuse_non_finite(extractor, samples, features: dict, errors: dict, on_error: str) -> None:
    """NaN or infinite features are the extractor's fault, named as such with the samples (not as the classifier
    failing on them later): a stop, or with ``--on-error skip`` one recorded skip per sample."""
    bad = sorted(p for p, v in features.items()
                 if np.asarray(v).dtype.kind in "fc" and not np.isfinite(np.asarray(v)).all())
    if not bad:
        return
    name = type(extractor).__name__
    ids = [str(samples.iloc[p]["sample_id"]) for p in bad]
    for p, sample_id in zip(bad, ids):
        values = np.asarray(features.pop(p))
        errors[p] = (f"extractor {name} returned {int((~np.isfinite(values)).sum())} NaN or infinite value(s) of "
                     f"{values.size} for sample {sample_id}", False)
    if on_error != "skip":
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        raise DataError(f"extractor {name} returned NaN or infinite features for {len(ids)} of {len(samples)} "
                        f"sample(s): {shown}. The features are the extractor's output, so the classifier never saw "
                        "them", hint="Fix the extractor (or its options, or those samples' frames), or pass "
                        "--on-error skip to record and skip these samples.")


def _provenance(extractor) -> dict:
    """Model files {name: sha256}, training data and the untrained mark of an extractor, for the manifest."""
    model_files = getattr(extractor, "model_files", None)
    return {"model_files": dict(model_files()) if callable(model_files) else {},
            "trained_on": sorted(getattr(extractor, "trained_on", ()) or ()),
            "untrained": bool(getattr(extractor, "untrained", False))}


def _part_progress(progress, index: int, n_parts: int):
    """A part's ``progress(done, total)`` counted within the whole combination (parts one after another)."""
    if progress is None:
        return None
    return lambda done, total: progress(index * total + done, n_parts * total)


def _extract_combined(combined, samples: pd.DataFrame, progress=None, **options
                      ) -> tuple[np.ndarray, list[dict], dict]:
    """Each stateless part through :func:`extract_features` (cached on its own), then side by side."""
    n_parts = len(combined.parts)
    runs = [(name, *extract_features(part, samples, **options, progress=_part_progress(progress, i, n_parts)))
            for i, (name, part) in enumerate(combined.parts)]
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


def _precompute_stateless_parts(combined, samples: pd.DataFrame, spec: RunSpec, root=None, progress=None):
    """A stateful combination's stateless parts extracted once and swapped for lookups: (combination with
    :class:`~mebench.features.combined.Precomputed` parts, samples left, skip records, per-part stats)."""
    from ..features.combined import Combined, Precomputed

    parts, skipped, stats, keep = [], [], [], np.ones(len(samples), bool)
    stateless = [name for name, part in combined.parts if getattr(part, "stateless", True)]
    for name, part in combined.parts:
        if not getattr(part, "stateless", True):
            parts.append((name, part))
            continue
        X, part_skipped, part_stats = extract_features(part, samples, use_cache=spec.use_cache,
                                                       jobs=resolve_jobs(spec.jobs), on_error=spec.on_error,
                                                       root=root, backend=spec.backend,
                                                       progress=_part_progress(progress, stateless.index(name),
                                                                               len(stateless)))
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
