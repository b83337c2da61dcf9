"""Alignment geometry: the canonical template and similarity transforms between point sets."""
from __future__ import annotations

import numpy as np

from .landmarks import LEFT_EYE, NOSE_TIP, RIGHT_EYE, FaceResult

# Canonical template, as fractions of the crop side: subject's right eye centre, left eye centre,
# nose tip. Inter-ocular distance 0.34 S leaves brows and chin inside the crop.
TEMPLATE = np.array([[0.33, 0.36], [0.67, 0.36], [0.50, 0.585]], dtype=np.float64)
# Where those three points sit inside an OpenCV frontal-face Haar box (fractions of its sides).
HAAR_POINTS = np.array([[0.30, 0.38], [0.70, 0.38], [0.50, 0.66]], dtype=np.float64)


def key_points(points: np.ndarray) -> np.ndarray:
    """(3, 2) right-eye centre, left-eye centre and nose tip from 478 landmarks."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([pts[RIGHT_EYE, :2].mean(0), pts[LEFT_EYE, :2].mean(0), pts[NOSE_TIP, :2]])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection), 2x3 float64.

    Umeyama's closed form: maps points ``src`` (n, 2) onto ``dst`` (n, 2).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0 ** 2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("degenerate landmarks: all source points coincide")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rot = u @ d @ vt
    scale = np.trace(np.diag(sig) @ d) / var_s
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def apply_transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 transform to (n, 2) or (n, 3) points (z is scaled by the transform's scale)."""
    pts = np.asarray(points, dtype=np.float64)
    out = pts.copy()
    out[:, :2] = pts[:, :2] @ m[:, :2].T + m[:, 2]
    if pts.shape[1] > 2:
        out[:, 2] = pts[:, 2] * np.sqrt(abs(np.linalg.det(m[:, :2])))
    return out


def template_points(size: int) -> np.ndarray:
    """The template's three points in a ``size`` crop."""
    return TEMPLATE * float(size)


def transform_from_face(face: FaceResult, size: int) -> np.ndarray:
    """Source pixels -> crop pixels, from the eyes and nose tip of detected landmarks."""
    return similarity_transform(key_points(face.points), template_points(size))


def transform_from_box(box, size: int) -> np.ndarray:
    """Source pixels -> crop pixels, from where the template points sit inside a Haar face box."""
    x0, y0, x1, y1 = box
    src = np.array([x0, y0]) + HAAR_POINTS * np.array([x1 - x0, y1 - y0])
    return similarity_transform(src, template_points(size))


def transform_full_frame(shape, size: int) -> np.ndarray:
    """Map the whole frame onto the crop (for frames that are already face crops)."""
    h, w = shape[:2]
    return np.array([[size / w, 0.0, 0.0], [0.0, size / h, 0.0]])


def transform_params(m: np.ndarray) -> np.ndarray:
    """The 4 parameters (a, b, tx, ty) of a similarity transform [[a, -b, tx], [b, a, ty]]."""
    return np.array([m[0, 0], m[1, 0], m[0, 2], m[1, 2]])


def transform_from_params(p: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform of parameters (a, b, tx, ty)."""
    a, b, tx, ty = p
    return np.array([[a, -b, tx], [b, a, ty]])


def smooth_params(params: dict[int, np.ndarray | None], window: int) -> dict[int, np.ndarray]:
    """Fill missing per-frame transform parameters by interpolation, then average over ``window`` frames."""
    idx = list(params)
    have = [i for i in idx if params[i] is not None]
    arr = np.array([params[i] for i in have])
    filled = np.stack([np.interp(idx, have, arr[:, c]) for c in range(4)], axis=1)
    if window > 1 and len(idx) > 2:
        half = window // 2
        padded = np.pad(filled, ((half, half), (0, 0)), mode="edge")
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        filled = np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(4)], axis=1)
    return {i: filled[k] for k, i in enumerate(idx)}
