"""The feature-extractor contract.

An extractor is a scikit-learn transformer whose input ``X`` is a samples table (a pandas
DataFrame with the schema of :mod:`mebench.data.schema`) and whose output is a 2-D float array
with one row per sample. ``__init__`` stores keyword parameters only.
"""
from __future__ import annotations

import json
from functools import lru_cache
from numbers import Integral
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval

from ..errors import ConfigError, DataError

MAX_SIDE = 4096  # the largest frame side an extractor may resize to (a typo such as size=99999 is refused)
# parameter constraints shared by the extractors (scikit-learn's validator, see ``check_params``)
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
SIDE = Interval(Integral, 4, MAX_SIDE, closed="both")  # a frame side in pixels


class FeatureExtractor(TransformerMixin, BaseEstimator):
    """Base class. Stateless extractors implement ``extract_one(row) -> 1-D array``.

    The runner hands extractors the samples table *without* its target columns (the label and every
    column a task can use as one, :meth:`mebench.data.base.Dataset.targets`); reading one is an error
    naming the column. Class attributes:
      ``stateless``   True when ``transform`` does not depend on ``fit`` (cacheable across folds);
      ``fit_targets`` annotation columns a stateful extractor learns from (e.g. ``("aus",)``): they are
                      removed from the table too, and the training rows' values reach ``fit`` only, as
                      ``fit(X, y, targets=DataFrame)``;
      ``trained_on``  datasets whose data trained any model inside (a run on one is "contaminated");
      ``is_probe``    a bias probe (``sex-only``): reported beside methods, never ranked as one;
      ``version``     bump when the output changes, so cached features are never reused stale;
      ``requires``    sample columns the extractor reads (checked before extraction);
      ``libraries``   distributions whose versions can change the output (part of the cache token);
      ``models``      pinned model files used (names in :mod:`mebench.model_files`; their sha256 joins the token).
      ``_parameter_constraints``  scikit-learn parameter constraints (types and ranges), checked by
                      :meth:`check_params` in ``fit`` and by the runner before any data is read.
    """

    stateless: ClassVar[bool] = True
    fit_targets: ClassVar[tuple[str, ...]] = ()
    trained_on: ClassVar[tuple[str, ...]] = ()
    is_probe: ClassVar[bool] = False
    untrained: ClassVar[bool] = False
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ()
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "opencv-contrib-python")
    models: ClassVar[tuple[str, ...]] = ()
    _parameter_constraints: ClassVar[dict] = {}

    def fit(self, X, y=None):
        self.check_params()
        self.n_features_in_ = 1
        self.fitted_ = True
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        self.check_columns(X)
        rows = [np.asarray(self.extract_one(row), dtype=np.float64).ravel() for row in X.itertuples(index=False)]
        if not rows:
            return np.zeros((0, 0))
        return np.vstack(rows)

    def check_params(self) -> None:
        """Check parameter types and ranges (``_parameter_constraints``) and :meth:`check_values`;
        a bad value is a ConfigError naming the parameter and the ``--features-opt`` to change."""
        if self._parameter_constraints:
            from sklearn.utils._param_validation import InvalidParameterError

            try:
                self._validate_params()
            except InvalidParameterError as exc:
                text = str(exc)
                name = next((k for k in self._parameter_constraints if f"'{k}' parameter" in text), "KEY")
                raise ConfigError(f"extractor {type(self).__name__}: {text[:1].lower()}{text[1:]} Change it with "
                                  f"--features-opt {name}=VALUE.") from None
        self.check_values()

    def check_values(self) -> None:
        """Checks beyond types and ranges (names inside a list, combinations); subclasses override."""

    def extract_one(self, row) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_columns(self, X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} expects a samples DataFrame, got {type(X).__name__}")
        missing = [c for c in self.requires if c not in X.columns]
        if missing:
            raise DataError(f"extractor {type(self).__name__} needs column(s) {', '.join(missing)}, "
                            "which this dataset does not provide",
                            hint="Choose another --features for this dataset.")

    def model_files(self) -> dict[str, str]:
        """{model: sha256} of every model file the output depends on (pinned models, weights)."""
        from ..model_files import model_spec

        models = list(self.models)
        if getattr(self, "align", None):  # face alignment runs the MediaPipe landmarker
            models += [n for n in ("face-landmarker",) if n not in models]
        return {name: model_spec(name).sha256 for name in models}

    def provenance(self) -> dict:
        """What produced the output besides the code: library versions and model-file sha256s."""
        libraries = list(self.libraries)
        if getattr(self, "align", None):
            libraries += [n for n in ("mediapipe",) if n not in libraries]
        return {"libraries": {name: _version(name) for name in libraries}, "models": self.model_files()}

    def cache_token(self) -> str:
        """Identity of this extractor configuration for the feature cache."""
        from ..io import FRAMES_VERSION

        # n_jobs never changes the output, so it stays out of the key
        params = sorted((k, repr(v)) for k, v in self.get_params(deep=False).items() if k != "n_jobs")
        prov = json.dumps(self.provenance(), sort_keys=True)
        return f"{type(self).__module__}.{type(self).__qualname__}/v{self.version}/frames{FRAMES_VERSION}/{params}/{prov}"

    @classmethod
    def example_samples(cls, seed: int = 0) -> pd.DataFrame:
        """A small samples table this extractor can run on, for the conformance test."""
        from ..data.synthetic import SyntheticDataset

        return SyntheticDataset(subjects=4, clips_per_subject=4, frames=12, size=64, effect=1.0, seed=seed).load("deception")


@lru_cache(maxsize=None)
def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
