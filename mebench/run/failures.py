"""An unexpected exception inside a component becomes a clear error naming it.

Translation goes by exception type: scikit-learn's ``InvalidParameterError`` is a bad option, the
label-free view's :class:`~mebench.data.schema.HiddenColumnError` (or a ``KeyError`` whose key is a
hidden column, as from ``to_dict("records")`` or ``.loc``) is an extractor reading a target column,
anything else is a bug in that component. ``MEBENCH_DEBUG=1`` keeps the traceback instead.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from ..data.schema import HiddenColumnError
from ..errors import ConfigError, LabelAccessError, MebenchError, PluginError, RunInterrupted


def debug() -> bool:
    """Whether ``MEBENCH_DEBUG`` asks for component tracebacks instead of translated errors."""
    return os.environ.get("MEBENCH_DEBUG", "") not in ("", "0")


def component_failure(exc: Exception, what: str, where: str, hidden=()) -> MebenchError:
    """The clear error for ``exc``, raised by component ``what`` ``where`` (e.g. "while loading") that was
    given a table without the ``hidden`` columns."""
    from sklearn.utils._param_validation import InvalidParameterError

    if isinstance(exc, InvalidParameterError):  # scikit-learn's parameter validation, at fit time
        return ConfigError(f"{what}: invalid parameter {where}: {exc} Check the --classifier-opt/--features-opt "
                           "values.")
    key = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
    if isinstance(exc, HiddenColumnError) or (isinstance(key, str) and key in hidden):
        column, hidden = (exc.column, exc.hidden) if isinstance(exc, HiddenColumnError) else (key, hidden)
        return LabelAccessError(
            f"{what} read the column {column!r} {where}, but extractors never see target columns "
            f"(hidden here: {', '.join(hidden)}). Features must come from the clips and their annotations; "
            "a stateful extractor learns from labels only through fit(X, y).")
    return PluginError(f"{what} raised {type(exc).__name__} {where}: {exc}. This is a bug in that component "
                       "(or an input it does not handle); run with MEBENCH_DEBUG=1 to see the traceback.")


RESUME_HINT = ("Finished folds are kept in the run directory's checkpoint/ folder: run the same command again (or "
               "mebench run --resume DIR) to continue from them, or remove checkpoint/ to start afresh.")


@contextmanager
def component_errors(what: str, where: str, hidden=()):
    """Inside this block, an exception that is not a :class:`MebenchError` becomes :func:`component_failure`;
    ``sys.exit`` called by a component and a ``KeyboardInterrupt`` end the run with a message naming it."""
    try:
        yield
    except MebenchError:
        raise
    except SystemExit as exc:  # a plugin must not end the process: that would pass for the run's own exit status
        if debug():
            raise
        raise PluginError(f"{what} called sys.exit({exc.code!r}) {where}. A component must raise an exception, never "
                          f"end the process; this is a bug in that component. {RESUME_HINT}") from None
    except KeyboardInterrupt:
        if debug():
            raise
        raise RunInterrupted(f"interrupted (KeyboardInterrupt) {where}, inside {what}. {RESUME_HINT}") from None
    except Exception as exc:  # noqa: BLE001 - a component bug becomes a clear error
        if debug():
            raise
        raise component_failure(exc, what, where, hidden) from None
