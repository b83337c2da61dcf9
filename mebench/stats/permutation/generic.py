"""The generic path: refit the whole pipeline for every permutation through ``run.cross_predict``.

Parallel over permutations (joblib/loky, BLAS pinned to one thread per worker) and resumable:
finished permutations are checkpointed atomically and reused when the same test is run again.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np

from ...metrics.batch import batch_metrics
from .checkpoint import checkpoint_key, checkpoint_path, load_checkpoint, save_checkpoint
from .schemes import permuted_codes


def _slim(prepared):
    """The prepared run without the dataset object (not needed to refit; cheaper to ship)."""
    return replace(prepared, dataset=None)


def refit_metrics(prepared, start: int, Y: np.ndarray, metrics: list) -> tuple[int, np.ndarray]:
    """Metric values (len(Y), m) of the pipeline refit on every label row of ``Y``."""
    from threadpoolctl import threadpool_limits

    from ...run import cross_predict

    ev = prepared.evaluated  # training-only samples carry no held-out score
    out = np.empty((len(Y), len(metrics)))
    with threadpool_limits(1):
        for i, y in enumerate(Y):
            cv = cross_predict(prepared, y=y, jobs=1)
            out[i] = batch_metrics(metrics, prepared.classes, y[ev], cv.pred[ev], cv.scores[ev])[0]
    return start, out


def generic_null(prepared, y, subjects, scheme: str, seed: int, n_permutations: int, metric_names: list,
                 metric_objs: list, jobs: int = 1, checkpoint_dir=None, chunk_size: int | None = None,
                 progress: Callable | None = None, backend: str | None = None) -> dict:
    """Observed metrics and the null distribution (N, m) by refitting, with checkpoints.

    Chunks of permutations are joblib tasks on ``backend`` (``mebench.backends``: loky, Ray, Dask).
    Returns ``{"observed", "null", "resumed", "computed", "checkpoint"}``.
    """
    from contextlib import nullcontext

    from joblib import delayed

    from ...backends import parallel_backend, run_tasks

    m_count = len(metric_objs)
    null = np.full((n_permutations, m_count), np.nan)
    slim = _slim(prepared)
    done: dict[int, np.ndarray] = {}
    stored: dict[int, np.ndarray] = {}
    key = ckpt = None
    if checkpoint_dir is not None:
        key = checkpoint_key(prepared, scheme, seed, metric_names, y)
        ckpt = checkpoint_path(checkpoint_dir, key)
        stored = load_checkpoint(ckpt, key, m_count)   # may hold more permutations than asked for
        done = {i: v for i, v in stored.items() if i < n_permutations}
    resumed = len(done)
    todo = [i for i in range(n_permutations) if i not in done]
    # contiguous runs of missing permutations, cut into chunks (a chunk is checkpointed when it finishes)
    size = chunk_size or max(1, min(25, math.ceil(len(todo) / max(4 * jobs, 1))))
    chunks, run = [], []
    for i in todo:
        if run and (i != run[-1] + 1 or len(run) >= size):
            chunks.append(run)
            run = []
        run.append(i)
    if run:
        chunks.append(run)
    # the observed labels are one more task (start -1), so that the refits all run in parallel
    tasks = [(-1, np.asarray(y)[None, :])] + [(c[0], permuted_codes(y, subjects, scheme, seed, c[0], c[-1] + 1))
                                              for c in chunks]
    finished, computed, observed = len(done), 0, {}

    def collect(start, values):
        nonlocal finished, computed
        if start < 0:
            observed.update(zip(metric_names, values[0].tolist()))
            return
        for i, row in enumerate(values):
            done[start + i] = row
        computed += len(values)
        finished += len(values)
        if ckpt is not None:
            save_checkpoint(ckpt, key, {**stored, **done})
        if progress:
            progress(finished, n_permutations)

    parallel = jobs > 1 and len(tasks) > 1
    with parallel_backend(backend or "loky", jobs) if parallel else nullcontext():
        if parallel:
            results = run_tasks((delayed(refit_metrics)(slim, start, Y, metric_objs) for start, Y in tasks), jobs)
        else:
            results = (refit_metrics(slim, start, Y, metric_objs) for start, Y in tasks)
        for start, values in results:
            collect(start, values)
    for i, row in done.items():
        null[i] = row
    return {"observed": observed, "null": null, "resumed": resumed, "computed": computed,
            "checkpoint": str(ckpt) if ckpt else None}
