"""Diagnostics: held-out predictions scored per subset (fold, subject, dataset) on their own.

Diagnostics only, never averaged into a headline (headlines are pooled over all held-out
predictions). Every entry carries ``n`` and the number of classes present among the subset's true
labels; a metric that is undefined for a subset (e.g. AUC with one class) is NaN. All subsets are
evaluated in one vectorised call (:func:`mebench.metrics.batch.batch_metrics` with 0/1 membership
weights), with the same numbers as the scalar metric functions.
"""
from __future__ import annotations

import numpy as np

PER_SUBJECT_NOTE = ("diagnostics only; never averaged into a headline. NaN where a metric is undefined for a subject "
                    "(e.g. AUC when the subject's clips have a single class)")


def subset_metrics(metric_names, classes, y, pred, scores, masks) -> np.ndarray:
    """(B, m) metric values of the B subsets given as boolean masks (B, n) over codes ``y``/``pred``."""
    from .batch import batch_metrics

    masks = np.atleast_2d(np.asarray(masks, bool))
    if masks.shape[0] == 0:
        return np.empty((0, len(metric_names)))
    return batch_metrics(list(metric_names), list(classes), np.asarray(y), np.asarray(pred),
                         np.asarray(scores, float), weights=masks.astype(float))


def subset_entries(metric_names, classes, y, pred, scores, masks) -> list[dict]:
    """One dict per mask: ``{"n", "n_classes_present", <metric>: value}``."""
    masks = np.atleast_2d(np.asarray(masks, bool))
    values = subset_metrics(metric_names, classes, y, pred, scores, masks)
    y = np.asarray(y, dtype=np.int64)
    k = len(classes)
    present = (np.stack([np.bincount(y[m], minlength=k) for m in masks]) > 0).sum(axis=1) if len(masks) else []
    out = []
    for i, m in enumerate(masks):
        entry = {"n": int(m.sum()), "n_classes_present": int(present[i])}
        entry.update({getattr(name, "name", name): float(values[i, j]) for j, name in enumerate(metric_names)})
        out.append(entry)
    return out


def per_subject(y_true, y_pred, scores, classes, subjects, metric_names) -> list[dict]:
    """One entry per subject: ``{"subject_id", "n", "n_classes_present", <metric>: value}``.

    ``y_true``/``y_pred`` are class labels (as in ``mebench.metrics``), ``scores`` (n, k) follows
    ``classes``; metrics are registered names or Metric objects.
    """
    classes = list(classes)
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.array([lookup[v] for v in np.asarray(y_true).tolist()], dtype=np.int64)
    pred = np.array([lookup[v] for v in np.asarray(y_pred).tolist()], dtype=np.int64)
    return per_subject_codes(y, pred, scores, classes, subjects, metric_names)


def per_subject_codes(y, pred, scores, classes, subjects, metric_names) -> list[dict]:
    """:func:`per_subject` on class codes."""
    subjects = np.asarray(subjects).astype(str)
    names, codes = np.unique(subjects, return_inverse=True)
    masks = codes[None, :] == np.arange(len(names))[:, None]
    entries = subset_entries(metric_names, classes, y, pred, scores, masks)
    return [{"subject_id": str(s), **e} for s, e in zip(names, entries)]


def undefined_counts(entries: list[dict], metric_names) -> dict:
    """How many subjects have each metric undefined (NaN)."""
    return {m: int(sum(1 for e in entries if not np.isfinite(e.get(m, np.nan)))) for m in metric_names}
