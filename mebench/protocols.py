"""Evaluation protocols (splitters over subjects), the leakage guard and the fold hash."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import ConfigError, LeakageError, MebenchError


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
    always_audit: bool = False  # report the leakage audit even when it finds nothing
    leaky: bool = False  # declared leaky (model selection on the test set): flagged LEAKY, never ranked
    name: str = ""

    def split(self, samples: pd.DataFrame) -> list[Fold]:
        raise NotImplementedError

    def run(self, samples: pd.DataFrame, identities: bool = True) -> SplitReport:
        """Split, then audit: refuse leakage for subject-wise protocols, warn otherwise.

        ``identities=False`` (the loader has no speaker identities, so every clip is its own
        pseudo-subject) makes subject-wise protocols refuse, and makes clip-level protocols record
        that leakage between clips of one speaker cannot be measured.
        """
        identities = bool(identities) and samples.attrs.get("identities", True) is not False
        if not identities and self.subject_wise:
            raise LeakageError(
                f"protocol {self.name!r} splits by subject, but this dataset has no speaker identities, "
                "so clips of one person would leak across folds and the scores would be optimistic. Supply "
                "identities (for reallife-trial: --dataset-opt identities=PATH, a CSV of clip_id,subject[,sex]) "
                "or use a clip-level protocol such as kfold, whose manifest then records the leakage risk."
            )
        folds = self.split(samples)
        if not folds:
            raise MebenchError(f"protocol {self.name!r} produced no folds.")
        report = SplitReport(folds=folds, fold_hash=fold_hash(samples, folds))
        subjects = samples["subject_id"].to_numpy()
        shared_total: set = set()
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
                shared_total |= shared
        if report.shared_subjects or self.always_audit:
            report.warnings.append(self.leakage_warning(samples, folds, report, len(shared_total)))
        if not identities:
            report.warnings.append(
                f"LEAKAGE UNKNOWN: protocol {self.name!r} ran on a dataset without speaker identities; clips of "
                "one speaker may sit in both train and test, and this cannot be measured. Scores may be optimistic."
            )
        if self.leaky:
            report.warnings.insert(0, self.leaky_warning())
        report.warnings.extend(getattr(self, "notes_", []))
        return report

    def leaky_warning(self) -> str:
        return f"LEAKY: protocol {self.name!r} selects models on the test set; its scores are optimistic."

    def leakage_warning(self, samples: pd.DataFrame, folds: list[Fold], report: SplitReport, total: int) -> str:
        return (f"LEAKAGE: protocol {self.name!r} is not subject-aware; {total} subject(s) appear in both "
                f"train and test in {len(report.shared_subjects)} of {len(folds)} folds. "
                "Scores are optimistic; prefer loso or group-kfold.")


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
            raise MebenchError(f"LOSO needs at least two subjects; the dataset has {len(unique)}. "
                               "Add subjects (for synthetic data: --dataset-opt subjects=N).")
        return [Fold(str(s), np.flatnonzero(subjects != s), np.flatnonzero(subjects == s)) for s in unique]


class LeaveOneSubjectOutTestEpochSelection(LeaveOneSubjectOut):
    """LEAKY, for research on inflation: LOSO where nets keep the epoch with the best test-subject accuracy.

    This reproduces the practice of HTNet and MMNet: the runner hands each fold's held-out samples
    to the net's ``fit`` as ``eval_set`` and the net keeps the epoch that scores best on them. The
    folds are LOSO's (subject-disjoint); the selection is what leaks. Never a default; every run
    carries the LEAKY flag and warning.
    """

    name = "loso-test-epoch-selection"
    leaky = True

    def leaky_warning(self) -> str:
        return ("LEAKY: protocol 'loso-test-epoch-selection' keeps, in every fold, the training epoch with the best "
                "accuracy on the held-out test subject (the practice of HTNet and MMNet). Its scores are inflated by "
                "construction and must not be compared with honest protocols; use loso for honest numbers.")


def _effective_seed(random_state, seed, name: str) -> int:
    """``seed`` is an alias of ``random_state``; an explicit ``seed`` wins over the run's default."""
    value = seed if seed is not None else random_state
    if value is None:
        value = 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"protocol {name!r}: seed must be an integer, got {value!r}.") from None


def _check_k(k, name: str) -> int:
    if isinstance(k, bool):
        raise ConfigError(f"protocol {name!r}: k must be an integer, got {k!r}.")
    try:
        k_int = int(k)
    except (TypeError, ValueError):
        raise ConfigError(f"protocol {name!r}: k must be an integer, got {k!r}.") from None
    if k_int != k and not (isinstance(k, str) and k.strip().isdigit()):
        raise ConfigError(f"protocol {name!r}: k must be an integer, got {k!r}.")
    if k_int < 2:
        raise ConfigError(f"protocol {name!r}: k must be at least 2, got {k_int}.")
    return k_int


def _sorted_order(samples: pd.DataFrame) -> np.ndarray:
    """Positions sorted by sample id, so that folds do not depend on the table's row order."""
    return np.argsort(samples["sample_id"].astype(str).to_numpy(), kind="stable")


def _fold_name(i: int, k: int) -> str:
    return f"fold{i + 1:0{len(str(k))}d}"


class _SeededKFold(Protocol):
    """Shared options of the k-fold protocols: ``k``, and a seed (``seed`` wins over ``random_state``)."""

    def __init__(self, k: int = 10, random_state: int | None = 0, seed: int | None = None, shuffle: bool = True):
        self.k = _check_k(k, self.name)
        self.random_state = _effective_seed(random_state, seed, self.name)
        self.seed = seed
        self.shuffle = bool(shuffle)


class GroupKFold(_SeededKFold):
    """Subject-disjoint k-fold (k=10 by default), stratified by label where possible."""

    name = "group-kfold"

    def split(self, samples: pd.DataFrame) -> list[Fold]:
        import warnings

        from sklearn.model_selection import GroupKFold as _GroupKFold
        from sklearn.model_selection import StratifiedGroupKFold

        self.notes_ = []
        order = _sorted_order(samples)
        groups = samples["subject_id"].astype(str).to_numpy()[order]
        y = samples["label"].astype(str).to_numpy()[order]
        n_groups = len(set(groups))
        if n_groups < self.k:
            raise MebenchError(
                f"group-kfold with k={self.k} needs at least {self.k} subjects; the dataset has {n_groups}. "
                f"Pass --protocol-opt k={max(2, n_groups)} or use loso."
            )
        rs = self.random_state if self.shuffle else None
        subjects_per_class = pd.Series(groups).groupby(y).nunique()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            splits = list(StratifiedGroupKFold(n_splits=self.k, shuffle=self.shuffle, random_state=rs)
                          .split(np.zeros(len(y)), y, groups))
        if any(len(test) == 0 for _, test in splits):
            splits = list(_GroupKFold(n_splits=self.k, shuffle=self.shuffle, random_state=rs)
                          .split(np.zeros(len(y)), y, groups))
            self.notes_.append(f"group-kfold: stratification left a fold empty; these {self.k} folds are "
                               "subject-disjoint but unstratified")
        elif (subjects_per_class < self.k).any():
            few = ", ".join(f"{c} ({n})" for c, n in subjects_per_class[subjects_per_class < self.k].items())
            self.notes_.append(f"group-kfold: some classes have fewer subjects than k={self.k} ({few}); "
                               "not every fold can contain them")
        return [Fold(_fold_name(i, self.k), np.sort(order[train]), np.sort(order[test]))
                for i, (train, test) in enumerate(splits)]


class KFold(_SeededKFold):
    """Stratified k-fold over clips, NOT subject-aware (only for comparison with papers that use it)."""

    name = "kfold"
    subject_wise = False

    def split(self, samples: pd.DataFrame) -> list[Fold]:
        import warnings

        from sklearn.model_selection import StratifiedKFold

        if len(samples) < self.k:
            raise MebenchError(f"kfold with k={self.k} needs at least {self.k} samples; there are {len(samples)}.")
        order = _sorted_order(samples)
        y = samples["label"].astype(str).to_numpy()[order]
        self.notes_ = []
        counts = pd.Series(y).value_counts()
        if (counts < self.k).any():
            self.notes_.append(f"kfold: the smallest class has {int(counts.min())} samples, fewer than k={self.k}; "
                               "some folds lack it")
        splitter = StratifiedKFold(n_splits=self.k, shuffle=self.shuffle,
                                   random_state=self.random_state if self.shuffle else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            splits = list(splitter.split(np.zeros(len(y)), y))
        return [Fold(_fold_name(i, self.k), np.sort(order[train]), np.sort(order[test]))
                for i, (train, test) in enumerate(splits)]


class LeaveOneDatasetOut(Protocol):
    """Leave one dataset out (cross-dataset): one fold per value of the ``dataset`` column."""

    name = "lodo"

    def split(self, samples: pd.DataFrame) -> list[Fold]:
        datasets = samples["dataset"].astype(str).to_numpy()
        unique = sorted(set(datasets))
        if len(unique) < 2:
            raise MebenchError(f"lodo needs samples from at least two datasets; this table has only {unique[0]!r}. "
                               "Use a composite such as megc2019.")
        return [Fold(d, np.flatnonzero(datasets != d), np.flatnonzero(datasets == d)) for d in unique]


class OfficialSplit(Protocol):
    """Official folds read from the ``official_fold`` column (``fold1=train;fold2=test;...``).

    Not subject-wise: the audit reports, per fold, how many test subjects also appear in training,
    loudly and in the manifest. A clip listed in both train and test of one fold is tested only.
    """

    name = "official"
    subject_wise = False
    always_audit = True
    column = "official_fold"
    dataset_hint = "a loader that reads official split files (for example dolos with training_protocols/)"

    def split(self, samples: pd.DataFrame) -> list[Fold]:
        if self.column not in samples.columns or samples[self.column].isna().all():
            raise MebenchError(
                f"protocol {self.name!r} needs the column {self.column!r} with the official folds; this dataset has "
                f"none. Use {self.dataset_hint}."
            )
        roles: dict[str, dict[str, list[int]]] = {}
        both = unused = 0
        for pos, value in enumerate(samples[self.column].tolist()):
            if not isinstance(value, str) or not value.strip():
                unused += 1
                continue
            for part in value.split(";"):
                fold, _, role = part.partition("=")
                fold, role = fold.strip(), role.strip()
                if not fold or role not in ("train", "test", "both"):
                    raise MebenchError(f"protocol {self.name!r}: cannot read {part!r} in column {self.column!r} "
                                       f"of sample {samples['sample_id'].iloc[pos]!r}; expected fold=train|test.")
                if role == "both":
                    both += 1
                    role = "test"
                roles.setdefault(fold, {"train": [], "test": []})[role].append(pos)
        self.notes_ = []
        if both:
            self.notes_.append(f"{self.name}: {both} clip-fold pair(s) are listed in both train and test; they are "
                               "tested only")
        if unused:
            self.notes_.append(f"{self.name}: {unused} sample(s) are in no official fold and are never tested")
        return [Fold(f, np.array(sorted(r["train"]), dtype=int), np.array(sorted(r["test"]), dtype=int))
                for f, r in sorted(roles.items())]

    def leakage_warning(self, samples, folds, report, total) -> str:
        subjects = samples["subject_id"].to_numpy()
        parts = []
        for fold in folds:
            test_subjects = set(subjects[fold.test])
            shared = test_subjects & set(subjects[fold.train])
            parts.append(f"{fold.name}: {len(shared)} of {len(test_subjects)} test subjects also in training")
        verdict = ("The official folds are not person-disjoint, so their scores are optimistic; compare with loso "
                   "or group-kfold." if total else "No test subject appears in training.")
        return (f"LEAKAGE AUDIT of the official folds ({self.name}): " + "; ".join(parts)
                + f" ({total} subject(s) in all). " + verdict)


class DolosOfficial(OfficialSplit):
    """DOLOS's three official folds (training_protocols/), with a leakage audit."""

    name = "dolos-official"
    dataset_hint = "--dataset dolos with its training_protocols/ folder"
