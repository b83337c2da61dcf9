"""Metric functions with their metadata. Headline numbers are pooled over all held-out predictions.

Every metric is called as ``metric(y_true, y_pred, scores, classes)`` where ``y_true`` and
``y_pred`` are arrays of class labels, ``scores`` is an (n, k) array of class scores whose
columns follow ``classes``, and ``classes`` is the full label set of the dataset.

Classes absent from a subset (one convention for every value mebench reports: pooled, per fold,
per subject, per dataset, bootstrap resamples, permutations): UAR, UF1 and AUC average over the
classes **present in ``y_true`` of that subset**. A prediction of an absent class still counts as
an error of the present class it was made for (it lowers that class's recall and F1); the absent
class itself gets no term in the average. A subset without samples has every metric undefined
(NaN); AUC also needs two classes present.

Submodules: :mod:`.batch` evaluates these metrics over many resamples or subsets at once (the
engine of the runner's diagnostics and of every statistic), :mod:`.diagnostics` holds the
per-subject block. :func:`prior_shift` and :func:`majority_baseline` score held-out samples from
their training fold's class counts alone.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np


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


def _present(y_true, classes) -> list:
    return [c for c in classes if np.any(y_true == c)]


def _accuracy(y_true, y_pred, scores, classes):
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def _uar(y_true, y_pred, scores, classes):
    """Mean recall over the classes present in y_true (balanced accuracy)."""
    present = _present(y_true, classes)
    if not present:
        return float("nan")
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in present]))


def _uf1(y_true, y_pred, scores, classes):
    """Mean F1 over the classes present in y_true; predictions of absent classes count as errors."""
    present = _present(y_true, classes)
    if not present:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn import metrics as skm  # imported when first used: most callers need only batch.py

        return float(skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def _auc(y_true, y_pred, scores, classes):
    """Binary ROC AUC of the second class, or macro one-vs-rest AUC over the classes present; NaN when undefined."""
    present = _present(y_true, classes)
    if len(present) < 2:
        return float("nan")
    from sklearn import metrics as skm  # imported when first used: most callers need only batch.py

    if len(classes) == 2:
        return float(skm.roc_auc_score(y_true == classes[1], scores[:, 1]))
    aucs = [skm.roc_auc_score(y_true == c, scores[:, j]) for j, c in enumerate(classes) if c in present]
    return float(np.mean(aucs))


accuracy = Metric("accuracy", _accuracy, description="Pooled accuracy")
uar = Metric("uar", _uar, description="Unweighted average recall over the classes present (balanced accuracy)")
uf1 = Metric("uf1", _uf1, description="Unweighted (macro) F1 over the classes present in y_true")
auc = Metric("auc", _auc, description="ROC AUC (binary; macro one-vs-rest over the classes present for more classes)")
ABSENT_CLASS_CONVENTION = ("UAR, UF1 and AUC average over the classes present in y_true of each subset; predictions "
                           "of absent classes count as errors of the present classes")


def confusion(y_true, y_pred, classes) -> list[list[int]]:
    """Confusion matrix over the full label set; rows are true classes."""
    return confusion_codes(_codes(y_true, classes), _codes(y_pred, classes), len(classes)).tolist()


def per_class(y_true, y_pred, classes) -> dict:
    """Per-class precision, recall and support over the full label set (0 where undefined)."""
    cm = confusion_codes(_codes(y_true, classes), _codes(y_pred, classes), len(classes))
    return per_class_from_confusion(cm, classes)


def confusion_codes(y, pred, k: int) -> np.ndarray:
    """(k, k) integer confusion counts from class codes; rows are true classes."""
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def per_class_from_confusion(cm: np.ndarray, classes) -> dict:
    diag = np.diagonal(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    precision = np.divide(diag, predicted, out=np.zeros(len(diag)), where=predicted > 0)
    recall = np.divide(diag, support, out=np.zeros(len(diag)), where=support > 0)
    return {str(c): {"precision": float(precision[i]), "recall": float(recall[i]), "support": int(support[i])}
            for i, c in enumerate(classes)}


def _codes(labels, classes) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[v] for v in np.asarray(labels).tolist()], dtype=np.int64)


# ---- scores from the training fold's class counts alone ----
PRIOR_SHIFT_NOTE = ("the pooled metric obtained by scoring each held-out sample with its training fold's class priors "
                    "alone (predicting the training fold's majority class): how far it sits from chance is what the "
                    "priors alone produce under this protocol (below chance for AUC when held-out subjects shift "
                    "the training priors against their own labels)")
MAJORITY_NOTE = ("the fair majority control: predicts the training fold's most frequent class with the same constant "
                 "scores for every sample, so its AUC is exactly 0.5")


def fold_priors(y, folds, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per held-out sample: the training fold's class priors (n, k), its majority class (n,), and a
    mask of the samples held out in some fold.

    ``y`` are class codes, ``folds`` a sequence of ``(train, test)`` index arrays (or objects with
    ``train``/``test``). Ties between classes go to the first class, as in ``np.argmax``.
    """
    y = np.asarray(y, dtype=np.int64)
    priors = np.zeros((len(y), k))
    majority = np.zeros(len(y), dtype=np.int64)
    held_out = np.zeros(len(y), bool)
    for fold in folds:
        train, test = (fold.train, fold.test) if hasattr(fold, "train") else fold
        counts = np.bincount(y[np.asarray(train, dtype=np.int64)], minlength=k).astype(float)
        test = np.asarray(test, dtype=np.int64)
        priors[test] = counts / max(counts.sum(), 1.0)
        majority[test] = int(np.argmax(counts))
        held_out[test] = True
    return priors, majority, held_out


def prior_shift(y, folds, classes, metric_names) -> dict:
    """Pooled metrics when every held-out sample is scored with its training fold's class priors.

    Predictions are the training fold's majority class; scores are the training fold's class
    frequencies. Under leave-one-subject-out with subjects of uneven class mix, a held-out
    subject's own labels push its training priors the other way, so this AUC falls below 0.5:
    every classifier with an intercept inherits part of that effect.
    """
    from .batch import batch_metrics

    k = len(classes)
    priors, majority, held = fold_priors(y, folds, k)
    y = np.asarray(y, dtype=np.int64)
    values = batch_metrics(list(metric_names), classes, y[held][None], majority[held][None], priors[held][None])[0]
    return {name: float(v) for name, v in zip(metric_names, values)}


def majority_baseline(y, folds, classes, metric_names) -> dict:
    """Pooled metrics of the fair majority control: the training fold's majority class as the
    prediction, the same constant scores (1/k) for every sample (so AUC is exactly 0.5)."""
    from .batch import batch_metrics

    k = len(classes)
    _, majority, held = fold_priors(y, folds, k)
    y = np.asarray(y, dtype=np.int64)
    scores = np.full((int(held.sum()), k), 1.0 / k)
    values = batch_metrics(list(metric_names), classes, y[held][None], majority[held][None], scores[None])[0]
    return {name: float(v) for name, v in zip(metric_names, values)}
