"""The scikit-learn classifier family and the control classifiers.

Each factory returns a fresh scikit-learn estimator; scaling lives inside the pipeline, so it is
fit on the training fold only. ``random_state`` is set by the runner from the run seed.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted


def _scaled(model) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def make_logreg(C: float = 0.1, class_weight: str | None = "balanced", max_iter: int = 5000, random_state: int = 0):
    """Standardised features + L2 logistic regression."""
    return _scaled(LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter, random_state=random_state))


def make_svm_linear(C: float = 0.01, class_weight: str | None = "balanced", random_state: int = 0):
    """Standardised features + linear SVM with Platt probabilities."""
    return _scaled(PlattSVC(kernel="linear", C=C, class_weight=class_weight, random_state=random_state))


def make_svm_rbf(C: float = 1.0, gamma: str | float = "scale", class_weight: str | None = "balanced", random_state: int = 0):
    """Standardised features + RBF SVM with Platt probabilities."""
    return _scaled(PlattSVC(kernel="rbf", C=C, gamma=gamma, class_weight=class_weight, random_state=random_state))


class PlattSVC(ClassifierMixin, BaseEstimator):
    """SVC with sigmoid (Platt) probabilities fit on cross-validated decision values of the training set.

    Uses up to 3 stratified inner folds, seeded; when a class has a single training sample the
    sigmoid is fit on in-sample decision values instead (recorded in ``calibration_``).
    """

    def __init__(self, kernel: str = "rbf", C: float = 1.0, gamma="scale", class_weight=None, random_state: int = 0):
        self.kernel = kernel
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.random_state = random_state

    def _svc(self):
        return SVC(kernel=self.kernel, C=self.C, gamma=self.gamma, class_weight=self.class_weight,
                   random_state=self.random_state)

    def fit(self, X, y):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray(y)
        self.classes_, counts = np.unique(y, return_counts=True)
        folds = int(min(3, counts.min()))
        if folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            self.model_ = CalibratedClassifierCV(self._svc(), method="sigmoid", cv=cv, ensemble=False).fit(X, y)
            self.calibration_ = f"{folds}-fold cross-validated"
        else:
            svc = self._svc().fit(X, y)
            self.model_ = CalibratedClassifierCV(FrozenEstimator(svc), method="sigmoid").fit(X, y)
            self.calibration_ = "in-sample (a class has one training sample)"
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_rf(n_estimators: int = 300, max_depth: int | None = None, class_weight: str | None = "balanced",
            random_state: int = 0, n_jobs: int = 1):
    """Random forest."""
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, class_weight=class_weight,
                                  random_state=random_state, n_jobs=n_jobs)


def make_majority():
    """Control: always predicts the training fold's most frequent class."""
    return DummyClassifier(strategy="prior")


def make_stratified_random(random_state: int = 0):
    """Control: random guesses with the training fold's class frequencies."""
    return DummyClassifier(strategy="stratified", random_state=random_state)


class RidgeScores(ClassifierMixin, BaseEstimator):
    """Standardised features + one-vs-rest ridge regression on centred one-hot targets.

    A linear smoother: held-out scores are a fixed linear map of the training targets, which the
    fast exact permutation test exploits. ``predict_proba`` is a softmax of the ridge scores; with
    two classes it is monotone in the score difference, so binary AUC equals that of the raw scores
    (with more classes the softmax couples the columns).
    """

    def __init__(self, alpha: float = 1.0, temperature: float = 0.1):
        self.alpha = alpha
        self.temperature = temperature

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.scaler_ = StandardScaler().fit(X)
        Z = self.scaler_.transform(X)
        Y = np.eye(len(self.classes_))[codes]
        self.y_mean_ = Y.mean(axis=0)
        n, d = Z.shape
        if d <= n:
            self.coef_ = np.linalg.solve(Z.T @ Z + self.alpha * np.eye(d), Z.T @ (Y - self.y_mean_))
        else:  # dual form: cheaper with more features than samples
            self.coef_ = Z.T @ np.linalg.solve(Z @ Z.T + self.alpha * np.eye(n), Y - self.y_mean_)
        self.n_features_in_ = d
        return self

    def decision_function(self, X):
        check_is_fitted(self, "coef_")
        return self.scaler_.transform(np.asarray(X, dtype=np.float64)) @ self.coef_ + self.y_mean_

    def predict_proba(self, X):
        scores = self.decision_function(X) / self.temperature
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]
