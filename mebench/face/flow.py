"""Dense optical flow (Farneback, TV-L1, DIS), optical strain and the (u, v, strain) flow image.

Conventions: flow is (H, W, 2) float32 with ``flow[y, x] = (u, v)``, the displacement in pixels
that carries ``prev`` to ``next`` (``next(x + u, y + v) ~ prev(x, y)``). Farneback is the default;
TV-L1 is 50-100x slower and never chosen implicitly.

Orientation histograms (HOOF, MDMO, Bi-WOOF) share one binning, :func:`orientation_bins`: ``bins``
equal sectors with bin 0 centred on +x (rightward motion), so the four axis directions fall on bin
centres whenever ``bins`` is a multiple of 4.
"""
from __future__ import annotations

import threading

import numpy as np

from ..errors import DataError

METHODS = ("farneback", "tvl1", "dis")

# Farneback parameters as commonly used for ME flow (pyramid 0.5, 3 levels, 15 px window).
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)

_local = threading.local()


def orientation_bins(u: np.ndarray, v: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of every flow vector's orientation: ``bins`` equal sectors, bin 0 centred on +x.

    Image coordinates: +x right, +y down, so angle pi/2 is downward motion.
    """
    angle = np.mod(np.arctan2(v, u) + np.pi / bins, 2 * np.pi)
    return np.minimum((angle * (bins / (2 * np.pi))).astype(np.intp), bins - 1)


def _engine(method: str, preset: str | None = None):
    """One reusable OpenCV flow object per (thread, method): creation is not free."""
    import cv2

    key = (method, preset)
    engines = getattr(_local, "engines", None)
    if engines is None:
        engines = _local.engines = {}
    if key not in engines:
        if method == "dis":
            presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                       "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
            if (preset or "medium") not in presets:
                raise ValueError(f"DIS preset must be one of {', '.join(presets)}, not {preset!r}")
            engines[key] = cv2.DISOpticalFlow_create(presets[preset or "medium"])
        elif method == "tvl1":
            engines[key] = cv2.optflow.createOptFlow_DualTVL1()
        else:
            raise ValueError(method)
    return engines[key]


def _as_grey(frame: np.ndarray, name: str) -> np.ndarray:
    import cv2

    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        if frame.dtype != np.uint8:
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY if frame.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)
    if frame.ndim != 2:
        raise DataError(f"{name} frame must be greyscale (H, W) or RGB (H, W, 3); got shape {frame.shape}")
    if frame.dtype != np.uint8:
        if frame.dtype.kind == "f" and frame.size and float(np.nanmax(frame)) <= 1.0:
            frame = frame * 255.0
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(frame)


def compute_flow(prev_grey: np.ndarray, next_grey: np.ndarray, method: str = "farneback",
                 preset: str | None = None) -> np.ndarray:
    """Dense flow from ``prev_grey`` to ``next_grey`` as (H, W, 2) float32 (u, v) in pixels.

    Inputs are uint8 greyscale (RGB is converted). ``method`` is ``farneback`` (default),
    ``tvl1`` (``cv2.optflow`` Dual TV-L1; slow) or ``dis`` (``preset`` ultrafast/fast/medium).
    """
    import cv2

    if method not in METHODS:
        raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(METHODS)}")
    prev = _as_grey(prev_grey, "prev")
    nxt = _as_grey(next_grey, "next")
    if prev.shape != nxt.shape:
        raise DataError(f"flow frames differ in size: {prev.shape[1]}x{prev.shape[0]} vs {nxt.shape[1]}x{nxt.shape[0]}",
                        hint="Resize both frames to one size (size=...) before computing flow.")
    if min(prev.shape) < 8:
        raise DataError(f"flow frames are too small ({prev.shape[1]}x{prev.shape[0]}); need at least 8x8")
    if method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(prev, nxt, None, **FARNEBACK)
    else:
        flow = _engine(method, preset).calc(prev, nxt, None)
    return flow if flow.dtype == np.float32 else flow.astype(np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Optical-strain magnitude (H, W) float32 from the flow gradients (central differences).

    With the infinitesimal strain tensor e = (grad(u) + grad(u)^T) / 2,
    ``|e| = sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2)`` where ``e_xx = du/dx``, ``e_yy = dv/dy`` and
    ``e_xy = (du/dy + dv/dx) / 2`` (Shreve et al.; Liong et al.).
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2); got shape {flow.shape}")
    u, v = flow[:, :, 0], flow[:, :, 1]
    du_dy, du_dx = np.gradient(u)
    dv_dy, dv_dx = np.gradient(v)
    e_xy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx * du_dx + dv_dy * dv_dy + 2.0 * e_xy * e_xy).astype(np.float32)


def flow_image(flow: np.ndarray, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """The three-channel (u, v, strain) image used by STSTNet and OFF-ApexNet, (H, W, 3) float32.

    Strain is computed at full resolution, then all channels are resized (area) to ``size``
    (an int for a square, or (width, height)). Values stay in pixels (not normalised).
    """
    import cv2

    flow = np.asarray(flow, dtype=np.float32)
    image = np.dstack([flow, optical_strain(flow)])
    if size is not None:
        wh = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
        if wh != (image.shape[1], image.shape[0]):
            scale = np.array([wh[0] / image.shape[1], wh[1] / image.shape[0]], dtype=np.float32)
            image = cv2.resize(image, wh, interpolation=cv2.INTER_AREA)
            image[:, :, :2] *= scale  # displacements are measured in the new pixels
    return np.ascontiguousarray(image, dtype=np.float32)


def _size_arg(size):
    if size is None:
        return None
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))


def onset_apex_flow(clip, onset: int, apex: int, method: str = "farneback", size=None,
                    preset: str | None = None) -> np.ndarray:
    """Flow from frame ``onset`` to frame ``apex`` of a :class:`~mebench.io.Clip`.

    ``clip`` may also be a frames locator string or an :class:`~mebench.face.align.AlignedClip`.
    Frames are read in greyscale and resized to ``size`` (int or (width, height)) when given.
    """
    from ..io import open_clip

    if isinstance(clip, str):
        clip = open_clip(clip)
    wh = _size_arg(size)
    prev = clip.read(int(onset), grey=True, size=wh)
    nxt = clip.read(int(apex), grey=True, size=wh)
    if prev.shape != nxt.shape:
        raise DataError(f"frame {apex} is {nxt.shape[1]}x{nxt.shape[0]} but onset frame {onset} is "
                        f"{prev.shape[1]}x{prev.shape[0]}", file=getattr(clip, "locator", None),
                        hint="All frames of a clip must share one size; pass size=... to resize.")
    return compute_flow(prev, nxt, method=method, preset=preset)
