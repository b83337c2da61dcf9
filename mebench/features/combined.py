"""``--features a+b+c``: several extractors side by side, their outputs concatenated column-wise.

Options reach the parts as ``--features-opt name.key=value`` (one part) or ``key=value`` (every part
that takes ``key``; an error when none does). The runner extracts and caches every stateless part
on its own (one cache token each) and records each part's name and statistics in the manifest.
When a part is stateful (fit inside each fold, e.g. ``au-libreface``), the combination is
stateful: the runner computes the stateless parts once and hands them in as :class:`Precomputed`
lookups, and only the stateful parts are fit per fold. A part with N-d output (``flow-image``) is
flattened when combined.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, UnknownOptionError, did_you_mean
from ._util import keep_params
from .base import FeatureExtractor


def split_names(features: str) -> list[str]:
    names = [n.strip() for n in str(features).split("+")]
    if len(names) < 2 or not all(names):
        raise ConfigError(f"--features {features!r}: combine extractors as name+name (no empty parts).")
    if len(set(names)) != len(names):
        raise ConfigError(f"--features {features!r} names an extractor twice.")
    return names


def _flat(values) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return arr.reshape(len(arr), -1)


class Combined(FeatureExtractor):
    """Outputs of several extractors concatenated (``--features a+b+c``); ``parts`` is [(name, extractor)]."""

    version = "1"

    def __init__(self, parts=()):
        self.parts = parts

    # statefulness and declarations follow the parts
    @property
    def stateless(self) -> bool:
        return all(getattr(p, "stateless", True) for _, p in self.parts)

    @property
    def fit_targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for _, p in self.parts for t in getattr(p, "fit_targets", ())))

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for _, p in self.parts for c in getattr(p, "requires", ())))

    @property
    def trained_on(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d for _, p in self.parts for d in getattr(p, "trained_on", ())))

    @property
    def untrained(self) -> bool:
        return any(bool(getattr(p, "untrained", False)) for _, p in self.parts)

    def model_files(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for _, part in self.parts:
            out.update(part.model_files() if hasattr(part, "model_files") else {})
        return out

    def provenance(self) -> dict:
        out: dict = {"libraries": {}, "models": {}}
        for _, part in self.parts:
            prov = part.provenance() if hasattr(part, "provenance") else {}
            for key in out:
                out[key].update(prov.get(key, {}))
        return out

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.parts]

    def fit(self, X, y=None, targets=None):
        for _, part in self.parts:
            if getattr(part, "fit_targets", ()) and targets is not None:
                part.fit(X, y, targets=targets)
            else:
                part.fit(X, y)
        self.fitted_ = True
        return self

    def transform(self, X):
        self.counts_ = {}
        blocks = []
        for _, part in self.parts:
            blocks.append(_flat(part.transform(X)))
            for key, value in (getattr(part, "counts_", None) or {}).items():
                self.counts_[key] = self.counts_.get(key, 0) + int(value)
        return np.hstack(blocks) if blocks else np.zeros((len(X), 0))

    def cache_token(self) -> str:
        return "+".join(part.cache_token() for _, part in self.parts)


class Precomputed(FeatureExtractor):
    """A stateless part's features computed once by the runner, looked up by ``sample_id``."""

    version = "1"
    requires = ("sample_id",)

    def __init__(self, name: str = "", sample_ids=(), values=None, trained_on=(), untrained: bool = False,
                 files=None):
        keep_params(self, locals())

    def model_files(self) -> dict[str, str]:
        return dict(self.files or {})

    def transform(self, X):
        self.check_columns(X)
        index = {s: i for i, s in enumerate(self.sample_ids)}
        missing = [s for s in X["sample_id"] if s not in index]
        if missing:
            raise ConfigError(f"extractor {self.name!r}: no precomputed features for sample {missing[0]!r}.")
        return _flat(np.asarray(self.values)[[index[s] for s in X["sample_id"]]])


def dispatch_options(features: str, options: dict) -> tuple[list[str], dict, dict[str, dict]]:
    """``(names, factories, options per part)`` of ``a+b+c``: ``NAME.KEY`` goes to part NAME, a bare
    ``KEY`` to every part that takes it. An option no part takes is an unknown name (exit code 2)."""
    from ..registry import EXTRACTORS, accepted_params

    names = split_names(features)
    factories = {n: EXTRACTORS.get(n) for n in names}
    per_part: dict[str, dict] = {n: {} for n in names}
    for key, value in options.items():
        target, dot, option = str(key).rpartition(".")
        if dot:
            if target not in per_part:
                raise UnknownOptionError(f"--features-opt {key}: {target!r} is not one of the combined extractors "
                                         f"({', '.join(names)}).{did_you_mean(target, names)}")
            per_part[target][option] = value
            continue
        takers = [n for n in names if option in accepted_params(factories[n])[0]]
        if not takers:
            raise UnknownOptionError(f"--features-opt {key}: none of {', '.join(names)} takes {key!r}; "
                                     "use NAME.KEY=VALUE to address one part.")
        for n in takers:
            per_part[n].setdefault(option, value)
    return names, factories, per_part


def build_combined(features: str, options: dict, seed: int):
    """A :class:`Combined` for ``features`` (``a+b+c``), dispatching ``options``; returns (extractor, seeds)."""
    from ..registry import EXTRACTORS, accepted_params

    names, factories, per_part = dispatch_options(features, options)
    parts, seeds = [], {}
    for n in names:
        opts = per_part[n]
        if "random_state" in accepted_params(factories[n])[0]:
            opts.setdefault("random_state", seed)
            seeds[n] = opts["random_state"]
        parts.append((n, EXTRACTORS.create(n, **opts)))
    return Combined(parts), seeds
