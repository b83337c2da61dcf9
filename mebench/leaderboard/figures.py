"""Figures from stored runs (matplotlib, Agg; PNG and PDF), byte-reproducible.

Every figure is drawn under matplotlib's default style (a user's matplotlibrc cannot change it)
and saved with fixed metadata: no software string, no creation date. Redrawing the same runs
with the same matplotlib gives the same bytes, so a committed leaderboard rebuilds exactly.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np

FORMATS = ("png", "pdf")
DPI = 120
_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}
ROLE_STYLE = {"method": "-", "control": ":", "probe": "--"}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


@contextlib.contextmanager
def style():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure as PNG or PDF bytes with fixed metadata."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
    return buf.getvalue()


def save(fig, stem: Path, formats=FORMATS) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` atomically; returns the paths."""
    from ..fsutil import atomic_write_bytes

    paths = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        atomic_write_bytes(path, figure_bytes(fig, fmt))
        paths.append(path)
    return paths


def _new_figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


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


def roc_figure(entries: list, title: str):
    """``entries``: (label, role, arrays). Pooled ROC curves, one per pipeline."""
    fig = _new_figure(5.6, 5.0)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, label="chance")
    what = ""
    for label, role, arrays in entries:
        fpr, tpr, what = roc_curve_of(arrays)
        area = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
        ax.plot(fpr, tpr, ROLE_STYLE.get(role, "-"), lw=1.3, drawstyle="default",
                label=f"{label} ({area:.3f})", color=None if role == "method" else "0.45")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(f"{title}\npooled ROC ({what}); area in brackets", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# ---- confusion matrix ----
def confusion_counts(arrays) -> np.ndarray:
    k = len(arrays.classes)
    return np.bincount(arrays.y * k + arrays.pred, minlength=k * k).reshape(k, k)


def confusion_figure(arrays, title: str):
    cm = confusion_counts(arrays)
    k = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, np.maximum(rows, 1))
    size = 2.2 + 0.55 * k
    fig = _new_figure(size + 0.8, size)
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(k), arrays.classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), arrays.classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\npooled confusion matrix (counts, row share)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


# ---- per-subject strip plot ----
def per_subject_values(predictions, metric: str) -> list[tuple[str, float, int]]:
    """(subject, metric on that subject's held-out predictions, n) for every subject."""
    from ..stats.runs import per_subject_from_predictions

    block = per_subject_from_predictions(predictions, [metric])
    return [(e["subject_id"], float(e[metric]), int(e["n"])) for e in block["subjects"]]


def strip_figure(entries: list, metric: str, title: str, pooled: dict | None = None):
    """``entries``: (label, [(subject, value, n)]). One strip of subjects per pipeline.

    Points are spread by a fixed offset per subject (no random jitter); the two lowest subjects
    of each pipeline are named, and the pooled value is drawn as a bar.
    """
    n = len(entries)
    fig = _new_figure(max(4.0, 1.3 * n + 1.5), 4.6)
    ax = fig.subplots()
    undefined = 0
    for x, (label, values) in enumerate(entries):
        defined = [(s, v, m) for s, v, m in values if np.isfinite(v)]
        undefined += len(values) - len(defined)
        if not defined:
            continue
        subjects = sorted(s for s, _, _ in values)
        offset = {s: (i / max(len(subjects) - 1, 1) - 0.5) * 0.5 for i, s in enumerate(subjects)}
        xs = [x + offset[s] for s, _, _ in defined]
        ys = [v for _, v, _ in defined]
        sizes = [12 + 4 * m for _, _, m in defined]
        ax.scatter(xs, ys, s=sizes, alpha=0.65, edgecolors="none")
        lowest = sorted(defined, key=lambda t: (t[1], t[0]))[:2] if np.ptp(ys) > 0 else []
        for s, v, _ in lowest:
            ax.annotate(s.split("/")[-1], (x + offset[s], v), fontsize=6, xytext=(3, -3), textcoords="offset points")
        if pooled and pooled.get(label) is not None:
            ax.hlines(pooled[label], x - 0.35, x + 0.35, color="black", lw=1.6)
    ax.set_xticks(range(n), [label for label, _ in entries], rotation=30, ha="right", fontsize=7)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylabel(f"{metric} on each subject's held-out clips")
    note = f"; {undefined} undefined value(s) omitted" if undefined else ""
    ax.set_title(f"{title}\nper-subject {metric} (point size ~ clips; bar = pooled){note}", fontsize=9)
    fig.tight_layout()
    return fig


# ---- permutation null distribution ----
def null_figure(null, observed: float | None, metric: str, title: str, p_value=None, n_permutations=None):
    null = np.asarray(null, float)
    valid = null[np.isfinite(null)]
    fig = _new_figure(5.6, 3.8)
    ax = fig.subplots()
    if len(valid):
        ax.hist(valid, bins=min(40, max(10, len(valid) // 25)), color="0.6", edgecolor="white")
    if observed is not None and np.isfinite(observed):
        ax.axvline(observed, color="crimson", lw=2, label=f"observed {observed:.3f}")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"{metric} under permuted labels (whole pipeline refit)")
    ax.set_ylabel("permutations")
    p = "" if p_value is None else f", p = {p_value:.4g}"
    ax.set_title(f"{title}\npermutation null distribution ({n_permutations or len(null)} permutations{p})",
                 fontsize=9)
    fig.tight_layout()
    return fig


# ---- critical-difference diagram (drawn by mebench.stats.multiple.cd_diagram) ----
@contextlib.contextmanager
def _source_date_epoch():
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


def cd_figure_files(ranking: dict, stem: Path, title: str, formats=FORMATS) -> list[Path]:
    """The critical-difference diagram of a board's ranking, as PNG and PDF (fixed dates)."""
    from ..fsutil import atomic_write_bytes
    from ..stats.multiple import cd_diagram

    paths = []
    with style(), tempfile.TemporaryDirectory() as tmp, _source_date_epoch():
        for fmt in formats:
            tmp_path = Path(tmp) / f"cd.{fmt}"
            cd_diagram(ranking["mean_ranks"], ranking["cliques"], tmp_path, title=title)
            path = Path(f"{stem}.{fmt}")
            atomic_write_bytes(path, tmp_path.read_bytes())
            paths.append(path)
    return paths


# ---- a board's figures ----
def null_of_run(run, metric: str, title: str):
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
    return null_figure(null, entry.get("observed"), metric, title, entry.get("p_value"), perm.get("n_permutations"))


def board_figures(board: dict, runs: list, out_dir: Path, stem: str = "leaderboard", confusion: bool = True,
                  strips: bool = True, nulls: bool = True) -> list[Path]:
    """ROC curves and per-subject strips per column, confusion matrices and permutation nulls (where
    ``mebench stats`` ran) per cell, and the CD diagram."""
    out_dir = Path(out_dir)
    by_id = {r.run_id: r for r in runs}
    by_cell = {(c["row"], c["column"]): by_id[c["run_id"]] for c in board["cells"] if c["run_id"] in by_id}
    written: list[Path] = []
    order = {row["label"]: i for i, row in enumerate(board["rows"])}
    with style():
        for col in board["columns"]:
            cells = sorted((c for c in board["cells"] if c["column"] == col["label"]), key=lambda c: order[c["row"]])
            entries = [(c["row"], c["role"], by_cell[(c["row"], c["column"])]) for c in cells
                       if (c["row"], c["column"]) in by_cell]
            if not entries:
                continue
            fig = roc_figure(entries, col["label"])
            written += save(fig, out_dir / f"{stem}-roc-{slug(col['label'])}")
            if strips:
                strip = [(c["row"], per_subject_values(by_cell[(c["row"], c["column"])].predictions, board["metric"]))
                         for c in cells if (c["row"], c["column"]) in by_cell]
                pooled = {c["row"]: c["value"] for c in cells}
                fig = strip_figure(strip, board["metric"], col["label"], pooled)
                written += save(fig, out_dir / f"{stem}-subjects-{slug(col['label'])}")
            if confusion:
                for c in cells:
                    r = by_cell.get((c["row"], c["column"]))
                    if r is not None:
                        fig = confusion_figure(r, f"{c['row']} on {col['label']}")
                        written += save(fig, out_dir / f"{stem}-confusion-{slug(col['label'])}-{slug(c['row'])}")
            if nulls:
                for c in cells:
                    r = by_cell.get((c["row"], c["column"]))
                    drawn = r is not None and null_of_run(r, board["metric"], f"{c['row']} on {col['label']}")
                    if drawn:
                        written += save(drawn, out_dir / f"{stem}-null-{slug(col['label'])}-{slug(c['row'])}")
    if board["ranking"].get("shown"):
        written += cd_figure_files(board["ranking"], out_dir / f"{stem}-cd",
                                   f"{board['metric']}: mean rank over {len(board['ranking']['blocks'])} columns; "
                                   "bars: not significantly different")
    return written

