"""Feature extractors: scikit-learn transformers over a samples table."""
from .base import FeatureExtractor

__all__ = ["FeatureExtractor"]
