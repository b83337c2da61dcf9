"""Exception types. Every user mistake raises one of these; the CLI prints it without a traceback."""
from __future__ import annotations

import difflib


class MebenchError(Exception):
    """Base class for errors caused by input or configuration; the CLI exits with `exit_code`."""

    exit_code = 1


class ConfigError(MebenchError):
    """A YAML config or a plugin option is invalid."""


class UsageError(MebenchError):
    """Wrong command-line usage or unknown option; exit code 2."""

    exit_code = 2


class UnknownNameError(UsageError):
    """A registry lookup failed; the message carries "did you mean" suggestions."""


class UnknownOptionError(UnknownNameError, ConfigError):
    """An option key or a task that a component does not have: exit code 2 like every unknown name,
    and still a ConfigError, as it was before, for code that catches that."""


class MissingArgumentError(UsageError, ConfigError):
    """A required argument (a dataset's --root) was not given: a usage error (exit code 2), and still a
    ConfigError, as it was before."""


class DuplicateNameError(MebenchError):
    """Two plugins registered the same name."""


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


class InputShapeError(ConfigError, ValueError):
    """The features given to a classifier have a shape it does not take (28-pixel images for a net that needs a
    multiple of 16): an input mistake fixed with options, not a bug. Still a ValueError, which scikit-learn's
    estimator checks expect for malformed input."""


class PluginError(MebenchError):
    """A component (extractor, classifier, ...) raised an unexpected exception; the message names it."""


class RunInterrupted(MebenchError):
    """The run was interrupted (Ctrl-C, or a component raising KeyboardInterrupt); finished folds are kept.
    Exit code 130, as a shell gives a command ended by SIGINT."""

    exit_code = 130


class LabelAccessError(PluginError):
    """A feature extractor tried to read a target column, which extractors never see."""


class LeakageError(MebenchError):
    """A subject appears on both sides of a subject-wise split, or identities are missing."""


class RunStoreError(MebenchError):
    """A run directory is missing, incomplete, or would be overwritten."""


class DiskFullError(RunStoreError, OSError):
    """A write failed because the disk is full, a file-size limit or a quota was reached; names the path.
    Still an ``OSError``, so code that tolerates a failed write (an optional cache) keeps doing so."""

    def __init__(self, path, reason: str):
        super().__init__(f"cannot write {path}: {reason}. Free space on the disk holding {path.parent} (or raise the "
                         "limit) and run the same command again: what was finished (fold shards, cached features) is "
                         "kept and reused.")
        self.path, self.reason = path, reason

    def __reduce__(self):  # rebuilt from its fields when it crosses a process boundary
        return type(self), (self.path, self.reason)


class ModelFetchError(MebenchError):
    """A model file could not be fetched or failed its sha256 check."""


def did_you_mean(name, choices, n: int = 2, cutoff: float = 0.5) -> str:
    """`` Did you mean 'x'?`` naming the closest of ``choices`` to ``name``, or ``""`` when none is close.

    A choice that differs only in letter case comes first (``c`` for logreg's ``C``): difflib alone
    scores ``c`` against ``C`` as entirely different.
    """
    text, options = str(name), [str(c) for c in choices]
    same_case = [c for c in options if c.lower() == text.lower() and c != text]
    close = same_case + [c for c in difflib.get_close_matches(text, options, n=n, cutoff=cutoff) if c not in same_case]
    return f" Did you mean {', '.join(repr(c) for c in close[:n])}?" if close else ""
