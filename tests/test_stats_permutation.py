"""Permutation test against chance: schemes, exact linear path == refit, p-values, resumability."""
import math

import numpy as np
import pytest

from mebench import metrics as M
from mebench.classifiers.sklearn_family import LogReg, RidgeScores
from mebench.errors import MebenchError
from mebench.run import cross_predict
from mebench.stats.permutation import (
    arrangement_summary,
    choose_scheme,
    linear_scores,
    n_arrangements,
    p_value,
    permutation_test,
    permuted_codes,
    prepared_from_arrays,
    ridge_operator,
)
from mebench.stats.permutation.rows import read_store


def _gaussian(seed=0, n_subjects=6, per_subject=5, d=12, k=2, single_label=False, shift=0.0):
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)
    if single_label:
        y = np.repeat(rng.integers(0, k, n_subjects), per_subject)
    else:
        y = rng.integers(0, k, len(subjects))
    X = rng.normal(size=(len(subjects), d)) + shift * y[:, None]
    return X, np.array([f"c{v}" for v in y]), subjects


# ---------------------------------------------------------------------------------------------- schemes
def test_choose_scheme():
    assert choose_scheme([0, 0, 1, 1], ["a", "a", "b", "b"])[0] == "subject"
    name, why = choose_scheme([0, 1, 0, 1], ["a", "a", "b", "b"])
    assert name == "within-subject" and "all 2 subjects" in why
    name, why = choose_scheme([0, 1, 1, 1, 0, 0], ["a", "a", "b", "b", "c", "c"])
    assert name == "hybrid" and "2 of 3 subjects have a single label" in why


def test_hybrid_scheme_permutes_single_label_subjects_as_wholes_and_mixed_ones_within():
    rng = np.random.default_rng(5)
    sizes = [3, 5, 2, 4, 6, 3, 4]
    subjects = np.repeat(np.arange(7), sizes)
    y = np.concatenate([np.full(3, 0), rng.permutation([0, 0, 1, 1, 2]), np.full(2, 1), np.full(4, 2),
                        rng.permutation([0, 1, 1, 2, 2, 2]), np.full(3, 0), rng.permutation([1, 1, 2, 0])])
    single = np.array([len(set(y[subjects == s])) == 1 for s in range(7)])
    assert choose_scheme(y, subjects)[0] == "hybrid" and single.sum() == 4
    Y = permuted_codes(y, subjects, "hybrid", 3, 0, 400)
    seen = set()
    for row in Y:
        for s in range(7):
            m = subjects == s
            if single[s]:   # still one label per single-label subject
                assert len(set(row[m])) == 1
            else:           # mixed subjects keep their label counts
                assert np.array_equal(np.sort(row[m]), np.sort(y[m]))
        firsts = [row[subjects == s][0] for s in np.flatnonzero(single)]
        assert sorted(firsts) == sorted(y[subjects == s][0] for s in np.flatnonzero(single))
        seen.add(tuple(firsts))
    assert len(seen) == 12  # 4 single-label subjects with labels {0, 1, 2, 0}: 4!/2! arrangements
    # the number of arrangements: mixed subjects' multinomials times the single-label subjects' one
    expected = 12 * (30 * 60 * 12)  # 4!/2! x 5!/(2!2!1!) x 6!/(1!2!3!) x 4!/(2!1!1!)
    assert n_arrangements(y, subjects, "hybrid") == expected
    assert n_arrangements(y, subjects, "within-subject") == 30 * 60 * 12
    assert n_arrangements(y, subjects, "dataset") == math.factorial(27) // math.prod(
        math.factorial(c) for c in np.bincount(y))
    summary = arrangement_summary(y, subjects, "subject" if single.all() else "hybrid", 999)
    assert summary["smallest_p"] == 1 / 1000 and summary["n_arrangements"] == expected
    tiny = arrangement_summary([0, 1, 0, 1], ["a", "a", "b", "b"], "within-subject", 999)
    assert tiny["n_arrangements"] == 4 and tiny["smallest_p"] == 0.25 and "only M = 4" in tiny["smallest_p_reason"]


def test_schemes_preserve_what_they_must():
    rng = np.random.default_rng(1)
    subjects = np.repeat(np.arange(7), rng.integers(2, 6, 7))
    y = rng.integers(0, 3, len(subjects))
    Y = permuted_codes(y, subjects, "within-subject", 0, 0, 300)
    for s in np.unique(subjects):  # every subject keeps its label counts
        m = subjects == s
        assert all(np.array_equal(np.sort(row[m]), np.sort(y[m])) for row in Y)
    assert len({row.tobytes() for row in Y}) > 250  # and they do get permuted
    Y = permuted_codes(y, subjects, "dataset", 0, 0, 300)
    assert all(np.array_equal(np.bincount(row, minlength=3), np.bincount(y, minlength=3)) for row in Y)
    ys = np.repeat(rng.integers(0, 2, 7), np.bincount(subjects))
    Y = permuted_codes(ys, subjects, "subject", 0, 0, 300)
    for row in Y:  # one label per subject, and the multiset of subject labels is kept
        assert all(len(set(row[subjects == s])) == 1 for s in np.unique(subjects))
        assert sorted(row[np.r_[0, np.flatnonzero(np.diff(subjects)) + 1]]) == sorted(ys[np.r_[0, np.flatnonzero(np.diff(subjects)) + 1]])
    with pytest.raises(MebenchError, match="one label per subject"):
        permuted_codes(y, subjects, "subject", 0, 0, 5)


def test_permutation_stream_is_stable_across_ranges():
    """Row i depends only on (seed, i): chunked generation (generic path, resume) gives the same rows."""
    y = np.arange(20) % 2
    subjects = np.repeat(np.arange(5), 4)
    full = permuted_codes(y, subjects, "within-subject", 7, 0, 600)
    parts = np.vstack([permuted_codes(y, subjects, "within-subject", 7, a, b) for a, b in ((0, 3), (3, 300), (300, 600))])
    np.testing.assert_array_equal(full, parts)
    assert not np.array_equal(full, permuted_codes(y, subjects, "within-subject", 8, 0, 600))


# ---------------------------------------------------------------------------------------------- exact path
@pytest.mark.parametrize("d,k", [(8, 2), (40, 3)])  # primal (d < n) and dual (d > n) forms
def test_linear_operator_reproduces_refit(d, k):
    X, labels, subjects = _gaussian(seed=d, d=d, k=k)
    X[:, 0] = 3.0  # a constant feature (StandardScaler gives it scale 1)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=RidgeScores(alpha=0.7, temperature=0.3))
    op = ridge_operator(prepared)
    Y = np.vstack([prepared.y, permuted_codes(prepared.y, subjects, "dataset", 0, 0, 40)])
    S = linear_scores(op, Y, k)
    for row, y in enumerate(Y):
        ref = cross_predict(prepared, y=y).scores
        np.testing.assert_allclose(S[row], ref, rtol=0, atol=1e-10)


def test_linear_path_handles_training_folds_missing_classes():
    """Dataset-wide permutations of a rare class leave some training folds without it, or single-class."""
    rng = np.random.default_rng(3)
    subjects = np.repeat(np.arange(6), 3)
    y = np.array(["a"] * 14 + ["b"] * 3 + ["c"])
    X = rng.normal(size=(18, 5))
    prepared = prepared_from_arrays(X, y, subjects)
    op = ridge_operator(prepared)
    Y = permuted_codes(prepared.y, subjects, "dataset", 1, 0, 80)
    S = linear_scores(op, Y, 3)
    missing = 0
    for row, yy in enumerate(Y):
        cv = cross_predict(prepared, y=yy)
        ref = cv.scores
        missing += any(cv.notes)
        np.testing.assert_allclose(S[row], ref, rtol=0, atol=1e-10)
    assert missing > 20  # the special cases were exercised


def test_exact_path_equals_generic_refit_path():
    X, labels, subjects = _gaussian(seed=5, n_subjects=5, per_subject=4, d=9, k=3, shift=0.8)
    prepared = prepared_from_arrays(X, labels, subjects)
    exact = permutation_test(prepared, 60, seed=3, method="exact")
    generic = permutation_test(prepared, 60, seed=3, method="generic")
    assert exact.method == "exact" and generic.method == "generic"
    for m in exact.metrics:
        np.testing.assert_allclose(exact.null[m], generic.null[m], rtol=0, atol=1e-12)
        assert exact.p_values[m] == generic.p_values[m]
        assert exact.observed[m] == pytest.approx(generic.observed[m], abs=1e-12)


def test_training_only_samples_are_not_scored():
    """A protocol may leave samples in no test fold (training only): both paths score the held-out ones only."""
    from dataclasses import replace

    X, labels, subjects = _gaussian(seed=7, n_subjects=5, per_subject=4, d=6, shift=0.5)
    prepared = prepared_from_arrays(X, labels, subjects)
    folds = prepared.split.folds[:-1]                     # the last subject only trains
    prepared = replace(prepared, split=replace(prepared.split, folds=folds))
    assert (~prepared.evaluated).sum() == 4
    exact = permutation_test(prepared, 30, seed=2, method="exact")
    generic = permutation_test(prepared, 30, seed=2, method="generic")
    scores = cross_predict(prepared).scores
    ev = prepared.evaluated
    assert exact.observed["auc"] == pytest.approx(M.auc(np.asarray(prepared.classes)[prepared.y[ev]], None,
                                                        scores[ev], prepared.classes), abs=1e-12)
    for m in exact.metrics:
        assert np.isfinite(exact.null[m]).all()
        np.testing.assert_allclose(exact.null[m], generic.null[m], rtol=0, atol=1e-12)


def test_exact_path_threads_give_the_same_null():
    X, labels, subjects = _gaussian(seed=8, n_subjects=6, per_subject=4, d=30, k=3, shift=0.4)
    prepared = prepared_from_arrays(X, labels, subjects)
    one = permutation_test(prepared, 40, seed=2, method="exact")
    two = permutation_test(prepared, 40, seed=2, method="exact", jobs=2)
    for m in one.metrics:
        np.testing.assert_array_equal(one.null[m], two.null[m])


def test_exact_path_refuses_non_linear_pipelines():
    X, labels, subjects = _gaussian()
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg())
    with pytest.raises(MebenchError, match="exact linear path needs the 'ridge'"):
        permutation_test(prepared, 5, method="exact")
    assert permutation_test(prepared, 3, method="auto").method == "batched"  # logreg's own batched path


# ---------------------------------------------------------------------------------------------- p-values
def test_p_value_definition():
    assert p_value(0.8, np.array([0.1, 0.8, 0.9, 0.5]))[:2] == (3 / 5, 2)      # ties count as "at least"
    assert p_value(0.8, np.array([0.1, 0.2]), higher_is_better=False)[:2] == (1.0, 2)   # lower is better
    assert p_value(0.05, np.array([0.1, 0.2]), higher_is_better=False)[:2] == (1 / 3, 0)
    p, c, undefined = p_value(0.5, np.array([np.nan, 0.6, 0.4]))
    assert (p, c, undefined) == (2 / 3, 1, 1)
    assert p_value(float("nan"), np.array([0.1]))[0] is None


def test_strong_signal_gets_the_smallest_p_and_subject_scheme_is_used():
    X, labels, subjects = _gaussian(seed=2, n_subjects=10, per_subject=4, single_label=True, shift=3.0)
    res = permutation_test(prepared_from_arrays(X, labels, subjects), 199, seed=0)
    assert res.scheme == "subject"
    # only permutations that reproduce the observed subject labelling can match a perfect separation
    prepared = prepared_from_arrays(X, labels, subjects)
    Y = permuted_codes(prepared.y, subjects, "subject", 0, 0, 199)
    same = int(np.sum(np.all(Y == prepared.y, axis=1)))
    assert res.counts["auc"] >= same and res.p_values["auc"] <= 0.02
    assert res.p_values["auc"] == (res.counts["auc"] + 1) / 200
    # sklearn's permutation_test_score(groups=...) would give p = 1 here; ours does not
    d = res.describe("auc")
    assert "p = (C + 1) / (N + 1)" in d["p_value_definition"] and d["n_permutations"] == 199


def test_all_identical_predictions_give_p_one():
    """A constant feature matrix: every refit predicts the same for everyone; nothing beats chance."""
    subjects = np.repeat(np.arange(6), 4)
    labels = np.tile(["a", "b"], 12)
    res = permutation_test(prepared_from_arrays(np.ones((24, 3)), labels, subjects), 50)
    assert res.observed["auc"] == 0.5 and res.p_values["auc"] == 1.0
    assert res.p_values["accuracy"] == 1.0


# ---------------------------------------------------------------------------------------------- generic path
def test_generic_path_resumes_from_checkpoint(tmp_path):
    X, labels, subjects = _gaussian(seed=4, n_subjects=4, per_subject=4, d=6)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=RidgeScores())
    full = permutation_test(prepared, 24, seed=1, method="generic")

    class Killed(Exception):
        pass

    def die_after_first_chunk(done, total):
        if done >= 8:
            raise Killed

    with pytest.raises(Killed):
        permutation_test(prepared, 24, seed=1, method="generic", checkpoint_dir=tmp_path, chunk_size=8,
                         progress=die_after_first_chunk)
    files = list((tmp_path / "permutations").glob("rows-*.npz"))
    assert len(files) == 1 and read_store(files[0]).prefix() == 8
    resumed = permutation_test(prepared, 24, seed=1, method="generic", checkpoint_dir=tmp_path, chunk_size=8)
    assert resumed.resumed == 8 and resumed.computed == 16
    for m in full.metrics:
        np.testing.assert_array_equal(resumed.null[m], full.null[m])
    # fewer permutations reuse a prefix and keep the rest on disk; another seed does not reuse it
    fewer = permutation_test(prepared, 10, seed=1, method="generic", checkpoint_dir=tmp_path)
    assert fewer.resumed == 10 and fewer.computed == 0
    assert read_store(files[0]).prefix() == 24
    other = permutation_test(prepared, 4, seed=2, method="generic", checkpoint_dir=tmp_path)
    assert other.resumed == 0


def test_generic_path_two_jobs_equals_one_job():
    X, labels, subjects = _gaussian(seed=6, n_subjects=4, per_subject=3, d=5)
    prepared = prepared_from_arrays(X, labels, subjects)
    one = permutation_test(prepared, 12, seed=0, method="generic", jobs=1)
    two = permutation_test(prepared, 12, seed=0, method="generic", jobs=2, chunk_size=3)
    for m in one.metrics:
        np.testing.assert_array_equal(one.null[m], two.null[m])
