"""Feature extractors: scikit-learn transformers over a samples table."""

__all__ = ["FeatureExtractor"]


def __getattr__(name):  # lazy, so that importing a catalog does not import scikit-learn
    if name == "FeatureExtractor":
        from .base import FeatureExtractor

        return FeatureExtractor
    raise AttributeError(name)
