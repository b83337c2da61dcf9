"""Metric functions with their metadata. Headline numbers are pooled over all held-out predictions.

Every metric is called as ``metric(y_true, y_pred, scores, classes)`` where ``y_true`` and
``y_pred`` are arrays of class labels, ``scores`` is an (n, k) array of class probabilities whose
columns follow ``classes``, and ``classes`` is the full label set of the dataset.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn import metrics as skm


@dataclass(frozen=True)
class Metric:
    """A metric function plus metadata."""

    name: str
    fn: Callable
    higher_is_better: bool = True
    level: str = "pooled"
    description: str = ""

    def __call__(self, y_true, y_pred, scores, classes) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred), np.asarray(scores, dtype=float), list(classes)))


def _accuracy(y_true, y_pred, scores, classes):
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def _uar(y_true, y_pred, scores, classes):
    """Mean recall over the classes present in y_true (balanced accuracy)."""
    present = [c for c in classes if np.any(y_true == c)]
    if not present:
        return float("nan")
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in present]))


def _uf1(y_true, y_pred, scores, classes):
    if not len(y_true):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(skm.f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0))


def _auc(y_true, y_pred, scores, classes):
    """Binary ROC AUC of the second class, or macro one-vs-rest AUC; NaN when undefined."""
    present = [c for c in classes if np.any(y_true == c)]
    if len(present) < 2:
        return float("nan")
    if len(classes) == 2:
        return float(skm.roc_auc_score(y_true == classes[1], scores[:, 1]))
    aucs = []
    for j, c in enumerate(classes):
        positive = y_true == c
        if positive.any() and (~positive).any():
            aucs.append(skm.roc_auc_score(positive, scores[:, j]))
    return float(np.mean(aucs)) if aucs else float("nan")


accuracy = Metric("accuracy", _accuracy, description="Pooled accuracy")
uar = Metric("uar", _uar, description="Unweighted average recall (balanced accuracy)")
uf1 = Metric("uf1", _uf1, description="Unweighted (macro) F1 over the full label set")
auc = Metric("auc", _auc, description="ROC AUC (binary; macro one-vs-rest for more classes)")
HEADLINE = ("accuracy", "uar", "uf1", "auc")


def confusion(y_true, y_pred, classes) -> list[list[int]]:
    """Confusion matrix over the full label set; rows are true classes."""
    return skm.confusion_matrix(y_true, y_pred, labels=list(classes)).tolist()


def per_class(y_true, y_pred, classes) -> dict:
    """Per-class precision, recall and support over the full label set."""
    p, r, _, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=list(classes), zero_division=0)
    return {str(c): {"precision": float(p[i]), "recall": float(r[i]), "support": int(s[i])} for i, c in enumerate(classes)}
