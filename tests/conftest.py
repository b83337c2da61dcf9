"""Shared fixtures: an isolated feature cache and a CLI runner."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Every test session gets its own feature cache unless MEBENCH_CACHE is set (CI sets it)."""
    if "MEBENCH_CACHE" not in os.environ:
        os.environ["MEBENCH_CACHE"] = str(tmp_path_factory.mktemp("mebench-cache"))
    yield


@pytest.fixture
def cli():
    """Invoke the mebench CLI in-process; returns click's Result."""
    from click.testing import CliRunner

    from mebench.cli import main

    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke
