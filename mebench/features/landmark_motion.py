"""``landmark-motion``: landmark displacement from onset to apex, normalised by inter-ocular distance.

MediaPipe landmarks (478 points) are detected on the onset and apex frames. Head motion between
the two is removed by a least-squares similarity transform fitted on points that expressions
barely move (eye corners, nose bridge and tip, temples); each remaining displacement is divided
by the onset's inter-ocular distance, so the feature is independent of the face's size in pixels.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ..errors import ConfigError, DataError
from ._util import frame_field, keep_params, merge_counts, open_row_clip, sample_name
from .base import SIDE, FeatureExtractor

# Points used to register apex onto onset: eye corners, nose bridge/tip, temples, face sides.
STABLE_POINTS = [33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 127, 356, 234, 454]
REGIONS = ("right_brow", "left_brow", "glabella", "forehead", "right_eye", "left_eye", "nose", "right_cheek",
           "left_cheek", "right_mouth_corner", "left_mouth_corner", "lips_outer", "chin")


class LandmarkMotion(FeatureExtractor):
    """Onset->apex landmark displacement (head motion removed) over inter-ocular distance.

    Parameters:
      ``output``      ``"regions"``: per region of :data:`REGIONS` the mean displacement (dx, dy)
                      and the mean displacement length (39 values); ``"points"``: the (dx, dy)
                      of each of the 468 mesh points (936 values);
      ``register``    remove head motion with a similarity fitted on :data:`STABLE_POINTS` (True)
                      or keep raw displacements (False);
      ``size``        resize frames to this side before detection (None: as stored);
      ``on_no_face``  ``"error"`` (a DataError naming the frame) or ``"zeros"`` when MediaPipe finds no
                      face on the onset or apex frame (counted in ``counts_`` either way).

    The apex is the ``apex`` column (use the dataset's ``apex=spot`` policy where it is missing).
    """

    stateless = True
    version = "1"
    requires = ("frames", "onset", "apex")
    libraries = ("numpy", "opencv-contrib-python", "mediapipe")
    models = ("face-landmarker",)
    _parameter_constraints = {"output": [StrOptions({"regions", "points"})], "register": ["boolean"],
                              "size": [None, SIDE], "on_no_face": [StrOptions({"error", "zeros"})]}

    def __init__(self, output: str = "regions", register: bool = True, size: int | None = None,
                 on_no_face: str = "error"):
        keep_params(self, locals())

    def check_values(self):
        self._check()

    def _check(self):
        if self.output not in ("regions", "points"):
            raise ConfigError(f"landmark-motion: output must be 'regions' or 'points', not {self.output!r}")
        if self.on_no_face not in ("error", "zeros"):
            raise ConfigError(f"landmark-motion: on_no_face must be 'error' or 'zeros', not {self.on_no_face!r}")

    def n_features(self) -> int:
        return 3 * len(REGIONS) if self.output == "regions" else 2 * 468

    def transform(self, X):
        self.check_columns(X)
        self._check()
        self.counts_ = {}
        rows = [self._one(row) for row in X.itertuples(index=False)]
        return np.vstack(rows) if rows else np.zeros((0, self.n_features()))

    def extract_one(self, row):
        self._check()
        if not hasattr(self, "counts_"):
            self.counts_ = {}
        return self._one(row)

    def displacements(self, row) -> np.ndarray | None:
        """(478, 2) onset->apex displacements over inter-ocular distance, or None without a face."""
        from ..face.geometry import apply_transform, similarity_transform
        from ..face.landmarker_pool import shared_landmarker

        onset, apex = frame_field(row, "onset"), frame_field(row, "apex")
        if onset is None or apex is None:
            raise DataError(f"sample {sample_name(row)} has no onset/apex; landmark-motion compares those two frames",
                            hint="Use a dataset apex policy (--dataset-opt apex=spot|middle).")
        clip = open_row_clip(row, "landmark-motion (onset and apex frames)", min_frames=2)
        wh = None if self.size is None else (int(self.size), int(self.size))
        lm = shared_landmarker("image", blendshapes=False)
        faces = {}
        for name, i in (("onset", onset), ("apex", apex)):
            faces[name] = lm.detect(clip.read(i, size=wh))
            if faces[name] is None:
                merge_counts(self.counts_, {f"landmark_no_face_{name}": 1})
                if self.on_no_face == "error":
                    where = clip.frame_file(i) if hasattr(clip, "frame_file") else clip.locator
                    raise DataError(f"sample {sample_name(row)}: MediaPipe found no face on the {name} frame {i}",
                                    file=where, hint="Use on_no_face='zeros', or --on-error skip to record a skip.")
                return None
        p0 = faces["onset"].points[:, :2].astype(np.float64)
        p1 = faces["apex"].points[:, :2].astype(np.float64)
        if self.register:
            m = similarity_transform(p1[STABLE_POINTS], p0[STABLE_POINTS])
            p1 = apply_transform(m, p1)
        iod = faces["onset"].interocular()
        if iod <= 1e-6:
            raise DataError(f"sample {sample_name(row)}: degenerate landmarks (zero inter-ocular distance)",
                            file=clip.locator)
        return (p1 - p0) / iod

    def _one(self, row) -> np.ndarray:
        d = self.displacements(row)
        merge_counts(self.counts_, {"landmark_clips": 1})
        if d is None:
            return np.zeros(self.n_features())
        if self.output == "points":
            return d[:468].ravel()
        from ..face.landmarks import REGIONS as INDEX

        out = []
        for region in REGIONS:
            r = d[INDEX[region]]
            out += [r[:, 0].mean(), r[:, 1].mean(), np.hypot(r[:, 0], r[:, 1]).mean()]
        return np.asarray(out, np.float64)

    @classmethod
    def example_samples(cls, seed: int = 0):
        from .flow_features import _photo_examples

        return _photo_examples(seed)
