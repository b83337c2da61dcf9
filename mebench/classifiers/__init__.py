"""Classifiers: factories returning scikit-learn estimators with ``predict_proba``."""
