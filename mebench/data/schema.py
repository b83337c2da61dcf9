"""The samples table: one row per clip, validated on load."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ..errors import SchemaError

REQUIRED = ("sample_id", "dataset", "subject_id", "label")
INTEGER_COLUMNS = ("onset", "apex", "offset", "n_frames")
STRING_COLUMNS = ("sample_id", "dataset", "subject_id", "frames", "sex", "emotion")
# Label columns hidden from feature extractors whatever the loader declares (see Dataset.targets).
ALWAYS_TARGETS = ("label", "label_raw", "emotion", "deception", "truth", "veracity")


def _is_frame_number(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or not float(value).is_integer():
            return False
        value = int(value)
    return isinstance(value, (int, np.integer)) and -(2**63) < int(value) < 2**63


def validate_samples(samples: pd.DataFrame, source: str = "samples table") -> pd.DataFrame:
    """Check the required columns and types; return the table with a clean RangeIndex."""
    if not isinstance(samples, pd.DataFrame):
        raise SchemaError(f"{source}: expected a pandas DataFrame, got {type(samples).__name__}.")
    missing = [c for c in REQUIRED if c not in samples.columns]
    if missing:
        raise SchemaError(f"{source}: missing required column(s) {', '.join(missing)}. "
                          f"A samples table needs {', '.join(REQUIRED)}.")
    duplicated = [str(c) for c in samples.columns[samples.columns.duplicated()]]
    if duplicated:
        raise SchemaError(f"{source}: column {duplicated[0]!r} occurs twice; every column needs its own name.")
    samples = samples.reset_index(drop=True)
    for col in REQUIRED:
        bad = samples[col].isna()
        if bad.any():
            raise SchemaError(f"{source}: column {col!r} is empty in row {int(np.flatnonzero(bad)[0])}.")
    for col in STRING_COLUMNS:
        if col in samples.columns:
            values = samples[col].dropna()
            wrong = values[~values.map(lambda v: isinstance(v, str))]
            if len(wrong):
                raise SchemaError(f"{source}: column {col!r} must hold strings; row {wrong.index[0]} holds "
                                  f"{type(wrong.iloc[0]).__name__} {wrong.iloc[0]!r}.")
    for col in INTEGER_COLUMNS:
        if col in samples.columns:
            values = samples[col].dropna()
            ok = values.map(_is_frame_number)
            if not ok.all():
                row = values.index[~ok.to_numpy(dtype=bool)][0]
                raise SchemaError(
                    f"{source}: column {col!r} must hold integer frame numbers (|n| < 2**63); row {row} holds "
                    f"{samples.at[row, col]!r}."
                )
            samples[col] = pd.array([None if pd.isna(v) else int(v) for v in samples[col]], dtype="Int64")
    dup = samples["sample_id"].duplicated()
    if dup.any():
        raise SchemaError(f"{source}: sample_id {samples.loc[dup, 'sample_id'].iloc[0]!r} occurs twice.")
    bad_subject = ~samples["subject_id"].str.contains("/", regex=False)
    if bad_subject.any():
        row = int(np.flatnonzero(bad_subject)[0])
        raise SchemaError(f"{source}: subject_id {samples.at[row, 'subject_id']!r} in row {row} is not namespaced; "
                          "use 'dataset/subject' so ids from two datasets never collide.")
    return samples


class HiddenColumnError(Exception):
    """An extractor asked the label-free view for a target column; the run catches this type and names it."""

    def __init__(self, column: str, hidden: tuple):
        super().__init__(f"{column!r} is a target column, hidden from feature extractors")
        self.column, self.hidden = column, tuple(hidden)

    def __reduce__(self):  # crosses worker processes intact
        return type(self), (self.column, self.hidden)


class HiddenKeyError(HiddenColumnError, KeyError):
    """``view[c]``, ``row[c]``: a KeyError, so ``.get(c, default)`` still works."""


class HiddenAttributeError(HiddenColumnError, AttributeError):
    """``view.c``, ``row.c``: an AttributeError, so ``getattr(row, c, None)`` still works."""


def _hide(obj, key, error):
    hidden = obj.__dict__.get("hidden_columns") or ()
    for column in [key] if isinstance(key, str) else key if isinstance(key, (list, tuple, pd.Index)) else ():
        if isinstance(column, str) and column in hidden:
            raise error(column, hidden)


class _Hiding:
    """Item and attribute access that refuse the hidden columns (mixed into a DataFrame and its rows)."""

    _metadata = ["hidden_columns"]

    def __getitem__(self, key):
        _hide(self, key, HiddenKeyError)
        return super().__getitem__(key)

    def __getattr__(self, name):
        _hide(self, name, HiddenAttributeError)
        return super().__getattr__(name)


class _LabelFreeRow(_Hiding, pd.Series):
    @property
    def _constructor(self):
        return _LabelFreeRow


class LabelFreeFrame(_Hiding, pd.DataFrame):
    """The samples table without its target columns; asking for one raises :class:`HiddenColumnError`."""

    @property
    def _constructor(self):
        return LabelFreeFrame

    @property
    def _constructor_sliced(self):
        return _LabelFreeRow

    def itertuples(self, index: bool = True, name: str | None = "Pandas"):
        rows = super().itertuples(index=index, name=name)
        first, hidden = next(rows, None), self.__dict__.get("hidden_columns") or ()
        if first is None or not hasattr(first, "_fields"):  # plain tuples (name=None): nothing to name
            yield from [] if first is None else [first]
            yield from rows
            return

        def missing(row, attr):
            if attr in hidden:
                raise HiddenAttributeError(attr, hidden)
            raise AttributeError(f"{type(row).__name__!r} object has no attribute {attr!r}")

        row_type = type(type(first).__name__, (type(first),), {"__slots__": (), "__getattr__": missing})
        yield row_type._make(first)
        yield from map(row_type._make, rows)


def label_free(samples: pd.DataFrame, targets) -> pd.DataFrame:
    """The samples table without its ``targets`` columns, what feature extractors are given: reading one from
    it or its rows raises :class:`HiddenColumnError` (named even when ``samples`` lacks the column)."""
    view = LabelFreeFrame(samples.drop(columns=[c for c in targets if c in samples.columns]))
    object.__setattr__(view, "hidden_columns", tuple(targets))
    return view


def sample_list_hash(samples: pd.DataFrame) -> str:
    """sha256 of the sorted sample ids with their subjects and labels."""
    rows = sorted(zip(samples["sample_id"].astype(str), samples["subject_id"].astype(str), samples["label"].astype(str)))
    text = "\n".join("\t".join(r) for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()
