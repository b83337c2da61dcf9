"""Permutation rows of stored runs, for the refit studentised paired test: reused, or refit when allowed.

``mebench stats`` keeps every refit's row summary in the run (:mod:`.permutation.rows`). A comparison
takes those rows when the runs hold them for the same stream (scheme and seed); rows that are missing
are refit (both pipelines on the same folds), round by round, until every test is settled by the
sequential rule or all rows are there. Refits are refused under ``--no-refit``/``--offline``, and
nets (expensive classifiers) refit only when asked; the caller then falls back to the subject swap.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import MebenchError
from .influence import influence_sums
from .permutation.rows import run_stores, store_metrics
from .permutation.schemes import choose_scheme, subject_codes
from .studentised import PipelineRows, decided


@dataclass
class RowsOutcome:
    """Rows per run (None where the run has none and may not be refit) and why."""

    rows: list
    missing: dict = field(default_factory=dict)     # run index -> reason
    refit: dict = field(default_factory=dict)       # run index -> rows computed now
    reused: dict = field(default_factory=dict)      # run index -> rows taken from the run's store
    paths: dict = field(default_factory=dict)       # run index -> the store file read or written
    unsettled: set = field(default_factory=set)     # (i, j, metric) tests the stored rows cannot settle
    scheme: str = ""
    seed: int = 0


def is_expensive(run, plugins=()) -> bool:
    """Whether the run's classifier is a net (refits take hours): it refits only when asked."""
    from ..registry import CLASSIFIERS, load_plugin_file

    if getattr(run, "manifest", None) is None:  # not a stored run directory (a seed ensemble)
        return False
    for plugin in plugins:
        load_plugin_file(plugin)
    name = run.manifest.config.get("classifier")
    try:
        return bool(getattr(CLASSIFIERS.get(name), "expensive", False)) if name else False
    except MebenchError:
        return False


def find_store(run, scheme: str, seed: int, metrics):
    """The run's stored rows for (scheme, seed) that belong to this run's pipeline and folds, or None (also for a
    run that is not a stored run directory, such as a seed ensemble)."""
    if getattr(run, "manifest", None) is None or getattr(run, "dir", None) is None:
        return None
    held = hashlib.sha256("\n".join(sorted(run.predictions["sample_id"].astype(str))).encode()).hexdigest()
    best = None
    for store in run_stores(run.dir):
        stream, pipe = store.key.get("stream", {}), store.key.get("pipeline", {})
        if (stream.get("scheme") != scheme or stream.get("seed") != seed or stream.get("held_out") != held
                or pipe.get("fold_hash") != run.manifest.fold_hash or not set(metrics) <= set(store.metrics)):
            continue
        if pipe.get("config") != run.manifest.config:
            continue
        if best is None or len(store.rows) > len(best.rows):
            best = store
    return best


def observed_sums(run, metrics) -> tuple[np.ndarray, np.ndarray]:
    """Values (M,) and per-subject influence sums (S, M) of a run's stored predictions."""
    subjects = np.asarray(run.subjects).astype(str)
    sc = subject_codes(subjects)
    values, sums = influence_sums(metrics, run.y[None], run.pred[None], run.scores[None], sc,
                                  int(sc.max()) + 1, len(run.classes))
    return values[0], sums[0]


def rows_for_runs(runs, metrics, n_permutations: int, seed: int = 0, scheme: str = "auto", pairs=None,
                  refit: bool = True, refit_nets: bool = False, early_stop: int = 0, jobs: int = 1,
                  backend: str | None = None, plugins=(), notify: Callable | None = None,
                  progress: Callable | None = None) -> RowsOutcome:
    """The permutation rows of every run, reusing stored rows and refitting missing ones when allowed.

    ``pairs``: ``[(i, j, metric)]`` tests to settle; rows are refit round by round (doubling from 50)
    until each is settled by the sequential rule with ``early_stop`` or all ``n_permutations`` rows exist.
    Without refits, a test that the rows at hand neither complete nor settle is listed in ``unsettled``
    (fewer rows were kept for another test, so they cannot stand for this one).
    The observed statistic comes from the same refit procedure as the rows (a store's row -1) where a
    store has it, else from the stored predictions.
    """
    from ..fsutil import unwritable_reason
    from .permutation import compute_rows, observed_row, prepared_from_run, row_engine, row_store

    names = store_metrics(metrics)
    if scheme == "auto":
        scheme = _stored_scheme(runs, seed) or choose_scheme(runs[0].y, np.asarray(runs[0].subjects).astype(str))[0]
    out = RowsOutcome([None] * len(runs), scheme=scheme, seed=seed)
    stores, prepared, engines = {}, {}, {}
    for i, run in enumerate(runs):
        stores[i] = find_store(run, scheme, seed, names)
        out.reused[i] = 0 if stores[i] is None else stores[i].prefix(n_permutations)
    targets, n = [], 50
    while n < n_permutations and refit and pairs:
        targets.append(n)
        n *= 2
    targets.append(n_permutations)
    for target in targets:
        for i, run in enumerate(runs):
            have = 0 if stores[i] is None else stores[i].prefix(target)
            if have >= target or i in out.missing:
                continue
            why = None
            if not refit_nets and is_expensive(run, plugins):
                why = "its classifier is a net, which refits only when asked (--refit-nets)"
            elif not refit:
                why = "refits are off (--no-refit or --offline)"
            if why is not None:
                if have == 0:
                    out.missing[i] = why
                continue
            if i not in prepared:
                prepared[i], _ = prepared_from_run(run, plugins=plugins)
                engines[i] = row_engine(prepared[i], "auto", jobs)
                writable = unwritable_reason(run.dir) is None  # a read-only run: rows kept in memory only
                stores[i] = row_store(prepared[i], scheme, seed, names, run.dir if writable else None)
                _check_stream(runs, stores, i)
                values, sums, seconds = observed_row(prepared[i], engines[i], stores[i])
                stores[i].rows[-1] = (values, sums)
                estimate = seconds * (n_permutations - have) / max(1, jobs if engines[i].predict is None else 1)
                if notify and estimate > 3:
                    notify(f"refitting {run.label} ({run.run_id}) on up to {n_permutations - have} permutation rows "
                           f"({engines[i].method} path): about {estimate:.0f} s")
                if notify and not writable:
                    notify(f"{run.dir} is not writable: its rows are kept in memory only")
            out.refit[i] = out.refit.get(i, 0) + compute_rows(prepared[i], engines[i], stores[i], scheme, seed,
                                                               target, jobs, backend, progress=progress)
        for i, run in enumerate(runs):
            if i not in out.missing and stores[i] is not None:
                out.paths[i] = stores[i].path
                values, sums = stores[i].arrays(stores[i].prefix(target), names)
                observed = stores[i].observed(names) or observed_sums(run, names)
                out.rows[i] = PipelineRows(names, *observed, values, sums, scheme, seed)
        if all(out.rows[i] is None or out.rows[j] is None or decided(out.rows[i], out.rows[j], m, n_permutations,
                                                                     early_stop)
               for i, j, m in (pairs or [])):
            break
    out.unsettled = {(i, j, m) for i, j, m in (pairs or []) if out.rows[i] is not None and out.rows[j] is not None
                     and not decided(out.rows[i], out.rows[j], m, n_permutations, early_stop)
                     and not _fixed_design(stores[i], stores[j])}
    _check_stream(runs, stores, None)
    return out


def _fixed_design(a, b) -> bool:
    """Whether the rows both stores hold were all asked for without an early stop (a fixed number of rows, so
    p = (1 + C) / (L + 1) over them is valid whatever another test did with them)."""
    held = min(a.prefix(), b.prefix())
    return held > 0 and min(a.planned, b.planned) >= held


def _stored_scheme(runs, seed: int) -> str | None:
    """The scheme of the rows every run already holds for ``seed`` (what ``mebench stats`` chose), if one."""
    common = None
    for run in runs:
        schemes = {s.key.get("stream", {}).get("scheme") for s in run_stores(run.dir)
                   if s.key.get("stream", {}).get("seed") == seed}
        common = schemes if common is None else common & schemes
    return next(iter(common)) if common and len(common) == 1 else None


def _check_stream(runs, stores, new) -> None:
    """Refuse rows of two runs drawn from different label streams (never mix them)."""
    keyed = [(i, s.key["stream"]) for i, s in stores.items() if s is not None]
    for i, key in keyed[1:]:
        j, ref = keyed[0]
        if key != ref:
            diff = ", ".join(k for k in sorted(set(key) | set(ref)) if key.get(k) != ref.get(k))
            raise MebenchError(
                f"the permutation rows of {runs[j].dir} and {runs[i].dir} come from different label streams (they "
                f"differ in {diff}); a paired test needs the same rows for both. Recompute them with the same "
                f"--seed and --scheme: mebench stats RUN --seed {ref.get('seed')} for each run.")

