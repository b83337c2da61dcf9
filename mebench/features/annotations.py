"""Features that need no video: MUMIN gesture annotations, and the ``sex-only`` bias probe.

``mumin`` reads the binary MUMIN gesture columns (``mumin_*``) that the ``reallife-trial`` and
``dolos`` loaders add, so deception baselines run on the annotations alone.

``sex-only`` reads only the ``sex`` column. It is a leaderboard control: on Real-life Trial, sex
alone predicts the label about as well as published methods, which says more about the dataset
than about those methods.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from ..data.mumin import MUMIN_PREFIX, mumin_column
from ..errors import ConfigError, DataError
from .base import FeatureExtractor


def _fields(row) -> list[str]:
    if hasattr(row, "_fields"):
        return list(row._fields)
    if isinstance(row, pd.Series):
        return [str(k) for k in row.index]
    return list(row)


def _get(row, key):
    if hasattr(row, "_fields"):
        return getattr(row, key)
    return row[key]


class MUMIN(FeatureExtractor):
    """Binary MUMIN gesture annotations (reallife-trial, dolos) as a feature vector."""

    stateless: ClassVar[bool] = True
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "pandas")
    version: ClassVar[str] = "1"

    _parameter_constraints: ClassVar[dict] = {"columns": [None, str, list, tuple]}

    def __init__(self, columns: list[str] | str | None = None):
        self.columns = columns

    def _columns(self, names: list[str]) -> list[str]:
        if self.columns is None:
            cols = [n for n in names if n.startswith(MUMIN_PREFIX)]
            if not cols:
                raise DataError("this dataset has no MUMIN annotation columns (mumin_*)",
                                hint="The mumin features work on reallife-trial and dolos.")
            return cols
        wanted = [c.strip() for c in self.columns.split(",")] if isinstance(self.columns, str) else list(self.columns)
        wanted = [mumin_column(c[len(MUMIN_PREFIX):] if c.startswith(MUMIN_PREFIX) else c) for c in wanted]
        missing = [c for c in wanted if c not in names]
        if missing:
            available = ", ".join(n[len(MUMIN_PREFIX):] for n in names if n.startswith(MUMIN_PREFIX))
            raise ConfigError(f"mumin: unknown column(s) {', '.join(missing)}; this dataset has: {available}")
        return wanted

    def extract_one(self, row) -> np.ndarray:
        cols = self._columns(_fields(row))
        values = []
        for c in cols:
            v = _get(row, c)
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v not in (0, 1):
                raise DataError(f"sample {_get(row, 'sample_id')!r} has no 0/1 value for MUMIN column "
                                f"{c[len(MUMIN_PREFIX):]!r} (found {v!r})",
                                hint="Its annotation row is missing or incomplete; use --on-error skip to record it.")
            values.append(float(v))
        return np.asarray(values, dtype=np.float64)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        self.check_columns(X)
        cols = self._columns([str(c) for c in X.columns])
        if len(X) == 0:
            return np.zeros((0, len(cols)))
        return np.vstack([self.extract_one(row) for _, row in X[["sample_id"] + cols].iterrows()])

    @classmethod
    def example_samples(cls, seed: int = 0) -> pd.DataFrame:
        from ..data.mumin import RLT_GESTURES

        rng = np.random.default_rng(seed)
        rows = []
        for s in range(4):
            for c in range(4):
                label = "deceptive" if (s + c) % 2 else "truthful"
                row = {"sample_id": f"example/s{s}/c{c}", "dataset": "example", "subject_id": f"example/s{s}",
                       "label": label, "sex": "F" if s % 2 else "M"}
                p = 0.6 if label == "deceptive" else 0.3
                row.update({mumin_column(g): int(rng.random() < p) for g in RLT_GESTURES})
                rows.append(row)
        return pd.DataFrame(rows)


class SexOnly(FeatureExtractor):
    """Bias probe: one-hot of the ``sex`` column only (F, M). A control, not a method."""

    stateless: ClassVar[bool] = True
    libraries: ClassVar[tuple[str, ...]] = ("numpy", "pandas")
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ("sex",)
    is_probe: ClassVar[bool] = True

    _parameter_constraints: ClassVar[dict] = {"allow_missing": ["boolean"]}

    def __init__(self, allow_missing: bool = False):
        self.allow_missing = allow_missing

    def extract_one(self, row) -> np.ndarray:
        sex = _get(row, "sex")
        text = str(sex).strip().upper() if isinstance(sex, str) else ""
        if text in ("F", "M"):
            vec = [1.0, 0.0] if text == "F" else [0.0, 1.0]
            return np.asarray(vec + ([0.0] if self.allow_missing else []))
        if self.allow_missing:
            self.counts_ = getattr(self, "counts_", None) or {}
            self.counts_["sex_missing"] = self.counts_.get("sex_missing", 0) + 1
            return np.asarray([0.0, 0.0, 1.0])
        raise DataError(f"sample {_get(row, 'sample_id')!r} has no sex recorded (found {sex!r})",
                        hint="Pass --features-opt allow_missing=true to add an 'unknown' indicator, or "
                             "--on-error skip to record and skip it.")

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        self.check_columns(X)
        self.counts_ = {}  # set fresh by each call (ARCHITECTURE: extractors' counts_)
        width = 3 if self.allow_missing else 2
        if len(X) == 0:
            return np.zeros((0, width))
        return np.vstack([self.extract_one(row) for _, row in X[["sample_id", "sex"]].iterrows()])

    @classmethod
    def example_samples(cls, seed: int = 0) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        rows = []
        for s in range(6):
            sex = "F" if s % 2 else "M"
            for c in range(3):
                deceptive = rng.random() < (0.7 if sex == "F" else 0.3)
                rows.append({"sample_id": f"example/s{s}/c{c}", "dataset": "example", "subject_id": f"example/s{s}",
                             "label": "deceptive" if deceptive else "truthful", "sex": sex})
        frame = pd.DataFrame(rows)
        if frame["label"].nunique() < 2:  # pragma: no cover - guard for odd seeds
            frame.loc[0, "label"] = "truthful" if frame.loc[0, "label"] == "deceptive" else "deceptive"
        return frame
