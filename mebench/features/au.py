"""``au-mediapipe``: action-unit intensity estimates from MediaPipe's 52 face blendshapes.

MediaPipe's FaceLandmarker scores 52 ARKit-style blendshapes in [0, 1] per frame. They are not
FACS action units, but several correspond closely; this module uses the fixed, documented mapping
below (bilateral blendshapes, e.g. ``mouthSmileLeft``/``mouthSmileRight``, are averaged):

======  ==================  ===============================
AU      blendshape(s)       FACS name
======  ==================  ===============================
AU1     browInnerUp         inner brow raiser
AU2     browOuterUp L/R     outer brow raiser
AU4     browDown L/R        brow lowerer
AU5     eyeWide L/R         upper lid raiser
AU6     cheekSquint L/R     cheek raiser
AU7     eyeSquint L/R       lid tightener
AU9     noseSneer L/R       nose wrinkler
AU10    mouthUpperUp L/R    upper lip raiser
AU12    mouthSmile L/R      lip corner puller
AU14    mouthDimple L/R     dimpler
AU15    mouthFrown L/R      lip corner depressor
AU17    mouthShrugLower     chin raiser
AU20    mouthStretch L/R    lip stretcher
AU24    mouthPress L/R      lip pressor
AU26    jawOpen             jaw drop
AU45    eyeBlink L/R        blink
======  ==================  ===============================

Per clip, every AU's time series over the segment (onset..offset when annotated) is summarised by
``stats``: ``delta`` (apex minus onset: the onset->apex change), ``peak`` (maximum minus onset),
``mean``, ``max``, ``std`` and ``range``.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ..errors import ConfigError, DataError
from ._util import field, frame_field, keep_params, merge_counts, open_row_clip, sample_name, segment_indices
from .base import POSITIVE_INT, SIDE, FeatureExtractor

AU_BLENDSHAPES: dict[str, tuple[str, ...]] = {"AU1": ("browInnerUp",),
                                              "AU2": ("browOuterUpLeft", "browOuterUpRight"),
                                              "AU4": ("browDownLeft", "browDownRight"),
                                              "AU5": ("eyeWideLeft", "eyeWideRight"),
                                              "AU6": ("cheekSquintLeft", "cheekSquintRight"),
                                              "AU7": ("eyeSquintLeft", "eyeSquintRight"),
                                              "AU9": ("noseSneerLeft", "noseSneerRight"),
                                              "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
                                              "AU12": ("mouthSmileLeft", "mouthSmileRight"),
                                              "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
                                              "AU15": ("mouthFrownLeft", "mouthFrownRight"),
                                              "AU17": ("mouthShrugLower",),
                                              "AU20": ("mouthStretchLeft", "mouthStretchRight"),
                                              "AU24": ("mouthPressLeft", "mouthPressRight"),
                                              "AU26": ("jawOpen",),
                                              "AU45": ("eyeBlinkLeft", "eyeBlinkRight")}
AUS = tuple(AU_BLENDSHAPES)
STATS = ("delta", "peak", "mean", "max", "std", "range")


def blendshapes_to_aus(blendshapes: dict[str, float], aus=AUS) -> np.ndarray:
    """AU intensity estimates (len(aus),) from one frame's blendshape scores (mapping above)."""
    out = np.empty(len(aus), np.float64)
    for k, au in enumerate(aus):
        names = AU_BLENDSHAPES[au]
        try:
            out[k] = sum(float(blendshapes[n]) for n in names) / len(names)
        except KeyError as exc:
            raise DataError(f"blendshape {exc.args[0]!r} missing from the landmarker's output",
                            hint="Use MediaPipe's FaceLandmarker with output_face_blendshapes enabled.") from None
    return out


def _fill_missing(series: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames without a face (rows of NaN); edges take the nearest value."""
    ok = np.isfinite(series[:, 0])
    if ok.all():
        return series
    t = np.arange(len(series))
    return np.stack([np.interp(t, t[ok], series[ok, j]) for j in range(series.shape[1])], axis=1)


class AUMediaPipe(FeatureExtractor):
    """AU intensity estimates from MediaPipe blendshapes, summarised per clip.

    Parameters:
      ``aus``         AUs to output, from :data:`AUS` (default all 16);
      ``stats``       per-AU summaries, from :data:`STATS` (default delta, mean, max, std);
      ``segment``     ``"onset-offset"`` (the annotated range, when known) or ``"all"``;
      ``step``        every step-th frame of the segment (onset and apex are always included);
      ``size``        resize frames to this side before detection (None: as stored);
      ``on_no_face``  ``"error"`` (a DataError naming the sample; skipped under --on-error skip)
                      or ``"zeros"`` (all-zero features) when no frame has a face; frames without
                      a face are interpolated from their neighbours and counted either way.

    Landmarks run in MediaPipe's VIDEO mode, reset for every clip. The apex is the ``apex`` column,
    or else the frame whose AU vector moved furthest from the onset's.

    Output: ``len(aus) * len(stats)`` values, AU-major (64 by default).
    """

    stateless = True
    trained_on = ()  # MediaPipe's model was trained by Google on its own data, none of ours
    version = "1"
    requires = ("frames",)
    libraries = ("numpy", "opencv-contrib-python", "mediapipe")
    models = ("face-landmarker",)
    _parameter_constraints = {
        "aus": [str, tuple, list], "stats": [str, tuple, list], "segment": [StrOptions({"onset-offset", "all"})],
        "step": [POSITIVE_INT], "size": [None, SIDE],
        "on_no_face": [StrOptions({"error", "zeros"})],
    }

    def __init__(self, aus=AUS, stats=("delta", "mean", "max", "std"), segment: str = "onset-offset",
                 step: int = 1, size: int | None = None, on_no_face: str = "error"):
        keep_params(self, locals())

    def check_values(self):
        self._check()

    def _check(self):
        aus = (self.aus,) if isinstance(self.aus, str) else tuple(self.aus)
        bad = [a for a in aus if a not in AU_BLENDSHAPES]
        if bad or not aus:
            raise ConfigError(f"au-mediapipe: unknown AU(s) {bad}; choose from {', '.join(AUS)}")
        stats = (self.stats,) if isinstance(self.stats, str) else tuple(self.stats)
        bad = [s for s in stats if s not in STATS]
        if bad or not stats:
            raise ConfigError(f"au-mediapipe: stats must be chosen from {', '.join(STATS)}; got {self.stats!r}")
        if self.on_no_face not in ("error", "zeros"):
            raise ConfigError(f"au-mediapipe: on_no_face must be 'error' or 'zeros', not {self.on_no_face!r}")
        if int(self.step) < 1:
            raise ConfigError("au-mediapipe: step must be >= 1")
        return aus, stats

    def feature_names(self) -> list[str]:
        aus, stats = self._check()
        return [f"{a}_{s}" for a in aus for s in stats]

    def transform(self, X):
        self.check_columns(X)
        aus, stats = self._check()
        self.counts_ = {}
        rows = [self._one(row, aus, stats) for row in X.itertuples(index=False)]
        return np.vstack(rows) if rows else np.zeros((0, len(aus) * len(stats)))

    def extract_one(self, row):
        if not hasattr(self, "counts_"):
            self.counts_ = {}
        return self._one(row, *self._check())

    def series(self, row, aus=AUS):
        """(frame numbers, (T, len(aus)) AU series with NaN where no face was found, onset, apex)."""
        from ..face.landmarker_pool import shared_landmarker

        clip = open_row_clip(row, "au-mediapipe", min_frames=1)
        idx = segment_indices(clip, row, self.segment)
        onset = frame_field(row, "onset")
        apex = frame_field(row, "apex")
        onset = onset if onset in idx else idx[0]
        apex = apex if apex in idx else None
        keep = set(idx[::int(self.step)]) | {onset} | ({apex} if apex is not None else set())
        idx = [i for i in idx if i in keep]
        wh = None if self.size is None else (int(self.size), int(self.size))
        lm = shared_landmarker("video", blendshapes=True)
        lm.reset()
        values = np.full((len(idx), len(aus)), np.nan)
        for k, i in enumerate(idx):
            face = lm.detect(clip.read(i, size=wh))
            if face is not None and face.blendshapes:
                values[k] = blendshapes_to_aus(face.blendshapes, aus)
        return idx, values, onset, apex

    def _one(self, row, aus, stats):
        idx, values, onset, apex = self.series(row, aus)
        missing = int((~np.isfinite(values[:, 0])).sum())
        merge_counts(self.counts_, {"au_frames": len(idx), "au_no_face_frames": missing})
        if missing == len(idx):
            merge_counts(self.counts_, {"au_no_face_clips": 1})
            if self.on_no_face == "zeros":
                return np.zeros(len(aus) * len(stats))
            raise DataError(f"sample {sample_name(row)}: MediaPipe found no face on any of its {len(idx)} frames",
                            file=field(row, "frames"),
                            hint="Check the frames, use on_no_face='zeros', or --on-error skip to record a skip.")
        values = _fill_missing(values)
        base = values[idx.index(onset)]
        if apex is None:  # the frame that moved furthest from the onset
            apex = idx[int(np.argmax(np.abs(values - base).sum(axis=1)))]
        top = values[idx.index(apex)]
        out = []
        for j in range(len(aus)):
            col = values[:, j]
            for s in stats:
                out.append({"delta": top[j] - base[j], "peak": col.max() - base[j], "mean": col.mean(),
                            "max": col.max(), "std": col.std(), "range": col.max() - col.min()}[s])
        return np.asarray(out, np.float64)

    @classmethod
    def example_samples(cls, seed: int = 0):
        from .flow_features import _photo_examples

        return _photo_examples(seed)
