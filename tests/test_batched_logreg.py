"""The batched logreg path reproduces refitting ``LogReg`` fold by fold, for every label row.

Tolerance: the refit has a unique optimum. The batched solver is compared with scikit-learn's own
Newton solver run to ``tol=1e-14`` (the same objective, solved to machine precision): class scores
agree within 1e-8 (measured: ~1e-11), predicted codes agree except where the reference's two best
classes are within 1e-8 of a tie. ``LogReg`` itself runs lbfgs at ``tol=1e-4``, whose scores stray up
to ~1e-2 from the optimum; against it the scores agree within 5e-2 and the codes wherever its two best
classes are more than 5e-2 apart.
"""
from dataclasses import replace

import numpy as np
import pytest

from mebench.classifiers.sklearn_family import LogReg, RidgeScores
from mebench.errors import MebenchError
from mebench.run import cross_predict
from mebench.stats.permutation import (
    logreg_operator,
    logreg_path_available,
    logreg_predict,
    permutation_test,
    permuted_codes,
    prepared_from_arrays,
)

SCORE_TOL = 1e-8


class OptimumLogReg(LogReg):
    """LogReg with scikit-learn's Newton solver run to machine precision: the reference optimum."""

    def _model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, class_weight=self.class_weight, solver="newton-cholesky", tol=1e-14,
                                  max_iter=500)


def _data(seed, n_subjects, per_subject, d, k, shift=0.6):
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"s{i}" for i in range(n_subjects)], per_subject)
    y = np.r_[np.arange(k), rng.integers(0, k, len(subjects) - k)]
    X = rng.normal(size=(len(subjects), d)) + shift * y[:, None] * (np.arange(d) < 3)
    X[:, -1] = 3.0  # a constant feature (StandardScaler gives it scale 1)
    return X, np.array([f"c{v}" for v in y]), subjects


def _margin(scores):
    """Gap between the two best class scores of every sample."""
    top = np.sort(scores, axis=1)
    return top[:, -1] - top[:, -2]


def _check_rows(prepared, Y, reference=OptimumLogReg):
    """Batched scores and codes of every row against the reference refit; returns the refits' notes."""
    k = len(prepared.classes)
    op = logreg_operator(prepared)
    pred, S = logreg_predict(op, Y, k)
    ref_est = reference(**prepared.estimator.get_params())
    ev = prepared.evaluated
    notes = []
    for row, y in enumerate(Y):
        ref = cross_predict(prepared, y=y, estimator=ref_est)
        np.testing.assert_allclose(S[row][ev], ref.scores[ev], rtol=0, atol=SCORE_TOL)
        clear = _margin(ref.scores[ev]) > SCORE_TOL
        np.testing.assert_array_equal(pred[row][ev][clear], ref.pred[ev][clear])
        notes += [n for n in ref.notes if n]
    assert op.fallbacks == 0
    return notes


@pytest.mark.parametrize("d,k,C,class_weight,protocol", [
    (6, 2, 0.1, "balanced", "loso"),      # binary, primal (d < n_train)
    (60, 2, 1.0, None, "loso"),           # binary, dual (d > n_train)
    (8, 3, 0.1, "balanced", "kfold"),     # multinomial, primal
    (50, 4, 10.0, "balanced", "loso"),    # multinomial, dual, weak penalty
    (5, 5, 0.01, None, "kfold"),          # five classes, strong penalty
])
def test_batched_path_reaches_the_refit_optimum(d, k, C, class_weight, protocol):
    X, labels, subjects = _data(d + k, n_subjects=6, per_subject=6, d=d, k=k)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg(C=C, class_weight=class_weight),
                                    protocol=protocol)
    Y = np.vstack([prepared.y, permuted_codes(prepared.y, subjects, "dataset", 0, 0, 2)])
    _check_rows(prepared, Y)


def test_batched_path_against_logreg_as_run():
    """Against LogReg itself (lbfgs, tol=1e-4): equal within lbfgs's own distance from the optimum."""
    X, labels, subjects = _data(1, n_subjects=6, per_subject=6, d=40, k=3)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg())
    Y = np.vstack([prepared.y, permuted_codes(prepared.y, subjects, "dataset", 2, 0, 3)])
    pred, S = logreg_predict(logreg_operator(prepared), Y, 3)
    for row, y in enumerate(Y):
        ref = cross_predict(prepared, y=y)
        np.testing.assert_allclose(S[row], ref.scores, rtol=0, atol=5e-2)
        clear = _margin(ref.scores) > 5e-2
        np.testing.assert_array_equal(pred[row][clear], ref.pred[clear])


def test_training_folds_missing_classes_and_single_class_folds():
    """Rows whose training folds lack a class (fit on the classes seen, binary when two are left, score 0 for
    the others) or hold one class only (that class, score 1), as run.cross_predict refits them."""
    rng = np.random.default_rng(3)
    subjects = np.repeat(np.arange(6), 3)
    labels = np.array(["a"] * 13 + ["b"] * 3 + ["c"] * 2)
    X = rng.normal(size=(18, 5))
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg(C=0.5))
    rows = np.zeros((3, 18), int)      # codes a=0, b=1, c=2; subject s holds samples 3s..3s+2
    rows[0, :3] = [1, 2, 1]            # subject 0 out: only a left (single-class fold); others: a, b, c
    rows[1, :6] = [2, 2, 0, 1, 0, 0]   # subject 0 out: a, b (binary, c scores 0); subject 1 out: a, c
    rows[2, :9] = [1, 1, 0, 2, 0, 0, 2, 0, 0]  # subject 0 out: a, c; subjects 1, 2 out: a, b, c
    Y = np.vstack([rows, permuted_codes(prepared.y, subjects, "dataset", 1, 0, 4)])
    notes = _check_rows(prepared, Y)
    assert any("single class" in n for n in notes) and any("lacks" in n for n in notes)
    pred, S = logreg_predict(logreg_operator(prepared), rows, 3)
    np.testing.assert_array_equal(S[0, :3], [[1.0, 0.0, 0.0]] * 3)     # subject 0 is tested by a fold of a only
    assert (pred[0, :3] == 0).all()
    assert (S[1, :3, 2] == 0).all() and (S[1, 3:6, 1] == 0).all() and (S[1, 3:, :].sum(axis=1) > 0.999).all()


def test_permutation_test_batched_equals_generic():
    X, labels, subjects = _data(5, n_subjects=5, per_subject=4, d=9, k=3, shift=0.8)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg())
    batched = permutation_test(prepared, 10, seed=3, method="batched")
    assert batched.method == "batched" and permutation_test(prepared, 2, seed=3).method == "batched"
    at_optimum = permutation_test(replace(prepared, estimator=OptimumLogReg()), 10, seed=3, method="generic")
    as_run = permutation_test(prepared, 10, seed=3, method="generic")
    for ref in (at_optimum, as_run):
        for m in batched.metrics:
            atol = 0 if m in ("accuracy", "uar", "uf1") else 1e-6 if ref is at_optimum else 5e-2
            np.testing.assert_allclose(batched.null[m], ref.null[m], rtol=0, atol=atol)
            assert batched.observed[m] == pytest.approx(ref.observed[m], abs=atol)
            if ref is at_optimum or m != "auc":
                assert batched.p_values[m] == ref.p_values[m]


def test_batched_threads_give_the_same_null():
    X, labels, subjects = _data(8, n_subjects=6, per_subject=4, d=30, k=3)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg())
    one = permutation_test(prepared, 20, seed=2, method="batched")
    two = permutation_test(prepared, 20, seed=2, method="batched", jobs=2)
    for m in one.metrics:
        np.testing.assert_array_equal(one.null[m], two.null[m])


def test_batched_path_availability():
    X, labels, subjects = _data(0, n_subjects=4, per_subject=4, d=4, k=2)
    assert logreg_path_available(prepared_from_arrays(X, labels, subjects, estimator=LogReg()))[0]
    ridge = prepared_from_arrays(X, labels, subjects, estimator=RidgeScores())
    weighted = prepared_from_arrays(X, labels, subjects, estimator=LogReg(class_weight={0: 2.0}))
    for prepared, why in ((ridge, "needs the 'logreg' classifier"), (weighted, "per-class dict")):
        assert not logreg_path_available(prepared)[0]
        with pytest.raises(MebenchError, match=why):
            permutation_test(prepared, 3, method="batched")
    assert permutation_test(weighted, 2, method="auto").method == "generic"


def test_rows_that_do_not_converge_are_refit_by_scikit_learn(monkeypatch):
    """The safety net: a (row, fold) problem still unconverged after MAX_NEWTON steps is refit by LogReg itself."""
    import mebench.stats.permutation.batched_logreg as batched

    X, labels, subjects = _data(2, n_subjects=4, per_subject=5, d=7, k=3)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg())
    monkeypatch.setattr(batched, "MAX_NEWTON", 1)
    op = logreg_operator(prepared)
    Y = permuted_codes(prepared.y, subjects, "dataset", 0, 0, 2)
    pred, S = logreg_predict(op, Y, 3)
    assert op.fallbacks == 2 * 4
    for row, y in enumerate(Y):
        ref = cross_predict(prepared, y=y)
        np.testing.assert_array_equal(S[row], ref.scores)
        np.testing.assert_array_equal(pred[row], ref.pred)


@pytest.mark.filterwarnings("ignore:Line search of Newton solver")  # the reference's Newton, with no feature
def test_constant_features_leave_the_intercepts():
    """No feature varies within a training fold: the model is the intercepts alone (the class weights' balance)."""
    X, labels, subjects = _data(3, n_subjects=4, per_subject=5, d=3, k=2)
    X[:] = 1.5
    for cw in ("balanced", None):
        prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg(class_weight=cw))
        _check_rows(prepared, prepared.y[None])


def test_training_only_samples_are_not_scored():
    """Samples in no test fold train every fold and carry no held-out score."""
    X, labels, subjects = _data(7, n_subjects=5, per_subject=4, d=6, k=2)
    prepared = prepared_from_arrays(X, labels, subjects, estimator=LogReg())
    folds = prepared.split.folds[:-1]                     # the last subject only trains
    prepared = replace(prepared, split=replace(prepared.split, folds=folds))
    assert (~prepared.evaluated).sum() == 4
    batched = permutation_test(prepared, 8, seed=2, method="batched")
    generic = permutation_test(replace(prepared, estimator=OptimumLogReg()), 8, seed=2, method="generic")
    for m in batched.metrics:
        assert np.isfinite(batched.null[m]).all()
        np.testing.assert_allclose(batched.null[m], generic.null[m], rtol=0, atol=1e-6)
