"""What the deep extractors feed their backbones, and how they pool its maps.

- :func:`face_inputs`: a sample's aligned onset and apex crops (RGB uint8, ``size`` x ``size``) and
  the apex landmarks in crop pixels (the onset's when MediaPipe missed the apex; the canonical mean
  face when alignment fell back or was switched off);
- :func:`motion_image`: the onset->apex motion as a three-channel image in [0, 1];
- :func:`region_weights`: per facial region (brows, eyes, nose, mouth, whole face) the fraction
  of every feature-map cell covered by the region's landmark hull;
- :func:`pool`: global mean plus region-weighted means of a feature map.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, DataError
from .._util import aligned_clip, field, frame_field, open_row_clip, sample_name

# Facial positions of the FPF stream, as groups of :data:`mebench.face.landmarks.REGIONS`.
FPF_REGIONS: dict[str, tuple[str, ...]] = {"brows": ("right_brow", "left_brow"),
                                           "eyes": ("right_eye", "left_eye"),
                                           "nose": ("nose",),
                                           "mouth": ("mouth",),
                                           "face": ("face_oval",)}
MOTIONS = ("flow-magnitude", "flow-strain", "difference")
# Per-sample scaling never stretches less motion than this to the full range (a still face stays grey).
MIN_FLOW_PX = 0.25
MIN_DIFFERENCE = 4.0  # grey levels
APEX_POLICIES = ("column", "spot", "middle")


def onset_apex(row, clip, apex: str, owner: str) -> tuple[int, int]:
    """(onset, apex) frame numbers; a single-image sample is its own onset and apex."""
    from ..flow_features import apex_frame

    if clip.n_frames == 1:
        only = clip.indices[0]
        return only, only
    onset = frame_field(row, "onset")
    onset = clip.indices[0] if onset is None else onset
    if apex not in APEX_POLICIES:
        raise ConfigError(f"{owner}: apex must be one of {', '.join(APEX_POLICIES)}, not {apex!r}")
    return onset, apex_frame(row, clip, apex, onset, frame_field(row, "offset"))


def face_inputs(row, size: int, align, apex: str, owner: str, need_onset: bool, counts: dict):
    """(onset crop or None, apex crop, apex landmarks (478, 3) in crop pixels) of one sample."""
    clip = open_row_clip(row, owner, min_frames=2 if need_onset else 1)
    onset, top = onset_apex(row, clip, apex, owner)
    if need_onset and onset == top:
        raise DataError(f"sample {sample_name(row)}: apex {top} equals onset; {owner} needs two distinct frames",
                        file=field(row, "frames"), hint="Check the apex column, or use apex='spot'.")
    if align:
        clip = aligned_clip(clip, row, align, size, min(onset, top), max(onset, top), counts,
                            landmark_frames=(top,) if top != onset else ())
        landmarks = clip.frame_landmarks.get(top, clip.landmarks)
    else:
        from ...data.canonical_face import canonical_landmarks

        landmarks = canonical_landmarks(size)
    wh = (size, size)
    first = clip.read(onset, size=wh) if need_onset else None
    second = clip.read(top, size=wh)
    return first, second, np.asarray(landmarks, dtype=np.float64)


def motion_image(first: np.ndarray, second: np.ndarray, motion: str, scale: float | None = None,
                 method: str = "farneback") -> np.ndarray:
    """Onset->apex motion of two RGB crops as an (S, S, 3) float32 image in [0, 1].

    ``flow-magnitude``: (u, v, |flow|); ``flow-strain``: (u, v, optical strain); flow is computed on
    the grey crops and the face's median vector (head motion left after alignment) removed.
    ``difference``: apex minus onset, per RGB channel. Signed channels map 0 to 0.5. ``scale`` is
    the motion (pixels, or grey levels for ``difference``) that reaches the ends of the range;
    None uses each sample's own 99th percentile, so every image uses the full range.
    """
    from ...face.flow import compute_flow, optical_strain

    if motion not in MOTIONS:
        raise ConfigError(f"motion must be one of {', '.join(MOTIONS)}, not {motion!r}")
    if motion == "difference":
        diff = second.astype(np.float32) - first.astype(np.float32)
        m = float(scale) if scale else max(float(np.percentile(np.abs(diff), 99)), MIN_DIFFERENCE)
        return np.clip(0.5 + 0.5 * diff / m, 0.0, 1.0).astype(np.float32)
    flow = compute_flow(first, second, method=method)
    flow = flow - np.median(flow.reshape(-1, 2), axis=0).astype(np.float32)
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    m = float(scale) if scale else max(float(np.percentile(magnitude, 99)), MIN_FLOW_PX)
    if motion == "flow-magnitude":
        third = magnitude / m
    else:  # strain is a displacement change per pixel: a change of `scale` px over 10 px fills the range
        strain = optical_strain(flow)
        third = strain / (float(scale) / 10.0 if scale else max(float(np.percentile(strain, 99)), MIN_FLOW_PX / 10.0))
    image = np.dstack([0.5 + 0.5 * flow[..., 0] / m, 0.5 + 0.5 * flow[..., 1] / m, third])
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def region_weights(landmarks: np.ndarray, size: int, grid: int, regions=FPF_REGIONS) -> np.ndarray:
    """(R, grid, grid) float32: the fraction of every map cell that each region's hull covers."""
    from ...face.landmarks import region_mask

    cell = size // grid
    grow = max(1, int(round(0.02 * size)))  # brows and eyes are thin: take the skin around them
    out = np.empty((len(regions), grid, grid), np.float32)
    for k, names in enumerate(regions.values()):
        mask = region_mask(landmarks, (size, size), names, dilate=grow).astype(np.float32)
        out[k] = mask[:grid * cell, :grid * cell].reshape(grid, cell, grid, cell).mean(axis=(1, 3))
    return out


def pool(maps: np.ndarray, weights: np.ndarray | None, counts: dict | None = None) -> np.ndarray:
    """(n, C, h, w) maps -> (n, C * (1 + R)): the global mean, then the ``weights``-weighted mean per region.

    A region that covers no cell (landmarks off the crop) takes the global mean and is counted.
    """
    n = maps.shape[0]
    glob = maps.mean(axis=(2, 3))
    if weights is None:
        return glob.astype(np.float64)
    total = weights.sum(axis=(2, 3))                                   # (n, R)
    pooled = np.einsum("nchw,nrhw->nrc", maps, weights, optimize=True)  # (n, R, C)
    empty = total <= 1e-6
    if counts is not None and empty.any():
        counts["fpf_empty_regions"] = counts.get("fpf_empty_regions", 0) + int(empty.sum())
    pooled = np.where(empty[..., None], glob[:, None, :], pooled / np.maximum(total, 1e-6)[..., None])
    return np.concatenate([glob[:, None, :], pooled], axis=1).reshape(n, -1).astype(np.float64)
