"""Figures from stored runs (matplotlib, Agg; PNG and PDF), byte-reproducible and sized for a journal.

Every figure is drawn under matplotlib's default style plus :data:`mebench.plotting.RC` (a user's
matplotlibrc cannot change it), with constrained layout, at one- or two-column width
(:data:`mebench.plotting.WIDTHS`), and saved with fixed metadata: no software string, no creation
date. Redrawing the same runs with the same matplotlib gives the same bytes, so a committed
leaderboard rebuilds exactly. Pipelines are named by short labels (``--label`` or generated keys
``P1``, ``P2``, …) with a key table below the plot; numbers and p-values are formatted as in the tables.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..formatting import fmt_number, fmt_p
from ..plotting import (
    DPI,
    FORMATS,
    draw_key,
    figure_bytes,
    key_height,
    new_figure,
    pipeline_labels,
    save,
    style,
    text_width,
    width_inches,
    wrap,
    wrapped,
)

__all__ = ["DPI", "FORMATS", "figure_bytes", "save", "style", "slug", "roc_figure", "confusion_figure", "strip_figure",
           "null_figure", "cd_figure_files", "board_figures", "board_labels"]
ROLE_STYLE = {"method": "-", "control": ":", "probe": "--"}
_METHOD_STYLES = ("-", "-.", (0, (5, 1.5)), (0, (1, 1)))  # after ten colours the line style changes


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


def _title_lines(text: str) -> int:
    return text.count("\n") + 1


def _key_for(names, labels: dict, key: list) -> list:
    """The rows of ``key`` (generated key, full name) for the pipelines in ``names``."""
    wanted = {labels[n] for n in names if n in labels}
    return [(k, full) for k, full in key if k in wanted]


# ---- ROC ----
def roc_points(positive, scores) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates over all thresholds (tied scores form one step)."""
    positive = np.asarray(positive, bool)
    scores = np.asarray(scores, float)
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positive[order]
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # end of each tie group
    tp = np.cumsum(p)[last]
    fp = np.cumsum(~p)[last]
    n_pos, n_neg = max(int(p.sum()), 1), max(int((~p).sum()), 1)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def roc_curve_of(arrays) -> tuple[np.ndarray, np.ndarray, str]:
    """One pooled ROC curve for a run: the second class for binary tasks, else micro-averaged one-vs-rest."""
    classes = list(arrays.classes)
    if len(classes) == 2:
        return (*roc_points(arrays.y == 1, arrays.scores[:, 1]), f"positive class {classes[1]!r}")
    onehot = np.eye(len(classes), dtype=bool)[arrays.y]
    return (*roc_points(onehot.ravel(), arrays.scores.ravel()), "one-vs-rest, micro-averaged")


def roc_figure(entries: list, title: str, key: list | None = None, width="one"):
    """``entries``: (short label, role, arrays). Pooled ROC curves, one per pipeline; the legend (label and
    area under the curve) sits right of the axes and the key table below the plot. The axes get no fixed
    aspect: constrained layout places the labels of fixed-aspect axes wrongly (the y label was cut at
    the page edge); the figure's height makes them about square at one column instead."""
    key = key or []
    curves = []
    for label, role, arrays in entries:
        fpr, tpr, what = roc_curve_of(arrays)
        area = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
        curves.append((label, role, fpr, tpr, area, what))
    what = curves[-1][5] if curves else ""
    suptitle = wrapped(f"{title}\npooled ROC curve{'s' if len(curves) > 1 else ''} ({what})", width)
    w = width_inches(width)
    plot_h = 0.45 + 0.13 * _title_lines(suptitle) + min(0.62 * w, 3.2)
    plot_h = max(plot_h, 0.55 + 0.13 * _title_lines(suptitle) + 0.125 * (len(curves) + 2))  # the legend fits
    fig = new_figure(width, plot_h, key_height(key, width))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.75", lw=0.7, label="chance: 0.500")
    legend_w = 0.3 * w * 72
    n_method = 0
    for label, role, fpr, tpr, area, _ in curves:
        text = "\n".join(wrap(f"{label}: {fmt_number(area)}", legend_w, 6.5))
        if role == "method":
            ax.plot(fpr, tpr, linestyle=_METHOD_STYLES[n_method // 10 % len(_METHOD_STYLES)],
                    color=f"C{n_method % 10}", lw=1.0, label=text)
            n_method += 1
        else:
            ax.plot(fpr, tpr, ROLE_STYLE.get(role, "-"), lw=1.0, color="0.45", label=text)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(loc="upper left", bbox_to_anchor=(1.03, 1.0), borderaxespad=0, title="area under curve",
              alignment="left", handlelength=1.8)
    fig.suptitle(suptitle)
    draw_key(fig, key)
    return fig


# ---- confusion matrix ----
def confusion_counts(arrays) -> np.ndarray:
    k = len(arrays.classes)
    return np.bincount(arrays.y * k + arrays.pred, minlength=k * k).reshape(k, k)


def confusion_figure(arrays, title: str, width=None):
    """Pooled confusion matrix: counts and row shares per cell, a labelled colour bar."""
    cm = confusion_counts(arrays)
    k = cm.shape[0]
    width = width or ("one" if k <= 6 else "two")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, np.maximum(rows, 1))
    w = width_inches(width)
    suptitle = wrapped(f"{title}\npooled confusion matrix (count and share of the true class)", width)
    longest = max(text_width(str(c), 6.5) for c in arrays.classes)
    cell_pt = min(0.7 * w, 4.6) / k * 72
    rotation = 0 if longest < 0.9 * cell_pt else 90  # never slanted: poppler and readers handle 0 and 90 degrees
    plot_h = 0.45 + 0.13 * _title_lines(suptitle) + min(0.7 * w, 4.6) + (0.15 if rotation == 0 else 1.0) * longest / 72
    fig = new_figure(width, plot_h)
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    size = 6.5 if cell_pt >= 23 else 5.5 if cell_pt >= 18 else 4.5
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=size,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(k), arrays.classes, rotation=rotation, ha="right" if rotation else "center",
                  rotation_mode="anchor", va="center" if rotation else "top")
    ax.set_yticks(range(k), arrays.classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    bar = fig.colorbar(im, ax=ax, shrink=0.9)
    bar.set_label("share of the true class's samples")
    fig.suptitle(suptitle)
    return fig


# ---- per-subject strip plot ----
def per_subject_values(predictions, metric: str) -> list[tuple[str, float, int]]:
    """(subject, metric on that subject's held-out predictions, n) for every subject."""
    from ..stats.runs import per_subject_from_predictions

    block = per_subject_from_predictions(predictions, [metric])
    return [(e["subject_id"], float(e[metric]), int(e["n"])) for e in block["subjects"]]


def strip_figure(entries: list, metric: str, title: str, pooled: dict | None = None, key: list | None = None,
                 width="two", row_label: str = "pipeline"):
    """``entries``: (short label, [(subject, value, n)]). One horizontal strip of subjects per pipeline.

    Points are spread by a fixed offset per subject (no random jitter), their size grows with the
    subject's clips; the pooled value is a vertical bar, and the two lowest subjects of each strip
    are named in a column right of the axes (never on the points, where names would collide).
    """
    key = key or []
    n = len(entries)
    undefined = sum(1 for _, values in entries for _, v, _ in values if not np.isfinite(v))
    note = f"; {undefined} undefined value(s) omitted" if undefined else ""
    suptitle = wrapped(f"{title}\nper-subject {metric}: dots are subjects (size grows with clips), "
                       f"bars the pooled value{note}", width)
    plot_h = 0.55 + 0.13 * _title_lines(suptitle) + 0.22 * max(n, 3)
    fig = new_figure(width, plot_h, key_height(key, width))
    ax = fig.subplots()
    values_all = [v for _, values in entries for _, v, _ in values if np.isfinite(v)]
    values_all += [v for v in (pooled or {}).values() if v is not None and np.isfinite(v)]
    lo, hi = (min(values_all), max(values_all)) if values_all else (0.0, 1.0)
    if 0 <= lo and hi <= 1:
        lo, hi = 0.0, 1.0
    span = (hi - lo) or 1.0
    ax.set_xlim(lo - 0.03 * span, hi + 0.03 * span)
    for row, (label, values) in enumerate(entries):
        defined = [(s, v, m) for s, v, m in values if np.isfinite(v)]
        subjects = sorted(s for s, _, _ in values)
        offset = {s: (i / max(len(subjects) - 1, 1) - 0.5) * 0.5 for i, s in enumerate(subjects)}
        if defined:
            ax.scatter([v for _, v, _ in defined], [row + offset[s] for s, _, _ in defined],
                       s=[4 + 1.5 * m for _, _, m in defined], alpha=0.65, edgecolors="none", color="C0")
            if np.ptp([v for _, v, _ in defined]) > 0:
                lowest = sorted(defined, key=lambda t: (t[1], t[0]))[:2]
                ax.annotate(", ".join(s.split("/")[-1] for s, _, _ in lowest), (1, row),
                            xycoords=("axes fraction", "data"), xytext=(4, 0), textcoords="offset points",
                            ha="left", va="center", fontsize=6, annotation_clip=False)
        if pooled and pooled.get(label) is not None and np.isfinite(pooled[label]):
            ax.vlines(pooled[label], row - 0.38, row + 0.38, color="black", lw=1.4)
    ax.annotate("lowest", (1, 1), xycoords="axes fraction", xytext=(4, 2), textcoords="offset points",
                ha="left", va="bottom", fontsize=6, annotation_clip=False)
    ax.set_yticks(range(n), [label for label, _ in entries])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(f"{metric} on each subject's held-out clips")
    ax.set_ylabel(row_label)
    ax.grid(axis="x", color="0.9", lw=0.5)
    ax.set_axisbelow(True)
    fig.suptitle(suptitle)
    draw_key(fig, key)
    return fig


# ---- permutation null distribution ----
def null_figure(null, observed: float | None, metric: str, title: str, p_value=None, n_permutations=None,
                width="one"):
    """Histogram of the permutation null with the observed value; p as in the tables (:func:`fmt_p`)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    null = np.asarray(null, float)
    valid = null[np.isfinite(null)]
    p = "" if p_value is None else f", p\u00a0=\u00a0{fmt_p(p_value)}"  # kept on one line
    suptitle = wrapped(f"{title}\npermutation null distribution of {metric} "
                       f"({n_permutations or len(null)} permutations{p})", width)
    fig = new_figure(width, 0.75 + 0.13 * _title_lines(suptitle) + 0.5 * width_inches(width))
    ax = fig.subplots()
    handles = []
    if len(valid):
        ax.hist(valid, bins=min(40, max(10, len(valid) // 25)), color="0.6", edgecolor="white", linewidth=0.4)
        handles.append(Patch(color="0.6", label="null distribution"))
    if observed is not None and np.isfinite(observed):
        ax.axvline(observed, color="crimson", lw=1.5)
        handles.append(Line2D([], [], color="crimson", lw=1.5, label=f"observed {fmt_number(observed)}"))
    ax.set_xlabel(f"{metric} under permuted labels (whole pipeline refit)")
    ax.set_ylabel("permutations")
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    fig.suptitle(suptitle)
    return fig


# ---- critical-difference diagram (drawn by mebench.stats.multiple.cd_figure) ----
def cd_figure_files(ranking: dict, stem: Path, title: str, formats=FORMATS, labels: dict | None = None,
                    key: list | None = None, width="two") -> list[Path]:
    """The critical-difference diagram of a board's ranking, as PNG and PDF (fixed metadata)."""
    from ..stats.multiple import cd_figure

    if labels is not None:
        key = _key_for(ranking["mean_ranks"], labels, key or [])
    with style():
        fig = cd_figure(ranking["mean_ranks"], ranking["cliques"], title, labels=labels, key=key, width=width)
        return save(fig, Path(stem), formats)


# ---- a board's figures ----
def null_of_run(run, metric: str, title: str, width="one"):
    """The permutation-null figure of a run whose stats.json holds the test (else None)."""
    from .runs import permutation_null, read_stats

    stats, notes = read_stats(run.dir, run.files)
    perm = (stats or {}).get("permutation") or {}
    if not stats or perm.get("skipped") or notes and any("other versions" in n for n in notes):
        return None
    null = permutation_null(run.dir, stats, metric)
    if null is None:
        return None
    entry = (perm.get("metrics") or {}).get(metric) or {}
    return null_figure(null, entry.get("observed"), metric, title, entry.get("p_value"), perm.get("n_permutations"),
                       width)


def board_labels(board: dict, user: dict | None = None) -> tuple[dict, list]:
    """({row label: short label}, key) of a board's pipelines in row order (:func:`mebench.plotting.pipeline_labels`);
    the key names controls and probes as such, as the tables do."""
    short, key = pipeline_labels([row["label"] for row in board["rows"]], user)
    role = {row["label"]: row["role"] for row in board["rows"]}
    return short, [(k, full if role.get(full, "method") == "method" else f"{full} ({role[full]})") for k, full in key]


def board_figures(board: dict, runs: list, out_dir: Path, stem: str = "leaderboard", confusion: bool = True,
                  strips: bool = True, nulls: bool = True, labels: dict | None = None, width=None) -> list[Path]:
    """ROC curves and per-subject strips per column, confusion matrices and permutation nulls (where
    ``mebench stats`` ran) per cell, and the CD diagram. ``labels``: the user's short labels by row label;
    ``width``: every figure's width (``"one"``, ``"two"``; by default ROC, confusion and null figures take one
    column, strips and the CD diagram two)."""
    out_dir = Path(out_dir)
    short, key = board_labels(board, labels)
    by_id = {r.run_id: r for r in runs}
    by_cell = {(c["row"], c["column"]): by_id[c["run_id"]] for c in board["cells"] if c["run_id"] in by_id}
    written: list[Path] = []
    order = {row["label"]: i for i, row in enumerate(board["rows"])}
    with style():
        for col in board["columns"]:
            cells = [c for c in sorted((c for c in board["cells"] if c["column"] == col["label"]),
                                       key=lambda c: order[c["row"]]) if (c["row"], c["column"]) in by_cell]
            if not cells:
                continue
            col_key = _key_for([c["row"] for c in cells], short, key)
            entries = [(short[c["row"]], c["role"], by_cell[(c["row"], c["column"])]) for c in cells]
            written += save(roc_figure(entries, col["label"], col_key, width or "one"),
                            out_dir / f"{stem}-roc-{slug(col['label'])}")
            if strips:
                strip = [(short[c["row"]], per_subject_values(by_cell[(c["row"], c["column"])].predictions,
                                                              board["metric"])) for c in cells]
                pooled = {short[c["row"]]: c["value"] for c in cells}
                fig = strip_figure(strip, board["metric"], col["label"], pooled, col_key, width or "two")
                written += save(fig, out_dir / f"{stem}-subjects-{slug(col['label'])}")
            for c in cells:
                r = by_cell[(c["row"], c["column"])]
                what = f"{c['row']} on {col['label']}"
                if confusion:
                    written += save(confusion_figure(r, what, width),
                                    out_dir / f"{stem}-confusion-{slug(col['label'])}-{slug(c['row'])}")
                drawn = nulls and null_of_run(r, board["metric"], what, width or "one")
                if drawn:
                    written += save(drawn, out_dir / f"{stem}-null-{slug(col['label'])}-{slug(c['row'])}")
    if board["ranking"].get("shown"):
        written += cd_figure_files(board["ranking"], out_dir / f"{stem}-cd",
                                   f"{board['metric']}: mean rank over {len(board['ranking']['blocks'])} columns; "
                                   "bars join pipelines not significantly different", labels=short, key=key,
                                   width=width or "two")
    return written
