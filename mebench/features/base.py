"""The feature-extractor contract.

An extractor is a scikit-learn transformer whose input ``X`` is a samples table (a pandas
DataFrame with the schema of :mod:`mebench.data.schema`) and whose output is a 2-D float array
with one row per sample. ``__init__`` stores keyword parameters only.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from ..errors import DataError


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Base class. Stateless extractors implement ``extract_one(row) -> 1-D array``.

    Class attributes:
      ``stateless``   True when ``transform`` does not depend on ``fit`` (cacheable across folds);
      ``trained_on``  datasets whose data trained any model inside (to flag contamination);
      ``version``     bump when the output changes, so cached features are never reused stale;
      ``requires``    sample columns the extractor reads (checked before extraction).
    """

    stateless: ClassVar[bool] = True
    trained_on: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ()

    def fit(self, X, y=None):
        self.n_features_in_ = 1
        self.fitted_ = True
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        self.check_columns(X)
        rows = [np.asarray(self.extract_one(row), dtype=np.float64).ravel() for row in X.itertuples(index=False)]
        if not rows:
            return np.zeros((0, 0))
        return np.vstack(rows)

    def extract_one(self, row) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_columns(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} expects a samples DataFrame, got {type(X).__name__}")
        missing = [c for c in self.requires if c not in X.columns]
        if missing:
            raise DataError(
                f"extractor {type(self).__name__} needs column(s) {', '.join(missing)}, "
                "which this dataset does not provide",
                hint="Choose another --features for this dataset.",
            )

    def cache_token(self) -> str:
        """Identity of this extractor configuration for the feature cache."""
        from ..io import FRAMES_VERSION

        # n_jobs never changes the output, so it stays out of the key
        params = sorted((k, repr(v)) for k, v in self.get_params(deep=False).items() if k != "n_jobs")
        return f"{type(self).__module__}.{type(self).__qualname__}/v{self.version}/frames{FRAMES_VERSION}/{params}"

    @classmethod
    def example_samples(cls, seed: int = 0) -> pd.DataFrame:
        """A small samples table this extractor can run on, for the conformance test."""
        from ..data.synthetic import SyntheticDataset

        return SyntheticDataset(subjects=4, clips_per_subject=4, frames=12, size=64, effect=1.0, seed=seed).load("deception")
