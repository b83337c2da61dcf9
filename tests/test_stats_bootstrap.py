"""Subject-cluster bootstrap: coverage by simulation, BCa against scipy, degenerate cases."""
import numpy as np
import pytest
from scipy import stats
from scipy.stats import binom, norm

from mebench.stats.bootstrap import (
    bootstrap_distribution,
    cluster_bootstrap,
    interval,
    jackknife,
    resample_counts,
    subject_codes,
)

CLASSES = ["neg", "pos"]


def _clustered_predictions(seed, n_subjects=40, per_subject=8, sd_subject=0.7):
    """Predictions whose per-subject accuracy varies (Beta, mean 0.7) and whose scores carry a
    subject effect: true pooled accuracy 0.7, true pooled AUC Phi(1 / sqrt(2 + 2 sd^2))."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(n_subjects), per_subject)
    p_correct = rng.beta(3.5, 1.5, n_subjects)[subj]
    y = rng.integers(0, 2, len(subj))
    pred = np.where(rng.random(len(subj)) < p_correct, y, 1 - y)
    s = rng.normal(size=len(subj)) + rng.normal(0, sd_subject, n_subjects)[subj] + 1.0 * y
    scores = np.c_[1 - 1 / (1 + np.exp(-s)), 1 / (1 + np.exp(-s))]
    return y, pred, scores, subj


def test_coverage_by_simulation():
    n_sims = 200
    truth = {"accuracy": 0.7, "auc": norm.cdf(1 / np.sqrt(2 + 2 * 0.7 ** 2))}
    hits = {(m, kind): 0 for m in truth for kind in ("bca", "percentile")}
    naive = 0
    for seed in range(n_sims):
        y, pred, scores, subj = _clustered_predictions(seed)
        res = cluster_bootstrap(y, pred, scores, subj, CLASSES, list(truth), n_resamples=500, seed=seed)
        for m, t in truth.items():
            hits[(m, "bca")] += res[m].bca[0] <= t <= res[m].bca[1]
            hits[(m, "percentile")] += res[m].percentile[0] <= t <= res[m].percentile[1]
        # the same bootstrap treating clips as independent ignores the clustering
        iid = cluster_bootstrap(y, pred, scores, np.arange(len(y)), CLASSES, ["accuracy"], n_resamples=500, seed=seed)
        naive += iid["accuracy"].ci_low <= truth["accuracy"] <= iid["accuracy"].ci_high
    lo, hi = binom.interval(0.99, n_sims, 0.95)
    assert all(lo <= h <= hi for h in hits.values()), {k: v / n_sims for k, v in hits.items()}
    assert naive < lo - 10, naive / n_sims   # clip-level resampling under-covers clearly


def test_bca_matches_scipy_on_independent_data():
    """With one sample per 'subject', our BCa interval of a mean equals scipy.stats.bootstrap's
    (up to Monte Carlo error)."""
    rng = np.random.default_rng(0)
    x = rng.exponential(size=40)
    codes = np.arange(40)

    def stat(w):
        return ((w * x).sum(axis=1) / w.sum(axis=1))[:, None]

    boot = bootstrap_distribution(stat, codes, 20000, seed=1)[:, 0]
    jack = jackknife(stat, codes)[:, 0]
    ours = interval(float(x.mean()), boot, jack, 0.95, "bca")
    ref = stats.bootstrap((x,), np.mean, n_resamples=20000, method="BCa", random_state=2).confidence_interval
    assert ours["bca"][0] == pytest.approx(ref.low, abs=0.02)
    assert ours["bca"][1] == pytest.approx(ref.high, abs=0.03)
    assert ours["bca"][1] - x.mean() > x.mean() - ours["bca"][0]   # skewed right, like the data
    pct = stats.bootstrap((x,), np.mean, n_resamples=20000, method="percentile", random_state=2).confidence_interval
    assert ours["percentile"][0] == pytest.approx(pct.low, abs=0.02)


def test_resamples_draw_whole_subjects():
    counts = resample_counts(5, 1000, seed=0)
    assert counts.shape == (1000, 5) and np.all(counts.sum(axis=1) == 5)
    np.testing.assert_array_equal(counts[10:20], resample_counts(5, 10, seed=0, start=10))
    assert not np.array_equal(counts, resample_counts(5, 1000, seed=1))


def test_undefined_metric_on_resamples_is_counted_and_reported():
    """Each subject has one label: a resample drawing only 'pos' subjects has no AUC."""
    rng = np.random.default_rng(3)
    subj = np.repeat(np.arange(5), 4)
    y = np.repeat([0, 1, 1, 1, 1], 4)
    scores = rng.random((20, 2))
    res = cluster_bootstrap(y, scores.argmax(1), scores, subj, CLASSES, ["auc", "accuracy"], n_resamples=1000, seed=0)
    counts = resample_counts(5, 1000, seed=0)
    expected = int(np.sum((counts[:, 0] == 0) | (counts[:, 1:].sum(axis=1) == 0)))
    assert expected > 0 and res["auc"].n_undefined == expected
    assert res["accuracy"].n_undefined == 0
    assert any("undefined on" in n and str(expected) in n for n in res["auc"].notes)
    assert res["auc"].ci_low is not None


def test_all_predictions_identical():
    subj = np.repeat(np.arange(6), 4)
    y = np.tile([0, 1], 12)
    scores = np.full((24, 2), 0.5)
    res = cluster_bootstrap(y, np.zeros(24, int), scores, subj, CLASSES, ["auc", "accuracy", "uf1"], 500, seed=0)
    assert res["auc"].value == 0.5 and (res["auc"].ci_low, res["auc"].ci_high) == (0.5, 0.5)
    assert any("degenerate" in n for n in res["auc"].notes)
    assert res["accuracy"].value == 0.5 and res["uf1"].value == pytest.approx(1 / 3)


def test_single_class_pooled_set_gives_a_clear_message():
    subj = np.repeat(np.arange(4), 3)
    y = np.zeros(12, int)
    scores = np.random.default_rng(0).random((12, 2))
    res = cluster_bootstrap(y, scores.argmax(1), scores, subj, CLASSES, ["auc", "accuracy"], 200, seed=0)
    auc = res["auc"]
    assert auc.value is None and auc.ci_low is None and auc.ci_high is None
    assert "ROC AUC is undefined" in auc.notes[0] and "only 'neg'" in auc.notes[0]
    assert res["accuracy"].value is not None


def test_seeded_and_reproducible():
    y, pred, scores, subj = _clustered_predictions(1, n_subjects=10)
    a = cluster_bootstrap(y, pred, scores, subj, CLASSES, ["uar"], 300, seed=5)["uar"]
    b = cluster_bootstrap(y, pred, scores, subj, CLASSES, ["uar"], 300, seed=5)["uar"]
    c = cluster_bootstrap(y, pred, scores, subj, CLASSES, ["uar"], 300, seed=6)["uar"]
    assert a.to_dict() == b.to_dict() and a.percentile != c.percentile
    assert "subject-cluster bootstrap, BCa, 95% (300 resamples of 10 subjects)" == a.method_label()
    assert subject_codes(["b", "a", "b"]).tolist() == [1, 0, 1]
