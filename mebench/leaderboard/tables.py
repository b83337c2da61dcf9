"""The leaderboard model and its renderers (Markdown, LaTeX, CSV, HTML, JSON).

Rows are pipelines, columns are dataset x protocol. A cell is the pooled metric recomputed from
the run's ``predictions.parquet`` with its subject-cluster bootstrap CI
(:func:`mebench.stats.bootstrap.cluster_bootstrap`). In each column the best ranked pipeline is
bold and the others are tested against it with the paired subject-level randomisation test
(:func:`mebench.stats.paired.paired_randomisation`), Holm-corrected
(:func:`mebench.stats.multiple.holm`) over the column's comparisons: the procedure and numbers
of ``mebench compare --metric M`` on the column's ranked runs. The mean rank across columns
comes from :func:`mebench.stats.multiple.friedman_wilcoxon` (as ``compare --across-datasets``).

Controls, bias probes, flagged runs (LEAKY, contaminated, untrained) and runs whose metric is
undefined are shown but never ranked. Every output is a string.
"""
from __future__ import annotations

import csv
import html
import io
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import RunStoreError, UsageError
from .runs import BoardRun, column_identity, column_key, fingerprint, finite, run_flags, run_role, short

FORMAT = "mebench-leaderboard/1"
FORMATS = ("markdown", "latex", "csv", "html", "json")
MARK = "†"
ROLE_ORDER = ("method", "control", "probe")
ROLE_TITLES = {"control": "Controls", "probe": "Bias probes"}
KEY_VERSIONS = ("mebench", "python", "numpy", "scipy", "scikit-learn", "pandas", "torch", "torchvision",
                "opencv-contrib-python", "mediapipe")
PRETTY_PROTOCOL = {"loso": "LOSO", "lodo": "LODO"}
SCORE_FREE = ("accuracy", "uar", "uf1")


@dataclass
class BoardOptions:
    """How cells and marks are computed; stored in the record so ``verify`` can recompute them."""

    metric: str = "uf1"
    n_resamples: int = 2000
    n_permutations: int = 10000
    seed: int = 0
    ci: str = "bca"
    level: float = 0.95
    alpha: float = 0.05

    def check(self) -> None:
        if self.n_resamples < 1 or self.n_permutations < 1:
            raise UsageError("--bootstrap and --permutations must be positive.")
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


# --------------------------------------------------------------------------------------------
# building the model
# --------------------------------------------------------------------------------------------
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
    """Refuse a column whose runs differ in samples, annotation files, folds or label set."""
    by_label: dict = {}
    for r in runs:
        if r.label in by_label:
            raise RunStoreError(
                f"column {label}: pipeline {r.label} appears twice (runs {by_label[r.label].dir} and {r.dir}); "
                "keep one run per pipeline and column.")
        by_label[r.label] = r
    ref = runs[0]
    ref_fp = fingerprint(ref)
    problems = []
    for r in runs[1:]:
        fp = fingerprint(r)
        for k in ref_fp:
            if fp[k] != ref_fp[k]:
                problems.append(f"{k}: {ref.dir} ({ref.label}) has {_show(ref_fp[k])}, {r.dir} ({r.label}) has "
                                f"{_show(fp[k])}")
    if problems:
        raise RunStoreError(
            f"column {label} is refused: its runs differ in " + "; ".join(problems) + ". A column compares "
            "pipelines on the same samples, labels and folds; otherwise a difference could come from the data or "
            "the split rather than the pipelines. Re-run the pipelines on the same dataset version, seed and "
            "protocol, or leave the odd run out.")


def _show(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]" if v else "none"
    if isinstance(v, str) and len(v) > 20:
        return v[:12] + "…"
    return repr(v) if v is not None else "none"


def _align(base, other) -> tuple[np.ndarray, np.ndarray]:
    """``other``'s predicted codes and scores in ``base``'s sample and class order (same samples checked)."""
    if list(other.classes) != list(base.classes):  # same label set (checked), other column order
        to_base = np.array([list(base.classes).index(c) for c in other.classes])
        from_base = np.array([list(other.classes).index(c) for c in base.classes])
        other = type(other)(other.run, list(base.classes), to_base[other.y], to_base[other.pred],
                            other.scores[:, from_base], other.subjects, other.sample_ids)
    index = {s: i for i, s in enumerate(other.sample_ids)}
    try:
        order = np.array([index[s] for s in base.sample_ids])
    except KeyError as exc:
        raise RunStoreError(f"runs {base.run['dir']} and {other.run['dir']} hold different samples (e.g. {exc.args[0]}); "
                            "they cannot share a column.") from None
    if len(order) != len(other.sample_ids) or np.any(other.y[order] != base.y) or \
            np.any(other.subjects[order] != base.subjects):
        raise RunStoreError(f"runs {base.run['dir']} and {other.run['dir']} disagree on the samples, labels or subjects "
                            "of their predictions; they cannot share a column.")
    return other.pred[order], other.scores[order]


def _test_inputs(metric: str, pred: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, scores) handed to the paired test: the same null distribution, less memory traffic.

    Confusion-matrix metrics (accuracy, UAR, UF1) never read the scores, so a one-column stand-in
    gives bit-identical null distributions while the test swaps 1/k of the data; the class codes
    travel in the smallest integer type that holds them.
    """
    from ..metrics.batch import metric_kind, resolve_metric

    codes = pred.astype(np.min_scalar_type(max(scores.shape[1], 1)))
    if metric_kind(resolve_metric(metric)) in SCORE_FREE:
        return codes, np.zeros((scores.shape[0], 1))
    return codes, scores


def _column_tests(metric: str, hib: bool, ranked: list, opts: BoardOptions) -> dict:
    """Best of the column and, for every other ranked run, p and Holm p against it (as compare)."""
    from ..metrics.batch import batch_metrics
    from ..stats.multiple import best_index, holm
    from ..stats.paired import calibration, paired_randomisation

    base = ranked[0].arrays
    aligned = [(base.pred, base.scores)] + [_align(base, r.arrays) for r in ranked[1:]]
    vals = [batch_metrics([metric], base.classes, base.y[None], p[None], s[None])[0, 0] for p, s in aligned]
    best = best_index(vals, hib, [r.run_id for r in ranked])
    pairs = [(0, 1)] if len(ranked) == 2 else [(i, best) for i in range(len(ranked)) if i != best]
    out = {"best": best, "tests": {}}
    ps = []
    for i, j in pairs:
        a, b = aligned[i], aligned[j]
        res = paired_randomisation(base.y, _test_inputs(metric, *a), _test_inputs(metric, *b), base.subjects,
                                   base.classes, [metric], opts.n_permutations, opts.seed)[metric]
        other = j if i == best else i
        out["tests"][other] = {"p_value": res.p_value, "delta": float(vals[other] - vals[best]),
                               "exact": res.exact, "n_permutations": res.n_permutations}
        ps.append(res.p_value)
        smallest = res.smallest_p
    if calibration(metric)["in_holm_family"]:
        out["smallest_holm_p"] = min(1.0, len(pairs) * smallest)  # Holm's smallest adjusted p: m x the smallest p
        for (i, j), p_adj in zip(pairs, holm(ps)):
            out["tests"][j if i == best else i]["p_holm"] = p_adj
    else:  # as compare: a test not calibrated for this metric stays out of the Holm family, and marks nothing
        for t in out["tests"].values():
            t["p_holm"] = None
    return out


def _missing_control_command(run: BoardRun, control: str) -> str:
    cfg = run.manifest.get("config") or {}
    ident = column_identity(run.manifest)
    parts = ["mebench run", f"--dataset {ident['dataset']}"]
    if cfg.get("root"):
        parts.append(f"--root {cfg['root']}")
    if ident.get("task"):
        parts.append(f"--task {ident['task']}")
    parts.append(f"--protocol {ident['protocol']}")
    for k, v in sorted((cfg.get("dataset_opts") or {}).items()):
        parts.append(f"--dataset-opt {k}={v}")
    for k, v in sorted((cfg.get("protocol_opts") or {}).items()):
        parts.append(f"--protocol-opt {k}={v}")
    if cfg.get("features"):
        parts.append(f"--features {cfg['features']}")
        for k, v in sorted((cfg.get("features_opts") or {}).items()):
            parts.append(f"--features-opt {k}={v}")
    parts.append(f"--classifier {control}")
    if cfg.get("seed"):
        parts.append(f"--seed {cfg['seed']}")
    return " ".join(parts)


def _column_cells(col_runs: list, label: str, metric: str, hib: bool, opts: BoardOptions, base) -> tuple:
    """Cells of one column (value, CI, flags, marks) and its ranked runs; independent of other columns."""
    from ..metrics.batch import batch_metrics
    from ..stats.bootstrap import cluster_bootstrap, undefined_reason

    notes: dict = {"undefined": [], "flags": [], "fallback": [], "powerless": []}
    ranked, col_cells = [], []
    for r in col_runs:
        a = r.arrays
        point = float(batch_metrics([metric], a.classes, a.y[None], a.pred[None], a.scores[None])[0, 0])
        iv = cluster_bootstrap(a.y, a.pred, a.scores, a.subjects, a.classes, [metric], opts.n_resamples,
                               opts.seed, opts.level, opts.ci)[metric]
        flags, reasons = run_flags(r.manifest)
        role = run_role(r.manifest)
        value = point if np.isfinite(point) else None
        cell = {"row": r.label, "column": label, "role": role, "run_id": r.run_id, "run_dir": _rel(r.dir, base),
                "files": dict(sorted(r.files.items())), "value": value,
                "ci_low": iv.ci_low if value is not None else None,
                "ci_high": iv.ci_high if value is not None else None,
                "ci_method": iv.method_label(), "ci_interval": iv.method,
                "flags": flags, "flag_reasons": reasons, "ranked": False, "best": False,
                "p_value": None, "p_holm": None, "not_worse": None}
        if value is None:
            reason = undefined_reason(metric, a.y, a.classes)
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
        res = _column_tests(metric, hib, [r for r, _ in ranked], opts)
        ranked[res["best"]][1]["best"] = True
        if res.get("smallest_holm_p", 0.0) > opts.alpha:
            notes["powerless"].append(f"{label} (smallest attainable Holm-corrected p {res['smallest_holm_p']:.3g} "
                                      f"with {len(np.unique(ranked[0][0].arrays.subjects))} subjects)")
        for idx, t in res["tests"].items():
            c = ranked[idx][1]
            c["p_value"], c["p_holm"], c["delta_vs_best"] = t["p_value"], t["p_holm"], t["delta"]
            c["not_worse"] = None if t["p_holm"] is None else bool(t["p_holm"] > opts.alpha)
    return col_cells, ranked, notes


def build_board(runs: list, options: BoardOptions | None = None, base_dir=None, title: str | None = None,
                jobs: int = 1) -> dict:
    """The leaderboard of ``runs`` (loaded :class:`BoardRun`) for one metric, as a JSON-safe dict.

    ``jobs`` > 1 computes columns in parallel threads; the result does not depend on it.
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
        ident = column_identity(r.manifest)
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

    def column(key):
        return _column_cells(groups[key], labels[key], metric, hib, opts, base)

    if jobs > 1 and len(col_keys) > 1:
        from joblib import Parallel, delayed
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # columns in threads; numpy releases the GIL in the heavy loops
            done = Parallel(n_jobs=jobs, backend="threading")(delayed(column)(k) for k in col_keys)
    else:
        done = [column(k) for k in col_keys]
    cells, columns, notes_undefined, notes_flags, notes_fallback, notes_powerless = [], [], [], [], [], []
    ranked_by_col: dict = {}
    for key, (col_cells, ranked, notes) in zip(col_keys, done):
        cells.extend(col_cells)
        ranked_by_col[labels[key]] = ranked
        notes_undefined += notes["undefined"]
        notes_flags += notes["flags"]
        notes_fallback += notes["fallback"]
        notes_powerless += notes["powerless"]
        columns.append(_column_entry(key, labels[key], identities[key], groups[key], metric))

    ranking = _ranking(metric, hib, identities, col_keys, labels, ranked_by_col, opts)
    rows = _rows(cells, columns, ranking, hib)
    board = {
        "format": FORMAT,
        "title": title or f"Pooled {metric}",
        "metric": metric,
        "higher_is_better": hib,
        "options": asdict(opts),
        "columns": columns,
        "rows": rows,
        "cells": cells,
        "ranking": ranking,
    }
    board["footnotes"] = _footnotes(board, runs, groups, col_keys, labels, notes_undefined, notes_flags,
                                    notes_fallback, notes_powerless)
    return board


def _fold_prior_metrics(run, metric: str) -> tuple[float | None, float | None]:
    """The column's prior-shift diagnostic and fair majority control, recomputed from the stored
    predictions: each sample's training fold is every sample held out in another fold. Valid when
    the predictions cover every sample of the run once (the manifest's sample hash); else (None, None).
    """
    from ..data.schema import sample_list_hash
    from ..metrics import majority_baseline, prior_shift

    preds = run.predictions
    ds = run.manifest.get("dataset") or {}
    expected = ds.get("sample_list_sha256_after_skips") or ds.get("sample_list_sha256")
    if preds["sample_id"].duplicated().any() or sample_list_hash(preds.rename(columns={"y_true": "label"})) != expected:
        return None, None
    fold = preds["fold"].astype(str).to_numpy()
    folds = [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in dict.fromkeys(fold)]
    y, classes = run.arrays.y, list(run.classes)
    return (prior_shift(y, folds, classes, [metric])[metric], majority_baseline(y, folds, classes, [metric])[metric])


def _column_entry(key: str, label: str, ident: dict, runs: list, metric: str) -> dict:
    first = runs[0]
    man = first.manifest
    protocol = man.get("protocol") or {}
    fp = fingerprint(first)
    n_folds = protocol.get("n_folds") or int(first.predictions["fold"].nunique())
    prior, majority = _fold_prior_metrics(first, metric)
    for r in runs if prior is None else ():  # training-only samples: the runs' own records
        ps = r.metrics.get("prior_shift")
        if prior is None and isinstance(ps, dict) and isinstance(ps.get("pooled"), dict) and metric in ps["pooled"]:
            prior = ps["pooled"][metric]
        base = r.metrics.get("baselines")
        if majority is None and isinstance(base, dict) and isinstance(base.get("majority"), dict):
            majority = base["majority"].get(metric)
    roles = {run_role(r.manifest) for r in runs}
    controls = {(r.manifest.get("config") or {}).get("classifier") for r in runs if run_role(r.manifest) == "control"}
    missing = [c for c in ("majority", "stratified-random") if c not in controls]
    method_runs = [r for r in runs if run_role(r.manifest) == "method"] or runs
    return {
        "key": key, "label": label, **ident,
        "n": int(len(first.arrays.y)), "n_subjects": int(len(np.unique(first.arrays.subjects))),
        "n_folds": int(n_folds), "classes": list(first.classes),
        "samples_sha256": fp["dataset fingerprint"], "fold_hash": fp["fold hash"],
        "annotation_files": dict(sorted(((man.get("dataset") or {}).get("annotation_files") or {}).items())),
        "prior_shift": prior if finite(prior) else None, "prior_shift_recorded": prior is not None,
        "majority_in_run": majority if finite(majority) else None,
        "roles": sorted(roles),
        "missing_controls": {c: _missing_control_command(method_runs[0], c) for c in missing},
    }


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


def _fmt(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _fmt_p(p) -> str:
    if p is None:
        return "n/a"
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _calibration(metric: str) -> dict:
    from ..stats.paired import calibration

    return calibration(metric)


def _footnotes(board, runs, groups, col_keys, labels, notes_undefined, notes_flags, notes_fallback,
               notes_powerless=()) -> list[str]:
    o = board["options"]
    metric = board["metric"]
    ci_name = {"bca": "BCa", "percentile": "percentile"}[o["ci"]]
    notes = [
        f"Cells: {metric} pooled over all held-out predictions of the column (the MEGC convention; never a mean of "
        f"per-fold values) with its {o['level']:.0%} CI in brackets: subject-cluster bootstrap, {ci_name}, "
        f"{o['n_resamples']} resamples of the column's subjects, seed {o['seed']}. "
        + ("Higher is better." if board["higher_is_better"] else "Lower is better."),
        f"Bold: the best ranked pipeline of the column. {MARK}: not significantly worse than the best "
        f"(paired subject-level randomisation test, two-sided, {o['n_permutations']} swap patterns or all of them "
        f"when fewer, seed {o['seed']}; Holm-corrected over the column's comparisons with the best; "
        f"α = {o['alpha']}), the numbers of `mebench compare --metric {metric}` on the column's ranked runs.",
    ]
    calib = _calibration(metric)
    if not calib["in_holm_family"]:
        notes.append(f"No {MARK} marks for {metric}: {calib['note']}. The uncorrected p-values against the best are "
                     "kept in the JSON output (`p_value`) with that rate.")
    roles = {c["role"] for c in board["cells"]}
    if roles & {"control", "probe"}:
        notes.append("Controls (`majority`, `stratified-random`) and bias probes (`sex-only`, extractors declared "
                     "probes) are shown for reference and never ranked.")
    for col in board["columns"]:
        proto = PRETTY_PROTOCOL.get(col["protocol"], col["protocol"])
        text = (f"{col['label']}: pooled over {col['n_folds']} {proto} folds: {col['n']} held-out predictions of "
                f"{col['n_subjects']} subjects; label set {', '.join(col['classes'])}; samples sha256 "
                f"{short(col['samples_sha256'])}, fold hash {short(col['fold_hash'])}")
        if col["annotation_files"]:
            text += "; annotation files " + ", ".join(f"{Path(k).name} {short(v)}" for k, v in
                                                      col["annotation_files"].items())
        if col["prior_shift_recorded"]:
            text += (f"; prior-shift diagnostic ({metric} from each training fold's class priors alone): "
                     f"{_fmt(col['prior_shift'])}")
        else:
            text += "; prior-shift diagnostic: not recorded by these runs (made before mebench recorded it)"
        if col["majority_in_run"] is not None:
            text += f"; in-run majority control: {_fmt(col['majority_in_run'])}"
        notes.append(text + ".")
    for col in board["columns"]:
        for control, cmd in col["missing_controls"].items():
            notes.append(f"{col['label']} has no `{control}` control run; produce it with `{cmd}`.")
    notes.extend(notes_flags)
    notes.extend(notes_undefined)
    if notes_fallback:
        notes.append("BCa fell back to the percentile interval for: " + "; ".join(notes_fallback) + ".")
    if notes_powerless:
        notes.append(f"Too few subjects for the test to reject at α = {board['options']['alpha']}, so every ranked "
                     f"pipeline is marked {MARK} whatever the data, in: " + "; ".join(notes_powerless) + ".")
    rk = board["ranking"]
    if rk.get("shown"):
        om = rk["omnibus"]
        text = (f"Mean rank: mean of the within-column ranks (1 = best, ties share their mean rank) over the "
                f"{len(rk['blocks'])} columns, among the {len(rk['pipelines'])} pipelines ranked in every column "
                "(Friedman-style, as `mebench compare --across-datasets`). ")
        if om.get("skipped"):
            text += "Friedman test skipped: " + om["reason"].split(" Pairwise results")[0]
        else:
            text += (f"Friedman test: chi2 = {_fmt(om['statistic'])}, df = {om['df']}, p = {_fmt_p(om['p_value'])} "
                     f"({om['test']}).")
        notes.append(text.strip())
    if rk.get("incomplete"):
        notes.append("No mean rank for pipelines not ranked in every column: " + "; ".join(
            f"{p} (not ranked in {', '.join(cols)})" for p, cols in sorted(rk["incomplete"].items())) + ".")
    skipped = [(r, int(r.manifest.get("n_skipped") or 0)) for r in runs if int(r.manifest.get("n_skipped") or 0)]
    if skipped:
        notes.append("Skipped samples (recorded in the manifests): " + ", ".join(
            f"{r.label} on {_label_of(r, groups, labels)}: {n}" for r, n in skipped) + ".")
    seeds: dict = {}
    for r in runs:
        s = (r.manifest.get("seeds") or {}).get("run", (r.manifest.get("config") or {}).get("seed"))
        seeds[s] = seeds.get(s, 0) + 1
    notes.append("Seeds: " + (f"run seed {next(iter(seeds))} for all {len(runs)} runs" if len(seeds) == 1 else
                              ", ".join(f"run seed {s} ({n} runs)" for s, n in sorted(seeds.items(), key=str)))
                 + " (per-component seeds in each manifest).")
    versions: dict = {}
    for r in runs:
        v = r.manifest.get("versions") or {}
        if not v.get("mebench") and r.manifest.get("mebench_version"):
            v = {**v, "mebench": r.manifest["mebench_version"]}
        for name in KEY_VERSIONS:
            if v.get(name):
                versions.setdefault(name, set()).add(str(v[name]))
    if versions:
        notes.append("Versions: " + ", ".join(f"{k} {' / '.join(sorted(versions[k]))}" for k in KEY_VERSIONS
                                              if k in versions) + ".")
    return notes


def _label_of(run, groups, labels) -> str:
    for key, rs in groups.items():
        if run in rs:
            return labels[key]
    return "?"


def record(boards: list) -> dict:
    """The JSON record of one or more boards (what ``--format json`` prints and ``verify`` reads)."""
    return {"format": FORMAT, "tables": boards}


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------
def _cell_of(board: dict) -> dict:
    return {(c["row"], c["column"]): c for c in board["cells"]}


def _cell_parts(cell: dict | None) -> dict:
    """Text pieces of a cell: value, CI, bold, mark, flags."""
    if cell is None:
        return {"value": "–", "ci": "", "bold": False, "mark": False, "flags": []}
    ci = "" if cell["ci_low"] is None else f"[{_fmt(cell['ci_low'])}, {_fmt(cell['ci_high'])}]"
    return {"value": _fmt(cell["value"]), "ci": ci, "bold": bool(cell["best"]),
            "mark": bool(cell["not_worse"]), "flags": list(cell["flags"])}


def _row_name(row: dict) -> str:
    return row["label"] + {"control": " (control)", "probe": " (probe)"}.get(row["role"], "")


def _sections(board: dict):
    """Rows grouped by role: (title or None, rows)."""
    for role in ROLE_ORDER:
        rows = [r for r in board["rows"] if r["role"] == role]
        if rows:
            yield ROLE_TITLES.get(role), rows


def _caption(board: dict) -> str:
    o = board["options"]
    better = f"{'higher' if board['higher_is_better'] else 'lower'} is better"
    head = (f"{board['title']} ({better})" if board["title"] == f"Pooled {board['metric']}"
            else f"{board['title']}: {board['metric']} ({better})")
    return f"{head} with {o['level']:.0%} subject-cluster bootstrap CIs"


def _code_split(text: str) -> list[tuple[bool, str]]:
    """Split footnote text on backticks: [(is_code, piece), ...]."""
    parts = text.split("`")
    return [(i % 2 == 1, p) for i, p in enumerate(parts) if p]


def to_markdown(board: dict) -> str:
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    head = ["Pipeline"] + [esc(c["label"]) for c in board["columns"]] + (["Mean rank"] if show_rank else [])
    lines = [f"{_caption(board)}.", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for title, rows in _sections(board):
        if title:
            lines.append("| *" + title + "* |" + " |" * (len(head) - 1))
        for row in rows:
            out = [esc(_row_name(row))]
            for col in board["columns"]:
                p = _cell_parts(cell_of.get((row["label"], col["label"])))
                v = f"**{p['value']}**" if p["bold"] else p["value"]
                text = " ".join(x for x in (v, p["ci"]) if x)
                if p["mark"]:
                    text += f" {MARK}"
                if p["flags"]:
                    text += " ⚠ " + ", ".join(p["flags"])
                out.append(text)
            if show_rank:
                out.append(_fmt(row["mean_rank"], 2) if row["mean_rank"] is not None else "–")
            lines.append("| " + " | ".join(out) + " |")
    lines.append("")
    lines.append("Notes:")
    lines.append("")
    for i, note in enumerate(board["footnotes"], 1):
        lines.append(f"{i}. {note}")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_LATEX_UNICODE = {"×": r"$\times$", "α": r"$\alpha$", "†": r"$^{\dagger}$", "≥": r"$\geq$", "≤": r"$\leq$",
                  "–": "--", "—": "---", "·": r"$\cdot$", "…": r"\ldots{}", "Δ": r"$\Delta$", "±": r"$\pm$",
                  "→": r"$\rightarrow$", "⚠": "", "χ": r"$\chi$", "²": r"$^2$", "’": "'", "“": "``", "”": "''"}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map the few symbols mebench writes; other non-ASCII is dropped to '?'."""
    out = []
    for ch in str(text):
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ch in _LATEX_UNICODE:
            out.append(_LATEX_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _latex_rich(text: str) -> str:
    """Footnote text with `code` set in typewriter (``--`` kept as two hyphens)."""
    return "".join(r"\texttt{" + re.sub(r"-(?=-)", "-{}", latex_escape(p)) + "}" if code else latex_escape(p)
                   for code, p in _code_split(text))


def latex_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "table"


def to_latex(board: dict, label: str | None = None) -> str:
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    ncols = 1 + len(board["columns"]) + (1 if show_rank else 0)
    spec = "l" + "c" * len(board["columns"]) + ("c" if show_rank else "")
    lines = [
        "% Generated by `mebench leaderboard` from stored predictions; do not edit by hand.",
        "% Needs \\usepackage{booktabs} in the preamble.",
        "\\begin{table}[tbp]",
        "\\centering",
        "\\small",
        "\\caption{" + latex_escape(_caption(board)) + ".}",
        "\\label{tab:" + (label or "mebench-" + latex_label(board["title"] + "-" + board["metric"])) + "}",
        "\\begin{tabular}{" + spec + "}",
        "\\toprule",
        " & ".join(["Pipeline"] + [latex_escape(c["label"]) for c in board["columns"]]
                   + (["Mean rank"] if show_rank else [])) + " \\\\",
        "\\midrule",
    ]
    first = True
    for title, rows in _sections(board):
        if title:
            if not first:
                lines.append("\\midrule")
            lines.append(f"\\multicolumn{{{ncols}}}{{l}}{{\\textit{{{latex_escape(title)}}}}} \\\\")
        first = False
        for row in rows:
            out = [latex_escape(_row_name(row))]
            for col in board["columns"]:
                p = _cell_parts(cell_of.get((row["label"], col["label"])))
                v = latex_escape(p["value"])
                text = f"\\textbf{{{v}}}" if p["bold"] else v
                if p["ci"]:
                    text += f" {{\\scriptsize {latex_escape(p['ci'])}}}"
                if p["mark"]:
                    text += "$^{\\dagger}$"
                if p["flags"]:
                    text += " \\textit{(" + latex_escape(", ".join(p["flags"])) + ")}"
                out.append(text)
            if show_rank:
                out.append(_fmt(row["mean_rank"], 2) if row["mean_rank"] is not None else "--")
            lines.append(" & ".join(out) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\smallskip", "\\begin{minipage}{\\linewidth}\\footnotesize"]
    for i, note in enumerate(board["footnotes"], 1):
        lines.append(f"{i}.~{_latex_rich(note)}\\par")
    lines += ["\\end{minipage}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def _html_rich(text: str) -> str:
    return "".join(f"<code>{html.escape(p)}</code>" if code else html.escape(p) for code, p in _code_split(text))


HTML_STYLE = ("body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#222}"
              "table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .7em;text-align:right;"
              "border-bottom:1px solid #ddd}th:first-child,td:first-child{text-align:left}"
              "thead th{border-bottom:2px solid #222}tr.section td{font-style:italic;background:#f6f6f6}"
              ".ci{color:#666;font-size:.85em}.flag{color:#b00;font-weight:bold}caption{text-align:left;"
              "font-weight:bold;margin-bottom:.5em}ol.notes{font-size:.85em;max-width:70em}")


def html_table(board: dict) -> str:
    """The leaderboard as an HTML ``<table>`` plus its notes (a fragment)."""
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    e = html.escape
    head = ["Pipeline"] + [c["label"] for c in board["columns"]] + (["Mean rank"] if show_rank else [])
    out = [f'<table class="leaderboard" data-metric="{e(board["metric"])}">', f"<caption>{e(_caption(board))}</caption>",
           "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    for title, rows in _sections(board):
        if title:
            out.append(f'<tr class="section"><td colspan="{len(head)}">{e(title)}</td></tr>')
        for row in rows:
            tds = [f'<td class="pipeline">{e(_row_name(row))}</td>']
            for col in board["columns"]:
                p = _cell_parts(cell_of.get((row["label"], col["label"])))
                v = f"<strong>{e(p['value'])}</strong>" if p["bold"] else e(p["value"])
                text = v + (f' <span class="ci">{e(p["ci"])}</span>' if p["ci"] else "")
                if p["mark"]:
                    text += f"<sup>{MARK}</sup>"
                if p["flags"]:
                    text += f' <span class="flag">{e(", ".join(p["flags"]))}</span>'
                tds.append(f"<td>{text}</td>")
            if show_rank:
                tds.append(f"<td>{_fmt(row['mean_rank'], 2) if row['mean_rank'] is not None else '–'}</td>")
            out.append(f'<tr class="{e(row["role"])}">' + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    out.append('<ol class="notes">' + "".join(f"<li>{_html_rich(n)}</li>" for n in board["footnotes"]) + "</ol>")
    return "\n".join(out)


def to_html(board: dict) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
            f"<title>{html.escape(board['title'])}</title>\n<style>{HTML_STYLE}</style>\n</head>\n<body>\n"
            + html_table(board) + "\n</body>\n</html>\n")


def to_csv(board: dict) -> str:
    cell_of = _cell_of(board)
    show_rank = board["ranking"].get("shown")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["pipeline", "role"]
    for col in board["columns"]:
        head += [f"{col['label']} {board['metric']}", f"{col['label']} ci_low", f"{col['label']} ci_high",
                 f"{col['label']} mark", f"{col['label']} flags"]
    if show_rank:
        head.append("mean rank")
    w.writerow(head)
    num = lambda v: "" if v is None else repr(float(v))  # noqa: E731
    for row in board["rows"]:
        out = [row["label"], row["role"]]
        for col in board["columns"]:
            c = cell_of.get((row["label"], col["label"]))
            if c is None:
                out += ["", "", "", "absent", ""]
                continue
            mark = ("best" if c["best"] else "not-worse" if c["not_worse"] else "untested" if c["not_worse"] is None
                    and c["ranked"] else "worse" if c["ranked"] else "unranked")
            out += [num(c["value"]), num(c["ci_low"]), num(c["ci_high"]), mark, ";".join(c["flags"])]
        if show_rank:
            out.append(num(row["mean_rank"]))
        w.writerow(out)
    return buf.getvalue()


def render(board: dict, fmt: str) -> str:
    """One board in a format of :data:`FORMATS`."""
    from ..fsutil import json_text

    if fmt == "markdown":
        return to_markdown(board)
    if fmt == "latex":
        return to_latex(board)
    if fmt == "csv":
        return to_csv(board)
    if fmt == "html":
        return to_html(board)
    if fmt == "json":
        return json_text(record([board]))
    raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def load_runs(paths) -> list[BoardRun]:
    """Find and load every run under ``paths`` (errors name the run)."""
    from .runs import find_run_dirs, load_board_run

    return [load_board_run(d) for d in find_run_dirs(paths)]
