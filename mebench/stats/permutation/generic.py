"""The generic path: refit the whole pipeline for every permutation through ``run.cross_predict``.

Parallel over permutations (joblib tasks on ``mebench.backends``, BLAS pinned to one thread per
worker). Each task returns one row summary per permutation (metric values and per-subject influence
sums, :mod:`.rows`), which the caller stores as it arrives, so an interrupted test resumes.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np


def _slim(prepared):
    """The prepared run without the dataset object (not needed to refit; cheaper to ship)."""
    return replace(prepared, dataset=None)


def refit_rows(prepared, start: int, Y: np.ndarray, metrics: list, subject_code, n_subjects: int):
    """``(start, values (len(Y), m), sums (len(Y), S, m))`` of the pipeline refit on every label row of ``Y``."""
    from threadpoolctl import threadpool_limits

    from ...run import cross_predict
    from ..influence import influence_sums

    ev = prepared.evaluated  # training-only samples carry no held-out score
    k = len(prepared.classes)
    values = np.empty((len(Y), len(metrics)))
    sums = np.empty((len(Y), n_subjects, len(metrics)))
    with threadpool_limits(1):
        for i, y in enumerate(Y):
            cv = cross_predict(prepared, y=y, jobs=1)
            values[i], sums[i] = (a[0] for a in influence_sums(metrics, y[ev][None], cv.pred[ev][None],
                                                               cv.scores[ev][None], subject_code, n_subjects, k))
    return start, values, sums


def chunked(indices: list, size: int) -> list[list[int]]:
    """Contiguous runs of ``indices`` cut into chunks of at most ``size``."""
    chunks, run = [], []
    for i in indices:
        if run and (i != run[-1] + 1 or len(run) >= size):
            chunks.append(run)
            run = []
        run.append(i)
    if run:
        chunks.append(run)
    return chunks


def generic_rows(prepared, tasks, metrics: list, subject_code, n_subjects: int, jobs: int = 1,
                 backend: str | None = None):
    """Refit every task ``(start, Y)``; yields ``(start, values, sums)`` as tasks finish (in order)."""
    from contextlib import nullcontext

    from joblib import delayed

    from ...backends import parallel_backend, run_tasks

    slim = _slim(prepared)
    parallel = jobs > 1 and len(tasks) > 1
    with parallel_backend(backend or "loky", jobs) if parallel else nullcontext():
        if parallel:
            yield from run_tasks((delayed(refit_rows)(slim, start, Y, metrics, subject_code, n_subjects)
                                  for start, Y in tasks), jobs)
        else:
            for start, Y in tasks:
                yield refit_rows(slim, start, Y, metrics, subject_code, n_subjects)


def chunk_size(n_rows: int, jobs: int) -> int:
    return max(1, min(25, math.ceil(n_rows / max(4 * jobs, 1))))
