"""Evaluation protocols (splitters over subjects), the leakage guard and the fold hash."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import LeakageError, MebenchError


@dataclass
class Fold:
    """One train/test split: positional row indices into the samples table."""

    name: str
    train: np.ndarray
    test: np.ndarray


@dataclass
class SplitReport:
    """What a protocol produced and what the audit found."""

    folds: list[Fold]
    fold_hash: str
    warnings: list[str] = field(default_factory=list)
    shared_subjects: dict[str, int] = field(default_factory=dict)


class Protocol:
    """Base class: ``split(samples)`` yields Folds. ``subject_wise`` protocols must never leak."""

    subject_wise: bool = True
    name: str = ""

    def split(self, samples: pd.DataFrame) -> list[Fold]:
        raise NotImplementedError

    def run(self, samples: pd.DataFrame, identities: bool = True) -> SplitReport:
        """Split, then audit: refuse leakage for subject-wise protocols, warn otherwise."""
        if not identities and self.subject_wise:
            raise LeakageError(
                f"protocol {self.name!r} splits by subject, but this dataset has no speaker identities, "
                "so clips of one person would leak across folds. Supply identities "
                "(--dataset-opt identities=PATH) or use a clip-level protocol such as kfold."
            )
        folds = self.split(samples)
        if not folds:
            raise MebenchError(f"protocol {self.name!r} produced no folds.")
        report = SplitReport(folds=folds, fold_hash=fold_hash(samples, folds))
        subjects = samples["subject_id"].to_numpy()
        for fold in folds:
            shared = set(subjects[fold.train]) & set(subjects[fold.test])
            if len(fold.test) == 0:
                raise MebenchError(f"protocol {self.name!r}: fold {fold.name} has no test samples.")
            if shared:
                if self.subject_wise:
                    raise LeakageError(
                        f"leakage guard: fold {fold.name} has {len(shared)} subject(s) in both train and "
                        f"test (e.g. {sorted(shared)[0]}). This protocol must be subject-disjoint."
                    )
                report.shared_subjects[fold.name] = len(shared)
        if report.shared_subjects:
            total = len({s for f in folds for s in set(subjects[f.train]) & set(subjects[f.test])})
            report.warnings.append(
                f"LEAKAGE: protocol {self.name!r} is not subject-aware; {total} subject(s) appear in both "
                f"train and test in {len(report.shared_subjects)} of {len(folds)} folds. "
                "Scores are optimistic; prefer loso or group-kfold."
            )
        return report


def fold_hash(samples: pd.DataFrame, folds: list[Fold]) -> str:
    """sha256 over (fold name, sorted test sample ids) for every fold."""
    ids = samples["sample_id"].astype(str).to_numpy()
    h = hashlib.sha256()
    for fold in folds:
        h.update(fold.name.encode() + b"\x00")
        h.update("\n".join(sorted(ids[fold.test])).encode() + b"\x01")
    return h.hexdigest()


class LeaveOneSubjectOut(Protocol):
    """Leave-one-subject-out: one fold per subject."""

    name = "loso"

    def split(self, samples: pd.DataFrame) -> list[Fold]:
        subjects = samples["subject_id"].to_numpy()
        unique = sorted(set(subjects))
        if len(unique) < 2:
            raise MebenchError(
                f"LOSO needs at least two subjects; the dataset has {len(unique)}. "
                "Add subjects (for synthetic data: --dataset-opt subjects=N)."
            )
        return [Fold(str(s), np.flatnonzero(subjects != s), np.flatnonzero(subjects == s)) for s in unique]
