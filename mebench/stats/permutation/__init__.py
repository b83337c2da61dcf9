"""Permutation test against chance, refitting the whole pipeline for every permutation.

For every permutation the labels are permuted under a *scheme* that respects how they were
assigned (:mod:`.schemes`), the pipeline is refit fold by fold exactly as in the run (same folds,
same estimator, same seeds), and the pooled metric is recomputed on the held-out predictions
against the permuted labels. ``p = (C + 1) / (N + 1)`` where ``C`` counts the permutations whose
metric is at least the observed one (at most, for lower-is-better metrics) and ``N`` is the number
of permutations with a defined metric. The test is one-sided: "better than chance". Every result
states the scheme, how many distinct label arrangements it can reach and the smallest p-value it
can attain.

Three ways to compute the null distribution, identical to numerical precision (tested): the exact
linear path for ``ridge`` on stateless features (:mod:`.linear`), the batched path for ``logreg`` on
stateless features (:mod:`.batched_logreg`: all permutations' refits solved together to the unique
optimum) and the generic refit path for any pipeline (:mod:`.generic`, parallel and resumable
through :mod:`.checkpoint`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import MebenchError
from ...metrics.batch import batch_metrics, metric_kind, resolve_metric
from .batched_logreg import logreg_operator, logreg_path_available, logreg_predict
from .checkpoint import CHECKPOINT_FORMAT, checkpoint_key, checkpoint_path, save_checkpoint
from .generic import generic_null
from .linear import (
    LinearOperator,
    linear_path_available,
    linear_predict,
    linear_scores,
    one_blas_thread,
    ridge_operator,
)
from .prepared import prepared_from_arrays, prepared_from_run
from .schemes import (
    BLOCK,
    SCHEME_NULL,
    SCHEMES,
    arrangement_summary,
    choose_scheme,
    format_arrangements,
    n_arrangements,
    permuted_codes,
)

__all__ = ["BLOCK", "CHECKPOINT_FORMAT", "LinearOperator", "PermutationResult", "SCHEMES", "SCHEME_NULL",
           "arrangement_summary", "checkpoint_path", "choose_scheme", "format_arrangements", "linear_path_available",
           "linear_predict", "linear_scores", "logreg_operator", "logreg_path_available", "logreg_predict",
           "n_arrangements", "p_value", "permutation_test", "permuted_codes", "prepared_from_arrays",
           "prepared_from_run", "ridge_operator"]

_TOL = 1e-10           # a permuted statistic within this of the observed one counts as "at least"


@dataclass
class PermutationResult:
    scheme: str
    scheme_reason: str
    method: str
    method_reason: str
    n_permutations: int
    seed: int
    metrics: list
    observed: dict
    null: dict                       # metric -> (N,) array of permuted values
    p_values: dict
    n_undefined: dict
    counts: dict                     # metric -> C
    higher_is_better: dict
    seconds: float
    arrangements: dict = field(default_factory=dict)  # schemes.arrangement_summary
    resumed: int = 0
    computed: int = 0
    jobs: int = 1
    checkpoint: str | None = None
    notes: list = field(default_factory=list)

    def reach(self) -> str:
        """One line: how many label arrangements the scheme reaches and the smallest attainable p."""
        a = self.arrangements
        return (f"scheme '{self.scheme}' reaches {format_arrangements(a)} distinct label arrangements; smallest "
                f"attainable p = {a['smallest_p']:.2g} ({a['smallest_p_reason']})")

    def describe(self, metric: str) -> dict:
        """Test, assumptions and counts for one metric's p-value."""
        direction = "at least" if self.higher_is_better[metric] else "at most"
        n_valid = self.n_permutations - self.n_undefined[metric]
        return {"test": (f"permutation test against chance with refit of the whole pipeline on every permutation "
                         f"({self.method} path); one-sided"),
                "assumptions": f"{SCHEME_NULL[self.scheme]} ({self.scheme_reason}); folds, features and seeds fixed",
                "p_value_definition": f"p = (C + 1) / (N + 1); C = {self.counts[metric]} of N = {n_valid} permutations "
                                      f"scored {direction} the observed value",
                "n_permutations": self.n_permutations,
                "n_undefined": self.n_undefined[metric],
                "smallest_attainable_p": self.arrangements.get("smallest_p")}

    def to_dict(self, include_null: bool = False) -> dict:
        out = {"scheme": self.scheme, "scheme_reason": self.scheme_reason, "method": self.method,
               "method_reason": self.method_reason, "n_permutations": self.n_permutations, "seed": self.seed,
               **self.arrangements, "reach": self.reach(),
               "seconds": round(self.seconds, 4), "jobs": self.jobs, "blas_threads_per_worker": 1,
               "resumed_from_checkpoint": self.resumed, "computed": self.computed, "checkpoint": self.checkpoint,
               "notes": list(self.notes),
               "metrics": {m: {"observed": self.observed[m], "p_value": self.p_values[m],
                               "null_mean": _nanmean(self.null[m]), "null_sd": _nansd(self.null[m]),
                               **self.describe(m)} for m in self.metrics}}
        if include_null:
            out["null"] = {m: self.null[m].tolist() for m in self.metrics}
        return out


def _nanmean(a) -> float | None:
    a = np.asarray(a, float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else None


def _nansd(a) -> float | None:
    a = np.asarray(a, float)
    return float(np.nanstd(a, ddof=1)) if np.isfinite(a).sum() > 1 else None


def p_value(observed: float, null: np.ndarray, higher_is_better: bool = True) -> tuple[float | None, int, int]:
    """``(p, C, n_undefined)`` with p = (C + 1) / (N + 1) over the defined permuted values."""
    null = np.asarray(null, float)
    valid = null[~np.isnan(null)]
    if observed is None or not np.isfinite(observed) or len(valid) == 0:
        return None, 0, int(np.isnan(null).sum())
    tol = _TOL * max(1.0, abs(observed))
    c = int(np.sum(valid >= observed - tol)) if higher_is_better else int(np.sum(valid <= observed + tol))
    return (c + 1) / (len(valid) + 1), c, int(len(null) - len(valid))


BATCHED_ROWS = 200     # permutations per chunk of the batched path (progress is reported per chunk)


def _exact_null(prepared, y, subjects, scheme, seed, n_permutations, metric_names, metric_objs, progress, jobs=1,
                batched=False):
    """Observed metrics and the null distribution (N, m) through the linear operator (ridge), or
    through the batched logistic-regression solver (``batched``: logreg)."""
    ev = prepared.evaluated  # training-only samples carry no held-out score
    k = len(prepared.classes)
    n = len(y)
    needs_scores = any(metric_kind(m) not in ("accuracy", "uar", "uf1") for m in metric_objs)
    null = np.full((n_permutations, len(metric_objs)), np.nan)
    step = max(1, min(n_permutations, int(4e6 // max(n * k, 1))))  # ~32 MB of scores per chunk
    if batched:
        step = min(step, BATCHED_ROWS)
    with one_blas_thread():
        if batched:
            op, predict = logreg_operator(prepared, jobs=jobs), logreg_predict
        else:
            op, predict = ridge_operator(prepared, jobs=jobs, pin_blas=False), linear_predict
        pred, S = predict(op, y[None, :], k)
        obs = batch_metrics(metric_objs, prepared.classes, y[None, ev], pred[:, ev], S[:, ev])[0]
        for start in range(0, n_permutations, step):
            stop = min(n_permutations, start + step)
            Y = permuted_codes(y, subjects, scheme, seed, start, stop)
            P, S = predict(op, Y, k, with_scores=needs_scores)
            if not ev.all():
                Y, P = Y[:, ev], P[:, ev]
                S = S[:, ev] if S is not None else None
            if S is None:  # label metrics only: a placeholder that broadcasts
                S = np.zeros((1, Y.shape[1], k))
            null[start:stop] = batch_metrics(metric_objs, prepared.classes, Y, P, S)
            if progress:
                progress(stop, n_permutations)
    return dict(zip(metric_names, obs.tolist())), null


def permutation_test(prepared, n_permutations: int = 1000, metrics=None, seed: int = 0, jobs: int = 1,
                     method: str = "auto", scheme: str = "auto", checkpoint_dir=None,
                     progress: Callable | None = None, chunk_size: int | None = None,
                     backend: str | None = None) -> PermutationResult:
    """Permutation test of every metric against chance, refitting the pipeline per permutation.

    ``method``: ``auto`` (exact linear path for ridge, batched path for logreg, where they apply; else
    generic), ``exact``, ``batched`` or ``generic``. ``jobs``: worker processes of the generic path,
    threads of the exact path's precomputation and of the batched path's folds (BLAS one thread each).
    ``scheme``: ``auto`` (see :func:`choose_scheme`) or one of ``SCHEMES``.
    ``checkpoint_dir``: where finished permutations are checkpointed (the generic path resumes
    from it). ``progress(done, total)`` is called as permutations finish.
    """
    t0 = time.perf_counter()
    if n_permutations < 1:
        raise MebenchError(f"the permutation test needs at least one permutation, got {n_permutations}.")
    metric_names = list(metrics or prepared.spec.metrics)
    metric_objs = [resolve_metric(m) for m in metric_names]
    y = np.asarray(prepared.y)
    subjects = prepared.samples["subject_id"].astype(str).to_numpy()
    auto_scheme, auto_reason = choose_scheme(y, subjects)
    if scheme == "auto":
        scheme, scheme_reason = auto_scheme, auto_reason
    elif scheme not in SCHEMES:
        raise MebenchError(f"unknown permutation scheme {scheme!r}; choose auto or one of {', '.join(SCHEMES)}.")
    else:
        scheme_reason = f"chosen by the user (automatic choice: {auto_scheme}; {auto_reason})"
    notes = []
    if scheme == "dataset" and auto_scheme != "subject":
        notes.append("dataset-wide permutation with a subject-wise protocol changes every training fold's class "
                     "balance; on data whose labels were assigned within subjects it is anti-conservative "
                     "(see choose_scheme).")
    ok, why = linear_path_available(prepared)
    ok_batched, why_batched = logreg_path_available(prepared)
    if method == "auto":
        method, method_reason = (("exact", why) if ok else ("batched", why_batched) if ok_batched
                                 else ("generic", why + "; refitting per permutation"))
    elif method == "batched":
        if not ok_batched:
            raise MebenchError(f"--method batched is not possible: {why_batched}. Use --method generic (or auto).")
        method_reason = why_batched
    elif method == "exact":
        if not ok:
            raise MebenchError(f"--method exact is not possible: {why}. Use --method generic (or auto).")
        method_reason = why
    elif method == "generic":
        method_reason = "refit through run.cross_predict for every permutation (requested)"
    else:
        raise MebenchError(f"unknown permutation method {method!r}; choose auto, exact, batched or generic.")
    arrangements = arrangement_summary(y, subjects, scheme, n_permutations)
    if arrangements["n_arrangements"] is not None and arrangements["n_arrangements"] <= n_permutations:
        notes.append(f"the '{scheme}' scheme reaches only {arrangements['n_arrangements']} distinct label arrangements, "
                     f"fewer than the {n_permutations} permutations drawn: the smallest attainable p is about "
                     f"{arrangements['smallest_p']:.2g}.")
    resumed = computed = 0
    ckpt = None
    if method in ("exact", "batched"):
        observed, null = _exact_null(prepared, y, subjects, scheme, seed, n_permutations, metric_names,
                                     metric_objs, progress, jobs, batched=method == "batched")
        computed = n_permutations
        if checkpoint_dir is not None:
            key = checkpoint_key(prepared, scheme, seed, metric_names, y)
            ckpt = checkpoint_path(checkpoint_dir, key)
            save_checkpoint(ckpt, key, {i: null[i] for i in range(n_permutations)})
            ckpt = str(ckpt)
    else:
        out = generic_null(prepared, y, subjects, scheme, seed, n_permutations, metric_names, metric_objs, jobs,
                           checkpoint_dir, chunk_size, progress, backend=backend)
        observed, null, resumed, computed, ckpt = (out["observed"], out["null"], out["resumed"], out["computed"],
                                                   out["checkpoint"])
    p_values, counts, undefined, hib = {}, {}, {}, {}
    for j, (name, m) in enumerate(zip(metric_names, metric_objs)):
        hib[name] = bool(getattr(m, "higher_is_better", True))
        p_values[name], counts[name], undefined[name] = p_value(observed[name], null[:, j], hib[name])
        if undefined[name]:
            notes.append(f"{name}: undefined on {undefined[name]} of {n_permutations} permutations; the p-value uses "
                         f"the {n_permutations - undefined[name]} where it is defined.")
        if observed[name] is None or not np.isfinite(observed[name]):
            notes.append(f"{name}: undefined on the observed labels, so it has no p-value.")
    return PermutationResult(
        scheme=scheme, scheme_reason=scheme_reason, method=method, method_reason=method_reason,
        n_permutations=n_permutations, seed=int(seed), metrics=metric_names, observed=observed,
        null={name: null[:, j] for j, name in enumerate(metric_names)}, p_values=p_values,
        n_undefined=undefined, counts=counts, higher_is_better=hib, seconds=time.perf_counter() - t0,
        arrangements=arrangements, resumed=resumed, computed=computed, jobs=jobs, checkpoint=ckpt, notes=notes)
