"""Clip-level features for untrimmed videos: spot ME intervals, run an ME extractor on each, aggregate.

Raw deception videos carry no onset/apex annotation. For every sample this wrapper spots
micro-expression intervals over the whole clip with
:func:`mebench.face.spotting.spot_intervals` (MEGC-style feature difference), runs a stateless
ME extractor (``hoof``, ``biwoof``, ``lbptop``, ...) on every spotted (onset, apex, offset) as if it
were an annotated ME sample, and aggregates per clip:

``[max over intervals (d values), mean over intervals (d values), number of intervals]``

A clip with no spotted interval gets zeros and count 0 (counted in ``counts_`` as
``spotted_clips_without_interval``); ``max_intervals`` keeps the strongest ones (by contrast score).
"""
from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import ConfigError
from ._util import field, keep_params, merge_counts, open_row_clip
from .base import POSITIVE_INT, SIDE, FeatureExtractor


class SpottedFeatures(FeatureExtractor):
    """Spot ME intervals in each clip, run an ME extractor on each, aggregate (max, mean, count).

    Parameters:
      ``extractor``          registered name of a stateless ME extractor (default ``hoof``);
      ``extractor_params``   its options (a dict);
      ``k``                  half the expected ME length in frames (MEGC's k; intervals are apex +- k);
      ``threshold``          MEGC's p in ``T = mean + p (max - mean)`` of the contrasted difference;
      ``feature``            the spotting signal: ``flow`` (residual optical flow) or ``lbp`` (MEGC baseline);
      ``size``               side of the aligned crops used for spotting;
      ``max_intervals``      keep at most this many intervals per clip, strongest first (None: all).

    Output: ``2 d + 1`` values for an inner extractor of ``d`` features.
    """

    stateless = True
    version = "2"
    requires = ("frames",)
    libraries = ("numpy", "opencv-contrib-python", "mediapipe")
    models = ("face-landmarker",)
    _parameter_constraints = {
        "extractor": [str], "extractor_params": [None, dict], "k": [POSITIVE_INT],
        "threshold": [Interval(Real, 0, 1, closed="both")], "feature": [StrOptions({"flow", "lbp"})],
        "size": [SIDE], "max_intervals": [None, POSITIVE_INT],
    }

    def __init__(self, extractor: str = "hoof", extractor_params: dict | None = None, k: int = 6,
                 threshold: float = 0.2, feature: str = "flow", size: int = 128, max_intervals: int | None = None):
        keep_params(self, locals())

    def check_values(self):
        inner = self._inner()
        if hasattr(inner, "check_params"):
            inner.check_params()

    def _inner(self):
        from ..registry import EXTRACTORS

        if self.extractor in ("spotted",):
            raise ConfigError("spotted: the inner extractor cannot itself be 'spotted'")
        inner = EXTRACTORS.create(self.extractor, **dict(self.extractor_params or {}))
        if not getattr(type(inner), "stateless", False):
            raise ConfigError(f"spotted: inner extractor {self.extractor!r} is stateful; it must be stateless "
                              "(it runs on intervals of one clip, outside any training fold)")
        return inner

    def cache_token(self) -> str:
        return super().cache_token() + "|inner=" + self._inner().cache_token()

    def intervals(self, row) -> tuple[list[tuple[int, int, int]], list[float]]:
        """Spotted (onset, apex, offset) intervals of the sample's clip and their contrast scores."""
        from ..face.spotting import spot_intervals

        clip = open_row_clip(row, "spotted", min_frames=2 * int(self.k) + 1)
        found, scores = spot_intervals(clip, k=int(self.k), threshold=float(self.threshold), size=int(self.size),
                                       feature=self.feature, return_scores=True)
        contrast = dict(zip(scores["frames"], scores["contrast"]))
        return list(found), [float(contrast.get(apex, 0.0)) for _, apex, _ in found]

    def transform(self, X):
        import pandas as pd

        self.check_columns(X)
        inner = self._inner()
        self.counts_ = {}
        out = []
        width = None
        for row in X.itertuples(index=False):
            found, strength = self.intervals(row)
            if self.max_intervals is not None and len(found) > int(self.max_intervals):
                keep = sorted(np.argsort(strength, kind="stable")[::-1][: int(self.max_intervals)])
                found = [found[i] for i in keep]
            merge_counts(self.counts_, {"spotted_clips": 1, "spotted_intervals": len(found)})
            if not found:
                merge_counts(self.counts_, {"spotted_clips_without_interval": 1})
                out.append(None)
                continue
            base = row._asdict()
            subs = []
            for n, (onset, apex, offset) in enumerate(found):
                sub = dict(base, onset=int(onset), apex=int(apex), offset=int(offset))
                sub["sample_id"] = f"{field(row, 'sample_id', '?')}#interval{n + 1}:{onset}-{offset}"
                subs.append(sub)
            feats = np.asarray(inner.transform(pd.DataFrame(subs)), dtype=np.float64)
            merge_counts(self.counts_, {f"inner_{k}": v for k, v in getattr(inner, "counts_", {}).items()})
            width = feats.shape[1]
            out.append(np.concatenate([feats.max(axis=0), feats.mean(axis=0), [float(len(found))]]))
        if width is None:  # no interval anywhere: learn the width from one interval of the first clip
            width = self._inner_width(inner, X)
        return np.vstack([r if r is not None else np.zeros(2 * width + 1) for r in out]) if out else np.zeros((0, 1))

    def _inner_width(self, inner, X) -> int:
        import pandas as pd

        row = next(X.itertuples(index=False))
        clip = open_row_clip(row, "spotted", min_frames=2)
        idx = clip.indices
        probe = dict(row._asdict(), onset=idx[0], apex=idx[len(idx) // 2], offset=idx[-1])
        return int(np.asarray(inner.transform(pd.DataFrame([probe]))).shape[1])

    @classmethod
    def example_samples(cls, seed: int = 0):
        from ..data.synthetic import SyntheticDataset

        return SyntheticDataset(subjects=2, clips_per_subject=2, frames=16, size=64, effect=1.0, seed=seed).load("deception")
