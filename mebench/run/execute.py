"""A run end to end, as explicit stages: load -> open run -> extract -> split -> predict -> score -> write."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .. import crashwatch
from ..workers import resolve_jobs
from .build import load
from .crossval import CrossPredictions, cross_predict, split
from .extract import extract
from .manifest import build_manifest, code_identity, run_identity
from .score import compute_metrics
from .spec import Prepared, RunResult, RunSpec


def prepare(spec: RunSpec) -> Prepared:
    """The stages load -> extract -> split: what :func:`~mebench.run.crossval.cross_predict` takes
    (the permutation tests refit it too).

    Parameters
    ----------
    spec : RunSpec

    Returns
    -------
    Prepared
    """
    loaded = load(spec)
    return split(loaded, extract(loaded))


def open_run_dir(spec: RunSpec, dataset, claimed: Path | None, started: str):
    """The open-run stage, before any extraction: ``(run_id, run_dir, checkpoint)``, the directory ``claimed``
    (else a new one) and its checkpoint locked."""
    from ..checkpoint import RunCheckpoint
    from ..store import new_run_dir

    run_id = run_identity(spec, dataset.fingerprint())
    state = {"run_id": run_id, "config": spec.config(), "plugins": [str(Path(p).resolve()) for p in spec.plugins],
             "code": code_identity(spec.plugins), "started": started}
    run_dir = claimed or new_run_dir(run_id)
    return run_id, run_dir, RunCheckpoint(run_dir, state).open()


def execute(spec: RunSpec, progress: Callable | None = None, fit_progress: Callable | None = None,
            extract_progress: Callable | None = None) -> RunResult:
    """Run the spec end to end and write the run directory, resuming an interrupted run found there.

    Features reach the cache chunk by chunk and every finished fold is checkpointed, so a killed run
    continues where it stopped when re-run into the same directory; the run files are written last.

    Parameters
    ----------
    spec : RunSpec
    progress, fit_progress, extract_progress : callable, optional
        ``progress(done, total)`` in folds; ``fit_progress(fold index, done, total)`` in epochs;
        ``extract_progress(done, total)`` in samples (:class:`mebench.progress.RunProgress` has all three).

    Returns
    -------
    RunResult
    """
    from ..store import claim_run_dir, release_run_dir

    t0 = time.time()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    claimed = claim_run_dir(spec.out)  # fail before any work when the run could not be written; locked till the end
    try:
        loaded = load(spec)
        run_id, run_dir, checkpoint = open_run_dir(spec, loaded.dataset, claimed, started)
        crashwatch.run_dir(run_dir)
        try:
            prepared = split(loaded, extract(loaded, progress=extract_progress))
            cv = cross_predict(prepared, jobs=resolve_jobs(spec.jobs), progress=progress, backend=spec.backend,
                               checkpoint=checkpoint, scratch=checkpoint.root, fit_progress=fit_progress)
            metrics = compute_metrics(prepared, cv.scores, cv.pred)
            return write(prepared, cv, metrics, run_id, run_dir, checkpoint, t0, started)
        finally:
            checkpoint.close()  # the checkpoint's lock (a no-op after finish)
    finally:
        release_run_dir(claimed)


def predictions_table(prepared: Prepared, cv: CrossPredictions, run_id: str) -> pd.DataFrame:
    """One row per held-out sample (ids, fold, ``y_true``, ``y_pred``, ``score_<class>``), grouped by fold."""
    spec, classes, s = prepared.spec, prepared.classes, prepared.samples
    fold_of = np.empty(len(s), dtype=object)
    order = []
    for fold in prepared.split.folds:
        fold_of[fold.test] = fold.name
        order.extend(fold.test.tolist())
    predictions = pd.DataFrame({"run_id": run_id,
                                "dataset": s["dataset"].astype(str).to_numpy(),
                                "protocol": spec.protocol,
                                "pipeline": spec.pipeline,
                                "fold": fold_of.astype(str),
                                "subject_id": s["subject_id"].astype(str).to_numpy(),
                                "sample_id": s["sample_id"].astype(str).to_numpy(),
                                "y_true": np.asarray(classes)[prepared.y],
                                "y_pred": np.asarray(classes)[np.maximum(cv.pred, 0)]})
    for j, c in enumerate(classes):
        predictions[f"score_{c}"] = cv.scores[:, j]
    return predictions.iloc[order].reset_index(drop=True)


def write(prepared: Prepared, cv: CrossPredictions, metrics: dict, run_id: str, run_dir: Path, checkpoint,
          t0: float, started: str) -> RunResult:
    """The write stage: predictions, metrics and manifest, written last; then the checkpoint goes."""
    from ..store import write_run

    metrics["run_id"] = run_id
    predictions = predictions_table(prepared, cv, run_id)
    manifest = build_manifest(prepared, cv, run_id, t0, started, checkpoint.first_started)
    manifest = write_run(run_dir, predictions, metrics, manifest)
    checkpoint.finish()
    return RunResult(run_dir, run_id, metrics, manifest, predictions)
