"""Influence sums of the pooled metrics: values equal the metrics, sums are their derivatives."""
import numpy as np
import pytest

from mebench.metrics.batch import batch_metrics
from mebench.stats.influence import influence_sums, studentised

METRICS = ["accuracy", "uar", "uf1", "auc"]


def _data(seed, n_subjects=6, per=7, k=3, rows=3, ties=False):
    rng = np.random.default_rng(seed)
    sc = np.repeat(np.arange(n_subjects), per)
    n = len(sc)
    Y = rng.integers(0, k, (rows, n))
    S = rng.random((rows, n, k))
    S /= S.sum(axis=2, keepdims=True)
    if ties:
        S = np.round(S, 1)
    P = np.where(rng.random((rows, n)) < 0.5, Y, rng.integers(0, k, (rows, n)))
    return Y, P, S, sc


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("ties", [False, True])
def test_values_equal_batch_metrics_and_sums_are_derivatives(k, ties):
    Y, P, S, sc = _data(k * 10 + ties, k=k, ties=ties)
    values, sums = influence_sums(METRICS, Y, P, S, sc, 6, k)
    for r in range(len(Y)):
        expected = batch_metrics(METRICS, list(range(k)), Y[r][None], P[r][None], S[r][None])[0]
        np.testing.assert_allclose(values[r], expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(sums[r].sum(axis=0), 0.0, atol=1e-12)  # influence values sum to zero
        # the derivative of the weighted metric with respect to each subject's weight
        eps = 1e-6
        w = np.ones((6, len(sc)))
        for s in range(6):
            w[s, sc == s] += eps
        bumped = batch_metrics(METRICS, list(range(k)), Y[r], P[r], S[r], weights=w)
        np.testing.assert_allclose((bumped - expected) / eps, sums[r], atol=2e-5)


def test_missing_class_and_undefined_auc():
    Y, P, S, sc = _data(3, k=3, rows=2)
    Y[0][Y[0] == 2] = 0            # class 2 absent from y: UAR and UF1 average over two classes
    Y[1][:] = 1                    # a single class: AUC undefined
    values, sums = influence_sums(METRICS, Y, P, S, sc, 6, 3)
    expected = batch_metrics(METRICS, [0, 1, 2], Y, P, S)
    np.testing.assert_allclose(values, expected, atol=1e-12)
    assert np.isnan(values[1, 3]) and np.isnan(sums[1, :, 3]).all()
    np.testing.assert_allclose(sums[0].sum(axis=0), 0.0, atol=1e-12)


def test_studentised_statistic():
    Y, P, S, sc = _data(5, k=2, rows=1)
    va, sa = influence_sums(METRICS, Y, P, S, sc, 6, 2)
    sa, sb = np.moveaxis(sa, 1, 2), None  # subjects last
    delta, se, t = studentised(va, sa, va, sa)
    assert (delta == 0).all() and (t == 0).all()
    P2 = P.copy()
    P2[0, :5] = Y[0, :5]
    vb, sb = influence_sums(METRICS, Y, P2, S, sc, 6, 2)
    sb = np.moveaxis(sb, 1, 2)
    delta, se, t = studentised(va, sa, vb, sb)
    d = sa[0, 0] - sb[0, 0]
    assert se[0, 0] == pytest.approx(np.sqrt(6 / 5 * np.sum(d * d)))
    assert t[0, 0] == pytest.approx(delta[0, 0] / se[0, 0])
