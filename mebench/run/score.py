"""The score stage: a run's metrics from its held-out predictions."""
from __future__ import annotations

import numpy as np

from ..registry import METRICS
from .spec import Prepared


def compute_metrics(prepared: Prepared, scores: np.ndarray, pred: np.ndarray, metric_names=None) -> dict:
    """Pooled headline metrics, per-fold, per-subject and per-dataset diagnostics, the majority
    control and the prior-shift diagnostic; all on the vectorised metric path.

    Parameters
    ----------
    prepared, scores, pred : Prepared, array (n, k), array (n,)
        The run and its held-out class scores and predicted codes (``cross_predict``).
    metric_names : list of str, optional
        Default: the run's.

    Returns
    -------
    dict
        The metrics.json content.
    """
    from ..metrics import (
        ABSENT_CLASS_CONVENTION,
        MAJORITY_NOTE,
        PRIOR_SHIFT_NOTE,
        confusion_codes,
        majority_baseline,
        per_class_from_confusion,
        prior_shift,
    )
    from ..metrics.diagnostics import PER_SUBJECT_NOTE, per_subject_codes, subset_entries

    metric_names = list(metric_names or prepared.spec.metrics)
    for name in metric_names:
        METRICS.entry(name)
    classes = list(prepared.classes)
    evaluated = prepared.evaluated  # samples held out in some fold; training-only ones carry no score
    y, p, s = prepared.y[evaluated], np.asarray(pred)[evaluated], np.asarray(scores, float)[evaluated]
    folds = prepared.split.folds
    k = len(classes)

    def masks_of(groups: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(groups), len(prepared.samples)), bool)
        for i, idx in enumerate(groups):
            out[i, idx] = True
        return out[:, evaluated]

    pooled = subset_entries(metric_names, classes, y, p, s, np.ones((1, len(y)), bool))[0]
    cm = confusion_codes(y, p, k)
    result = {"pooled": {m: pooled[m] for m in metric_names},
              "classes": classes,
              "n": int(evaluated.sum()),
              "class_counts": {c: int(cm[i].sum()) for i, c in enumerate(classes)},
              "confusion_matrix": cm.tolist(),
              "per_class": per_class_from_confusion(cm, classes),
              "level": "pooled over all held-out predictions (MEGC convention)",
              "absent_classes": ABSENT_CLASS_CONVENTION}
    per_fold = subset_entries(metric_names, classes, y, p, s, masks_of([f.test for f in folds]))
    result["per_fold"] = [{"fold": f.name, **e} for f, e in zip(folds, per_fold)]
    result["per_fold_note"] = "diagnostics only; never averaged into a headline (NaN where undefined)"
    result["per_subject"] = per_subject_codes(y, p, s, classes, prepared.samples["subject_id"].to_numpy()[evaluated],
                                              metric_names)
    result["per_subject_note"] = PER_SUBJECT_NOTE
    datasets = prepared.samples["dataset"].astype(str).to_numpy()
    if len(set(datasets)) > 1:
        names = sorted(set(datasets[evaluated]))
        masks = masks_of([np.flatnonzero(datasets == d) for d in names])
        entries = subset_entries(metric_names, classes, y, p, s, masks)
        result["per_dataset"] = {d: {**{m: e[m] for m in metric_names}, "n": e["n"]} for d, e in zip(names, entries)}
    result["baselines"] = {"majority": majority_baseline(prepared.y, folds, classes, metric_names)}
    result["baselines_note"] = {"majority": MAJORITY_NOTE}
    result["prior_shift"] = {"pooled": prior_shift(prepared.y, folds, classes, metric_names), "note": PRIOR_SHIFT_NOTE}
    return result
