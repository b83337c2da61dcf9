"""Property-based checks (hypothesis) of the metrics and the LOSO splitter."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mebench.metrics import accuracy, auc, uar, uf1
from mebench.protocols import LeaveOneSubjectOut, fold_hash

CLASSES = ["a", "b", "c"]
labels = st.lists(st.sampled_from(CLASSES), min_size=2, max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_pooled_metrics_agree_with_scikit_learn(data):
    y_true = np.array(data.draw(labels))
    y_pred = np.array(data.draw(st.lists(st.sampled_from(CLASSES), min_size=len(y_true), max_size=len(y_true))))
    raw = np.array(data.draw(st.lists(st.floats(0.01, 1.0), min_size=3 * len(y_true), max_size=3 * len(y_true))))
    scores = raw.reshape(-1, 3) / raw.reshape(-1, 3).sum(axis=1, keepdims=True)
    assert accuracy(y_true, y_pred, scores, CLASSES) == skm.accuracy_score(y_true, y_pred)
    present = sorted(set(y_true))
    recalls = [np.mean(y_pred[y_true == c] == c) for c in present]
    assert np.isclose(uar(y_true, y_pred, scores, CLASSES), np.mean(recalls))
    # classes absent from y_true get no term; predictions of them still count as errors (README convention)
    assert np.isclose(uf1(y_true, y_pred, scores, CLASSES),
                      skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
    value = auc(y_true, y_pred, scores, CLASSES)
    if len(present) < 2:
        assert np.isnan(value)
    else:
        expected = np.mean([skm.roc_auc_score(y_true == c, scores[:, j]) for j, c in enumerate(CLASSES)
                            if 0 < np.sum(y_true == c) < len(y_true)])
        assert np.isclose(value, expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=2, max_size=50).filter(lambda s: len(set(s)) >= 2), st.randoms())
def test_loso_partitions_samples_and_hash_ignores_row_order(subject_numbers, rnd):
    samples = pd.DataFrame({
        "sample_id": [f"x{i}" for i in range(len(subject_numbers))],
        "dataset": "d", "subject_id": [f"d/{s}" for s in subject_numbers], "label": "l"})
    report = LeaveOneSubjectOut().run(samples)
    tested = np.concatenate([f.test for f in report.folds])
    assert sorted(tested) == list(range(len(samples)))
    subjects = samples["subject_id"].to_numpy()
    for fold in report.folds:
        assert not set(subjects[fold.train]) & set(subjects[fold.test])
        assert len(fold.train) + len(fold.test) == len(samples)
    shuffled = samples.sample(frac=1.0, random_state=rnd.randint(0, 10_000)).reset_index(drop=True)
    assert fold_hash(shuffled, LeaveOneSubjectOut().split(shuffled)) == report.fold_hash
