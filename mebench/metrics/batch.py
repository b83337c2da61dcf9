"""Metrics over many resamples or permutations at once.

The statistics in this package evaluate a pooled metric thousands of times: once per bootstrap
resample, label permutation or A/B swap. Each evaluation is one of two shapes:

* **weighted**: labels, predictions and scores are fixed and each resample is a vector of
  non-negative integer weights (how often each sample was drawn). A subject-cluster bootstrap
  resample is exactly this: every sample of a subject drawn ``c`` times has weight ``c``.
* **row-wise**: every row of a batch has its own labels and/or scores (permutations, swaps).

For the built-in metrics (accuracy, UAR, UF1, ROC AUC) the computation is vectorised over the
batch: the confusion-matrix metrics from a batched weighted confusion matrix, and AUC from tied
ranks (Mann-Whitney with ties counted one half). Any other registered metric falls back to calling
its function once per row on the materialised resample, which is exact but slower. Both paths
return the same numbers as the metric functions in :mod:`mebench.metrics` (tested), under the
same convention for classes absent from a subset (averages over the classes present in ``y``).

Subsets (folds, subjects, datasets) are weights too: a (B, n) matrix of 0/1 membership masks
evaluates every subset in one call, which is how the runner computes its diagnostics.
"""
from __future__ import annotations

import numpy as np

from .. import metrics as _m  # the package's scalar metric objects


def resolve_metric(metric):
    """A :class:`mebench.metrics.Metric` from a metric object or a registered name."""
    if isinstance(metric, str):
        from ..registry import METRICS

        return METRICS.get(metric)
    return metric


def _fast_kind(metric) -> str | None:
    """Which built-in metric this is, by its function (a Metric unpickled in a worker is a copy)."""
    fn = getattr(metric, "fn", None)
    for kind, builtin in (("accuracy", _m.accuracy), ("uar", _m.uar), ("uf1", _m.uf1), ("auc", _m.auc)):
        if metric is builtin or (fn is not None and fn is builtin.fn):
            return kind
    return None


metric_kind = _fast_kind


def batch_size(*arrays, weights=None) -> int:
    """The batch size B implied by ``(array, ndim_without_batch)`` pairs and the weights."""
    sizes = set()
    for a, nd in arrays:
        a = np.asarray(a)
        if a.ndim == nd + 1:
            sizes.add(a.shape[0])
    if weights is not None:
        sizes.add(np.asarray(weights).shape[0])
    sizes.discard(1)  # a batch of one broadcasts
    if len(sizes) > 1:
        raise ValueError(f"inconsistent batch sizes {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def confusion_batch(y, pred, k: int, weights=None, batch: int = 1) -> np.ndarray:
    """(B, k, k) confusion counts (rows true) for codes ``y``/``pred`` of shape (n,) or (B, n)."""
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    cell = y * k + pred
    if cell.ndim == 1:
        if weights is None:
            c = np.bincount(cell, minlength=k * k).astype(float)
            return np.broadcast_to(c.reshape(k, k), (batch, k, k)).copy()
        w = np.asarray(weights, dtype=float)
        # (B, n) weights against a fixed cell per sample: sum weights per cell for each row
        onehot = np.zeros((cell.shape[0], k * k))
        onehot[np.arange(cell.shape[0]), cell] = 1.0
        return (w @ onehot).reshape(-1, k, k)
    if cell.shape[0] == 1 and batch > 1:
        cell = np.broadcast_to(cell, (batch, cell.shape[1]))
    rows = cell.shape[0]
    flat = (np.arange(rows)[:, None] * (k * k) + cell).ravel()
    if weights is None:
        counts = np.bincount(flat, minlength=rows * k * k).astype(float)
    else:
        w = np.broadcast_to(np.asarray(weights, dtype=float), cell.shape)
        counts = np.bincount(flat, weights=w.ravel(), minlength=rows * k * k)
    return counts.reshape(rows, k, k)


def from_confusion(kind: str, cm: np.ndarray) -> np.ndarray:
    """``kind`` (accuracy, uar, uf1) of every (k, k) confusion matrix of ``cm`` (B, k, k); NaN when empty."""
    total = cm.sum(axis=(1, 2))
    diag = np.diagonal(cm, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "accuracy":
            out = diag.sum(axis=1) / total
        elif kind == "uar":
            support = cm.sum(axis=2)
            recall = np.where(support > 0, diag / np.where(support > 0, support, 1), np.nan)
            present = (support > 0).sum(axis=1)
            out = np.where(present > 0, np.nansum(recall, axis=1) / np.maximum(present, 1), np.nan)
        elif kind == "uf1":  # over the classes present in y; predictions of absent classes are errors
            support = cm.sum(axis=2)
            denom = support + cm.sum(axis=1)
            f1 = np.where(support > 0, 2 * diag / np.where(denom > 0, denom, 1), 0.0)
            present = (support > 0).sum(axis=1)
            out = f1.sum(axis=1) / np.maximum(present, 1)
        else:  # pragma: no cover
            raise ValueError(kind)
    return np.where(total > 0, out, np.nan)


def midranks_rows(s: np.ndarray) -> np.ndarray:
    """Mid-ranks (1-based, ties averaged) along the last axis of a 2-D array."""
    rows, n = s.shape
    order = np.argsort(s, axis=1, kind="stable")
    ss = np.take_along_axis(s, order, axis=1)
    # group boundaries of equal values within each row
    new = np.ones((rows, n), bool)
    new[:, 1:] = ss[:, 1:] != ss[:, :-1]
    pos = np.arange(1, n + 1, dtype=float)
    gid = np.cumsum(new, axis=1) - 1                      # group index within row
    gflat = (gid + np.arange(rows)[:, None] * n).ravel()  # unique per row
    gsum = np.bincount(gflat, weights=np.broadcast_to(pos, (rows, n)).ravel(), minlength=rows * n)
    gcnt = np.bincount(gflat, minlength=rows * n)
    mid = (gsum / np.maximum(gcnt, 1))[gflat].reshape(rows, n)
    ranks = np.empty_like(mid)
    np.put_along_axis(ranks, order, mid, axis=1)
    return ranks


def _auc_rows(pos: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Row-wise AUC of scores ``s`` (B, n) for positives ``pos`` (B, n); NaN without both classes.

    Mann-Whitney U from the rank sum of the positives; tied scores get mid-ranks (a tie between a
    positive and a negative counts one half). Rows without ties skip the mid-rank step.
    """
    rows, n = s.shape
    order = np.argsort(s, axis=1)
    ss = np.take_along_axis(s, order, axis=1)
    ps = np.take_along_axis(pos, order, axis=1)
    rank_sum = (ps.astype(np.int64) @ np.arange(1, n + 1, dtype=np.int64)).astype(float)  # exact
    tied = (ss[:, 1:] == ss[:, :-1]).any(axis=1)
    if tied.any():
        ranks = midranks_rows(s[tied])
        rank_sum[tied] = (ranks * pos[tied]).sum(axis=1)
    npos = pos.sum(axis=1).astype(float)
    nneg = n - npos
    with np.errstate(invalid="ignore", divide="ignore"):
        u = rank_sum - npos * (npos + 1) / 2
        return np.where((npos > 0) & (nneg > 0), u / (npos * nneg), np.nan)


def _auc_weighted(pos: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUC of fixed scores ``s`` (n,) and positives ``pos`` (n,) under weights ``w`` (B, n)."""
    order = np.argsort(s, kind="stable")
    ss = s[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    wo = w[:, order]
    po = pos[order].astype(float)
    wp = np.add.reduceat(wo * po, starts, axis=1)
    wn = np.add.reduceat(wo * (1 - po), starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    tp, tn = wp.sum(axis=1), wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((tp > 0) & (tn > 0), num / (tp * tn), np.nan)


def _auc_batch(y, scores, k: int, weights, rows: int) -> np.ndarray:
    y = np.asarray(y)
    scores = np.asarray(scores, dtype=float)
    fixed = y.ndim == 1 and scores.ndim == 2
    if weights is not None and not fixed:
        raise ValueError("weighted AUC needs fixed labels and scores")
    cols = [1] if k == 2 else list(range(k))
    per_class = []
    for j in cols:
        if weights is not None:
            per_class.append(_auc_weighted(y == j, scores[:, j], np.asarray(weights, dtype=float)))
        else:
            s = scores[..., j]
            s = np.broadcast_to(s, (rows, s.shape[-1])) if s.ndim == 1 else s
            pos = np.broadcast_to(y == j, s.shape)
            per_class.append(_auc_rows(pos, s))
    per_class = np.vstack(per_class)  # (classes, B)
    if k == 2:
        return per_class[0]
    # macro one-vs-rest over classes with both positives and negatives; NaN when < 2 classes present
    defined = ~np.isnan(per_class)
    with np.errstate(invalid="ignore"):
        return np.where(defined.sum(axis=0) >= 2, np.nansum(per_class, axis=0) / np.maximum(defined.sum(axis=0), 1), np.nan)


def batch_metric(metric, classes, y, pred, scores, weights=None) -> np.ndarray:
    """Evaluate ``metric`` for every row of a batch; returns a float array of shape (B,).

    ``y`` and ``pred`` are integer class codes into ``classes`` of shape (n,) or (B, n); ``scores``
    is (n, k) or (B, n, k); ``weights`` (B, n) are resampling counts (only with fixed y/pred/scores).
    Rows where the metric is undefined are NaN.
    """
    metric = resolve_metric(metric)
    classes = list(classes)
    k = len(classes)
    y = np.asarray(y)
    pred = np.asarray(pred)
    scores = np.asarray(scores, dtype=float)
    rows = batch_size((y, 1), (pred, 1), (scores, 2), weights=weights)
    if weights is not None and (y.ndim != 1 or pred.ndim != 1 or scores.ndim != 2):
        raise ValueError("weights need fixed labels, predictions and scores")
    kind = _fast_kind(metric)
    if kind in ("accuracy", "uar", "uf1"):
        return from_confusion(kind, confusion_batch(y, pred, k, weights, batch=rows))
    if kind == "auc":
        return _auc_batch(y, scores, k, weights, rows)
    return _generic(metric, classes, y, pred, scores, weights, rows)


def _generic(metric, classes, y, pred, scores, weights, rows) -> np.ndarray:
    labels = np.asarray(classes, dtype=object)
    out = np.empty(rows)
    n = y.shape[-1]
    for b in range(rows):
        if weights is not None:
            idx = np.repeat(np.arange(n), np.asarray(weights[b]).astype(np.int64))
            yb, pb, sb = y[idx], pred[idx], scores[idx]
        else:
            yb = y[b if len(y) > 1 else 0] if y.ndim == 2 else y
            pb = pred[b if len(pred) > 1 else 0] if pred.ndim == 2 else pred
            sb = scores[b if len(scores) > 1 else 0] if scores.ndim == 3 else scores
        out[b] = metric(labels[yb], labels[pb], sb, classes) if len(yb) else np.nan
    return out


def batch_metrics(metrics, classes, y, pred, scores, weights=None) -> np.ndarray:
    """Several metrics over one batch: an array (B, len(metrics)); the confusion matrix is shared."""
    objs = [resolve_metric(m) for m in metrics]
    kinds = [_fast_kind(m) for m in objs]
    out = None
    cm = None
    for j, (m, kind) in enumerate(zip(objs, kinds)):
        if kind in ("accuracy", "uar", "uf1"):
            if cm is None:
                y_, pred_ = np.asarray(y), np.asarray(pred)
                rows = batch_size((y_, 1), (pred_, 1), (np.asarray(scores), 2), weights=weights)
                cm = confusion_batch(y_, pred_, len(classes), weights, batch=rows)
            col = from_confusion(kind, cm)
        else:
            col = batch_metric(m, classes, y, pred, scores, weights)
        if out is None:
            out = np.empty((len(col), len(objs)))
        out[:, j] = col
    return out if out is not None else np.empty((0, 0))
