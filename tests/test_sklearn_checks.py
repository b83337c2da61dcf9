"""The scikit-learn contract, checked by scikit-learn's own ``check_estimator``.

Classifiers: every registered classifier class (and both score modes of the SVMs) runs every check;
a check a class cannot pass by design is listed in the class's ``expected_failed_checks`` (the nets:
``sklearn_expected_failed_checks()``) with the reason, and must really fail (a listed check that
passes is an error, so the list cannot rot).

Feature extractors take a samples table (a DataFrame of clip metadata and frame locators), not a
numeric array, so the checks that feed random numeric arrays to ``fit``/``transform`` cannot apply;
each is listed below with that reason. The API checks that remain (cloning, parameters, ``fit``
returning self, no attributes set in ``__init__``, ...) must pass for every registered extractor.
Their real behaviour on samples tables is checked by tests/test_conformance.py.
"""
from __future__ import annotations

import warnings

import pytest

from mebench.registry import CLASSIFIERS, EXTRACTORS

# the nets' declared failures whose outcome depends on the CPU's BLAS kernels (float32 rounding by batch size)
NETS_MAY_PASS = {"check_methods_subset_invariance"}
FAST = {"rf": {"n_estimators": 10}}  # fewer trees keep the 55 checks quick; the code path is the same


def _quick_params(name) -> dict:
    """Settings that keep the checks quick: fewer trees, the nets' own example settings and few epochs."""
    factory = CLASSIFIERS.get(name)
    example = getattr(factory, "example_params", None)
    return {**FAST.get(name, {}), **({**example(), "epochs": 10} if callable(example) else {})}


def _classifier_instances(name) -> list:
    """The classifier with quick settings, and its other score mode where it has one (the SVMs' ``probability``)."""
    est = CLASSIFIERS.create(name, **_quick_params(name))
    if "probability" not in est.get_params():
        return [est]
    return [est, CLASSIFIERS.create(name, **_quick_params(name), probability=not est.get_params()["probability"])]


def _expected_failures(estimator) -> dict:
    """The checks a class declares it cannot pass, with reasons: a class attribute, or (nets) a classmethod."""
    declared = getattr(type(estimator), "sklearn_expected_failed_checks", None)
    return {**dict(getattr(type(estimator), "expected_failed_checks", {}) or {}),
            **(declared() if callable(declared) else {})}


@pytest.mark.parametrize("name", CLASSIFIERS.names())  # names, not instances: the nets' classes import torch
def test_classifier_passes_sklearn_checks(name):
    """Every check passes, except the declared ones, which must really fail (strict, like an xfail_strict)."""
    from sklearn.utils.estimator_checks import check_estimator

    for estimator in _classifier_instances(name):
        results = check_estimator(estimator, expected_failed_checks=_expected_failures(estimator), on_fail=None,
                                  on_skip=None)
        failed = {r["check_name"]: f"{type(r['exception']).__name__}: {r['exception']}" for r in results
                  if r["status"] == "failed"}
        assert not failed, f"{estimator!r} fails scikit-learn checks: {failed}"
        may_pass = NETS_MAY_PASS if callable(getattr(type(estimator), "sklearn_expected_failed_checks", None)) else ()
        passing = sorted({r["check_name"] for r in results if r["expected_to_fail"] and r["status"] == "passed"}
                         - set(may_pass))
        assert not passing, f"{estimator!r}: checks listed as expected to fail now pass, unlist them: {passing}"


def test_every_classifier_is_a_class_with_its_own_parameters():
    import inspect

    for name in CLASSIFIERS.names():
        factory = CLASSIFIERS.get(name)
        assert inspect.isclass(factory), f"{name} must be registered as a class, not a factory"
        est = factory()
        params = est.get_params(deep=False)
        init = [] if factory.__init__ is object.__init__ else list(inspect.signature(factory.__init__).parameters)[1:]
        assert set(params) == set(init), f"{name}: get_params must show exactly the constructor's parameters"
        assert all(not hasattr(v, "get_params") for v in params.values()), f"{name} hides a nested estimator"
        for reason in _expected_failures(est).values():
            assert len(reason) > 40, f"{name}: each skipped check needs a stated reason"


NOT_A_SAMPLES_TABLE = ("the input of an extractor is a samples table (pandas DataFrame of clip metadata and frame "
                       "locators), while this check passes numeric arrays to fit/transform")
NO_NUMERIC_WIDTH = ("n_features_in_ counts the columns of a numeric input; an extractor reads named columns of a "
                    "samples table, which has no fixed numeric width to check")
FIT_IGNORES_X = ("fit of a stateless extractor learns nothing (labels never reach it and the output depends on each "
                 "sample alone), so it does not read X and cannot reject bad numeric input; the samples table is "
                 "validated by the loaders' schema check and by transform (required columns)")
STATELESS_TRANSFORM = ("a stateless extractor's transform is a function of each sample alone and needs no fit (that "
                       "is what lets the runner cache it across folds), so it does not raise NotFittedError")

EXTRACTOR_EXPECTED_FAILURES = {
    **{check: NOT_A_SAMPLES_TABLE for check in (
        "check_fit_score_takes_y", "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
        "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array",
        "check_transformer_general", "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance",
        "check_methods_subset_invariance", "check_dict_unchanged", "check_fit_idempotent",
        "check_fit2d_predict1d")},
    "check_n_features_in_after_fitting": NO_NUMERIC_WIDTH,
    "check_n_features_in": NO_NUMERIC_WIDTH,
    **{check: FIT_IGNORES_X for check in (
        "check_complex_data", "check_estimators_nan_inf", "check_estimators_empty_data_messages",
        "check_estimator_sparse_tag", "check_fit1d")},
    "check_transformers_unfitted": STATELESS_TRANSFORM,
}


STATEFUL_FIT_NEEDS_A_TABLE = ("a stateful extractor learns from a samples table (the training rows' clips, and their "
                             "annotations as fit targets); this check fits it on numeric arrays, which it refuses. "
                             "The same contract (fit returns self, parameters untouched) is checked below on a "
                             "samples table")
STATEFUL_FIT_CHECKS = ("check_dont_overwrite_parameters", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
                       "check_estimators_fit_returns_self", "check_estimators_overwrite_params", "check_fit2d_1feature",
                       "check_fit2d_1sample", "check_fit_check_is_fitted", "check_positive_only_tag_during_fit",
                       "check_readonly_memmap_input", "check_transformers_unfitted")
API_CHECKS = ("check_estimator_cloneable", "check_no_attributes_set_in_init", "check_get_params_invariance",
              "check_set_params", "check_parameters_default_constructible")
FIT_CHECKS = ("check_estimators_fit_returns_self", "check_dont_overwrite_parameters",
              "check_estimators_overwrite_params")


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_extractor_passes_the_applicable_sklearn_checks(name):
    from sklearn.base import clone
    from sklearn.utils.estimator_checks import check_estimator

    factory = EXTRACTORS.get(name)
    example = getattr(factory, "example_params", None)
    extractor = EXTRACTORS.create(name, **(example() if callable(example) else {}))
    stateless = getattr(type(extractor), "stateless", True)
    expected = dict(EXTRACTOR_EXPECTED_FAILURES)
    if not stateless:
        expected.update({check: STATEFUL_FIT_NEEDS_A_TABLE for check in STATEFUL_FIT_CHECKS})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(extractor, expected_failed_checks=expected, on_fail=None, on_skip=None)
    failed = sorted({r["check_name"] for r in results if r["status"] == "failed"})
    assert not failed, f"{name} fails scikit-learn checks that apply to it: {failed}"
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    for check in API_CHECKS + (FIT_CHECKS if stateless else ()):
        assert check in passed, f"{name}: {check} did not pass"
    if not stateless:  # the fit contract on what a stateful extractor really learns from
        samples = factory.example_samples(seed=0)
        twin = clone(extractor)
        before = twin.get_params()
        assert twin.fit(samples) is twin, f"{name}: fit must return self"
        assert twin.get_params() == before, f"{name}: fit must not change the parameters"
