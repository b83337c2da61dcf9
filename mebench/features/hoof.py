"""HOOF: histograms of oriented optical flow (onset -> apex) per face grid cell."""
from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ..errors import ConfigError, DataError
from ..face.flow import orientation_bins
from ..face.grid import cell_index
from ._util import keep_params
from .base import POSITIVE_INT, SIDE, FeatureExtractor


def farneback(prev_grey: np.ndarray, next_grey: np.ndarray) -> np.ndarray:
    """Dense Farneback flow (H, W, 2) in pixels with a 9-pixel window, suited to HOOF's small (64 px)
    frames; :func:`mebench.face.flow.compute_flow` uses a 15-pixel window for aligned 128 px crops."""
    import cv2

    return cv2.calcOpticalFlowFarneback(prev_grey, next_grey, None, 0.5, 3, 9, 3, 5, 1.1, 0)


def oriented_histograms(flow: np.ndarray, grid: int, bins: int) -> np.ndarray:
    """Magnitude-weighted orientation histograms over a grid x grid partition, per pixel of cell.

    Orientation bins follow :func:`mebench.face.flow.orientation_bins` (bin 0 centred on +x).
    """
    h, w = flow.shape[:2]
    u, v = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(u, v)
    cell = cell_index((h, w), (grid, grid))
    flat = (cell * bins + orientation_bins(u, v, bins)).ravel()
    hist = np.bincount(flat, weights=magnitude.ravel(), minlength=grid * grid * bins)
    counts = np.bincount(cell.ravel(), minlength=grid * grid)
    return (hist.reshape(grid * grid, bins) / counts[:, None]).ravel()


class HOOF(FeatureExtractor):
    """Histograms of oriented optical flow (Farneback onset->apex) per face grid cell.

    Parameters: ``grid`` cells per side, ``bins`` orientation bins, ``size`` the side the frames
    are resized to, ``subtract_median`` removes global (head) motion before binning, ``method``
    the flow: ``farneback`` (default; this module's Farneback parameters), ``dis`` or ``tvl1``
    (:func:`mebench.face.flow.compute_flow`), ``align`` None (frames as given) or ``per-clip``
    (face crops aligned on the onset frame by :mod:`mebench.face.align`, ``size`` pixels).
    """

    stateless = True
    version = "2"  # 2: orientation bins centred on the axes (mebench.face.flow.orientation_bins)
    requires = ("frames", "onset", "apex")
    _parameter_constraints = {
        "grid": [POSITIVE_INT], "bins": [POSITIVE_INT], "size": [SIDE], "subtract_median": ["boolean"],
        "method": [StrOptions({"farneback", "dis", "tvl1"})],
        "align": [None, StrOptions({"per-clip"})],
    }

    def __init__(self, grid: int = 6, bins: int = 8, size: int = 64, subtract_median: bool = True,
                 method: str = "farneback", align: str | None = None):
        keep_params(self, locals())

    def extract_one(self, row) -> np.ndarray:
        from ..io import open_clip
        from ._util import frame_field

        if self.method not in ("farneback", "dis", "tvl1"):
            raise ConfigError(f"hoof: method must be farneback, dis or tvl1, not {self.method!r}")
        if self.align not in (None, "per-clip"):
            raise ConfigError(f"hoof: align must be None or 'per-clip', not {self.align!r}")
        onset, apex = frame_field(row, "onset"), frame_field(row, "apex")
        if onset is None or apex is None:
            raise DataError(f"sample {row.sample_id} has no onset/apex; hoof compares the onset and apex frames",
                            hint="Use a dataset apex policy (--dataset-opt apex=spot|middle).")
        clip = open_clip(row.frames)
        if clip.n_frames < 2:
            raise DataError(f"sample {row.sample_id} has {clip.n_frames} frame(s); hoof needs an onset and an apex frame",
                            file=row.frames)
        size = (int(self.size), int(self.size))
        if self.align:
            from ..face.align import align_clip

            clip = align_clip(clip, min(onset, apex), max(onset, apex), size=int(self.size), mode="per-clip")
            counts = getattr(self, "counts_", None)
            if counts is not None:
                for k, v in clip.counts.items():
                    counts[f"align_{k}"] = counts.get(f"align_{k}", 0) + v
        first = clip.read(onset, grey=True, size=size)
        second = clip.read(apex, grey=True, size=size)
        if self.method == "farneback":
            flow = farneback(first, second)
        else:
            from ..face.flow import compute_flow

            flow = compute_flow(first, second, method=self.method)
        if self.subtract_median:
            flow = flow - np.median(flow.reshape(-1, 2), axis=0)
        return oriented_histograms(flow, int(self.grid), int(self.bins))

    def transform(self, X):
        self.counts_ = {}
        return super().transform(X)
