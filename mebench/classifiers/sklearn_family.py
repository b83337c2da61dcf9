"""The scikit-learn classifier family and the control classifiers.

Every registered classifier is a class of its own whose ``__init__`` lists exactly what a user can
set (``--classifier-opt KEY=VALUE``); ``get_params`` shows it. Scaling happens inside ``fit``, so
it is fit on the training fold only. ``random_state`` is set by the runner from the run seed.

The runner takes ``y_pred`` from ``predict`` and the class scores from ``predict_proba``. Each class
passes ``sklearn.utils.estimator_checks.check_estimator`` (``tests/test_sklearn_checks.py``);
a check it cannot pass by design is listed in its ``expected_failed_checks`` with the reason.
"""
from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data


def softmax_scores(decision: np.ndarray) -> np.ndarray:
    """Ranking scores in [0, 1] summing to 1 from decision values: the logistic function of a binary
    decision (n,), or a softmax over the columns of a multi-class one (n, k). Monotone in the
    decision values, so ranking metrics (AUC) equal those of the raw decisions; not calibrated."""
    d = np.asarray(decision, dtype=np.float64)
    if d.ndim == 1:
        p1 = 0.5 * (1.0 + np.tanh(0.5 * d))  # the logistic function, without overflow
        return np.c_[1.0 - p1, p1]
    d = d - d.max(axis=1, keepdims=True)
    e = np.exp(d)
    return e / e.sum(axis=1, keepdims=True)


class _Standardiser:
    """Feature-wise standardisation fit on the training fold (what StandardScaler does, without its
    per-call validation overhead, which dominated small SVM fits): zero-variance features keep scale 1."""

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        self.mean_ = X.mean(axis=0)
        Z = X - self.mean_
        scale = np.sqrt(np.einsum("ij,ij->j", Z, Z) / len(Z))
        scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
        self.inv_scale_ = 1.0 / scale
        Z *= self.inv_scale_
        return Z

    def transform(self, X: np.ndarray) -> np.ndarray:
        Z = X - self.mean_
        Z *= self.inv_scale_
        return Z


class _Classifier(ClassifierMixin, BaseEstimator):
    """Shared input validation: finite dense float arrays, classification targets, NotFittedError."""

    is_control: ClassVar[bool] = False
    expected_failed_checks: ClassVar[dict[str, str]] = {}

    def check_params(self) -> None:
        """Validate the parameters without fitting (the runner calls this before any work starts)."""
        for model in self._inner_models():
            model._validate_params()  # scikit-learn's own constraints, as its fit would check them

    def _inner_models(self) -> list:
        return []

    def _fit_input(self, X, y):
        self.check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        return X, y

    def _predict_input(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=np.float64)


class _Delegating(_Classifier):
    """Predictions from the fitted scikit-learn model in ``model_``, after the shared input checks."""

    def predict_proba(self, X):
        X = self._predict_input(X)
        return self.model_.predict_proba(X)

    def predict(self, X):
        X = self._predict_input(X)
        return self.model_.predict(X)


class _Scaled(_Delegating):
    """Standardise with the training fold's mean and scale, then fit ``self._model()``."""

    def _model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _inner_models(self) -> list:
        return [self._model()]

    def fit(self, X, y):
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = self._fit_input(X, y)
        self.model_ = Pipeline([("scale", StandardScaler()), ("model", self._model())]).fit(X, y)
        return self


class LogReg(_Scaled):
    """Standardised features + L2 logistic regression."""

    def __init__(self, C: float = 0.1, class_weight: str | dict | None = "balanced", max_iter: int = 5000,
                 random_state: int | None = 0):
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def _model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                  random_state=self.random_state)

    def fit(self, X, y):
        super().fit(X, y)
        self.n_iter_ = self.model_[-1].n_iter_
        return self


class _SVM(_Classifier):
    """Standardised features + a support vector machine.

    ``probability=False``: ``predict_proba`` returns ranking scores, the logistic function (binary)
    or a softmax (multi-class, one-vs-rest decision values) of the decision function. They order
    samples exactly as the decision values do, which is all ROC AUC needs, but they are **not
    calibrated probabilities**. ``predict`` follows the decision function, no inner
    cross-validation runs.

    ``probability=True``: Platt (sigmoid) probabilities fit on decision values of up to 3 seeded
    stratified inner folds of the training set (in-sample when a class has a single training
    sample; ``calibration_`` says which); ``predict`` is their argmax. ``class_weight`` then enters
    as sample weights of both the SVM and the sigmoid, so the argmax keeps the class balancing.
    About four times slower.
    """

    def _svc(self, class_weight):  # pragma: no cover - abstract
        raise NotImplementedError

    def _inner_models(self) -> list:
        if not isinstance(self.probability, (bool, np.bool_)):
            raise ValueError(f"The 'probability' parameter of {type(self).__name__} must be true or false. "
                             f"Got {self.probability!r} instead.")
        return [self._svc(self.class_weight)]

    def fit(self, X, y):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator
        from sklearn.model_selection import StratifiedKFold

        X, y = self._fit_input(X, y)
        self.scaler_ = _Standardiser()
        Z = self._svm_input(self.scaler_.fit_transform(X), train=True)
        if not self.probability:
            self.model_ = self._svc(self.class_weight).fit(Z, y)
            self.calibration_ = "none: ranking scores from the decision function"
            return self
        from sklearn.utils.class_weight import compute_sample_weight

        weights = compute_sample_weight(self.class_weight, y) if self.class_weight is not None else None
        _, counts = np.unique(y, return_counts=True)
        folds = int(min(3, counts.min()))
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            self.model_ = CalibratedClassifierCV(self._svc(None), method="sigmoid", cv=cv, ensemble=False).fit(
                Z, y, sample_weight=weights)
            self.calibration_ = f"Platt, {folds}-fold cross-validated"
        else:
            svc = self._svc(None).fit(Z, y, sample_weight=weights)
            self.model_ = CalibratedClassifierCV(FrozenEstimator(svc), method="sigmoid").fit(Z, y, sample_weight=weights)
            self.calibration_ = "Platt, in-sample (a class has one training sample)"
        return self

    def _svm_input(self, Z, train: bool = False):
        """What the SVC sees: the standardised features (subclasses may give a kernel matrix)."""
        return Z

    def _decision(self, X):
        X = self._predict_input(X)
        return self.model_.decision_function(self._svm_input(self.scaler_.transform(X)))

    @available_if(lambda self: not self.probability)
    def decision_function(self, X):
        """Decision values: (n,) for two classes (positive favours ``classes_[1]``), else (n, k) one-vs-rest."""
        return self._decision(X)

    def predict_proba(self, X):
        if self.probability:
            X = self._predict_input(X)
            return self.model_.predict_proba(self._svm_input(self.scaler_.transform(X)))
        return softmax_scores(self._decision(X))

    def predict(self, X):
        if self.probability:
            proba = self.predict_proba(X)
            return self.classes_[np.argmax(proba, axis=1)]
        return self._predict_from(self._decision(X))

    def _predict_from(self, d: np.ndarray) -> np.ndarray:
        return self.classes_[(d > 0).astype(int) if d.ndim == 1 else np.argmax(d, axis=1)]

    def scores_and_predictions(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(predict_proba(X), predict(X))`` from one decision function (the runner's held-out call);
        a subclass that overrides either method gets the two calls."""
        own = type(self).predict is _SVM.predict and type(self).predict_proba is _SVM.predict_proba
        if not own:
            return self.predict_proba(X), self.predict(X)
        if self.probability:
            proba = self.predict_proba(X)
            return proba, self.classes_[np.argmax(proba, axis=1)]
        d = self._decision(X)
        return softmax_scores(d), self._predict_from(d)


class LinearSVM(_SVM):
    """Standardised features + linear SVM; ranking scores from the decision function (no inner CV).

    ``predict_proba`` gives ranking scores, not calibrated probabilities; ``probability=True``
    gives Platt probabilities instead (an inner 3-fold CV per fit).
    """

    def __init__(self, C: float = 0.01, class_weight: str | dict | None = "balanced", probability: bool = False,
                 random_state: int | None = 0):
        self.C = C
        self.class_weight = class_weight
        self.probability = probability
        self.random_state = random_state

    def _svm_input(self, Z, train: bool = False):
        """The linear kernel, computed with BLAS: the same problem as ``SVC(kernel="linear")``, whose
        own kernel loops are slow with thousands of features."""
        if train:
            self.train_features_ = Z
        return Z @ self.train_features_.T

    def _svc(self, class_weight):
        from sklearn.svm import SVC

        return SVC(kernel="precomputed", C=self.C, class_weight=class_weight, random_state=self.random_state)


class RBFSVM(_SVM):
    """Standardised features + RBF SVM with Platt probabilities (``probability=False``: ranking scores)."""

    def __init__(self, C: float = 1.0, gamma: str | float = "scale", class_weight: str | dict | None = "balanced",
                 probability: bool = True, random_state: int | None = 0):
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.probability = probability
        self.random_state = random_state

    def _svc(self, class_weight):
        from sklearn.svm import SVC

        return SVC(kernel="rbf", C=self.C, gamma=self.gamma, class_weight=class_weight, random_state=self.random_state)


class RandomForest(_Delegating):
    """Random forest (class-balanced by default)."""

    def __init__(self, n_estimators: int = 300, max_depth: int | None = None,
                 class_weight: str | dict | None = "balanced", random_state: int | None = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _forest(self):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                      class_weight=self.class_weight, random_state=self.random_state,
                                      n_jobs=self.n_jobs)

    def _inner_models(self) -> list:
        return [self._forest()]

    def fit(self, X, y):
        X, y = self._fit_input(X, y)
        self.model_ = self._forest().fit(X, y)
        return self


class RidgeScores(_Classifier):
    """Standardised features + one-vs-rest ridge regression on centred one-hot targets.

    A linear smoother: held-out scores are a fixed linear map of the training targets, which the
    fast exact permutation test exploits. ``predict`` is the argmax of the per-class ridge scores;
    ``predict_proba`` their softmax at ``temperature`` (monotone in the score difference with two
    classes, so binary AUC equals that of the raw scores). ``decision_function`` is (n,) with two
    classes (the score difference, positive favours ``classes_[1]``) and (n, k) otherwise.
    """

    def __init__(self, alpha: float = 1.0, temperature: float = 0.1):
        self.alpha = alpha
        self.temperature = temperature

    def _inner_models(self) -> list:
        for name in ("alpha", "temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value) or value <= 0:
                raise ValueError(f"The '{name}' parameter of RidgeScores must be a float in the range (0.0, inf). "
                                 f"Got {value!r} instead.")
        return []

    def fit(self, X, y):
        from sklearn.preprocessing import StandardScaler

        X, y = self._fit_input(X, y)
        codes = np.searchsorted(self.classes_, y)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        Y = np.eye(len(self.classes_))[codes]
        self.y_mean_ = Y.mean(axis=0)
        n, d = Z.shape
        if d <= n:
            self.coef_ = np.linalg.solve(Z.T @ Z + self.alpha * np.eye(d), Z.T @ (Y - self.y_mean_))
        else:  # dual form: cheaper with more features than samples
            self.coef_ = Z.T @ np.linalg.solve(Z @ Z.T + self.alpha * np.eye(n), Y - self.y_mean_)
        return self

    def _class_scores(self, X):
        X = self._predict_input(X)
        return self.scaler_.transform(X) @ self.coef_ + self.y_mean_

    def decision_function(self, X):
        s = self._class_scores(X)
        return s[:, 1] - s[:, 0] if s.shape[1] == 2 else s

    def predict_proba(self, X):
        return softmax_scores(self._class_scores(X) / self.temperature)

    def predict(self, X):
        scores = self._class_scores(X)
        return self.classes_[np.argmax(scores, axis=1)]


# ---- controls ----
_CONTROL_SCORES = ("a control's scores are fold-independent by design (the same for every training fold), so they "
                   "cannot follow its predictions, which come from the training fold's class counts; mebench takes "
                   "y_pred from predict and scores from predict_proba, so argmax(predict_proba) need not equal predict")


class _Control(_Classifier):
    """A control: ``classes`` (the full label set; the runner sets it) makes its scores cover every
    class, so they stay the same in every training fold, even one that lacks a class."""

    is_control: ClassVar[bool] = True

    def _fit_input(self, X, y):
        X, y = super()._fit_input(X, y)
        if self.classes is not None:
            full = np.unique(np.asarray(self.classes))
            unknown = sorted(set(self.classes_.tolist()) - set(full.tolist()))
            if unknown:
                raise ValueError(f"{type(self).__name__}: training labels {unknown} are not in classes={full.tolist()}")
            self.classes_ = full
        return X, y


class Majority(_Control):
    """Control: predicts the training fold's most frequent class; the same scores (1/k) for every sample.

    The scores do not depend on the training fold, so ties give a ROC AUC of exactly 0.5 under any
    protocol (scores equal to the training priors would fall below 0.5 under leave-one-subject-out:
    see the prior-shift diagnostic in ``metrics.json``). ``classes``: the full label set (set by the
    runner), so that k counts classes absent from a training fold too.
    """

    def __init__(self, classes=None):
        self.classes = classes

    def fit(self, X, y):
        _, y = self._fit_input(X, y)
        counts = np.array([np.sum(y == c) for c in self.classes_])
        self.class_prior_ = counts / counts.sum()
        self.majority_ = int(np.argmax(counts))  # ties: the first class in sorted order
        return self

    def predict_proba(self, X):
        X = self._predict_input(X)
        return np.full((X.shape[0], len(self.classes_)), 1.0 / len(self.classes_))

    def predict(self, X):
        X = self._predict_input(X)
        return np.repeat(self.classes_[self.majority_], X.shape[0])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class StratifiedRandom(_Control):
    """Control: random guesses with the training fold's class frequencies, seeded per sample.

    Each sample's random numbers come from a generator seeded with ``random_state`` and a hash of
    the sample's feature values, so a sample gets the same draw whatever fold, order or batch it is
    predicted in. ``predict`` draws a class with the training fold's frequencies; ``predict_proba``
    gives fold-independent random scores from the same generator (AUC at chance by construction).
    ``classes``: the full label set (set by the runner).
    """

    expected_failed_checks: ClassVar[dict[str, str]] = {"check_classifiers_train": _CONTROL_SCORES}

    def __init__(self, random_state: int | None = 0, classes=None):
        self.random_state = random_state
        self.classes = classes

    def fit(self, X, y):
        _, y = self._fit_input(X, y)
        counts = np.array([np.sum(y == c) for c in self.classes_], dtype=float)
        self.class_prior_ = counts / counts.sum()
        return self

    def _draws(self, X) -> np.ndarray:
        """(n, 1 + k) uniform numbers per sample: column 0 picks the class, the rest are its scores."""
        X = np.ascontiguousarray(self._predict_input(X))
        seed = 0 if self.random_state is None else int(self.random_state)
        k = len(self.classes_)
        out = np.empty((X.shape[0], 1 + k))
        for i, row in enumerate(X):
            digest = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
            out[i] = np.random.default_rng([seed, int.from_bytes(digest, "little")]).random(1 + k)
        return out

    def predict_proba(self, X):
        u = self._draws(X)[:, 1:]
        return u / u.sum(axis=1, keepdims=True)

    def predict(self, X):
        u = self._draws(X)[:, 0]
        idx = np.searchsorted(np.cumsum(self.class_prior_), u, side="right")
        return self.classes_[np.minimum(idx, len(self.classes_) - 1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        tags.non_deterministic = False
        return tags
