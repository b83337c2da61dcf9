"""The clip-level step for untrimmed clips: spot intervals, run an ME extractor on each, aggregate."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mebench.errors import ConfigError
from mebench.features.spotted import SpottedFeatures


def _long_sample(events, n_frames=48, size=64, name="c1"):
    from mebench.data.synthetic import SyntheticDataset

    row = SyntheticDataset(subjects=1, clips_per_subject=1, frames=n_frames, size=size, seed=3).load("deception").iloc[0]
    params = json.loads(row["frames"][len("synthetic:"):])
    params.update(events[0] if events else {"onset": 1, "apex": 1, "offset": 1, "aus": {}})
    params["blinks"] = []
    return {"sample_id": f"long/s1/{name}", "dataset": "long", "subject_id": "long/s1", "label": "x",
            "frames": "synthetic:" + json.dumps(params, sort_keys=True)}


def test_aggregates_max_mean_count_over_the_spotted_intervals(monkeypatch):
    from mebench.features.hoof import HOOF

    sample = pd.DataFrame([_long_sample([{"onset": 10, "apex": 16, "offset": 22, "aus": {"AU12": 1.0}}])])
    fixed = [(4, 8, 12), (10, 16, 22), (30, 34, 38)]
    monkeypatch.setattr(SpottedFeatures, "intervals", lambda self, row: (list(fixed), [0.2, 0.9, 0.1]))
    X = SpottedFeatures(extractor="hoof", extractor_params={"grid": 3}).transform(sample)
    subs = pd.DataFrame([dict(sample.iloc[0], onset=a, apex=b, offset=c) for a, b, c in fixed])
    inner = HOOF(grid=3).transform(subs)
    d = inner.shape[1]
    assert X.shape == (1, 2 * d + 1)
    np.testing.assert_allclose(X[0, :d], inner.max(axis=0))
    np.testing.assert_allclose(X[0, d:2 * d], inner.mean(axis=0))
    assert X[0, -1] == 3
    ex = SpottedFeatures(extractor="hoof", extractor_params={"grid": 3}, max_intervals=1)
    np.testing.assert_allclose(ex.transform(sample)[0, :d], inner[1])  # the strongest interval only
    assert ex.counts_ == {"spotted_clips": 1, "spotted_intervals": 1}


def test_a_clip_without_intervals_gives_zeros_and_is_counted(monkeypatch):
    samples = pd.DataFrame([_long_sample([]), _long_sample([], name="c2")])
    monkeypatch.setattr(SpottedFeatures, "intervals", lambda self, row: ([], []))
    ex = SpottedFeatures(extractor="hoof", extractor_params={"grid": 2, "bins": 4})
    X = ex.transform(samples)
    assert X.shape == (2, 2 * 16 + 1) and not X.any()
    assert ex.counts_["spotted_clips_without_interval"] == 2


def test_spots_a_planted_expression_end_to_end():
    sample = pd.DataFrame([_long_sample([{"onset": 20, "apex": 26, "offset": 32, "aus": {"AU4": 1.0, "AU15": 1.0}}],
                                        n_frames=56)])
    ex = SpottedFeatures(extractor="hoof", k=6)
    found, _ = ex.intervals(sample.iloc[0])
    assert any(abs(apex - 26) <= 3 for _, apex, _ in found), found
    X = ex.transform(sample)
    assert X.shape == (1, 2 * 288 + 1) and X[0, -1] == len(found) >= 1
    assert ex.counts_["spotted_intervals"] == len(found)
    assert "inner=" in ex.cache_token() and "HOOF" in ex.cache_token()


def test_inner_extractor_must_be_stateless_and_known():
    from mebench.features.base import FeatureExtractor
    from mebench.registry import EXTRACTORS

    class Fitted(FeatureExtractor):
        """A stateful test extractor."""

        stateless = False

    EXTRACTORS.register("test-stateful-inner")(Fitted)
    try:
        sample = pd.DataFrame([_long_sample([])])
        with pytest.raises(ConfigError, match="stateful"):
            SpottedFeatures(extractor="test-stateful-inner").transform(sample)
        with pytest.raises(ConfigError):
            SpottedFeatures(extractor="hoof", extractor_params={"nope": 1}).transform(sample)
    finally:
        EXTRACTORS.entries.pop("test-stateful-inner", None)
