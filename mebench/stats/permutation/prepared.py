"""Prepared runs for the permutation test: from in-memory arrays, or replayed from a stored run."""
from __future__ import annotations

import numpy as np

from ...errors import MebenchError


def prepared_from_arrays(X, labels, subjects, estimator=None, protocol: str = "loso", metrics=None,
                         seed: int = 0, sample_ids=None):
    """A :class:`mebench.run.Prepared` over an in-memory feature matrix (tests, benchmarks).

    ``estimator`` defaults to the ``ridge`` classifier; ``protocol`` is a registered protocol name.
    """
    from ...classifiers.sklearn_family import RidgeScores
    from ...run import prepare_arrays

    est = RidgeScores() if estimator is None else estimator
    return prepare_arrays(X, labels, subjects, est, protocol=protocol, metrics=metrics, seed=seed,
                          sample_ids=sample_ids, classifier="ridge" if estimator is None else None)


def prepared_from_run(run, plugins=(), use_cache: bool = True):
    """Rebuild a stored run's prepared pipeline from its manifest and check it matches the run.

    Returns ``(prepared, order)`` where ``order`` maps the prepared run's held-out samples (in
    sample order) to rows of the stored predictions. Raises a MebenchError naming what changed
    (samples, labels or folds).
    """
    from ...run import RunSpec, prepare

    manifest = run.manifest.raw
    config = dict(manifest["config"])
    config["metrics"] = tuple(config.get("metrics", ()))
    try:
        spec = RunSpec(**config, plugins=tuple(plugins), use_cache=use_cache)
    except TypeError as exc:
        raise MebenchError(f"run {manifest.get('run_id')}: its manifest config cannot be replayed ({exc}).") from None
    prepared = prepare(spec)
    fold_hash = manifest.get("protocol", {}).get("fold_hash")
    if prepared.split.fold_hash != fold_hash:
        raise MebenchError(
            f"refitting run {manifest.get('run_id')} gives different folds (fold hash {prepared.split.fold_hash[:12]} "
            f"instead of {str(fold_hash)[:12]}); the dataset or protocol changed since the run, so a permutation test "
            "would not test this run. Re-run the pipeline, or use --permutations 0 for bootstrap intervals only.")
    preds = run.predictions
    index = {sid: i for i, sid in enumerate(preds["sample_id"].astype(str))}
    ev = prepared.evaluated  # the stored predictions hold the held-out samples only
    ids = prepared.samples["sample_id"].astype(str).to_numpy()[ev].tolist()
    missing = [s for s in ids if s not in index]
    if missing or len(ids) != len(preds):
        raise MebenchError(
            f"refitting run {manifest.get('run_id')} yields {len(ids)} held-out samples, the stored predictions hold "
            f"{len(preds)}" + (f" (e.g. {missing[0]} is not among them)" if missing else "")
            + "; the dataset changed since the run.")
    order = np.array([index[s] for s in ids])
    stored_labels = preds["y_true"].astype(str).to_numpy()[order]
    if np.any(stored_labels != np.asarray(prepared.classes)[prepared.y[ev]]):
        raise MebenchError(f"refitting run {manifest.get('run_id')}: the labels differ from the stored predictions; "
                           "the annotations changed since the run.")
    return prepared, order
