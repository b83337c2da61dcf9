"""Paired comparisons: randomisation test, McNemar (vs statsmodels/scipy), DeLong (vs kernel, pROC example)."""
import itertools

import numpy as np
import pytest
from scipy import stats

from mebench import metrics as M
from mebench.stats.paired import (
    compare_predictions,
    delong_covariance,
    delong_test,
    mcnemar_exact,
    midranks,
    paired_randomisation,
)

# pROC's aSAH data (Turck et al. 2010; 113 patients, shipped with the R package pROC): outcome
# (1 = poor), s100b and wfns. pROC's documentation example roc.test(s100b, wfns) prints
# "Z = -2.209, p-value = 0.02718" with AUCs 0.7314 and 0.8237.
ASAH_POOR = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0,
    1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0,
    0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0]
ASAH_S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71, 0.04, 0.08, 0.49, 0.04, 0.07,
    0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11, 0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09,
    0.96, 0.25, 0.5, 0.46, 0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1, 0.14,
    0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09, 0.27, 0.71, 0.08, 0.26, 0.08, 0.16,
    0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28, 0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08,
    0.14, 0.1, 0.07, 0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5, 0.48]
ASAH_WFNS = [
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2, 1, 1, 3, 4, 2, 1, 4, 5, 4, 1,
    4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1, 2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2,
    1, 4, 2, 1, 2, 3, 2, 4, 2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1, 1]


def _kernel_delong(positive, scores):
    """DeLong (1988) directly from the Mann-Whitney kernel psi(x, y) = [x > y] + [x = y] / 2."""
    positive = np.asarray(positive, bool)
    aucs, v10s, v01s = [], [], []
    for s in np.atleast_2d(scores):
        x, y = s[positive], s[~positive]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m, n = positive.sum(), (~positive).sum()
    return np.array(aucs), np.cov(np.array(v10s)) / m + np.cov(np.array(v01s)) / n


def test_midranks_match_scipy():
    x = np.random.default_rng(0).integers(0, 5, 50).astype(float)
    np.testing.assert_array_equal(midranks(x), stats.rankdata(x))


@pytest.mark.parametrize("seed", range(5))
def test_delong_sun_xu_equals_direct_kernel_computation(seed):
    rng = np.random.default_rng(seed)
    n = 25
    positive = rng.random(n) < 0.4
    positive[:2] = [True, False]
    scores = np.round(rng.normal(size=(3, n)) + positive, 1)   # rounding makes ties
    aucs, cov = delong_covariance(positive, scores)
    ref_aucs, ref_cov = _kernel_delong(positive, scores)
    np.testing.assert_allclose(aucs, ref_aucs, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-14)


def test_delong_reproduces_the_published_proc_example():
    res = delong_test(np.array(ASAH_POOR) == 1, ASAH_S100B, ASAH_WFNS)
    assert (res["n_positive"], res["n_negative"]) == (41, 72)
    assert round(res["auc_a"], 4) == 0.7314 and round(res["auc_b"], 4) == 0.8237
    assert round(res["z"], 3) == -2.209
    assert round(res["p_value"], 5) == 0.02718
    assert "assumes independent samples" in res["assumptions"]


def test_delong_identical_scores():
    s = np.arange(10.0)
    res = delong_test(s > 4, s, s)
    assert res["p_value"] == 1.0 and res["z"] is None and "zero" in res["note"]


def test_mcnemar_matches_statsmodels_and_binomial():
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    a = np.where(rng.random(60) < 0.8, y, 1 - y)
    b = np.where(rng.random(60) < 0.6, y, 1 - y)
    res = mcnemar_exact(y, a, b)
    table = np.array(res["table"])
    assert table.sum() == 60
    assert res["p_value"] == mcnemar(table, exact=True).pvalue
    k = min(res["a_only_correct"], res["b_only_correct"])
    assert res["p_value"] == pytest.approx(stats.binomtest(k, res["n_discordant"], 0.5).pvalue)
    assert "assumes independent samples" in res["assumptions"]


def _setup(seed=0, n_subjects=6, per_subject=4):
    rng = np.random.default_rng(seed)
    subjects = np.repeat(np.arange(n_subjects), per_subject)
    y = rng.integers(0, 2, len(subjects))
    sa = rng.random((len(y), 2))
    sb = rng.random((len(y), 2))
    return y, (sa.argmax(1), sa), (sb.argmax(1), sb), subjects


def test_exact_enumeration_matches_brute_force():
    y, a, b, subjects = _setup()
    classes = ["f", "t"]
    res = paired_randomisation(y, a, b, subjects, classes, ["accuracy", "auc"], n_permutations=100)
    assert res["accuracy"].exact and res["accuracy"].n_permutations == 64
    labels = np.array(classes)
    for name, metric in (("accuracy", M.accuracy), ("auc", M.auc)):
        def value(p, s):
            return metric(labels[y], labels[p], s, classes)
        obs = value(*a) - value(*b)
        count = 0
        for flips in itertools.product([False, True], repeat=6):
            mask = np.asarray(flips)[subjects]
            pa, sa = np.where(mask, b[0], a[0]), np.where(mask[:, None], b[1], a[1])
            pb, sb = np.where(mask, a[0], b[0]), np.where(mask[:, None], a[1], b[1])
            count += abs(value(pa, sa) - value(pb, sb)) >= abs(obs) - 1e-12
        assert res[name].delta == pytest.approx(obs)
        assert res[name].p_value == pytest.approx(count / 64)


def test_monte_carlo_p_value_approaches_exact():
    y, a, b, subjects = _setup(seed=2, n_subjects=10, per_subject=3)
    exact = paired_randomisation(y, a, b, subjects, [0, 1], ["auc"], n_permutations=1024)["auc"]
    mc = paired_randomisation(y, a, b, subjects, [0, 1], ["auc"], n_permutations=1023, seed=4)["auc"]
    assert exact.exact and not mc.exact
    assert mc.p_value == pytest.approx(exact.p_value, abs=0.05)
    assert "(C + 1) / (N + 1)" in mc.describe()["p_value_definition"]


def test_identical_pipelines_give_p_one_and_zero_delta():
    y, a, _, subjects = _setup()
    res = compare_predictions(y, a, a, subjects, [0, 1], ["accuracy", "auc"], n_permutations=200, n_resamples=200)
    for m in ("accuracy", "auc"):
        assert res[m]["delta"] == 0 and res[m]["p_value"] == 1.0
        assert res[m]["ci_low"] == 0 and res[m]["ci_high"] == 0
    assert res["accuracy"]["tests"]["mcnemar"]["p_value"] == 1.0
    assert res["auc"]["tests"]["delong"]["p_value"] == 1.0


def test_compare_predictions_reports_every_test_and_delong_only_for_binary():
    y, a, b, subjects = _setup(seed=3)
    res = compare_predictions(y, a, b, subjects, [0, 1], ["accuracy", "uar", "auc"], 500, 300)
    assert set(res["accuracy"]["tests"]) == {"paired_randomisation", "mcnemar"}
    assert set(res["uar"]["tests"]) == {"paired_randomisation"}
    assert set(res["auc"]["tests"]) == {"paired_randomisation", "delong"}
    for m in res.values():
        assert m["ci_low"] <= m["delta"] <= m["ci_high"]
        for t in m["tests"].values():
            assert {"test", "assumptions", "p_value"} <= set(t)
    rng = np.random.default_rng(0)
    y3 = rng.integers(0, 3, 24)
    s = rng.random((24, 3))
    r3 = compare_predictions(y3, (s.argmax(1), s), (s[:, ::-1].argmax(1), s[:, ::-1]), subjects, [0, 1, 2], ["auc"],
                             200, 200)
    assert r3["auc"]["tests"]["delong"]["p_value"] is None and "3 classes" in r3["auc"]["tests"]["delong"]["note"]


def test_confusion_metrics_null_equals_swapping_the_samples():
    """The per-subject confusion algebra gives the null of swapping every sample, bit for bit."""
    from mebench.metrics.batch import batch_metrics
    from mebench.stats.bootstrap import subject_codes
    from mebench.stats.paired import _swap_patterns, paired_randomisation

    rng = np.random.default_rng(4)
    n, k = 90, 4
    subjects = np.repeat(np.arange(15), 6)
    y = rng.integers(0, k, n)
    pa, pb = rng.integers(0, k, n), rng.integers(0, k, n)
    sa, sb = rng.dirichlet(np.ones(k), n), rng.dirichlet(np.ones(k), n)
    classes = list("abcd")
    names = ["accuracy", "uar", "uf1"]
    res = paired_randomisation(y, (pa, sa), (pb, sb), subjects, classes, names, n_permutations=300, seed=2)
    flips, _ = _swap_patterns(15, 300, 2)
    sc = subject_codes(subjects)
    mask = flips[:, sc]
    pa_ = np.where(mask, pb[None], pa[None])
    pb_ = np.where(mask, pa[None], pb[None])
    reference = (batch_metrics(names, classes, y[None], pa_, np.broadcast_to(sa, (300, n, k)))
                 - batch_metrics(names, classes, y[None], pb_, np.broadcast_to(sb, (300, n, k))))
    for j, name in enumerate(names):
        np.testing.assert_array_equal(res[name].null, reference[:, j])
