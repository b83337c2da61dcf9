"""What a run is (:class:`RunSpec`), what it holds between its stages, and what it returns."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_METRICS = ("accuracy", "uar", "uf1", "auc")


@dataclass
class RunSpec:
    """Everything that defines a run; CLI flags and YAML configs resolve to one of these."""

    dataset: str = "synthetic"
    root: str | None = None
    dataset_opts: dict = field(default_factory=dict)
    task: str | None = None
    features: str = "hoof"
    features_opts: dict = field(default_factory=dict)
    classifier: str = "logreg"
    classifier_opts: dict = field(default_factory=dict)
    protocol: str = "loso"
    protocol_opts: dict = field(default_factory=dict)
    metrics: tuple = DEFAULT_METRICS
    seed: int = 0
    jobs: int = 1
    out: str | None = None
    plugins: tuple = ()
    use_cache: bool = True
    on_error: str = "raise"
    backend: str = "loky"

    def config(self) -> dict:
        """The resolved configuration recorded in the manifest (no output or execution knobs)."""
        cfg = asdict(self)
        for key in ("out", "jobs", "plugins", "use_cache", "backend"):
            cfg.pop(key)
        cfg["metrics"] = list(self.metrics)
        return cfg

    @property
    def pipeline(self) -> str:
        return f"{self.features}+{self.classifier}"


@dataclass
class Loaded:
    """A run's components, built and checked, and its dataset loaded: nothing extracted yet."""

    spec: RunSpec
    dataset: Any
    samples: pd.DataFrame       # the dataset's samples table, labels included
    extractor: Any
    classifier: Any
    protocol: Any
    seeds: dict


@dataclass
class Prepared:
    """A run ready to be cross-predicted (also used by permutation tests)."""

    spec: RunSpec
    dataset: Any
    samples: pd.DataFrame
    classes: list
    y: np.ndarray               # integer codes into ``classes``
    split: Any                  # protocols.SplitReport
    X: Any                      # feature matrix (stateless extractor) or the samples table
    estimator: Any              # classifier, or Pipeline(extractor, classifier) if stateful
    seeds: dict
    extraction: dict
    extractor: Any = None       # the extractor as configured (unfitted)
    protocol: Any = None        # the protocol object that made ``split``
    fit_targets: Any = None     # a stateful extractor's annotation targets (DataFrame), training rows only per fold

    @property
    def evaluated(self) -> np.ndarray:
        """Mask of samples held out in some fold (others only train)."""
        mask = np.zeros(len(self.samples), bool)
        for fold in self.split.folds:
            mask[fold.test] = True
        return mask


@dataclass
class RunResult:
    """A finished run: where it was written, its id, and the metrics, manifest and predictions written there."""

    run_dir: Path
    run_id: str
    metrics: dict
    manifest: dict
    predictions: pd.DataFrame
