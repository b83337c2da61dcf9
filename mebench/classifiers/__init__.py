"""Classifiers: scikit-learn classifiers with ``predict`` (the predictions) and ``predict_proba`` (the scores).

A control classifier class carries ``is_control = True``.
"""
