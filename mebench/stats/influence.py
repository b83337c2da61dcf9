"""Per-subject influence sums of pooled metrics, and the studentised paired statistic built on them.

A pooled metric m over n held-out clips has, for each clip j, an influence value psi_j: the first-order
change of m when clip j's weight moves (they sum to zero over the clips). Summed within each subject
they give a per-subject contribution; for two pipelines on the same clips, the differences
d_s = sum over subject s of (psi_A - psi_B) estimate the variance of m(A) - m(B) with subjects as
independent clusters (Obuchowski 1997): SE = sqrt(S / (S - 1) * sum_s d_s^2), and T = delta / SE.
Everything is computed for a batch of label rows at once (the observed labels and permutation rows).

Influence values (n clips, c_j = 1 when clip j is correct, K' = classes present in y):

* accuracy: (c_j - acc) / n;
* UAR: (c_j - R_{y_j}) / (K' n_{y_j}), with R_k the recall of class k and n_k its size;
* UF1: (1 / K') sum_k [2 1{y_j = k, yhat_j = k} - F1_k (1{y_j = k} + 1{yhat_j = k})] / (N_k + P_k),
  over the classes present in y (N_k true, P_k predicted counts);
* ROC AUC: DeLong's structural components, (V10_i - AUC) / m for the m positives and
  (V01_j - AUC) / n' for the n' negatives, from mid-ranks (Sun & Xu 2014); macro over the
  one-vs-rest classes that have both positives and negatives (class 1 alone for two classes).

The confusion-matrix metrics need only per-subject confusion counts, so their sums come from one
batched count. The metric values equal :func:`mebench.metrics.batch.batch_metrics` (tested).
"""
from __future__ import annotations

import numpy as np

from ..metrics.batch import from_confusion, metric_kind, midranks_rows, resolve_metric

KINDS = ("accuracy", "uar", "uf1", "auc")
_TIE = 1e-12


def has_influence(metric) -> bool:
    """Whether the studentised paired statistic is defined for ``metric`` (a built-in metric)."""
    return metric_kind(resolve_metric(metric)) in KINDS


def subject_confusion(Y: np.ndarray, P: np.ndarray, subject_code: np.ndarray, n_subjects: int, k: int) -> np.ndarray:
    """(R, S, k, k) confusion counts (rows true) of every label row and subject."""
    R, n = Y.shape
    cells = n_subjects * k * k
    cell = (np.asarray(subject_code, np.int64)[None, :] * (k * k) + np.asarray(Y, np.int64) * k
            + np.asarray(P, np.int64))
    flat = (np.arange(R, dtype=np.int64)[:, None] * cells + cell).ravel()
    return np.bincount(flat, minlength=R * cells).astype(float).reshape(R, n_subjects, k, k)


def _confusion_sums(kind: str, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (R,) and per-subject influence sums (R, S) of a confusion-matrix metric."""
    total = C.sum(axis=1)                                     # (R, k, k)
    value = from_confusion(kind, total)
    diag_s = np.diagonal(C, axis1=2, axis2=3)                 # (R, S, k)
    true_s, pred_s = C.sum(axis=3), C.sum(axis=2)             # (R, S, k)
    n = total.sum(axis=(1, 2))                                # (R,)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "accuracy":
            sums = (diag_s.sum(axis=2) - true_s.sum(axis=2) * value[:, None]) / n[:, None]
        else:
            support = total.sum(axis=2)                       # N_k (R, k)
            present = support > 0
            k_present = np.maximum(present.sum(axis=1), 1)[:, None, None]
            diag = np.diagonal(total, axis1=1, axis2=2)
            if kind == "uar":
                recall = np.where(present, diag / np.where(present, support, 1), 0.0)
                terms = (diag_s - true_s * recall[:, None, :]) / np.where(present, support, 1)[:, None, :]
            else:  # uf1
                denom = support + total.sum(axis=1)           # N_k + P_k
                safe = np.where(present, denom, 1)
                f1 = np.where(present, 2 * diag / safe, 0.0)
                terms = (2 * diag_s - f1[:, None, :] * (true_s + pred_s)) / safe[:, None, :]
            sums = (np.where(present[:, None, :], terms, 0.0) / k_present).sum(axis=2)
    return value, np.where(np.isfinite(value)[:, None], sums, np.nan)


def _auc_influence(pos: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC (R,) and DeLong influence values (R, n) of scores ``s`` for positives ``pos``; NaN when undefined."""
    m = pos.sum(axis=1).astype(float)[:, None]
    neg = s.shape[1] - m
    tz = midranks_rows(s)
    tx = midranks_rows(np.where(pos, s, np.inf))             # ranks among the positives (valid at positives)
    ty = midranks_rows(np.where(pos, np.inf, s))             # ranks among the negatives
    with np.errstate(invalid="ignore", divide="ignore"):
        v10 = (tz - tx) / neg
        v01 = 1.0 - (tz - ty) / m
        auc = np.where(pos, v10, 0.0).sum(axis=1) / m[:, 0]
        psi = np.where(pos, (v10 - auc[:, None]) / m, (v01 - auc[:, None]) / neg)
    defined = (m[:, 0] > 0) & (neg[:, 0] > 0)
    return np.where(defined, auc, np.nan), np.where(defined[:, None], psi, np.nan)


def _auc_sums(Y, S, subject_code, n_subjects: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    R, n = Y.shape
    cols = [1] if k == 2 else list(range(k))
    values, psis = [], []
    for c in cols:
        v, psi = _auc_influence(Y == c, np.ascontiguousarray(S[..., c], dtype=float))
        values.append(v)
        psis.append(psi)
    values, psis = np.array(values), np.array(psis)           # (c, R), (c, R, n)
    if k == 2:
        value, psi = values[0], psis[0]
    else:
        defined = np.isfinite(values)
        count = defined.sum(axis=0)
        value = np.where(count >= 2, np.where(defined, values, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan)
        psi = np.where(defined[:, :, None], psis, 0.0).sum(axis=0) / np.maximum(count, 1)[:, None]
    flat = (np.arange(R)[:, None] * n_subjects + np.asarray(subject_code)[None, :]).ravel()
    sums = np.bincount(flat, weights=np.nan_to_num(psi).ravel(), minlength=R * n_subjects).reshape(R, n_subjects)
    return value, np.where(np.isfinite(value)[:, None], sums, np.nan)


def influence_sums(metrics, Y, P, S, subject_code, n_subjects: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Metric values (R, M) and per-subject influence sums (R, S, M) of every label row.

    ``Y`` and ``P`` are (R, n) true and predicted class codes, ``S`` the (R, n, k) class scores (may be
    None when no metric needs them), ``subject_code`` (n,) the subject of each clip in 0..n_subjects-1.
    A metric without an influence function (not built in) gets NaN sums; its values are still given.
    """
    from ..metrics.batch import batch_metrics

    Y, P = np.atleast_2d(Y), np.atleast_2d(P)
    R = max(len(Y), len(P))
    Y, P = np.broadcast_to(Y, (R, Y.shape[1])), np.broadcast_to(P, (R, P.shape[1]))
    objs = [resolve_metric(m) for m in metrics]
    values = np.full((R, len(objs)), np.nan)
    sums = np.full((R, n_subjects, len(objs)), np.nan)
    C = None
    for j, obj in enumerate(objs):
        kind = metric_kind(obj)
        if kind in ("accuracy", "uar", "uf1"):
            if C is None:
                C = subject_confusion(Y, P, subject_code, n_subjects, k)
            values[:, j], sums[:, :, j] = _confusion_sums(kind, C)
        elif kind == "auc":
            Sb = np.broadcast_to(np.asarray(S, float), (R,) + np.shape(S)[-2:])
            values[:, j], sums[:, :, j] = _auc_sums(Y, Sb, subject_code, n_subjects, k)
        else:
            Sb = np.broadcast_to(np.asarray(S, float), (R,) + np.shape(S)[-2:])
            values[:, j] = batch_metrics([obj], list(range(k)), Y, P, Sb)[:, 0]
    return values, sums


def studentised(values_a, sums_a, values_b, sums_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(delta, se, T)`` of A minus B for every row and metric: arrays shaped like ``values_a``.

    ``sums_*`` are the per-subject influence sums, shaped like the values plus a last axis of subjects.
    SE = sqrt(S / (S - 1) sum_s d_s^2); T =
    delta / SE, with T = 0 when both are zero and +-inf when only SE is zero (identical per-subject
    contributions cannot explain a difference).
    """
    delta = np.asarray(values_a, float) - np.asarray(values_b, float)
    delta = np.where(np.abs(delta) < _TIE, 0.0, delta)  # rounding noise of equal values is no difference
    d = np.asarray(sums_a, float) - np.asarray(sums_b, float)
    n_subj = d.shape[-1]
    se = np.sqrt(n_subj / max(n_subj - 1, 1) * np.sum(d * d, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(se > 0, delta / np.where(se > 0, se, 1.0), np.where(delta == 0, 0.0, np.sign(delta) * np.inf))
    return delta, se, np.where(np.isfinite(delta) & ~np.isnan(se), t, np.nan)
