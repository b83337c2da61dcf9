"""The leaderboard model: columns, cells, ranks and footnotes of a board, as a JSON-safe dict.

Rows are pipelines, columns are dataset x protocol. A cell is the pooled metric recomputed from
the run's ``predictions.parquet`` with its subject-cluster bootstrap CI
(:func:`mebench.stats.bootstrap.cluster_bootstrap`). In each column the best ranked pipeline is
bold and the others are tested against it by :func:`mebench.stats.multiple.best_versus_rest`
(paired subject-level randomisation test, Holm-corrected over the column's comparisons): the
procedure and numbers of ``mebench compare --metric M`` on the column's ranked runs. The mean rank across columns
comes from :func:`mebench.stats.multiple.friedman_wilcoxon` (as ``compare --across-datasets``).

Controls, bias probes, flagged runs (LEAKY, contaminated, untrained) and runs whose metric is
undefined are shown but never ranked. :mod:`mebench.leaderboard.render` writes a board as
Markdown, LaTeX, CSV, HTML or JSON; :mod:`mebench.leaderboard.notes` words its footnotes.
"""
from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import RunStoreError, UsageError
from ..formatting import show_value
from ..hashing import file_sha256
from ..store import StoredRun
from .notes import footnotes
from .runs import column_key, finite
from .seeds import SeedEnsemble, member_records, replicate_groups, summary_cell

FORMAT = "mebench-leaderboard/1"
ROLE_ORDER = ("method", "control", "probe")


@dataclass
class BoardOptions:
    """How cells and marks are computed; stored in the record so ``verify`` can recompute them."""

    metric: str = "uf1"
    n_resamples: int = 2000
    n_permutations: int = 10000     # swap patterns of the descriptive subject swap (runs without rows)
    n_rows: int = 999               # permutation rows of the refit studentised test (from the runs' stores)
    early_stop: int = 20            # h of the sequential rule
    seed: int = 0
    ci: str = "bca"
    level: float = 0.95
    alpha: float = 0.05

    def check(self) -> None:
        if self.n_resamples < 1 or self.n_permutations < 1 or self.n_rows < 1:
            raise UsageError("--bootstrap, --permutations and --rows must be positive.")
        if self.seed < 0:
            raise UsageError(f"--seed must be non-negative, got {self.seed}.")
        if not 0 < self.level < 1:
            raise UsageError(f"--level must lie in (0, 1), got {self.level}.")
        if not 0 < self.alpha < 1:
            raise UsageError(f"--alpha must lie in (0, 1), got {self.alpha}.")
        if self.ci not in ("bca", "percentile"):
            raise UsageError(f"--ci must be bca or percentile, not {self.ci!r}.")

    @classmethod
    def from_dict(cls, d: dict) -> "BoardOptions":
        return cls(**{k: d[k] for k in asdict(cls()) if k in d})


# ---- building the model ----
def _rel(path: Path, base: Path | None) -> str:
    if base is None:
        return Path(path).as_posix()
    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def _column_label(identity: dict, differing: list) -> str:
    """``dataset/task [options] · protocol [options]``; only options in ``differing`` are shown."""
    dopts = [f"{k}={identity['dataset_opts'][k]}" for kind, k in differing
             if kind == "d" and k in identity["dataset_opts"]]
    popts = [f"{k}={identity['protocol_opts'][k]}" for kind, k in differing
             if kind == "p" and k in identity["protocol_opts"]]
    label = f"{identity['dataset']}/{identity['task']}" + (" " + ",".join(dopts) if dopts else "")
    return label + f" · {identity['protocol']}" + (" " + ",".join(popts) if popts else "")


def _labels(identities: dict) -> dict:
    """Column labels: dataset/task · protocol, plus the options that tell same-named columns apart.

    Dataset options are compared among columns of the same dataset and task, protocol options
    among columns of the same dataset, task and protocol.
    """
    def differing(keys, field, kind):
        names = sorted({k for key in keys for k in identities[key][field]})
        return [(kind, k) for k in names if len({repr(identities[key][field].get(k)) for key in keys}) > 1]

    by_dataset: dict = {}
    by_protocol: dict = {}
    for key, ident in identities.items():
        by_dataset.setdefault((ident["dataset"], ident["task"]), []).append(key)
        by_protocol.setdefault((ident["dataset"], ident["task"], ident["protocol"]), []).append(key)
    labels = {}
    for key, ident in identities.items():
        shown = (differing(by_dataset[(ident["dataset"], ident["task"])], "dataset_opts", "d")
                 + differing(by_protocol[(ident["dataset"], ident["task"], ident["protocol"])], "protocol_opts", "p"))
        labels[key] = _column_label(ident, shown)
    return labels


def _check_column(label: str, runs: list) -> None:
    """Refuse a column whose runs differ in samples, annotation files, folds or label set, or that holds
    one pipeline twice with the same seed (other seeds are seed replicates, :mod:`.seeds`)."""
    replicated = replicate_groups(label, runs)
    ref = runs[0]
    ref_fp = ref.fingerprint()
    problems = []
    for r in runs[1:]:
        fp = r.fingerprint()
        for k in ref_fp:
            if fp[k] != ref_fp[k]:
                problems.append(f"{k}: {ref.dir} ({ref.label}) has {show_value(ref_fp[k])}, {r.dir} ({r.label}) has "
                                f"{show_value(fp[k])}")
    if problems:
        raise RunStoreError(
            f"column {label} is refused: its runs differ in " + "; ".join(problems) + ". A column compares "
            "pipelines on the same samples, labels and folds; otherwise a difference could come from the data or "
            "the split rather than the pipelines. Re-run the pipelines on the same dataset version, seed and "
            "protocol, or leave the odd run out."
            + (" Seed replicates must share samples and folds: fix the dataset's and protocol's seeds (e.g. "
               "--dataset-opt seed=0) and vary only --seed." if replicated else ""))


def _missing_control_command(run: StoredRun, control: str) -> str:
    cfg = run.manifest.config
    ident = run.column_identity
    parts = ["mebench run", f"--dataset {ident['dataset']}"]
    if cfg.get("root"):
        parts.append(f"--root {cfg['root']}")
    if ident.get("task"):
        parts.append(f"--task {ident['task']}")
    parts.append(f"--protocol {ident['protocol']}")
    for flag, key in (("--dataset-opt", "dataset_opts"), ("--protocol-opt", "protocol_opts")):
        parts += [f"{flag} {k}={v}" for k, v in sorted((cfg.get(key) or {}).items())]
    if cfg.get("features"):
        parts.append(f"--features {cfg['features']}")
        parts += [f"--features-opt {k}={v}" for k, v in sorted((cfg.get("features_opts") or {}).items())]
    parts.append(f"--classifier {control}")
    if cfg.get("seed"):
        parts.append(f"--seed {cfg['seed']}")
    return " ".join(parts)


def _column_cells(col_runs: list, label: str, metric: str, opts: BoardOptions, base) -> tuple:
    """Cells of one column (value, CI, flags, marks) and its ranked runs; independent of other columns."""
    from ..metrics.batch import batch_metrics
    from ..stats.bootstrap import cluster_bootstrap, undefined_reason

    notes: dict = {"undefined": [], "flags": [], "fallback": [], "powerless": [], "no_rows": []}
    ranked, col_cells = [], []
    for r in col_runs:
        point = float(batch_metrics([metric], r.classes, r.y[None], r.pred[None], r.scores[None])[0, 0])
        iv = cluster_bootstrap(r.y, r.pred, r.scores, r.subjects, r.classes, [metric], opts.n_resamples,
                               opts.seed, opts.level, opts.ci)[metric]
        flags, reasons = r.flags
        role = r.role
        value = point if np.isfinite(point) else None
        cell = {"row": r.label, "column": label, "role": role, "run_id": r.run_id, "run_dir": _rel(r.dir, base),
                "files": dict(sorted(r.files.items())), "value": value,
                "ci_low": iv.ci_low if value is not None else None,
                "ci_high": iv.ci_high if value is not None else None,
                "ci_method": iv.method_label(), "ci_interval": iv.method,
                "flags": flags, "flag_reasons": reasons, "ranked": False, "best": False,
                "p_value": None, "p_holm": None, "not_worse": None}
        if value is None:
            reason = undefined_reason(metric, r.y, r.classes)
            cell["undefined"] = reason
            notes["undefined"].append(f"{metric} is undefined for {r.label} on {label} (run `{_rel(r.dir, base)}`): "
                                      f"{reason}; shown as n/a and not ranked.")
        elif opts.ci == "bca" and iv.method != "bca":
            why = "; ".join(n for n in iv.notes if n.startswith("BCa undefined")) or "BCa undefined"
            notes["fallback"].append(f"{r.label} on {label}: {why}, percentile interval shown")
        for f in flags:
            notes["flags"].append(f"{f}: {r.label} on {label} (run `{_rel(r.dir, base)}`): {reasons[f]}; marked and "
                                  "not ranked.")
        if role == "method" and not flags and value is not None:
            ranked.append((r, cell))
        col_cells.append(cell)
    for _, c in ranked:
        c["ranked"] = True
    if len(ranked) == 1:
        ranked[0][1]["best"] = True
    elif len(ranked) > 1:
        from ..registry import METRICS
        from ..stats.multiple import best_index, best_versus_rest, pair_indices
        from ..stats.stored_rows import rows_for_runs

        runs = [r for r, _ in ranked]
        values = [float(batch_metrics([metric], r.classes, r.y[None], r.pred[None], r.scores[None])[0, 0])
                  for r in runs]
        top = best_index(values, bool(getattr(METRICS.get(metric), "higher_is_better", True)),
                         [r.run_id for r in runs])
        pairs = [(i, j, metric) for i, j in pair_indices(len(runs), top)]
        outcome = rows_for_runs(runs, [metric], opts.n_rows, opts.seed, pairs=pairs, refit=False,
                                early_stop=opts.early_stop)  # a board never refits
        for i, path in outcome.paths.items():  # the rows behind the marks, hashed so that verify sees an edit
            if path is not None and Path(path).is_file():
                ranked[i][1]["rows_file"] = {_rel(Path(path), base): file_sha256(path)}
        for i, why in outcome.missing.items():
            notes["no_rows"].append(f"{runs[i].label} on {label}")
        res = best_versus_rest(runs[0].y, [r.aligned_to(runs[0]) for r in runs], runs[0].subjects, runs[0].classes,
                               [metric], [r.run_id for r in runs], opts.n_permutations, opts.seed,
                               rows=outcome.rows, n_rows=opts.n_rows, early_stop=opts.early_stop,
                               unsettled=outcome.unsettled)
        for i, j, _ in sorted(outcome.unsettled):
            other = runs[i if j == top else j]
            notes["no_rows"].append(f"{other.label} on {label} (its stored rows do not settle the test)")
        best, values = res.best[metric], res.values[metric]
        ranked[best][1]["best"] = True
        smallest = res.smallest_holm_p(metric)
        if smallest is not None and smallest > opts.alpha:
            notes["powerless"].append(f"{label} (smallest attainable Holm-corrected p {smallest:.3g} "
                                      f"with {len(np.unique(runs[0].subjects))} subjects)")
        for t in res.comparisons[metric]:  # as compare: a test not calibrated for the metric marks nothing
            c = ranked[t.other(best)][1]
            c["p_value"], c["p_holm"], c["test"] = t.p_value, t.p_holm, t.test
            c["delta_vs_best"] = float(values[t.other(best)] - values[best])
            c["not_worse"] = None if t.p_holm is None else bool(t.p_holm > opts.alpha)
    return col_cells, ranked, notes


def build_board(runs: list, options: BoardOptions | None = None, base_dir=None, title: str | None = None,
                jobs: int = 1, progress=None) -> dict:
    """The leaderboard of ``runs`` (:class:`mebench.store.StoredRun`) for one metric, as a JSON-safe dict.

    ``jobs`` > 1 computes columns in parallel threads; the result does not depend on it.
    ``progress(done, total)`` is called as columns finish.
    """
    from ..registry import METRICS

    opts = options or BoardOptions()
    opts.check()
    METRICS.entry(opts.metric)  # unknown names: UnknownNameError with suggestions
    metric = opts.metric
    hib = bool(getattr(METRICS.get(metric), "higher_is_better", True))
    if not runs:
        raise RunStoreError("no runs to tabulate.")
    base = Path(base_dir) if base_dir is not None else None

    groups: dict = {}
    identities: dict = {}
    for r in runs:
        ident = r.column_identity
        if not ident["dataset"] or not ident["protocol"]:
            raise RunStoreError(f"run {r.dir}: manifest.json names no dataset or protocol; it is not a complete run.")
        key = column_key(ident)
        identities[key] = ident
        groups.setdefault(key, []).append(r)
    labels = _labels(identities)
    col_keys = sorted(groups, key=lambda k: (labels[k], k))
    for key in col_keys:
        groups[key].sort(key=lambda r: (r.label, str(r.dir)))
        _check_column(labels[key], groups[key])

    finished = [0]
    lock = threading.Lock()

    def column(key):
        members, ensembles = _with_seed_ensembles(labels[key], groups[key])
        cells = _column_cells(members, labels[key], metric, opts, base)
        cells = _add_seed_rows(cells, ensembles, labels[key], metric, base)
        if progress:
            with lock:
                finished[0] += 1
                progress(finished[0], len(col_keys))
        return cells

    if progress:
        progress(0, len(col_keys))

    if jobs > 1 and len(col_keys) > 1:
        from joblib import Parallel, delayed
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # columns in threads; numpy releases the GIL in the heavy loops
            done = Parallel(n_jobs=jobs, backend="threading")(delayed(column)(k) for k in col_keys)
    else:
        done = [column(k) for k in col_keys]
    cells, columns, ranked_by_col = [], [], {}
    all_notes: dict = {"undefined": [], "flags": [], "fallback": [], "powerless": [], "no_rows": [], "seeds": []}
    for key, (col_cells, ranked, notes) in zip(col_keys, done):
        cells.extend(col_cells)
        ranked_by_col[labels[key]] = ranked
        for kind, texts in notes.items():
            all_notes[kind] += texts
        columns.append(_column_entry(key, labels[key], identities[key], groups[key], metric))

    ranking = _ranking(metric, hib, identities, col_keys, labels, ranked_by_col, opts)
    rows = _rows(cells, columns, ranking, hib)
    board = {"format": FORMAT,
             "title": title or f"Pooled {metric}",
             "metric": metric,
             "higher_is_better": hib,
             "options": asdict(opts),
             "columns": columns,
             "rows": rows,
             "cells": cells,
             "ranking": ranking}
    board["footnotes"] = footnotes(board, runs, groups, col_keys, labels, all_notes["undefined"], all_notes["flags"],
                                   all_notes["fallback"], all_notes["powerless"],
                                   all_notes["no_rows"]) + all_notes["seeds"]
    return board


def _with_seed_ensembles(label: str, runs: list) -> tuple[list, dict]:
    """The column's runs with each pipeline's seed replicates replaced by their ensemble (what is ranked),
    and ``{pipeline: ensemble}``; before any cell is ranked, so no single seed stands for a pipeline."""
    replicated = replicate_groups(label, runs)
    if not replicated:
        return runs, {}
    ensembles = {p: SeedEnsemble.of(p, members) for p, members in replicated.items()}
    kept = [r for r in runs if r.label not in replicated] + list(ensembles.values())
    return sorted(kept, key=lambda r: (r.label, str(r.dir))), ensembles


def _add_seed_rows(done: tuple, ensembles: dict, label: str, metric: str, base) -> tuple:
    """A column's ``(cells, ranked, notes)`` with the replicates' records on each ensemble cell and one
    ``mean ± sd over seeds`` cell per replicated pipeline."""
    col_cells, ranked, notes = done
    notes = {**notes, "seeds": []}
    if not ensembles:
        return col_cells, ranked, notes
    by_id = {e.run_id: e for e in ensembles.values()}
    for cell in col_cells:
        ens = by_id.get(cell["run_id"])
        if ens is not None:
            cell.update({"run_dir": None, "files": None, "runs": member_records(ens.members, _rel, base),
                         "n_seeds": len(ens.members), "seed_ensemble": True})
    for pipeline, ens in ensembles.items():
        cell, texts = summary_cell(pipeline, ens.members, label, metric, _rel, base)
        col_cells.append(cell)
        notes["seeds"] += texts
    return col_cells, ranked, notes


def count_columns(runs: list) -> int:
    """How many columns a board of ``runs`` has (for a progress total before building it)."""
    return len({column_key(r.column_identity) for r in runs})


def _fold_prior_metrics(run, metric: str) -> tuple[float | None, float | None]:
    """The column's prior-shift diagnostic and fair majority control, recomputed from the stored
    predictions: each sample's training fold is every sample held out in another fold. Valid when
    the predictions cover every sample of the run once (the manifest's sample hash); else (None, None).
    """
    from ..data.schema import sample_list_hash
    from ..metrics import majority_baseline, prior_shift

    preds = run.predictions
    expected = run.manifest.samples_sha256
    if preds["sample_id"].duplicated().any() or sample_list_hash(preds.rename(columns={"y_true": "label"})) != expected:
        return None, None
    fold = preds["fold"].astype(str).to_numpy()
    folds = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in dict.fromkeys(fold)]
    y, classes = run.y, list(run.classes)
    return (prior_shift(y, folds, classes, [metric])[metric], majority_baseline(y, folds, classes, [metric])[metric])


def _column_entry(key: str, label: str, ident: dict, runs: list, metric: str) -> dict:
    first = runs[0]
    man = first.manifest
    n_folds = man.protocol.get("n_folds") or int(first.predictions["fold"].nunique())
    prior, majority = _fold_prior_metrics(first, metric)
    for r in runs if prior is None else ():  # training-only samples: the runs' own records
        ps = r.metrics.get("prior_shift")
        if prior is None and isinstance(ps, dict) and isinstance(ps.get("pooled"), dict) and metric in ps["pooled"]:
            prior = ps["pooled"][metric]
        base = r.metrics.get("baselines")
        if majority is None and isinstance(base, dict) and isinstance(base.get("majority"), dict):
            majority = base["majority"].get(metric)
    roles = {r.role for r in runs}
    controls = {r.manifest.config.get("classifier") for r in runs if r.role == "control"}
    missing = [c for c in ("majority", "stratified-random") if c not in controls]
    method_runs = [r for r in runs if r.role == "method"] or runs
    return {"key": key, "label": label, **ident,
            "n": int(len(first.y)), "n_subjects": int(len(np.unique(first.subjects))),
            "n_folds": int(n_folds), "classes": list(first.classes),
            "samples_sha256": first.manifest.samples_sha256, "fold_hash": first.manifest.fold_hash,
            "annotation_files": dict(sorted(man.annotation_files.items())),
            "prior_shift": prior if finite(prior) else None, "prior_shift_recorded": prior is not None,
            "majority_in_run": majority if finite(majority) else None,
            "roles": sorted(roles),
            "missing_controls": {c: _missing_control_command(method_runs[0], c) for c in missing}}


def _ranking(metric, hib, identities, col_keys, labels, ranked_by_col, opts) -> dict:
    """Mean ranks over columns (Friedman-style), shown with at least two datasets."""
    from ..stats.multiple import friedman_wilcoxon

    datasets = {(identities[k]["dataset"], identities[k]["task"], repr(identities[k]["dataset_opts"]))
                for k in col_keys}
    if len(datasets) < 2:
        return {"shown": False, "reason": f"the table has {len(datasets)} dataset; a mean rank needs at least two"}
    col_labels = [labels[k] for k in col_keys]
    sets = [{r.label: c for r, c in ranked_by_col[lab]} for lab in col_labels]
    all_ranked = sorted(set().union(*[set(s) for s in sets]))
    complete = [p for p in all_ranked if all(p in s for s in sets)]
    incomplete = {p: [lab for lab, s in zip(col_labels, sets) if p not in s] for p in all_ranked if p not in complete}
    if len(complete) < 2:
        return {"shown": False, "incomplete": incomplete,
                "reason": f"only {len(complete)} pipeline(s) are ranked in every column; a mean rank needs two"}
    table = np.array([[s[p]["value"] for p in complete] for s in sets], float)
    res = friedman_wilcoxon(table, complete, col_labels, hib, opts.alpha)
    return {"shown": True, "pipelines": complete, "blocks": col_labels, "mean_ranks": res["mean_ranks"],
            "omnibus": res["omnibus"], "pairwise": res["pairwise"], "cliques": res["cliques"],
            "pairwise_correction": res["pairwise_correction"], "incomplete": incomplete, "table": table.tolist()}


def _rows(cells: list, columns: list, ranking: dict, hib: bool = True) -> list:
    by_row: dict = {}
    for c in cells:
        by_row.setdefault(c["row"], []).append(c)
    mean_ranks = ranking.get("mean_ranks", {}) if ranking.get("shown") else {}
    # fallback order: mean of within-column positions where ranked
    positions: dict = {}
    for col in columns:
        ranked = [c for c in cells if c["column"] == col["label"] and c["ranked"]]
        ranked.sort(key=lambda c: c["value"], reverse=hib)
        for pos, c in enumerate(ranked):
            positions.setdefault(c["row"], []).append(pos)
    rows = []
    for label, cs in by_row.items():
        role = cs[0]["role"]
        key = mean_ranks.get(label, np.mean(positions[label]) + 1e6 if label in positions else float("inf"))
        rows.append({"label": label, "role": role, "mean_rank": mean_ranks.get(label), "_key": key})
    rows.sort(key=lambda r: (ROLE_ORDER.index(r["role"]), r["_key"] if r["role"] == "method" else 0, r["label"]))
    for r in rows:
        r.pop("_key")
    return rows


def record(boards: list) -> dict:
    """The JSON record of one or more boards (what ``--format json`` prints and ``verify`` reads)."""
    return {"format": FORMAT, "tables": boards}
