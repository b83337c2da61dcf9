"""Shared fixtures: an isolated feature cache for the session, the CLI, and run specs for the Python API.

Nothing heavy is imported here: collecting the suite must not pay for torch or the runner.
"""
from __future__ import annotations

import os

import pytest
from _cli import run_cli


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """The session's feature and model cache: a fresh folder, unless MEBENCH_CACHE is set (CI keeps model
    files there), and `--jobs N` meaning exactly N workers. Restored when the session ends. A test about the
    cache itself sets its own."""
    with pytest.MonkeyPatch.context() as patch:
        if "MEBENCH_CACHE" not in os.environ:
            patch.setenv("MEBENCH_CACHE", str(tmp_path_factory.mktemp("mebench-cache")))
        # tests that exercise workers need them on a loaded test machine too (usable_workers has its own tests)
        patch.setenv("MEBENCH_JOBS_EXACT", "1")
        yield


@pytest.fixture
def cli():
    """:func:`_cli.run_cli`: ``cli("run", ...)`` runs the mebench CLI in process and returns the result."""
    return run_cli


@pytest.fixture
def small_spec(tmp_path):
    """``small_spec(name, **fields)``: a run spec on the small synthetic set, written to ``tmp_path / name``."""
    from _api import small_spec as make

    return lambda name="run", **fields: make(tmp_path / name, **fields)


@pytest.fixture
def run_api():
    """:func:`_api.run`: execute a spec through the Python API; returns the RunResult."""
    from _api import run

    return run
