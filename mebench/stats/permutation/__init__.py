"""Permutation test against chance, refitting the whole pipeline for every permutation.

For every permutation the labels are permuted under a *scheme* that respects how they were
assigned (:mod:`.schemes`), the pipeline is refit fold by fold exactly as in the run (same folds,
same estimator, same seeds), and the pooled metric is recomputed on the held-out predictions
against the permuted labels. ``p = (C + 1) / (N + 1)`` where ``C`` counts the permutations whose
metric is at least the observed one (at most, for lower-is-better metrics) and ``N`` is the number
of permutations with a defined metric. The test is one-sided: "better than chance". Every result
states the scheme, how many distinct label arrangements it can reach and the smallest p-value it
can attain.

Sequential Monte Carlo (Besag & Clifford 1991): with ``early_stop = h`` the permutations of a metric
stop counting at the h-th one scoring at least the observed value, at permutation L, and then
p = h / L (a valid p-value); a metric that never reaches h uses all N. The refits stop once every
metric has stopped, so a pipeline that is clearly no better than chance costs a few dozen refits.

Every refit's row summary (metric values and per-subject influence sums, :mod:`.rows`) is kept in the
run directory, so the test resumes after an interruption and ``mebench compare`` reuses the rows.
Three ways to compute the rows, identical to numerical precision (tested): the exact linear path for
``ridge`` on stateless features (:mod:`.linear`), and the generic refit path for any pipeline
(:mod:`.generic`, parallel over permutations).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import MebenchError
from ...metrics.batch import resolve_metric
from ...workers import usable_workers
from .batched_logreg import logreg_operator, logreg_path_available, logreg_predict
from .generic import chunk_size as default_chunk_size
from .generic import chunked, generic_rows
from .linear import (
    LinearOperator,
    linear_path_available,
    linear_predict,
    linear_scores,
    one_blas_thread,
    ridge_operator,
)
from .prepared import prepared_from_arrays, prepared_from_run
from .rows import ROWS_FORMAT, RowStore, open_store, pipeline_key, store_metrics, stream_key
from .schemes import (
    BLOCK,
    SCHEME_NULL,
    SCHEMES,
    arrangement_summary,
    choose_scheme,
    format_arrangements,
    n_arrangements,
    permuted_codes,
    subject_codes,
)

__all__ = ["BLOCK", "DEFAULT_EARLY_STOP", "observed_row", "LinearOperator", "PermutationResult", "ROWS_FORMAT",
           "RowEngine",
           "SCHEMES", "SCHEME_NULL", "arrangement_summary", "choose_scheme", "compute_rows", "format_arrangements",
           "linear_path_available", "linear_predict", "linear_scores", "logreg_operator", "logreg_path_available",
           "logreg_predict", "n_arrangements", "p_value",
           "permutation_test", "permuted_codes", "prepared_from_arrays", "prepared_from_run", "ridge_operator",
           "row_engine", "row_store", "sequential_p"]

DEFAULT_EARLY_STOP = 20  # h of the sequential rule: stop a metric at its 20th permutation at least as extreme
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
    early_stop: int = 0
    stopped: dict = field(default_factory=dict)      # metric -> L where the sequential rule stopped (None: not)
    n_used: int = 0                                  # permutation rows computed or reused
    rows: RowStore | None = field(default=None, repr=False)  # the rows themselves (values and influence sums)

    def reach(self) -> str:
        """One line: how many label arrangements the scheme reaches and the smallest attainable p."""
        a = self.arrangements
        return (f"scheme '{self.scheme}' reaches {format_arrangements(a)} distinct label arrangements; smallest "
                f"attainable p = {a['smallest_p']:.2g} ({a['smallest_p_reason']})")

    def describe(self, metric: str) -> dict:
        """Test, assumptions and counts for one metric's p-value."""
        direction = "at least" if self.higher_is_better[metric] else "at most"
        n_valid = (self.n_used or self.n_permutations) - self.n_undefined[metric]
        stop = self.stopped.get(metric)
        rule = (f"sequential Monte Carlo (Besag & Clifford 1991): stopped at the {self.counts[metric]}th permutation "
                f"scoring {direction} the observed value, permutation L = {stop}; p = h / L" if stop else
                f"p = (C + 1) / (N + 1); C = {self.counts[metric]} of N = {n_valid} permutations scored {direction} "
                "the observed value")
        return {"test": (f"permutation test against chance with refit of the whole pipeline on every permutation "
                         f"({self.method} path); one-sided"),
                "assumptions": f"{SCHEME_NULL[self.scheme]} ({self.scheme_reason}); folds, features and seeds fixed",
                "p_value_definition": rule,
                "n_permutations": self.n_permutations,
                "early_stop": self.early_stop,
                "stopped_at": stop,
                "n_undefined": self.n_undefined[metric],
                "smallest_attainable_p": self.arrangements.get("smallest_p")}

    def to_dict(self, include_null: bool = False) -> dict:
        out = {"scheme": self.scheme, "scheme_reason": self.scheme_reason, "method": self.method,
               "method_reason": self.method_reason, "n_permutations": self.n_permutations, "seed": self.seed,
               **self.arrangements, "reach": self.reach(),
               "seconds": round(self.seconds, 4), "jobs": self.jobs, "blas_threads_per_worker": 1,
               "resumed_from_checkpoint": self.resumed, "computed": self.computed, "checkpoint": self.checkpoint,
               "early_stop": self.early_stop, "n_used": self.n_used,
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


def sequential_p(exceed: np.ndarray, early_stop: int = 0) -> tuple[float | None, int, int, bool]:
    """``(p, C, N, stopped)`` from a row-ordered boolean array of "at least as extreme" (NaN: undefined).

    Without stopping (or before the ``early_stop``-th exceedance) p = (C + 1) / (N + 1) over the N defined
    rows; at the h-th exceedance, at defined row L, the sequential rule stops with p = h / L.
    """
    exceed = np.asarray(exceed, float)
    valid = exceed[~np.isnan(exceed)]
    if len(valid) == 0:
        return None, 0, 0, False
    if early_stop > 0:
        hits = np.flatnonzero(valid > 0.5)
        if len(hits) >= early_stop:
            used = int(hits[early_stop - 1]) + 1
            return early_stop / used, early_stop, used, True
    c = int(np.sum(valid > 0.5))
    return (c + 1) / (len(valid) + 1), c, len(valid), False


def _exceed(observed: float, null: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """1.0 where a permuted value is at least as good as ``observed`` (at most, lower-is-better), NaN if undefined."""
    null = np.asarray(null, float)
    tol = _TOL * max(1.0, abs(observed))
    hit = null >= observed - tol if higher_is_better else null <= observed + tol
    return np.where(np.isnan(null), np.nan, hit.astype(float))


def p_value(observed: float, null: np.ndarray, higher_is_better: bool = True,
            early_stop: int = 0) -> tuple[float | None, int, int]:
    """``(p, C, n_undefined)`` with p = (C + 1) / (N + 1) over the defined permuted values (or the sequential rule)."""
    null = np.asarray(null, float)
    undefined = int(np.isnan(null).sum())
    if observed is None or not np.isfinite(observed):
        return None, 0, undefined
    p, c, _, _ = sequential_p(_exceed(observed, null, higher_is_better), early_stop)
    return p, c, undefined


# ---- computing rows ----
@dataclass
class RowEngine:
    """How the rows of a pipeline are computed: directly from label rows, or by refitting."""

    method: str
    reason: str
    predict: Callable | None = None  # Y (P, n) -> (pred (P, n), scores (P, n, k)); None: generic refit


def row_engine(prepared, method: str = "auto", jobs: int = 1) -> RowEngine:
    """The fastest exact way to compute rows for ``prepared`` (``method``: auto, exact, batched, generic)."""
    if method not in ("auto", "exact", "batched", "generic"):
        raise MebenchError(f"unknown permutation method {method!r}; choose auto, exact, batched or generic.")
    k = len(prepared.classes)
    ok, why = linear_path_available(prepared)
    if method == "exact" and not ok:
        raise MebenchError(f"--method exact is not possible: {why}. Use --method generic (or auto).")
    if ok and method in ("auto", "exact"):
        with one_blas_thread():
            op = ridge_operator(prepared, jobs=jobs, pin_blas=False)
        return RowEngine("exact", why, lambda Y: linear_predict(op, Y, k))
    batched = _batched_engine(prepared, method, jobs)
    if batched is not None:
        return batched
    if method == "generic":
        return RowEngine("generic", "refit through run.cross_predict for every permutation (requested)")
    return RowEngine("generic", why + "; refitting per permutation")


def _batched_engine(prepared, method: str, jobs: int) -> RowEngine | None:
    """The batched logistic-regression path when it applies (classifier logreg on stateless features)."""
    if method not in ("auto", "batched"):
        return None
    ok, why = logreg_path_available(prepared)
    if not ok:
        if method == "batched":
            raise MebenchError(f"--method batched is not possible: {why}. Use --method generic (or auto).")
        return None
    op = logreg_operator(prepared, jobs=jobs)
    k = len(prepared.classes)
    return RowEngine("batched", why, lambda Y: logreg_predict(op, Y, k))


def row_store(prepared, scheme: str, seed: int, metrics, directory=None) -> RowStore:
    """The store of ``prepared``'s rows under (scheme, seed), read from ``directory`` when it holds one."""
    ev = prepared.evaluated
    subjects = sorted(set(prepared.samples["subject_id"].astype(str).to_numpy()[ev].tolist()))
    key = {"stream": stream_key(prepared, scheme, seed), "pipeline": pipeline_key(prepared)}
    return open_store(directory, key, store_metrics(metrics), subjects)


def _summaries(prepared, store, Y, P, S):
    from ..influence import influence_sums

    ev = prepared.evaluated
    sc = subject_codes(prepared.samples["subject_id"].to_numpy()[ev])
    return influence_sums(store.metrics, Y[:, ev], P[:, ev], S[:, ev], sc, len(store.subjects),
                          len(prepared.classes))


def observed_row(prepared, engine: RowEngine, store: RowStore) -> tuple[np.ndarray, np.ndarray, float]:
    """The refit on the observed labels: values (M,), sums (S, M) and the seconds it took."""
    t0 = time.perf_counter()
    y = np.asarray(prepared.y)[None, :]
    if engine.predict is not None:
        with one_blas_thread():
            P, S = engine.predict(y)
        values, sums = _summaries(prepared, store, y, P, S)
    else:
        ev = prepared.evaluated
        sc = subject_codes(prepared.samples["subject_id"].to_numpy()[ev])
        _, values, sums = next(generic_rows(prepared, [(-1, y)], store.metrics, sc, len(store.subjects)))
    return values[0], sums[0], time.perf_counter() - t0


def compute_rows(prepared, engine: RowEngine, store: RowStore, scheme: str, seed: int, stop: int, jobs: int = 1,
                 backend: str | None = None, chunk: int | None = None, progress: Callable | None = None) -> int:
    """Compute the rows 0..stop-1 missing from ``store``, saving it as they arrive; returns how many were computed."""
    y = np.asarray(prepared.y)
    subjects = prepared.samples["subject_id"].astype(str).to_numpy()
    todo = [i for i in range(stop) if i not in store.rows]
    if not todo:
        return 0
    done = stop - len(todo)
    if engine.predict is not None:
        n, k = len(y), len(prepared.classes)
        step = max(1, int(4e6 // max(n * k, 1)))  # ~32 MB of scores per chunk
        for part in chunked(todo, step):
            Y = permuted_codes(y, subjects, scheme, seed, part[0], part[-1] + 1)
            with one_blas_thread():
                P, S = engine.predict(Y)
            store.add(part[0], *_summaries(prepared, store, Y, P, S))
            done += len(part)
            if progress:
                progress(done, stop)
        store.save()
        return len(todo)
    ev = prepared.evaluated
    sc = subject_codes(subjects[ev])
    tasks = [(c[0], permuted_codes(y, subjects, scheme, seed, c[0], c[-1] + 1))
             for c in chunked(todo, chunk or default_chunk_size(len(todo), jobs))]
    for start, values, sums in generic_rows(prepared, tasks, store.metrics, sc, len(store.subjects), jobs, backend):
        store.add(start, values, sums)
        store.save()
        done += len(values)
        if progress:
            progress(done, stop)
    return len(todo)


def _announce(notify, seconds: float, rows: int, how: str) -> None:
    """Print the estimated time of the rows still to compute when it exceeds a few seconds."""
    if notify and rows > 0 and seconds > 3:
        notify(f"about {seconds:.0f} s for up to {rows} more permutation rows ({how}); the sequential rule stops "
               "earlier when p is clearly large")


def _rounds(total: int, first: int) -> list[int]:
    """Row counts after which the sequential rule is checked: doubling from ``first`` up to ``total``."""
    out, n = [], max(1, first)
    while n < total:
        out.append(n)
        n *= 2
    return out + [total]


def permutation_test(prepared, n_permutations: int = 1000, metrics=None, seed: int = 0, jobs: int = 1,
                     method: str = "auto", scheme: str = "auto", checkpoint_dir=None,
                     progress: Callable | None = None, chunk_size: int | None = None,
                     backend: str | None = None, early_stop: int = DEFAULT_EARLY_STOP,
                     notify: Callable | None = None) -> PermutationResult:
    """Permutation test of every metric against chance, refitting the pipeline per permutation.

    ``method``: ``auto`` (the fastest exact path that applies), ``exact`` (ridge), ``batched``
    (logistic regression) or ``generic``. ``jobs``: worker processes of the generic path, threads of
    the exact path's precomputation (BLAS one thread each). ``scheme``: ``auto`` (see
    :func:`choose_scheme`) or one of ``SCHEMES``. ``checkpoint_dir``: the run directory whose row store
    is read and extended. ``early_stop``: h of the sequential rule (0: all permutations).
    ``progress(done, total)`` is called as rows finish; ``notify(text)`` gets the time estimate.
    """
    t0 = time.perf_counter()
    if n_permutations < 1:
        raise MebenchError(f"the permutation test needs at least one permutation, got {n_permutations}.")
    jobs = usable_workers(jobs)  # no more workers than the CPUs the current load leaves free
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
    engine = row_engine(prepared, method, jobs)
    arrangements = arrangement_summary(y, subjects, scheme, n_permutations)
    if arrangements["n_arrangements"] is not None and arrangements["n_arrangements"] <= n_permutations:
        notes.append(f"the '{scheme}' scheme reaches only {arrangements['n_arrangements']} distinct label arrangements, "
                     f"fewer than the {n_permutations} permutations drawn: the smallest attainable p is about "
                     f"{arrangements['smallest_p']:.2g}.")
    store = row_store(prepared, scheme, seed, metric_names, checkpoint_dir)
    resumed = store.prefix(n_permutations)
    obs_values, obs_sums, seconds = observed_row(prepared, engine, store)
    store.rows[-1] = (obs_values, obs_sums)  # the same procedure's observed row, for the paired test
    if early_stop == 0:  # every row up to n_permutations will be computed: a fixed design another test may use
        store.planned = max(store.planned, n_permutations)
    cols = [store.metrics.index(m) for m in metric_names]
    observed = {name: float(obs_values[c]) for name, c in zip(metric_names, cols)}
    hib = {name: bool(getattr(m, "higher_is_better", True)) for name, m in zip(metric_names, metric_objs)}
    missing = n_permutations - resumed
    if engine.predict is None:  # one refit per row: the observed refit's time, per worker
        _announce(notify, seconds * missing / max(1, jobs), missing, f"{seconds:.2f} s each, {jobs} job(s)")
    computed, used = 0, resumed
    first = 50 if engine.predict is None else min(16, n_permutations)  # direct paths: time a small batch first
    for target in _rounds(n_permutations, first):
        t_round = time.perf_counter()
        done = compute_rows(prepared, engine, store, scheme, seed, target, jobs, backend, chunk_size, progress)
        if engine.predict is not None and computed == 0 and done:
            per_row = (time.perf_counter() - t_round) / done
            _announce(notify, per_row * (n_permutations - target), n_permutations - target,
                      f"{engine.method} path, {per_row * 1000:.1f} ms per row")
        computed += done
        used = target
        values, _ = store.arrays(target, metric_names)
        if early_stop > 0 and all(not np.isfinite(observed[m]) or sequential_p(
                _exceed(observed[m], values[:, j], hib[m]), early_stop)[3] for j, m in enumerate(metric_names)):
            break
    values, _ = store.arrays(used, metric_names)
    p_values, counts, undefined, stopped = {}, {}, {}, {}
    for j, name in enumerate(metric_names):
        col = values[:, j]
        undefined[name] = int(np.isnan(col).sum())
        if not np.isfinite(observed[name]):
            p_values[name], counts[name], stopped[name] = None, 0, None
            notes.append(f"{name}: undefined on the observed labels, so it has no p-value.")
            continue
        p, c, n_valid, halted = sequential_p(_exceed(observed[name], col, hib[name]), early_stop)
        p_values[name], counts[name] = p, c
        stopped[name] = n_valid if halted else None
        if undefined[name]:
            notes.append(f"{name}: undefined on {undefined[name]} of {used} permutations; the p-value uses "
                         f"the {used - undefined[name]} where it is defined.")
    return PermutationResult(
        scheme=scheme, scheme_reason=scheme_reason, method=engine.method, method_reason=engine.reason,
        n_permutations=n_permutations, seed=int(seed), metrics=metric_names, observed=observed,
        null={name: values[:, j] for j, name in enumerate(metric_names)}, p_values=p_values,
        n_undefined=undefined, counts=counts, higher_is_better=hib, seconds=time.perf_counter() - t0,
        arrangements=arrangements, resumed=resumed, computed=computed, jobs=jobs,
        checkpoint=str(store.path) if store.path else None, notes=notes, early_stop=early_stop, stopped=stopped,
        n_used=used, rows=store)
