"""Trainable torch nets as scikit-learn classifiers (importing this package imports torch).

``TorchClassifier`` is the wrapper every net derives from; see README "Nets" for a plugin example.
"""
from .wrapper import TorchClassifier, inner_split

__all__ = ["TorchClassifier", "inner_split"]
