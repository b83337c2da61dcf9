"""Statistics over stored run directories: ``mebench stats`` and ``mebench compare``.

Everything is recomputed from ``predictions.parquet`` (the unit of truth); the permutation test
also replays the run's configuration (``manifest.json``) to refit the pipeline, and refuses when
the replayed samples, labels or folds differ from the stored run.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import MebenchError

STATS_FILE = "stats.json"


def _block_name(key) -> str:
    """dataset/task/protocol with the first 8 hex digits of the sample and fold hashes (distinct
    blocks of one dataset, e.g. other dataset options, get distinct names)."""
    return f"{key[0]}/{key[1]}/{key[2]}#{str(key[3])[:8]}.{str(key[4])[:8]}"


def _check_level_and_seed(level: float, seed: int) -> None:
    if not 0 < level < 1:
        raise MebenchError(f"the confidence level must lie in (0, 1), got {level}.")
    if seed < 0:
        raise MebenchError(f"the seed must be non-negative, got {seed}.")


def _metric_names(run, metrics=None) -> list[str]:
    """``metrics`` or the run's own (:meth:`mebench.store.StoredRun.metric_names`), each a known metric."""
    from ..registry import METRICS

    names = list(metrics) if metrics else run.metric_names()
    for n in names:
        METRICS.entry(n)  # unknown names: UnknownNameError with suggestions
    if not names:
        raise MebenchError(f"{run.dir}: no metrics to test; pass --metric.")
    return names


def per_subject_from_predictions(predictions, metric_names) -> dict:
    """The per-subject diagnostics block from a stored ``predictions.parquet`` table."""
    from ..metrics.diagnostics import PER_SUBJECT_NOTE, per_subject, undefined_counts
    from ..store import classes_of, score_columns

    classes = classes_of(predictions)
    entries = per_subject(predictions["y_true"].astype(str).to_numpy(), predictions["y_pred"].astype(str).to_numpy(),
                          predictions[score_columns(predictions)].to_numpy(float), classes,
                          predictions["subject_id"].astype(str).to_numpy(), metric_names)
    return {"subjects": entries, "n_subjects": len(entries), "n_undefined": undefined_counts(entries, metric_names),
            "note": PER_SUBJECT_NOTE}


# ---- mebench stats ----
DEFAULT_PERMUTATIONS = 1000


def _refuse_implicit_refits(run: dict, plugins=()) -> None:
    """A permutation test refits the whole pipeline per permutation; for a net that can mean days, so it
    runs only when ``--permutations`` is given, after saying how long it will take."""
    from ..registry import CLASSIFIERS, load_plugin_file

    man = run.manifest
    name = man.config.get("classifier")
    for plugin in plugins:
        load_plugin_file(plugin)
    try:
        factory = CLASSIFIERS.get(name) if name else None
    except MebenchError:
        return  # an unknown classifier is reported by the refit itself
    if not getattr(factory, "expensive", False):
        return
    folds = man.protocol.get("n_folds") or 1
    per_run = float(man.raw.get("duration_s") or 0.0)
    hours = per_run * DEFAULT_PERMUTATIONS / 3600
    raise MebenchError(
        f"the permutation test refits {name!r} on all {folds} folds for every permutation; the run itself took "
        f"{per_run:.0f} s, so {DEFAULT_PERMUTATIONS} permutations would take about {hours:.1f} hours of training "
        f"(divided by --jobs). Pass --permutations N explicitly to start it (N=0 skips it and keeps the bootstrap "
        "intervals).")


def _widened_intervals(run, names, perm, level: float) -> dict:
    """Each metric's interval widened by the run's permutation rows
    (:func:`mebench.stats.studentised.widened_interval`)."""
    from .calibration import interval_coverage
    from .influence import has_influence
    from .stored_rows import observed_sums
    from .studentised import widened_interval

    store = perm.rows
    if store is None:
        return {}
    values, sums = store.arrays(store.prefix(perm.n_used or perm.n_permutations))
    obs_values, obs_sums = observed_sums(run, store.metrics)
    out = {}
    for name in names:
        if has_influence(name) and name in store.metrics:
            j = store.metrics.index(name)
            out[name] = {**widened_interval(obs_values[j], obs_sums[:, j], values[:, j], sums[:, :, j], level),
                         "coverage": interval_coverage(name, "perm", "single")}
    return out


def run_stats(run_dir, n_permutations: int | None = None, n_resamples: int = 2000, jobs: int = 1, seed: int = 0,
              method: str = "auto", scheme: str = "auto", ci: str = "bca", level: float = 0.95, metrics=None,
              plugins=(), progress=None, write: bool = True, backend: str | None = None,
              early_stop: int | None = None, notify=None) -> dict:
    """Bootstrap intervals, per-subject diagnostics and the permutation test for one run.

    Writes ``stats.json`` into the run directory (``metrics.json`` and the other run files are never
    rewritten). Returns the ``stats.json`` content. ``n_permutations=None`` means the default (1000),
    except for an expensive classifier (a net), whose refits must be asked for explicitly.
    """
    from ..errors import DiskFullError
    from ..fsutil import unwritable_reason, write_json
    from ..metrics.batch import batch_metrics
    from ..store import open_run
    from .bootstrap import cluster_bootstrap
    from .calibration import interval_coverage
    from .permutation import DEFAULT_EARLY_STOP, permutation_test, prepared_from_run

    t0 = time.perf_counter()
    run_for_gate = open_run(run_dir) if n_permutations is None else None
    if n_permutations is None:
        _refuse_implicit_refits(run_for_gate, plugins)
        n_permutations = DEFAULT_PERMUTATIONS
    if n_resamples < 1:
        raise MebenchError(f"--bootstrap must be at least 1, got {n_resamples}.")
    if n_permutations < 0:
        raise MebenchError(f"--permutations must be 0 (skip) or positive, got {n_permutations}.")
    _check_level_and_seed(level, seed)
    run = arr = run_for_gate or open_run(run_dir)
    # a run on a read-only disk (an archive, a shared mount) still gets its statistics, printed and not stored
    unwritable = unwritable_reason(run.dir) if write else None
    store = write and unwritable is None
    names = _metric_names(run, metrics)
    values = batch_metrics(names, arr.classes, arr.y[None], arr.pred[None], arr.scores[None])[0]
    boot = cluster_bootstrap(arr.y, arr.pred, arr.scores, arr.subjects, arr.classes, names, n_resamples, seed,
                             level, ci)
    notes: list[str] = []
    stored = run.metrics.get("pooled", {})
    for name, v in zip(names, values):
        s = stored.get(name)
        if s is not None and np.isfinite(v) and abs(float(s) - v) > 1e-9:
            notes.append(f"{name}: metrics.json says {s}, the stored predictions give {v}; the predictions are used.")
    perm = None
    if n_permutations > 0:
        try:
            prepared, _ = prepared_from_run(run, plugins=plugins)
        except MebenchError as exc:
            if "--permutations 0" in str(exc):
                raise
            raise type(exc)(f"{exc} (The permutation test refits the pipeline, so it needs the run's dataset and "
                            "plugins: pass --plugins for plugin components, or --permutations 0 for bootstrap "
                            "intervals only.)") from None
        perm = permutation_test(prepared, n_permutations=n_permutations, metrics=names, seed=seed, jobs=jobs,
                                method=method, scheme=scheme, checkpoint_dir=run.dir if store else None,
                                progress=progress, backend=backend, notify=notify,
                                early_stop=DEFAULT_EARLY_STOP if early_stop is None else early_stop)
        for name, v in zip(names, values):
            o = perm.observed.get(name)
            if o is not None and np.isfinite(o) and np.isfinite(v) and abs(o - v) > 1e-9:
                notes.append(f"{name}: refitting the pipeline gives {o:.6g}, the stored predictions {v:.6g}; the run "
                             "is not bit-for-bit reproducible, so its permutation p-value refers to the refit.")
        notes.extend(perm.notes)
    per_subject = per_subject_from_predictions(run.predictions, names)
    widened = _widened_intervals(run, names, perm, level) if perm else {}
    out_metrics = {}
    for j, name in enumerate(names):
        iv = boot[name]
        entry = {"value": iv.value, "ci_low": iv.ci_low, "ci_high": iv.ci_high, "ci_method": iv.method_label(),
                 "p_value": perm.p_values[name] if perm else None, "bootstrap": iv.to_dict(), "notes": list(iv.notes),
                 "ci_coverage": interval_coverage(name, ci), "ci_rows": widened.get(name)}
        if perm:
            entry["p_value_test"] = perm.describe(name)
            entry["permutation_observed"] = perm.observed[name]
        else:
            entry["p_value_test"] = {"test": "none: the permutation test was skipped (--permutations 0)"}
        out_metrics[name] = entry
    result = {
        "run_id": arr.run_id,
        "run_dir": str(run.dir),
        "pipeline": arr.label,
        "n": int(len(arr.y)),
        "n_subjects": int(len(np.unique(arr.subjects))),
        "classes": arr.classes,
        "metrics": out_metrics,
        "bootstrap": {"method": ci, "level": level, "n_resamples": n_resamples, "seed": seed,
                      "unit": "subject (all held-out predictions of a drawn subject are kept)",
                      "description": ("subject-cluster bootstrap: subjects resampled with replacement, pooled metric "
                                      "recomputed; percentile and BCa intervals (BCa acceleration from the "
                                      "leave-one-subject-out jackknife)"),
                      "assumptions": ("subjects independent; the held-out predictions are taken as given, so the "
                                      "interval covers the sampling of test subjects, not the variability of "
                                      "training sets across cross-validation folds (Bengio & Grandvalet 2004)")},
        "permutation": perm.to_dict(include_null=True) if perm else {"skipped": True, "reason": "--permutations 0"},
        "per_subject": per_subject,
        "notes": notes,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if write:  # beside metrics.json, which is never rewritten; records the run files it came from
        result["inputs"] = dict(run.manifest.files)
        if store:
            try:
                write_json(Path(run.dir) / STATS_FILE, result)
            except DiskFullError as exc:  # filled up meanwhile
                unwritable = exc.reason
            except OSError as exc:  # made read-only meanwhile
                unwritable = exc.strerror or str(exc)
        if unwritable is not None:
            result["stored"] = False
            notes.append(f"nothing could be stored in {run.dir} ({unwritable}): the statistics above are complete but "
                         f"{STATS_FILE} and the permutation checkpoints were not written. Copy the run to a writable "
                         "folder and run mebench stats there to keep them.")
    return result


def store_rows(run_dir, n_permutations: int, seed: int = 0, scheme: str = "auto", jobs: int = 1, plugins=(),
               progress=None) -> dict:
    """Refit a stored run on permutation rows 0..n_permutations-1 and keep them in the run (no early stop).

    What ``mebench bench`` does for every ranked pipeline, so that its leaderboard marks need no refit.
    Returns ``{"scheme", "seed", "rows", "computed", "method", "path"}``.
    """
    from ..store import open_run
    from .permutation import choose_scheme, compute_rows, observed_row, prepared_from_run, row_engine, row_store

    run = open_run(run_dir)
    prepared, _ = prepared_from_run(run, plugins=plugins)
    if scheme == "auto":
        scheme = choose_scheme(prepared.y, prepared.samples["subject_id"].astype(str).to_numpy())[0]
    engine = row_engine(prepared, "auto", jobs)
    store = row_store(prepared, scheme, seed, _metric_names(run), run.dir)
    store.rows[-1] = observed_row(prepared, engine, store)[:2]  # the observed statistic by the same procedure
    store.planned = max(store.planned, n_permutations)
    computed = compute_rows(prepared, engine, store, scheme, seed, n_permutations, jobs, progress=progress)
    return {"scheme": scheme, "seed": seed, "rows": store.prefix(), "computed": computed, "method": engine.method,
            "path": str(store.path)}


# ---- mebench compare ----
def check_comparable(runs: list) -> None:
    """Refuse (MebenchError) unless every run shares the first run's dataset fingerprint and folds."""
    from ..formatting import show_value

    ref = runs[0].fingerprint()
    for r in runs[1:]:
        fp = r.fingerprint()
        diff = [k for k in ref if ref[k] != fp[k]]
        if diff:
            detail = "; ".join(f"{k}: {show_value(ref[k])} vs {show_value(fp[k])}" for k in diff)
            raise MebenchError(
                f"cannot compare {runs[0].dir} with {r.dir}: they differ in {', '.join(diff)} ({detail}). "
                "A paired comparison needs the same samples, labels and folds in both runs; otherwise a difference "
                "in scores could come from the data or the split rather than the pipelines. Re-run both pipelines "
                "on the same dataset version and protocol, or rank pipelines across datasets with --across-datasets.")


DEFAULT_ROWS = 999


def compare_runs(run_dirs, metrics=None, n_permutations: int = DEFAULT_ROWS, n_resamples: int = 2000, seed: int = 0,
                 ci: str = "bca", level: float = 0.95, n_swaps: int = 10000, refit: bool = True,
                 refit_nets: bool = False, early_stop: int | None = None, scheme: str = "auto", jobs: int = 1,
                 backend: str | None = None, plugins=(), notify=None, progress=None, row_progress=None) -> dict:
    """Paired comparisons of pipelines run on the same samples and folds.

    Two runs: A vs B. More: every run against the best one for each metric. The primary test is the
    refit studentised paired permutation test (:mod:`mebench.stats.studentised`) on ``n_permutations``
    rows of the permutation stream (scheme, seed), taken from the runs' stored rows and refit where
    missing (``refit``; nets only with ``refit_nets``). Runs that cannot get rows (a net not asked to
    refit) are compared by the subject swap, descriptive. The p-values whose test is in band
    (:mod:`mebench.stats.calibration`) are Holm-corrected together.
    """
    from ..metrics.batch import batch_metrics
    from ..model_files import offline
    from ..registry import METRICS
    from ..store import open_run
    from .multiple import best_index, best_versus_rest, pair_indices
    from .permutation import DEFAULT_EARLY_STOP
    from .stored_rows import rows_for_runs

    if len(run_dirs) < 2:
        raise MebenchError("compare needs at least two run directories.")
    if n_permutations < 1:
        raise MebenchError(f"--permutations must be positive, got {n_permutations}.")
    _check_level_and_seed(level, seed)
    early_stop = DEFAULT_EARLY_STOP if early_stop is None else early_stop
    runs = arrs = [open_run(d) for d in run_dirs]
    check_comparable(runs)
    names = metrics or [m for m in _metric_names(runs[0]) if all(m in r.metrics.get("pooled", {}) for r in runs)]
    names = _metric_names(runs[0], names)
    base = arrs[0]
    aligned = [a.aligned_to(base) for a in arrs]
    labels = [f"{a.label} ({a.run_id})" for a in arrs]
    ids = [a.run_id for a in arrs]
    from .influence import has_influence

    pairs = []
    for name in [n for n in names if has_influence(n)]:
        hib = bool(getattr(METRICS.get(name), "higher_is_better", True))
        values = [batch_metrics([name], base.classes, base.y[None], p[None], sc[None])[0, 0] for p, sc in aligned]
        pairs += [(i, j, name) for i, j in pair_indices(len(arrs), best_index(values, hib, ids))]
    refit = refit and not offline()
    outcome = rows_for_runs(runs, names, n_permutations, seed, scheme, pairs, refit=refit, refit_nets=refit_nets,
                            early_stop=early_stop, jobs=jobs, backend=backend, plugins=plugins, notify=notify,
                            progress=row_progress)
    if not refit:
        lacking = [i for i, why in outcome.missing.items() if "net" not in why]
        if lacking:
            run = runs[lacking[0]]
            raise MebenchError(
                f"run {run.dir} holds no permutation rows for scheme '{outcome.scheme}' and seed {seed}, and refits "
                "are "
                f"off ({'--offline' if offline() else '--no-refit'}). Store them first with `mebench stats {run.dir} "
                f"--seed {seed}` (it keeps the rows in the run), or drop --no-refit/--offline so compare refits the "
                "pipelines itself.")
    if not refit and outcome.unsettled:
        i, j, name = sorted(outcome.unsettled)[0]
        held = {k: len(outcome.rows[k].values) for k in (i, j)}
        raise MebenchError(
            f"the stored permutation rows of {runs[i].dir} ({held[i]} rows) and {runs[j].dir} ({held[j]} rows) neither "
            f"reach --permutations {n_permutations} nor settle the {name} test by the sequential rule (they were kept "
            "for another test), and refits are off. Drop --no-refit so compare refits the missing rows, or store "
            f"more with `mebench stats RUN --seed {seed} --permutations {n_permutations} --early-stop 0`.")
    res = best_versus_rest(base.y, aligned, base.subjects, base.classes, names, ids, n_swaps, seed,
                           intervals={"n_resamples": n_resamples, "level": level, "ci": ci}, rows=outcome.rows,
                           n_rows=n_permutations, early_stop=early_stop, progress=progress)
    out = {"mode": "same-dataset", "runs": [{"run_id": a.run_id, "pipeline": a.label, "run_dir": str(a.dir)}
                                            for a in arrs],
           "n": int(len(base.y)), "n_subjects": int(len(np.unique(base.subjects))), "metrics": {}}
    for name in names:
        comps = []
        for c in res.comparisons[name]:
            row = {"a": labels[c.a], "b": labels[c.b], "run_a": arrs[c.a].run_id, "run_b": arrs[c.b].run_id,
                   **c.detail, "p_values": {t: v.get("p_value") for t, v in c.detail["tests"].items()},
                   "p_holm": c.p_holm}
            if not c.in_family:
                row["p_holm_note"] = "outside the Holm family: " + c.calibration.get("note", "not calibrated")
            comps.append(row)
        entry = {"higher_is_better": bool(getattr(METRICS.get(name), "higher_is_better", True)), "comparisons": comps}
        if len(arrs) > 2:
            entry["best"] = labels[res.best[name]]
            entry["best_note"] = ("the best run is chosen on these same data, so the comparisons with it are post hoc; "
                                  "the Holm correction covers them for the metrics in its family (see correction)")
        else:  # two runs: the single comparison's fields at the metric level too
            entry.update({k: comps[0][k] for k in ("value_a", "value_b", "delta", "ci_low", "ci_high", "ci_method",
                                                   "p_value", "p_values")})
            entry["value"] = comps[0]["value_a"]
            entry["p_holm"] = comps[0]["p_holm"]
        out["metrics"][name] = entry
    kept = sorted({c.metric for name in names for c in res.comparisons[name] if c.in_family})
    left = [name for name in out["metrics"] if name not in kept]
    out["correction"] = (f"Holm over the {res.n_family} primary p-values whose test is calibrated "
                         f"({', '.join(kept) or 'none here'}); statsmodels multipletests, method='holm'"
                         + (f". Not corrected: {', '.join(left)}, whose p-values carry their measured false-positive "
                            "rate" if left else "") + "; secondary tests are not corrected")
    out["refit"] = {"scheme": outcome.scheme, "seed": seed, "n_permutations": n_permutations, "early_stop": early_stop,
                    "rows_reused": {ids[i]: v for i, v in outcome.reused.items()},
                    "rows_refit": {ids[i]: v for i, v in outcome.refit.items()},
                    "no_rows": {ids[i]: why for i, why in outcome.missing.items()}}
    out["seed"] = seed
    out["n_permutations"] = n_permutations
    out["n_swaps"] = n_swaps
    out["n_resamples"] = n_resamples
    return out


NOT_RANKED_NOTE = ("controls (e.g. the majority and stratified-random classifiers) and probes (e.g. sex-only "
                   "features) are baselines for reading the ranking, not competitors: they are left out of the "
                   "Friedman test, the pairwise Wilcoxon tests, their Holm family and the CD diagram; their values "
                   "per block are listed for reference (role from manifest.json, as in the leaderboard)")


def _pipeline_roles(runs) -> dict:
    """``{pipeline label: role}``; a label with runs of several roles takes its first non-method role."""
    roles: dict = {}
    for a in runs:
        roles.setdefault(a.label, set()).add(a.role)
    return {label: "method" if found == {"method"} else sorted(found - {"method"})[0] for label, found in roles.items()}


def compare_across_datasets(run_dirs, metrics=None, alpha: float = 0.05, cd_path=None) -> dict:
    """Friedman + pairwise Wilcoxon (Holm) over blocks (dataset x protocol) and a CD diagram.

    Only methods are ranked: controls and probes (:func:`mebench.store.run_role`) are listed beside the
    ranking with their values per block. ``cd_path`` draws one metric's diagram at exactly that path, so
    it needs exactly one metric (``metrics`` or the runs' own).
    """
    from ..errors import UsageError
    from ..metrics.batch import batch_metrics
    from ..registry import METRICS
    from ..store import open_run
    from .multiple import cd_diagram, friedman_wilcoxon

    runs = [open_run(d) for d in run_dirs]
    names = _metric_names(runs[0], metrics)
    if cd_path is not None and len(names) != 1:
        raise UsageError(f"--cd-diagram {cd_path} draws the ranking of one metric, and {len(names)} are compared "
                         f"({', '.join(names)}); choose one with --metric, e.g. --metric {names[0]}.")
    blocks: dict = {}
    for a in runs:
        fp = a.fingerprint()
        key = (fp["dataset"], fp["task"], fp["protocol"], a.manifest.samples_sha256, a.manifest.fold_hash)
        block = blocks.setdefault(key, {})
        if a.label in block:
            raise MebenchError(f"pipeline {a.label} appears twice in block {_block_name(key)} "
                               f"(runs {block[a.label].dir} and {a.dir}); keep one run per pipeline and block.")
        block[a.label] = a
    roles = _pipeline_roles(runs)
    pipelines = sorted(p for p, role in roles.items() if role == "method")
    not_ranked = sorted(p for p, role in roles.items() if role != "method")
    if len(pipelines) < 2:
        raise MebenchError(
            f"--across-datasets ranks methods, and these runs hold {len(pipelines)} method pipeline(s)"
            + (f" besides {len(not_ranked)} control/probe pipeline(s) ({', '.join(not_ranked)}), which are never "
               "ranked" if not_ranked else "") + "; give the runs of at least two methods.")
    for key, block in blocks.items():
        missing = [p for p in pipelines if p not in block]
        if missing:
            some = next(iter(block.values())).dir
            raise MebenchError(f"block {_block_name(key)} (e.g. run {some}) lacks run(s) of {', '.join(missing)}; "
                               "every pipeline must be run in every block for a Friedman/Wilcoxon ranking.")
    block_names = [_block_name(k) for k in blocks]
    out = {"mode": "across-datasets", "blocks": block_names, "pipelines": pipelines,
           "not_ranked": [{"pipeline": p, "role": roles[p]} for p in not_ranked],
           "not_ranked_note": NOT_RANKED_NOTE, "metrics": {}}

    def value(run, name) -> float:
        return batch_metrics([name], run.classes, run.y[None], run.pred[None], run.scores[None])[0, 0]

    def shown(block, p, name) -> float | None:  # None where the control has no run (no_run_in) or is undefined
        v = value(block[p], name) if p in block else np.nan
        return float(v) if np.isfinite(v) else None

    for name in names:
        hib = bool(getattr(METRICS.get(name), "higher_is_better", True))
        table = np.array([[value(b[p], name) for p in pipelines] for b in blocks.values()])
        undefined = [(bn, p) for bn, b, row in zip(block_names, blocks.values(), table)
                     for p, v in zip(pipelines, row) if not np.isfinite(v)]
        if undefined:
            bn, p = undefined[0]
            raise MebenchError(f"{name} is undefined for pipeline {p} in block {bn} (run "
                               f"{blocks[list(blocks)[block_names.index(bn)]][p].dir}); rank on another "
                               "metric or drop that block.")
        res = friedman_wilcoxon(table, pipelines, block_names, hib, alpha)
        res["table"] = table.tolist()
        res["not_ranked"] = [{"pipeline": p, "role": roles[p],  # shown beside the ranking, never in it
                              "values": {bn: shown(b, p, name) for bn, b in zip(block_names, blocks.values())},
                              "no_run_in": [bn for bn, b in zip(block_names, blocks.values()) if p not in b]}
                             for p in not_ranked]
        if cd_path is not None:
            res["cd_diagram"] = cd_diagram(res["mean_ranks"], res["cliques"], Path(cd_path),
                                           title=f"{name}: mean rank over {len(blocks)} block(s); bars join pipelines "
                                                 f"not significantly different (Wilcoxon, Holm)")
        out["metrics"][name] = res
    return out
