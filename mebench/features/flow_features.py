"""Optical-flow features: MDMO (Liu et al. 2016) and Bi-WOOF (Liong et al. 2018).

Flow comes from :mod:`mebench.face.flow` (Farneback by default; ``method="tvl1"`` or ``"dis"``),
on face crops aligned per clip by :mod:`mebench.face.align` (the onset-frame transform reused on
every frame, so facial motion is not aligned away). Global (head) motion left after alignment is
removed by subtracting the median flow vector of the face before any statistic.

:func:`block_histograms` gives magnitude-weighted orientation histograms per grid cell, with the
binning of :func:`mebench.face.flow.orientation_bins` and the cells of :mod:`mebench.face.grid`.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import ConfigError, DataError
from ..face.flow import orientation_bins
from ..face.grid import cell_index, cell_means
from ._util import aligned_clip, frame_field, keep_params, map_rows, merge_counts, open_row_clip, pair, sample_name
from .base import POSITIVE_INT, SIDE, FeatureExtractor

FLOW_METHODS = ("farneback", "tvl1", "dis")

# MDMO regions of interest on MediaPipe's 478-point mesh: each ROI is the convex hull of these
# landmarks on the (aligned) onset frame. Liu et al. used 36 ROIs on a 66-point model; this is the
# same idea on MediaPipe's mesh: brows (inner/outer), glabella, forehead, nose bridge and wings,
# cheeks, nasolabial areas, mouth corners, upper/lower lip and chin, both sides where paired
# (subject's left/right). The eyes are left out: blinks are not micro-expressions.
MDMO_ROIS: dict[str, list[int]] = {
    "right_brow_outer": [46, 53, 52, 70, 63, 105],
    "right_brow_inner": [52, 65, 55, 105, 66, 107],
    "left_brow_outer": [276, 283, 282, 300, 293, 334],
    "left_brow_inner": [282, 295, 285, 334, 296, 336],
    "glabella": [9, 8, 107, 336, 55, 285, 168],
    "forehead": [10, 109, 67, 103, 338, 297, 332, 151, 108, 337],
    "nose_bridge": [168, 6, 197, 195, 5],
    "right_nose_wing": [48, 115, 220, 45, 64, 98, 240, 129, 209, 49],
    "left_nose_wing": [278, 344, 440, 275, 294, 327, 460, 358, 429, 279],
    "right_cheek": [50, 101, 36, 205, 187, 123, 116, 117, 118, 119, 100, 47],
    "left_cheek": [280, 330, 266, 425, 411, 352, 345, 346, 347, 348, 329, 277],
    "right_nasolabial": [203, 206, 216, 92, 165, 167, 36, 142],
    "left_nasolabial": [423, 426, 436, 322, 391, 393, 266, 371],
    "right_mouth_corner": [61, 146, 185, 40, 91, 78, 95, 191, 57, 43],
    "left_mouth_corner": [291, 375, 409, 270, 321, 308, 324, 415, 287, 273],
    "upper_lip": [0, 37, 39, 40, 185, 267, 269, 270, 409, 13, 82, 81, 80, 312, 311, 310],
    "lower_lip": [17, 84, 181, 91, 146, 314, 405, 321, 375, 14, 87, 178, 88, 317, 402, 318],
    "chin": [152, 148, 176, 377, 400, 175, 199, 200, 18, 171, 396, 208, 428],
}


# ----------------------------------------------------------------------------------------------
# helpers
def block_histograms(u: np.ndarray, v: np.ndarray, grid, bins: int, weights: np.ndarray) -> np.ndarray:
    """(rows*cols, bins) orientation histograms per grid cell, each vector adding its ``weights``."""
    n_cells = grid[0] * grid[1]
    key = cell_index(u.shape, grid).ravel() * bins + orientation_bins(u, v, bins).ravel()
    return np.bincount(key, weights=weights.ravel(), minlength=n_cells * bins).reshape(n_cells, bins)


def _check_method(method, owner):
    if method not in FLOW_METHODS:
        raise ConfigError(f"{owner}: method must be one of {', '.join(FLOW_METHODS)}, not {method!r}")


def _remove_global(flow: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Subtract the median flow vector (over ``mask`` when given): head motion left after alignment."""
    ref = flow[mask] if mask is not None and mask.any() else flow.reshape(-1, 2)
    return flow - np.median(ref, axis=0).astype(np.float32)


def apex_frame(row, clip, how: str, onset: int, offset: int | None) -> int:
    """The apex used for a sample: the ``apex`` column, spotted, or the middle of onset..offset."""
    apex = frame_field(row, "apex")
    if how == "column":
        if apex is None:
            raise DataError(f"sample {sample_name(row)} has no apex frame",
                            hint="Use apex='spot' or 'middle', or a dataset apex policy (--dataset-opt apex=spot).")
        return apex
    last = offset if offset is not None else clip.indices[-1]
    if how == "middle":
        inside = [i for i in clip.indices if onset <= i <= last]
        if not inside:
            raise DataError(f"sample {sample_name(row)}: no frame lies in onset..offset {onset}..{last}",
                            file=clip.locator, hint="Check the onset/offset columns against the frame numbers.")
        return inside[len(inside) // 2]
    if how == "spot":
        if apex is not None:
            return apex
        from ..face.spotting import spot_apex

        return spot_apex(clip, onset, last)
    raise ConfigError(f"apex must be 'column', 'spot' or 'middle', not {how!r}")


def _onset(row, clip) -> int:
    onset = frame_field(row, "onset")
    return clip.indices[0] if onset is None else onset


# ----------------------------------------------------------------------------------------------
class BiWOOF(FeatureExtractor):
    """Bi-Weighted Oriented Optical Flow (Liong et al. 2018) from the onset and apex frames only.

    Flow from onset to apex; per grid cell an orientation histogram whose votes are weighted
    locally by the flow magnitude, then the whole cell histogram weighted globally by the cell's
    mean optical-strain magnitude. Magnitude and strain are first scaled to [0, 1] by their
    maxima over the face, so the feature does not depend on the crop size.

    Parameters: ``grid`` (rows, cols) cells (default 5x5), ``bins`` orientation bins (8),
    ``method`` flow method (farneback, tvl1 as in the paper, dis), ``size`` aligned crop side
    (128), ``align`` (``"per-clip"``, or None to use the frames as given, resized to ``size``),
    ``apex`` where the apex comes from (``column``, ``spot``, ``middle``), ``n_jobs`` threads.

    Output: ``rows * cols * bins`` values (200 by default).
    """

    _parameter_constraints = {
        "grid": [POSITIVE_INT, tuple, list], "bins": [Interval(Integral, 2, None, closed="left")],
        "method": [StrOptions(set(FLOW_METHODS))], "size": [SIDE],
        "align": [None, StrOptions({"per-clip", "tracked"})], "apex": [StrOptions({"column", "spot", "middle"})],
        "n_jobs": [Integral, None],
    }
    stateless = True
    version = "1"
    requires = ("frames",)

    def __init__(self, grid=(5, 5), bins: int = 8, method: str = "farneback", size: int = 128,
                 align: str | None = "per-clip", apex: str = "column", n_jobs: int = -1):
        keep_params(self, locals())

    def check_values(self):
        self._checked_grid()

    def _checked_grid(self):
        grid = pair(self.grid, "grid", "biwoof")
        _check_method(self.method, "biwoof")
        if int(self.bins) < 2:
            raise ConfigError("biwoof: bins must be at least 2")
        return grid

    def transform(self, X):
        self.check_columns(X)
        grid = self._checked_grid()
        values = map_rows(self, X, lambda row: self._one(row, grid), self.n_jobs)
        if not values:
            return np.zeros((0, grid[0] * grid[1] * int(self.bins)))
        return np.vstack(values)

    def extract_one(self, row):
        return self._one(row, self._checked_grid())[0]

    def _one(self, row, grid):
        from ..face.flow import compute_flow, optical_strain

        counts: dict = {}
        clip = open_row_clip(row, "biwoof (onset and apex frames)", min_frames=2)
        onset = _onset(row, clip)
        apex = apex_frame(row, clip, self.apex, onset, frame_field(row, "offset"))
        if apex == onset:
            raise DataError(f"sample {sample_name(row)}: apex {apex} equals onset; biwoof needs two distinct frames",
                            file=clip.locator, hint="Check the apex column or use apex='spot'.")
        size = int(self.size)
        if self.align:
            clip = aligned_clip(clip, row, self.align, size, min(onset, apex), max(onset, apex), counts)
        first = clip.read(onset, grey=True, size=(size, size))
        second = clip.read(apex, grey=True, size=(size, size))
        flow = _remove_global(compute_flow(first, second, method=self.method))
        strain = optical_strain(flow)
        magnitude = np.hypot(flow[..., 0], flow[..., 1])
        magnitude = magnitude / max(float(magnitude.max()), 1e-6)
        strain = strain / max(float(strain.max()), 1e-6)
        hist = block_histograms(flow[..., 0], flow[..., 1], grid, int(self.bins), magnitude)
        hist *= cell_means(strain, grid)[:, None]
        return hist.ravel(), counts

    @classmethod
    def example_samples(cls, seed: int = 0):
        return _photo_examples(seed)


# ----------------------------------------------------------------------------------------------
class MDMO(FeatureExtractor):
    """Main Directional Mean Optical flow (Liu et al. 2016) over landmark-defined ROIs.

    For every frame after the onset, flow from the onset frame (accumulated displacement, as in the
    paper) is split into ``bins`` direction sectors inside each ROI; the ROI's main direction is
    the fullest sector and its MDMO the mean flow vector of that sector. These per-frame vectors
    are averaged over the frames (as vectors), and every ROI's magnitude is divided by the largest
    one, giving the clip's (rho_k / max rho, theta_k) per ROI.

    ROIs: :data:`MDMO_ROIS` (18 regions of MediaPipe's mesh, convex hulls of the onset frame's
    landmarks in the aligned crop; the canonical mean face when no landmarks were found).

    Parameters: ``method`` flow method, ``size`` aligned crop side (128), ``bins`` direction
    sectors (8), ``segment`` frames used (``onset-offset`` or ``onset-apex``), ``step`` every
    step-th frame, ``angle`` output encoding (``"radians"``: (rho, theta) as in the paper;
    ``"vector"``: (rho cos theta, rho sin theta), continuous for classifiers), ``n_jobs`` threads.

    Output: 2 values per ROI (36).
    """

    _parameter_constraints = {"method": [StrOptions(set(FLOW_METHODS))], "size": [SIDE],
                              "bins": [Interval(Integral, 2, None, closed="left")],
                              "segment": [StrOptions({"onset-offset", "onset-apex"})], "step": [POSITIVE_INT],
                              "angle": [StrOptions({"radians", "vector"})], "n_jobs": [Integral, None]}
    stateless = True
    version = "1"
    requires = ("frames",)

    def __init__(self, method: str = "farneback", size: int = 128, bins: int = 8, segment: str = "onset-offset",
                 step: int = 1, angle: str = "radians", n_jobs: int = -1):
        keep_params(self, locals())

    def check_values(self):
        self._check()

    def _check(self):
        _check_method(self.method, "mdmo")
        if self.segment not in ("onset-offset", "onset-apex"):
            raise ConfigError(f"mdmo: segment must be 'onset-offset' or 'onset-apex', not {self.segment!r}")
        if self.angle not in ("radians", "vector"):
            raise ConfigError(f"mdmo: angle must be 'radians' or 'vector', not {self.angle!r}")
        if int(self.step) < 1 or int(self.bins) < 2:
            raise ConfigError("mdmo: step must be >= 1 and bins >= 2")

    def transform(self, X):
        self.check_columns(X)
        self._check()
        values = map_rows(self, X, self._one, self.n_jobs)
        if not values:
            return np.zeros((0, 2 * len(MDMO_ROIS)))
        return np.vstack(values)

    def extract_one(self, row):
        self._check()
        return self._one(row)[0]

    def roi_masks(self, landmarks: np.ndarray, size: int) -> np.ndarray:
        """(n_rois, size, size) bool masks from (478, 2+) landmarks in crop pixels."""
        from ..face.landmarks import region_mask

        grow = max(1, int(round(0.025 * size)))  # brows and the nose bridge are thin: take the skin around them
        return np.stack([region_mask(landmarks, (size, size), [idx], dilate=grow) for idx in MDMO_ROIS.values()])

    def _one(self, row):
        from ..face.flow import compute_flow

        counts: dict = {}
        clip = open_row_clip(row, "mdmo", min_frames=2)
        onset = _onset(row, clip)
        last = frame_field(row, "apex" if self.segment == "onset-apex" else "offset")
        if last is None and self.segment == "onset-apex":
            raise DataError(f"sample {sample_name(row)} has no apex frame; mdmo with segment='onset-apex' needs one",
                            hint="Use segment='onset-offset', or a dataset apex policy (--dataset-opt apex=spot).")
        idx = [i for i in clip.indices if i >= onset and (last is None or i <= last)]
        if len(idx) < 2:
            raise DataError(f"sample {sample_name(row)}: {len(idx)} frame(s) from onset {onset} to {last}; "
                            "mdmo needs at least 2", file=clip.locator, hint="Check onset/offset, or --on-error skip.")
        size = int(self.size)
        from ..face.align import align_clip

        aligned = align_clip(clip, onset, idx[-1], size=size, mode="per-clip")
        merge_counts(counts, {f"align_{k}": v for k, v in aligned.counts.items()})
        masks = self.roi_masks(aligned.landmarks, size)
        face = masks.any(axis=0)
        ref = aligned.read(onset, grey=True)
        bins = int(self.bins)
        total = np.zeros((len(MDMO_ROIS), 2), np.float64)
        frames = idx[1::int(self.step)]
        for i in frames:
            flow = _remove_global(compute_flow(ref, aligned.read(i, grey=True), method=self.method), face)
            u, v = flow[..., 0], flow[..., 1]
            sector = orientation_bins(u, v, bins)
            for k, mask in enumerate(masks):
                if not mask.any():
                    continue
                s = sector[mask]
                main = np.bincount(s, minlength=bins).argmax()
                sel = s == main
                total[k, 0] += float(u[mask][sel].mean())
                total[k, 1] += float(v[mask][sel].mean())
        counts["mdmo_empty_rois"] = int((~masks.any(axis=(1, 2))).sum())
        mean = total / len(frames)
        rho = np.hypot(mean[:, 0], mean[:, 1])
        theta = np.arctan2(mean[:, 1], mean[:, 0])
        rho = rho / max(float(rho.max()), 1e-9)
        if self.angle == "vector":
            out = np.stack([rho * np.cos(theta), rho * np.sin(theta)], axis=1)
        else:
            out = np.stack([rho, theta], axis=1)
        return out.ravel(), counts

    @classmethod
    def example_samples(cls, seed: int = 0):
        return _photo_examples(seed)


def _photo_examples(seed: int, n_subjects: int = 2, clips: int = 2, frames: int = 10):
    """Small synthetic clips rendered from the real astronaut photo (the landmarker finds the face)."""
    from ..data.synthetic import SyntheticDataset

    return SyntheticDataset(subjects=n_subjects, clips_per_subject=clips, frames=frames, size=128, effect=1.0,
                            seed=seed, face="photo").load("emotion")

