"""Per-subject diagnostics: each subject's held-out predictions scored on their own.

Diagnostics only, never averaged into a headline (headlines are pooled over all held-out
predictions). Every entry carries ``n`` and the number of classes present among the subject's
true labels; a metric that is undefined for a subject (e.g. AUC with one class) is NaN, and the
block says how many subjects have it undefined.
"""
from __future__ import annotations

import numpy as np

PER_SUBJECT_NOTE = ("diagnostics only; never averaged into a headline. NaN where a metric is undefined for a subject "
                    "(e.g. AUC when the subject's clips have a single class)")


def per_subject(y_true, y_pred, scores, classes, subjects, metric_names) -> list[dict]:
    """One entry per subject: ``{"subject_id", "n", "n_classes_present", <metric>: value}``.

    ``y_true``/``y_pred`` are class labels (as in ``mebench.metrics``), ``scores`` (n, k) follows
    ``classes``; metrics are registered names. The lead's ``runner.compute_metrics`` can call it as
    ``per_subject(y_true, y_pred, scores, classes, prepared.samples["subject_id"], metric_names)``.
    """
    from ..registry import METRICS

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    scores = np.asarray(scores, float)
    subjects = np.asarray(subjects).astype(str)
    fns = {m: METRICS.get(m) for m in metric_names}
    out = []
    for s in sorted(set(subjects)):
        mask = subjects == s
        entry = {"subject_id": s, "n": int(mask.sum()), "n_classes_present": int(len(set(y_true[mask])))}
        for name, fn in fns.items():
            entry[name] = float(fn(y_true[mask], y_pred[mask], scores[mask], list(classes)))
        out.append(entry)
    return out


def undefined_counts(entries: list[dict], metric_names) -> dict:
    """How many subjects have each metric undefined (NaN)."""
    return {m: int(sum(1 for e in entries if not np.isfinite(e.get(m, np.nan)))) for m in metric_names}


def per_subject_from_predictions(predictions, metric_names) -> dict:
    """The per-subject block from a stored ``predictions.parquet`` table."""
    from ..store import classes_of, score_columns

    classes = classes_of(predictions)
    entries = per_subject(predictions["y_true"].astype(str).to_numpy(), predictions["y_pred"].astype(str).to_numpy(),
                          predictions[score_columns(predictions)].to_numpy(float), classes,
                          predictions["subject_id"].astype(str).to_numpy(), metric_names)
    return {"subjects": entries, "n_subjects": len(entries), "n_undefined": undefined_counts(entries, metric_names),
            "note": PER_SUBJECT_NOTE}
