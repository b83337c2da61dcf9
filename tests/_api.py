"""The Python API a run test calls instead of the CLI: the one place tests import the run spec and executor.

A test of what a run computes, stores or flags goes through :func:`run` (no option parsing, no
progress bars, no output to read back); a test of what the command line accepts, prints or exits
with stays on the CLI (:mod:`_cli`).
"""
from __future__ import annotations

from _cli import BOARD, BOARD_HOOF, SMALL

from mebench.run import RunResult, RunSpec, check_spec, cross_predict, execute, prepare

__all__ = ["BOARD", "BOARD_HOOF", "SMALL", "RunResult", "RunSpec", "board_spec", "cross_predict", "execute", "prepare",
           "run", "small_spec"]


def small_spec(out, dataset_opts: dict | None = None, **fields) -> RunSpec:
    """A spec on the :data:`_cli.SMALL` synthetic data set written to ``out``.

    Parameters
    ----------
    out : path
        The run directory.
    dataset_opts : dict, optional
        Changes to the small data set (``{"effect": 0}``, ``{"subjects": 3}``...).
    **fields
        Any other :class:`RunSpec` field (``classifier="ridge"``, ``seed=3``...).

    Returns
    -------
    RunSpec
    """
    return RunSpec(dataset_opts={**SMALL, **(dataset_opts or {})}, out=str(out), **fields)


def board_spec(out, dataset_opts: dict | None = None, **fields) -> RunSpec:
    """A spec on the leaderboard and stats tests' data set (:data:`_cli.BOARD`) written to ``out``; as
    :func:`small_spec` otherwise (their cheap HOOF is :data:`_cli.BOARD_HOOF`, passed as ``features_opts``)."""
    return RunSpec(dataset_opts={**BOARD, **(dataset_opts or {})}, out=str(out), **fields)


def run(spec: RunSpec) -> RunResult:
    """Check and execute ``spec`` as ``mebench run`` does (names resolved and values checked first).

    Parameters
    ----------
    spec : RunSpec

    Returns
    -------
    RunResult
        ``run_dir``, ``run_id``, ``metrics``, ``manifest`` and ``predictions`` of the finished run.
    """
    check_spec(spec)
    return execute(spec)
