"""Figures with long realistic pipeline names, and their PDFs read back with poppler's ``pdftotext -bbox``.

A figure passes when every word lies inside the page and no two words overlap: text cut at an edge
or printed over other text fails, whatever the figure kind.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import numpy as np

PDFTOTEXT = shutil.which("pdftotext")
NO_POPPLER = ("poppler's pdftotext is not installed (Debian: apt-get install poppler-utils); the figures' text layout "
              "is read back from the PDFs where it is, as in CI")
BASE_NAMES = [
    "resnet-fpf-tmfe+au-libreface+logreg[c.C=0.1,f.align=None,f.backbone=efficientnet-lite0,f.input_size=112,"
    "f.weights=imagenet]",
    "hoof+logreg[c.C=0.1,f.bins=8,f.grid=6,f.size=64]",
    "biwoof+svm-linear[f.align=None,f.size=64]",
    "flow-image+ststnet[f.align=None]",
    "lbptop+svm-linear",
    "resnet-fpf-tmfe+au-libreface+logreg[c.C=0.1,f.align=None,f.weights=imagenet]",
]
CLASSES5 = ["happiness", "surprise", "disgust", "repression", "others"]
TITLE = "synthetic/deception effect=0.25 · loso"


def long_names(n: int) -> list[str]:
    """``n`` distinct realistic pipeline names, most of them long; names that differ only in options."""
    out = list(BASE_NAMES[:n])
    i = 0
    while len(out) < n:
        base = BASE_NAMES[i % len(BASE_NAMES)]
        cut = base.rstrip("]")
        out.append(f"{cut},c.max_iter={1000 * (i + 2)}]" if "[" in base else f"{base}[c.C={10 ** -(i % 4)}]")
        i += 1
    return out


def arrays(seed: int, classes=("deceptive", "truthful"), n: int = 120, skill: float = 0.6):
    """Held-out predictions shaped like :class:`mebench.store.StoredRun` (classes, y, pred, scores)."""
    rng = np.random.default_rng(seed)
    k = len(classes)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + skill * np.eye(k)[y] * rng.uniform(0.5, 2.0)
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return SimpleNamespace(classes=list(classes), y=y, pred=scores.argmax(axis=1), scores=scores)


def subjects(seed: int, n_subjects: int = 12):
    rng = np.random.default_rng(seed)
    return [(f"synthetic/sub{i + 1:02d}", float(np.clip(rng.normal(0.6, 0.15), 0, 1)), int(rng.integers(6, 14)))
            for i in range(n_subjects)]


def make_figure(kind: str, n: int, width, labels: dict | None = None):
    """One figure of ``kind`` (roc, subjects, cd, confusion, null) for ``n`` pipelines at ``width``."""
    from mebench.leaderboard import figures as F
    from mebench.plotting import pipeline_labels
    from mebench.stats.multiple import cd_figure

    names = long_names(n)
    short, key = pipeline_labels(names, labels)
    roles = ["method"] * n
    if n >= 4:
        roles[-2:] = ["control", "probe"]
    if kind == "roc":
        return F.roc_figure([(short[m], r, arrays(i)) for i, (m, r) in enumerate(zip(names, roles))], TITLE, key, width)
    if kind == "subjects":
        return F.strip_figure([(short[m], subjects(i)) for i, m in enumerate(names)], "uf1", TITLE,
                              {short[m]: 0.4 + 0.04 * i for i, m in enumerate(names)}, key, width)
    if kind == "cd":
        ranks = {m: 1 + (n - 1) * i / max(n - 1, 1) * 0.9 + 0.05 * (i % 3) for i, m in enumerate(names)}
        cliques = [names[: max(2, n // 2)], names[n // 3:]] if n > 2 else [names]
        return cd_figure(ranks, cliques, "synthetic, uf1: mean rank over 5 columns; bars join pipelines not "
                                         "significantly different", short, key, width)
    if kind == "confusion":
        classes = CLASSES5[:n] if n <= 5 else [f"{c}-{j}" for j in range(2) for c in CLASSES5][:n]
        return F.confusion_figure(arrays(n, classes, n=200), f"{names[0]} on {TITLE}", width)
    if kind == "null":
        rng = np.random.default_rng(n)
        return F.null_figure(rng.normal(0.5, 0.05, 999), 0.742, "uf1", f"{names[0]} on {TITLE}", 0.000999, 999,
                             width)
    raise ValueError(kind)


def pdf_words(pdf: Path) -> tuple[float, float, list]:
    """(page width, page height, [(x0, y0, x1, y1, word)]) of a one-page PDF, from ``pdftotext -bbox``."""
    out = subprocess.run([PDFTOTEXT, "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', out)
    words = [(float(a), float(b), float(c), float(d), unescape(w)) for a, b, c, d, w in re.findall(
        r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>', out)]
    return float(page.group(1)), float(page.group(2)), words


def layout_problems(pdf: Path, tolerance: float = 0.6) -> list[str]:
    """Words outside the page, and pairs of words whose boxes overlap by more than ``tolerance`` points
    both ways (font boxes of adjacent lines touch; printed text over text overlaps by far more)."""
    width, height, words = pdf_words(pdf)
    problems = [f"{pdf.name}: {w!r} lies outside the {width:.0f} x {height:.0f} pt page at "
                f"({x0:.1f}, {y0:.1f}, {x1:.1f}, {y1:.1f})"
                for x0, y0, x1, y1, w in words if x0 < -0.01 or y0 < -0.01 or x1 > width + 0.01 or y1 > height + 0.01]
    boxes = np.array([w[:4] for w in words]).reshape(-1, 4)
    for i in range(len(words)):
        dx = np.minimum(boxes[i, 2], boxes[i + 1:, 2]) - np.maximum(boxes[i, 0], boxes[i + 1:, 0])
        dy = np.minimum(boxes[i, 3], boxes[i + 1:, 3]) - np.maximum(boxes[i, 1], boxes[i + 1:, 1])
        for j in np.flatnonzero((dx > tolerance) & (dy > tolerance)):
            problems.append(f"{pdf.name}: {words[i][4]!r} overlaps {words[i + 1 + j][4]!r}")
    return problems


def unlabelled_axes(fig) -> list[str]:
    """Visible axes without a label, and colour bars without one: every axis must say what it shows."""
    out = []
    for ax in fig.axes:
        if not ax.axison:
            continue
        if getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>":
            if not (ax.get_ylabel() or ax.get_xlabel()):
                out.append("a colour bar has no label")
            continue
        if ax.xaxis.get_visible() and ax.get_xticks().size and not ax.get_xlabel():
            out.append(f"axes {ax.get_title()!r}: no x label")
        if ax.yaxis.get_visible() and ax.get_yticks().size and not ax.get_ylabel():
            out.append(f"axes {ax.get_title()!r}: no y label")
    return out
