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
    return _scaled(SVC(kernel="linear", C=C, class_weight=class_weight, probability=True, random_state=random_state))


def make_svm_rbf(C: float = 1.0, gamma: str | float = "scale", class_weight: str | None = "balanced", random_state: int = 0):
    """Standardised features + RBF SVM with Platt probabilities."""
    return _scaled(SVC(kernel="rbf", C=C, gamma=gamma, class_weight=class_weight, probability=True, random_state=random_state))


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
    fast exact permutation test exploits. ``predict_proba`` is a softmax of the ridge scores
    (monotone per class, so rankings and AUC equal those of the raw scores).
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
