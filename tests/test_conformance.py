"""Conformance: every registered extractor and classifier honours the estimator contract.

Extractors must also be label-free: their output is identical with the label columns shuffled or removed.

Parametrised over the registries, so a plugin is tested the moment it is registered. A classifier
that takes another input format (a net on images) provides ``example_data(n_samples, n_classes,
seed)`` and quick test settings from ``example_params()``; the others get a 12-feature table.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from mebench.registry import CLASSIFIERS, EXTRACTORS


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_extractor_contract(name):
    factory = EXTRACTORS.get(name)
    # tiny, offline options where the defaults need weights files or large inputs (deep extractors)
    extractor = EXTRACTORS.create(name, **getattr(factory, "example_params", dict)())
    samples = factory.example_samples(seed=0)
    assert len(samples) >= 2
    params = extractor.get_params()
    twin = clone(extractor)
    assert twin.get_params() == params, "clone must reproduce the constructor parameters"
    first = np.asarray(twin.fit(samples).transform(samples))
    second = np.asarray(clone(extractor).fit(samples).transform(samples))
    assert first.ndim >= 2 and first.shape[0] == len(samples) and first[0].size > 0  # images keep their shape
    assert np.isfinite(first).all(), "features must be finite"
    np.testing.assert_array_equal(first, second, err_msg="same input and seed must give identical features")
    assert isinstance(type(extractor).stateless, bool)
    assert isinstance(type(extractor).version, str)
    _check_label_free(extractor, samples, first)


def _check_label_free(extractor, samples, expected):
    """The output may not depend on any label column: shuffled labels and removed labels change nothing."""
    from mebench.data.schema import ALWAYS_TARGETS, label_free

    targets = [c for c in ALWAYS_TARGETS + ("objective",) if c in samples.columns]
    assert "label" in targets
    order = np.random.default_rng(0).permutation(len(samples))
    shuffled = samples.copy()
    for column in targets:
        shuffled[column] = samples[column].to_numpy()[order]
    removed = label_free(samples, targets)
    for name, table in (("shuffled", shuffled), ("removed", removed)):
        out = np.asarray(clone(extractor).fit(table).transform(table))
        np.testing.assert_array_equal(out, expected, err_msg=f"features changed with the labels {name}")


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", CLASSIFIERS.names())
def test_classifier_contract(name, n_classes):
    factory = CLASSIFIERS.get(name)
    if hasattr(factory, "example_data"):
        X, y = factory.example_data(n_samples=90, n_classes=n_classes, seed=3)
    else:
        from sklearn.datasets import make_classification  # imported here: collection need not pay for it

        X, y = make_classification(n_samples=90, n_features=12, n_informative=6, n_classes=n_classes,
                                   random_state=3)
    labels = np.array(["a", "b", "c"])[y]
    estimator = CLASSIFIERS.create(name, **getattr(factory, "example_params", dict)())
    twin = clone(estimator)
    assert twin.get_params().keys() == estimator.get_params().keys()
    if "random_state" in twin.get_params():
        twin.set_params(random_state=7)
    model = clone(twin).fit(X[:60], labels[:60])
    assert hasattr(model, "classes_") and list(model.classes_) == sorted(set(labels[:60]))
    proba = model.predict_proba(X[60:])
    assert proba.shape == (30, n_classes)
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1.0)
    again = clone(twin).fit(X[:60], labels[:60]).predict_proba(X[60:])
    np.testing.assert_array_equal(proba, again, err_msg="same seed must give identical probabilities")
    assert set(model.predict(X[60:])) <= set(model.classes_)
    if hasattr(model, "scores_and_predictions"):  # the runner's one-pass call must equal the two calls
        both = model.scores_and_predictions(X[60:])
        np.testing.assert_array_equal(both[0], proba)
        np.testing.assert_array_equal(both[1], model.predict(X[60:]))
    restored = pickle.loads(pickle.dumps(model))  # fold checkpoints pickle fitted models
    np.testing.assert_array_equal(restored.predict_proba(X[60:]), proba)
