"""Dataset loader base class: metadata, pinned inputs and recorded warnings."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd

from ..errors import ConfigError, DataError, MissingArgumentError, UnknownOptionError, did_you_mean
from ..hashing import file_sha256
from .schema import ALWAYS_TARGETS, sample_list_hash, validate_samples
from .sheets import TEXT_SUFFIXES, UTF8_ENCODINGS, detect_encoding, is_dir, is_file


def unknown_task_error(dataset: str, task, tasks) -> UnknownOptionError:
    """The error for a task ``dataset`` does not have (exit code 2), with the closest task it has."""
    return UnknownOptionError(f"dataset {dataset!r} has no task {task!r}.{did_you_mean(task, tasks, n=1)} "
                              f"It supports: {', '.join(tasks)}.")


def missing_root_error(dataset: str) -> MissingArgumentError:
    """The error for a dataset on disk run without ``--root`` (exit code 2)."""
    return MissingArgumentError(f"dataset {dataset!r} needs --root PATH pointing at your copy of it.")


class Dataset:
    """A dataset constructed from a root directory; ``load(task)`` returns the samples table.

    Subclasses set the metadata class attributes and implement ``_load(task)``. They record
    every annotation file they read with ``self.pin(path)``, every warning with
    ``self.warn(text)`` and every dropped sample with ``self.skip(sample_id, reason)``.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    license_note: ClassVar[str] = "Licensed dataset: obtain it from its authors; mebench never downloads it."
    tasks: ClassVar[tuple[str, ...]] = ("emotion",)
    label_sets: ClassVar[dict[str, str]] = {}
    fps: ClassVar[float | None] = None
    n_subjects: ClassVar[int | None] = None
    needs_root: ClassVar[bool] = True
    # Columns a task of this dataset can use as its label (beyond ``label`` itself): extractors never
    # see them. ``task_targets`` adds columns that are labels for one task only (AU annotations are
    # targets of the AU task but ordinary annotations for the emotion task).
    target_columns: ClassVar[tuple[str, ...]] = ()
    task_targets: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, root: str | Path | None = None):
        if root is not None and not isinstance(root, (str, Path)):
            raise ConfigError(f"dataset {self.name!r}: --root must be a folder path, not {root!r}.")
        self.root = Path(root) if root is not None else None
        self.annotation_files: dict[str, str] = {}
        self.sheet_versions: dict[str, str] = {}
        self.warnings: list[str] = []
        self.skipped: list[dict] = []
        self.counts: dict[str, int] = {}
        if self.needs_root:
            if self.root is None:
                raise missing_root_error(self.name)
            if not is_dir(self.root):
                raise DataError(f"dataset root {self.root} does not exist or is not a directory",
                                hint=f"Pass --root with the folder that holds your copy of {self.name}.")

    # -- recording -------------------------------------------------------------------------
    def pin(self, path: str | Path, known: dict[str, str] | None = None) -> str:
        """Record the sha256 of an annotation file; name its release when ``known`` has the hash.

        A text file (CSV/TSV) that is not UTF-8 gets a warning naming the encoding it is read in.
        """
        path = Path(path)
        if not is_file(path):
            raise DataError("annotation file not found", file=path,
                            hint="Check --root and the file options (--dataset-opt ...=PATH).")
        digest = file_sha256(path)
        key = str(path)
        self.annotation_files[key] = digest
        if known is not None:
            if digest in known:
                self.sheet_versions[key] = known[digest]
            else:
                self.sheet_versions[key] = f"unknown version (sha256 {digest})"
                self.warn(f"{path.name}: unrecognised annotation version, sha256 {digest}")
        if path.suffix.lower() in TEXT_SUFFIXES:
            encoding = detect_encoding(path.read_bytes(), path)
            if encoding not in UTF8_ENCODINGS:
                self.counts["files_not_utf8"] = int(self.counts.get("files_not_utf8", 0)) + 1
                self.warn(f"{path} is not UTF-8; read as {encoding}. Check that its labels and names read "
                          "correctly (a wrong guess turns them into new classes), or re-save it as UTF-8")
        return digest

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def skip(self, sample_id: str, reason: str) -> None:
        self.skipped.append({"sample_id": str(sample_id), "reason": reason})

    # -- loading ---------------------------------------------------------------------------
    def load(self, task: str | None = None) -> pd.DataFrame:
        task = task or self.tasks[0]
        if task not in self.tasks:
            raise unknown_task_error(self.name, task, self.tasks)
        samples = validate_samples(self._load(task), source=f"dataset {self.name!r}")
        if samples.empty:
            first = f"; {len(self.skipped)} skipped, the first because {self.skipped[0]['reason']}" if self.skipped else ""
            raise DataError(f"dataset {self.name!r} yields no samples{first}",
                            file=self.root, hint="Check that the annotation files hold data rows and the options.")
        self.samples_ = samples
        return samples

    def _load(self, task: str) -> pd.DataFrame:
        raise NotImplementedError

    @classmethod
    def targets(cls, task: str | None = None) -> tuple[str, ...]:
        """Every column that is, or can stand in for, the label of ``task``; hidden from extractors."""
        task = task or cls.tasks[0]
        extra = tuple(cls.target_columns) + tuple(cls.task_targets.get(task, ()))
        return tuple(dict.fromkeys(ALWAYS_TARGETS + extra))

    def fingerprint(self) -> dict:
        """Dataset fingerprint for the manifest: sample-list hash and annotation sha256s."""
        return {"dataset": self.name,
                "sample_list_sha256": sample_list_hash(self.samples_),
                "annotation_files": dict(self.annotation_files),
                "sheet_versions": dict(self.sheet_versions),
                "n_samples": int(len(self.samples_)),
                "n_subjects": int(self.samples_["subject_id"].nunique())}

    @classmethod
    def info(cls) -> dict:
        return {"name": cls.name,
                "version": cls.version,
                "citation": cls.citation,
                "license": cls.license_note,
                "tasks": list(cls.tasks),
                "target_columns": {task: list(cls.targets(task)) for task in cls.tasks},
                "label_sets": dict(cls.label_sets),
                "fps": cls.fps,
                "n_subjects": cls.n_subjects}
