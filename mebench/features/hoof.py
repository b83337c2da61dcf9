"""HOOF: histograms of oriented optical flow (onset -> apex) per face grid cell."""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from .base import FeatureExtractor


def farneback(prev_grey: np.ndarray, next_grey: np.ndarray) -> np.ndarray:
    """Dense Farneback flow (H, W, 2) in pixels, with OpenCV's standard parameters."""
    import cv2

    return cv2.calcOpticalFlowFarneback(prev_grey, next_grey, None, 0.5, 3, 9, 3, 5, 1.1, 0)


def oriented_histograms(flow: np.ndarray, grid: int, bins: int) -> np.ndarray:
    """Magnitude-weighted orientation histograms over a grid x grid partition, per pixel of cell."""
    h, w = flow.shape[:2]
    u, v = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(u, v)
    angle = np.mod(np.arctan2(v, u), 2 * np.pi)
    bin_index = np.minimum((angle / (2 * np.pi) * bins).astype(int), bins - 1)
    row = np.minimum(np.arange(h) * grid // h, grid - 1)
    col = np.minimum(np.arange(w) * grid // w, grid - 1)
    cell = row[:, None] * grid + col[None, :]
    flat = (cell * bins + bin_index).ravel()
    hist = np.bincount(flat, weights=magnitude.ravel(), minlength=grid * grid * bins)
    counts = np.bincount(cell.ravel(), minlength=grid * grid)
    return (hist.reshape(grid * grid, bins) / counts[:, None]).ravel()


class HOOF(FeatureExtractor):
    """Histograms of oriented optical flow (Farneback onset->apex) per face grid cell.

    Parameters: ``grid`` cells per side, ``bins`` orientation bins, ``size`` the side the frames
    are resized to, ``subtract_median`` removes global (head) motion before binning.
    """

    stateless = True
    version = "1"
    requires = ("frames", "onset", "apex")

    def __init__(self, grid: int = 6, bins: int = 8, size: int = 64, subtract_median: bool = True):
        self.grid = grid
        self.bins = bins
        self.size = size
        self.subtract_median = subtract_median

    def extract_one(self, row) -> np.ndarray:
        from ..data.frames import open_clip

        onset, apex = row.onset, row.apex
        if onset is None or apex is None or onset != onset or apex != apex:
            raise DataError(f"sample {row.sample_id} has no onset/apex; hoof compares the onset and apex frames",
                            hint="Use a dataset apex policy (--dataset-opt apex=spot|middle).")
        clip = open_clip(row.frames)
        if clip.n_frames < 2:
            raise DataError(f"sample {row.sample_id} has {clip.n_frames} frame(s); hoof needs an onset and an apex frame",
                            file=row.frames)
        size = (int(self.size), int(self.size))
        first = clip.read(int(onset), grey=True, size=size)
        second = clip.read(int(apex), grey=True, size=size)
        flow = farneback(first, second)
        if self.subtract_median:
            flow = flow - np.median(flow.reshape(-1, 2), axis=0)
        return oriented_histograms(flow, int(self.grid), int(self.bins))
