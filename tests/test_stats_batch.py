"""Batched metrics (the engine of every resampling test) agree with mebench.metrics exactly."""
import numpy as np
import pytest

from mebench import metrics as M
from mebench.metrics.batch import batch_metric, batch_metrics

METRICS = [M.accuracy, M.uar, M.uf1, M.auc]


def _reference(metric, classes, y, pred, scores, weights=None):
    labels = np.asarray(classes)
    if weights is None:
        return metric(labels[y], labels[pred], scores, classes)
    idx = np.repeat(np.arange(len(y)), weights)
    return metric(labels[y[idx]], labels[pred[idx]], scores[idx], classes) if len(idx) else float("nan")


@pytest.mark.parametrize("k", [2, 3, 5])
def test_weighted_batch_equals_metric_functions(k):
    rng = np.random.default_rng(k)
    classes = [f"c{i}" for i in range(k)]
    for trial in range(25):
        n = 30
        y = rng.integers(0, k, n)
        if trial % 6 == 0:
            y[:] = 0                                   # single class: AUC undefined
        if trial % 6 == 1:
            y[y == k - 1] = 0                          # a class absent from y
        scores = np.round(rng.random((n, k)), 1)       # many ties
        pred = scores.argmax(axis=1)
        w = rng.integers(0, 3, (5, n))
        w[0] = 0                                        # an empty resample
        for m in METRICS:
            fast = batch_metric(m, classes, y, pred, scores, weights=w)
            ref = [_reference(m, classes, y, pred, scores, w[b]) for b in range(len(w))]
            np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12, equal_nan=True, err_msg=m.name)


@pytest.mark.parametrize("k", [2, 4])
def test_rowwise_batch_equals_metric_functions(k):
    rng = np.random.default_rng(10 + k)
    classes = list(range(k))
    n, B = 40, 6
    y = rng.integers(0, k, n)
    Y = np.stack([rng.permutation(y) for _ in range(B)])
    S = np.round(rng.random((B, n, k)), 2)
    S[0] = 0.5                                          # all predictions identical
    P = S.argmax(axis=2)
    for m in METRICS:
        fast = batch_metric(m, classes, Y, P, S)
        ref = [_reference(m, classes, Y[b], P[b], S[b]) for b in range(B)]
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12, equal_nan=True, err_msg=m.name)
    both = batch_metrics(METRICS, classes, Y, P, S)
    for j, m in enumerate(METRICS):
        np.testing.assert_allclose(both[:, j], batch_metric(m, classes, Y, P, S), equal_nan=True)


def test_generic_fallback_for_unregistered_metric():
    """A metric the fast path does not know is evaluated by its own function, row by row."""
    brier = M.Metric("brier", lambda yt, yp, s, c: float(np.mean((s[:, 1] - (yt == c[1])) ** 2)), higher_is_better=False)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20)
    s = rng.random((20, 2))
    w = rng.integers(0, 3, (4, 20))
    got = batch_metric(brier, [0, 1], y, s.argmax(1), s, weights=w)
    ref = [_reference(brier, [0, 1], y, s.argmax(1), s, w[b]) for b in range(4)]
    np.testing.assert_allclose(got, ref)
