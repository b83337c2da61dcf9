"""Exception types. Every user mistake raises one of these; the CLI prints it without a traceback."""
from __future__ import annotations


class MebenchError(Exception):
    """Base class for errors caused by input or configuration; the CLI exits with `exit_code`."""

    exit_code = 1


class UsageError(MebenchError):
    """Wrong command-line usage or unknown option; exit code 2."""

    exit_code = 2


class UnknownNameError(UsageError):
    """A registry lookup failed; the message carries "did you mean" suggestions."""


class DuplicateNameError(MebenchError):
    """Two plugins registered the same name."""


class ConfigError(MebenchError):
    """A YAML config or a plugin option is invalid."""


class SchemaError(MebenchError):
    """A samples table lacks a required column or has an ill-typed one."""


class DataError(MebenchError):
    """A dataset file, row or frame is missing or malformed."""

    def __init__(self, message: str, *, file=None, row=None, column=None, hint: str | None = None):
        parts = [message]
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        if where:
            parts.append("(" + ", ".join(where) + ")")
        text = " ".join(parts)
        if hint:
            text = f"{text.rstrip().rstrip('.')}. {hint}"
        super().__init__(text)
        self.file, self.row, self.column, self.hint = file, row, column, hint


class PluginError(MebenchError):
    """A component (extractor, classifier, ...) raised an unexpected exception; the message names it."""


class LabelAccessError(PluginError):
    """A feature extractor tried to read a target column, which extractors never see."""


class LeakageError(MebenchError):
    """A subject appears on both sides of a subject-wise split, or identities are missing."""


class RunStoreError(MebenchError):
    """A run directory is missing, incomplete, or would be overwritten."""


class ModelFetchError(MebenchError):
    """A model file could not be fetched or failed its sha256 check."""
