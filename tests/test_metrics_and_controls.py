"""Metric conventions, the vectorised diagnostics, the fair controls and the prior-shift diagnostic."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mebench import metrics as M
from mebench.classifiers.sklearn_family import LogReg, Majority, StratifiedRandom
from mebench.metrics.batch import batch_metrics
from mebench.metrics.diagnostics import per_subject
from mebench.run import compute_metrics, cross_predict, prepare_arrays

ALL = [M.accuracy, M.uar, M.uf1, M.auc]
NAMES = ["accuracy", "uar", "uf1", "auc"]


# ---------------------------------------------------------------------------------------------- convention
def test_absent_classes_are_left_out_of_the_average_but_their_predictions_count_as_errors():
    classes = ["a", "b", "c"]
    y = np.array(["a", "a", "b", "b"])                  # 'c' is absent from this subset
    pred = np.array(["a", "c", "b", "b"])               # ... but predicted once, for an 'a'
    scores = np.array([[.7, .2, .1], [.3, .3, .4], [.1, .8, .1], [.2, .6, .2]])
    assert M.uar(y, pred, scores, classes) == pytest.approx((0.5 + 1.0) / 2)          # recall of a, b
    assert M.uf1(y, pred, scores, classes) == pytest.approx((2 / 3 + 1.0) / 2)         # F1 of a, b; not c
    assert M.auc(y, pred, scores, classes) == pytest.approx(1.0)                        # one-vs-rest over a, b
    codes = {c: i for i, c in enumerate(classes)}
    yc, pc = np.vectorize(codes.get)(y), np.vectorize(codes.get)(pred)
    fast = batch_metrics(ALL, classes, yc[None], pc[None], scores[None])[0]            # row-wise path
    weighted = batch_metrics(ALL, classes, yc, pc, scores, weights=np.ones((1, 4)))[0]  # weighted path
    np.testing.assert_allclose(fast, [0.75, 0.75, 5 / 6, 1.0], atol=1e-15)
    np.testing.assert_allclose(weighted, fast, atol=1e-15)
    # a subject's block, a bootstrap resample and a fold use the same convention
    (entry,) = per_subject(y, pred, scores, classes, ["s1"] * 4, NAMES)
    assert entry["uf1"] == pytest.approx(5 / 6) and entry["n_classes_present"] == 2
    from mebench.stats.bootstrap import cluster_bootstrap

    boot = cluster_bootstrap(yc, pc, scores, ["s1", "s1", "s2", "s2"], classes, ["uf1", "uar"], 50, seed=0)
    assert boot["uf1"].value == pytest.approx(5 / 6) and boot["uar"].value == pytest.approx(0.75)
    # no sample: undefined; a single class present: AUC undefined, the others defined
    assert np.isnan(M.uf1(y[:0], pred[:0], scores[:0], classes))
    assert np.isnan(M.auc(y[:2], pred[:2], scores[:2], classes)) and M.uf1(y[:2], pred[:2], scores[:2], classes) == 2 / 3


def test_scalar_and_vectorised_paths_agree_on_random_subsets_with_absent_classes():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c", "d"]
    n = 60
    y = rng.integers(0, 4, n)
    y[y == 3] = 0                                        # 'd' absent everywhere, but sometimes predicted
    scores = np.round(rng.random((n, 4)), 1)
    pred = rng.integers(0, 4, n)
    masks = rng.random((40, n)) < rng.uniform(0.05, 0.6, (40, 1))
    masks[0] = False                                     # an empty subset
    fast = batch_metrics(ALL, classes, y, pred, scores, weights=masks.astype(float))
    labels = np.asarray(classes)
    for b, m in enumerate(masks):
        ref = [metric(labels[y[m]], labels[pred[m]], scores[m], classes) if m.any() else np.nan for metric in ALL]
        np.testing.assert_allclose(fast[b], ref, rtol=0, atol=1e-12, equal_nan=True)


# ---------------------------------------------------------------------------------------------- runner
def _unbalanced(seed=0, n_subjects=8):
    """Three classes; every subject has its own class mix (some lack a class entirely)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 9, n_subjects)
    subjects = np.repeat([f"p{i}" for i in range(n_subjects)], sizes)
    mix = rng.dirichlet([0.6, 0.6, 0.6], n_subjects)
    y = np.concatenate([rng.choice(3, s, p=p) for s, p in zip(sizes, mix)])
    X = rng.normal(size=(len(y), 6)) + 0.8 * np.eye(3)[y] @ rng.normal(size=(3, 6))
    return X, np.array(["anger", "joy", "others"])[y], subjects


def test_compute_metrics_equals_the_scalar_metric_functions():
    X, labels, subjects = _unbalanced(1)
    prepared = prepare_arrays(X, labels, subjects, LogReg())
    datasets = np.where(np.arange(len(labels)) % 3 == 0, "part1", "part2")     # a composite, for per_dataset
    prepared = replace(prepared, samples=prepared.samples.assign(dataset=datasets))
    cv = cross_predict(prepared)
    scores, pred = cv.scores, cv.pred
    out = compute_metrics(prepared, scores, pred, NAMES)
    C = np.asarray(prepared.classes)
    yt, yp = C[prepared.y], C[pred]

    def ref(mask):
        return {m.name: m(yt[mask], yp[mask], scores[mask], prepared.classes) for m in ALL}

    def same(got, want):
        for k, v in want.items():
            assert got[k] == pytest.approx(v, abs=1e-12, nan_ok=True), k

    same(out["pooled"], ref(np.ones(len(yt), bool)))
    for fold, entry in zip(prepared.split.folds, out["per_fold"]):
        mask = np.zeros(len(yt), bool)
        mask[fold.test] = True
        same(entry, ref(mask))
        assert entry["n"] == mask.sum() and entry["n_classes_present"] == len(set(yt[mask]))
    for entry in out["per_subject"]:
        same(entry, ref(subjects == entry["subject_id"]))
    for d in ("part1", "part2"):
        same(out["per_dataset"][d], ref(datasets == d))
    assert out["confusion_matrix"] == M.confusion(yt, yp, prepared.classes)
    from sklearn.metrics import precision_recall_fscore_support

    p, r, _, s = precision_recall_fscore_support(yt, yp, labels=prepared.classes, zero_division=0)
    for i, c in enumerate(prepared.classes):
        assert out["per_class"][c] == {"precision": pytest.approx(p[i]), "recall": pytest.approx(r[i]),
                                       "support": int(s[i])}
    # the majority control, run as a classifier, gives the baseline exactly
    cv = cross_predict(prepared, estimator=Majority())
    mscores, mpred = cv.scores, cv.pred
    same(out["baselines"]["majority"], ref_majority := {m.name: m(yt, C[mpred], mscores, prepared.classes) for m in ALL})
    assert ref_majority["auc"] == 0.5


def test_predict_gives_the_predictions_and_decision_functions_give_scores():
    """y_pred comes from predict even where it disagrees with the argmax of the scores; a
    classifier without predict_proba is scored through its decision function."""
    from sklearn.svm import LinearSVC

    labels = np.array(["joy"] * 5 + ["others"] * 4 + ["others", "anger", "joy", "anger"])
    subjects = np.repeat(["A", "B", "C", "D"], [5, 4, 2, 2])
    prepared = prepare_arrays(np.arange(13.0)[:, None], labels, subjects, Majority())
    cv = cross_predict(prepared)
    scores, pred = cv.scores, cv.pred
    assert np.all(scores == 1 / 3)                       # constant: their argmax would always say 'anger'
    assert [prepared.classes[c] for c in pred[[0, 5, 9, 11]]] == ["others", "joy", "joy", "joy"]
    X, labels, subjects = _unbalanced(2)
    svc = prepare_arrays(X, labels, subjects, LinearSVC(C=0.1, random_state=0))
    cv = cross_predict(svc)
    scores, pred = cv.scores, cv.pred
    assert np.allclose(scores.sum(axis=1), 1.0) and np.all(scores > 0)
    np.testing.assert_array_equal(pred, scores.argmax(axis=1))   # softmax of one-vs-rest decisions


# ---------------------------------------------------------------------------------------------- controls
def test_prior_shift_diagnostic_falls_below_chance_where_subjects_shift_the_priors():
    """Subjects with opposite class mixes: each held-out subject's own labels push the training
    priors the other way, so scoring with training priors alone ranks held-out samples backwards."""
    subjects = np.repeat([f"s{i}" for i in range(10)], 6)
    y = np.concatenate([[1] * k + [0] * (6 - k) for k in (1, 5, 2, 4, 1, 5, 3, 2, 4, 3)])
    labels = np.array(["no", "yes"])[y]
    prepared = prepare_arrays(np.zeros((60, 2)), labels, subjects, Majority())
    shift = M.prior_shift(prepared.y, prepared.split.folds, prepared.classes, NAMES)
    assert shift["auc"] < 0.35
    # by hand: scores are the training priors, predictions the training majority
    priors = np.zeros((60, 2))
    for fold in prepared.split.folds:
        priors[fold.test] = np.bincount(prepared.y[fold.train], minlength=2) / len(fold.train)
    assert shift["auc"] == pytest.approx(M.auc(labels, labels, priors, ["no", "yes"]), abs=1e-12)
    majority = M.majority_baseline(prepared.y, prepared.split.folds, prepared.classes, NAMES)
    assert majority["auc"] == 0.5
    cv = cross_predict(prepared)
    scores, pred = cv.scores, cv.pred
    out = compute_metrics(prepared, scores, pred, NAMES)
    assert out["prior_shift"]["pooled"] == shift and out["pooled"]["auc"] == 0.5
    assert "training fold's class priors" in out["prior_shift"]["note"]


def test_stratified_random_is_seeded_per_sample():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 5))
    y = np.array(["a"] * 30 + ["b"] * 10)
    model = StratifiedRandom(random_state=3).fit(X, y)
    pred, proba = model.predict(X), model.predict_proba(X)
    order = rng.permutation(40)
    np.testing.assert_array_equal(model.predict(X[order]), pred[order])        # any order
    np.testing.assert_array_equal(model.predict(X[5:9]), pred[5:9])            # any batch
    other = StratifiedRandom(random_state=3).fit(X[:20], ["a"] * 12 + ["b"] * 8)  # another training fold
    np.testing.assert_array_equal(other.predict_proba(X), proba)               # scores do not depend on it
    assert 0.5 < np.mean(pred == "a") < 0.95                                   # frequencies of the fold
    assert not np.array_equal(StratifiedRandom(random_state=4).fit(X, y).predict_proba(X), proba)


def test_majority_control_auc_is_exactly_half_on_a_loso_run_with_unbalanced_subjects(cli, tmp_path):
    """The emotion task gives every subject its own class mix: the control still scores AUC 0.5 exactly,
    its own run equals the baseline every run reports, and the prior-shift diagnostic is below chance."""
    args = ["--task", "emotion", "--dataset-opt", "subjects=6", "--dataset-opt", "clips_per_subject=6",
            "--dataset-opt", "frames=8", "--dataset-opt", "size=32", "--features-opt", "size=32",
            "--features-opt", "grid=4", "--protocol", "loso", "--json"]
    res = cli("run", "--classifier", "majority", "--out", tmp_path / "majority", *args)
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "majority" / "metrics.json").read_text())
    assert metrics["pooled"]["auc"] == 0.5
    assert metrics["baselines"]["majority"] == metrics["pooled"]
    assert metrics["prior_shift"]["pooled"]["auc"] < 0.5
    preds = __import__("pandas").read_parquet(tmp_path / "majority" / "predictions.parquet")
    mixes = preds.groupby("subject_id")["y_true"].apply(lambda s: tuple(s.value_counts(normalize=True).sort_index()))
    assert mixes.nunique() > 1                          # the subjects' class mixes do differ
    res = cli("run", "--classifier", "ridge", "--out", tmp_path / "ridge", *args[:-1])
    assert res.exit_code == 0 and "prior-shift diagnostic: " in res.output and "class priors alone" in res.output
