"""The ``face=photo`` mode of the synthetic dataset: real-face frames with planted micro-expressions.

Every subject is derived from the real photo ``skimage.data.astronaut()`` (its face region) by its
own geometric warp (similarity + anisotropic scale + a smooth elastic field), colour (per-channel
gain, gamma, saturation) and texture (blur or sharpening, fixed grain) changes, all seeded by
``params["subject_seed"]``. The micro-expression is a local warp of the landmark region of each
active AU (brows for AU1/AU2/AU4, nose sides for AU9, lip corners for AU12/AU15): a displacement
of ``amplitude`` px (default 3) times the AU intensity at frame ``t``. Distractors: blinks (the
upper eyelids slide down), head jitter (a global sub-pixel shift), illumination drift and sensor
noise.

Frame ``t`` is a pure, deterministic function of ``(params, t)``; per-subject work is cached.

Parameters read from ``params`` (frame numbers start at 1):
``subject_seed``, ``size``, ``n_frames``, ``onset``, ``apex``, ``offset``, ``aus`` (AU -> peak
intensity), ``blinks`` (frame numbers), ``jitter`` (std of the per-frame head shift, px), ``clip_seed``,
``drift`` (relative brightness change from first to last frame, e.g. 0.05), ``noise`` (Gaussian
sensor noise std in grey levels), as in :mod:`mebench.data.synthetic`, and optionally ``amplitude`` (px of
displacement at intensity 1), ``variation`` (0 = the unmodified photo, 1 = default spread) and
``events`` (a list of {onset, apex, offset, aus}: several micro-expressions in one long clip).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .synthetic_timing import au_intensities

SUPPORTED_AUS = ("AU1", "AU2", "AU4", "AU9", "AU12", "AU15")

# Similarity that maps astronaut() pixels to unit template coordinates (measured once with
# FaceLandmarker; see mebench.data.canonical_face). Its inverse places the canonical landmarks back.
_ASTRONAUT_TO_UNIT = np.array([[0.00795791, 0.00044033, -1.33684369],
                               [-0.00044033, 0.00795791, -0.35842194]])
# Square face region of astronaut() (x0, y0, side): forehead to below the chin.
_CROP = (140.0, 37.0, 170.0)

# AU -> list of (landmark index, direction (dx, dy) in the subject's frame, weight).
# "Outward" for the subject's right side is -x in the image.
_AU_POINTS: dict[str, list[tuple[int, tuple[float, float], float]]] = {
    "AU1": [(107, (0.0, -1.0), 1.0), (66, (0.0, -1.0), 0.6), (336, (0.0, -1.0), 1.0), (296, (0.0, -1.0), 0.6)],
    "AU2": [(70, (0.0, -1.0), 1.0), (105, (0.0, -1.0), 0.6), (300, (0.0, -1.0), 1.0), (334, (0.0, -1.0), 0.6)],
    "AU4": [(105, (0.25, 1.0), 1.0), (107, (0.6, 0.8), 1.0), (334, (-0.25, 1.0), 1.0), (336, (-0.6, 0.8), 1.0)],
    "AU9": [(48, (0.0, -1.0), 1.0), (278, (0.0, -1.0), 1.0), (197, (0.0, -1.0), 0.5)],
    "AU12": [(61, (-0.7, -0.7), 1.0), (291, (0.7, -0.7), 1.0)],
    "AU15": [(61, (-0.2, 1.0), 1.0), (291, (0.2, 1.0), 1.0)],
}
# Upper-eyelid points that slide down in a blink, and the lower lid they meet.
_BLINK = [(159, 145), (386, 374)]


@lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage.data import astronaut

    return np.ascontiguousarray(astronaut()).astype(np.float32)


def astronaut_landmarks() -> np.ndarray:
    """(478, 2) canonical landmarks placed on astronaut() pixels."""
    from .canonical_face import canonical_landmarks

    unit = canonical_landmarks(1.0)[:, :2]
    a = _ASTRONAUT_TO_UNIT[:, :2]
    return (unit - _ASTRONAUT_TO_UNIT[:, 2]) @ np.linalg.inv(a).T


def _smooth_field(rng, size: int, cells: int, amplitude: float) -> np.ndarray:
    import cv2

    coarse = rng.normal(0.0, 1.0, (cells, cells, 2)).astype(np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return field * (amplitude / max(float(np.abs(field).max()), 1e-6))


class _Subject:
    """One subject's base face at one size, its landmark positions and its unit AU fields."""

    def __init__(self, seed: int, size: int, variation: float):
        import cv2

        rng = np.random.default_rng([int(seed), 7919])
        v = float(variation)
        s = float(size)
        x0, y0, side = _CROP
        # output pixel -> astronaut pixel: affine part
        angle = np.deg2rad(rng.uniform(-6, 6) * v)
        scale = 1.0 + rng.uniform(-0.08, 0.08) * v
        aniso = 1.0 + rng.uniform(-0.08, 0.08) * v
        shift = rng.uniform(-0.04, 0.04, 2) * v * side
        k = side / s
        c, si = np.cos(angle), np.sin(angle)
        lin = k / scale * np.array([[c * aniso, -si], [si * aniso, c]])  # out (centred) -> astro (centred)
        centre_out = np.array([s / 2, s / 2])
        centre_astro = np.array([x0 + side / 2, y0 + side / 2]) + shift
        self.lin, self.centre_out, self.centre_astro = lin, centre_out, centre_astro
        # elastic part (in astronaut pixels), smooth
        self.elastic = _smooth_field(rng, size, 4, 0.035 * side * v)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        grid = np.stack([xx, yy], axis=-1)
        astro = (grid - centre_out) @ lin.T.astype(np.float32) + centre_astro.astype(np.float32) + self.elastic
        src = _astronaut()
        # area-average first when shrinking a lot, then remap
        pre = 1.0
        if k > 2.0:
            pre = 1.0 / np.floor(k)
            src = cv2.resize(src, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        astro = (astro * np.float32(pre)).astype(np.float32)
        base = cv2.remap(src, astro[..., 0], astro[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)
        # colour
        gains = 1.0 + rng.uniform(-0.18, 0.18, 3) * v
        gamma = float(np.exp(rng.uniform(-0.22, 0.22) * v))
        sat = 1.0 + rng.uniform(-0.3, 0.3) * v
        base = np.clip(base / 255.0, 0, 1) ** gamma * gains
        grey = base.mean(axis=2, keepdims=True)
        base = grey + (base - grey) * sat
        # texture: blur or sharpen, plus a fixed grain
        sigma = rng.uniform(0.3, 1.2) * s / 128.0
        blurred = cv2.GaussianBlur(base.astype(np.float32), (0, 0), sigma)
        sharp = rng.uniform(-0.8, 0.8) * v
        base = base + sharp * (base - blurred) if sharp > 0 else base + (-sharp) * (blurred - base)
        grain = rng.normal(0.0, 0.012 * v, (size, size, 1)).astype(np.float32)
        self.base = np.clip(base * 255.0 + grain * 255.0, 0, 255).astype(np.float32)
        self.size = size
        # landmarks in output pixels (invert the map by fixed-point iteration)
        self.points = self._forward(astronaut_landmarks())
        # unit displacement fields (px per unit intensity) for each AU and for blinks
        self.fields = {au: self._field([(self.points[i], d, w) for i, d, w in pts], sigma=0.055 * s)
                       for au, pts in _AU_POINTS.items()}
        lid = []
        for up, low in _BLINK:
            gap = float(np.linalg.norm(self.points[low] - self.points[up]))
            lid.append((self.points[up], (0.0, 1.0), gap))
        # a blink stays on the eyelids: narrow vertically so brows and cheeks do not move
        self.blink = self._field(lid, sigma=(0.045 * s, 0.02 * s))
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self.grid_x, self.grid_y = xx, yy

    def _forward(self, astro_pts: np.ndarray) -> np.ndarray:
        import cv2

        inv = np.linalg.inv(self.lin)
        out = (astro_pts - self.centre_astro) @ inv.T + self.centre_out
        for _ in range(8):
            ex = cv2.remap(self.elastic, out[:, 0].astype(np.float32)[None], out[:, 1].astype(np.float32)[None],
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
            out = (astro_pts - ex - self.centre_astro) @ inv.T + self.centre_out
        return out

    def _field(self, items, sigma) -> np.ndarray:
        """Sum of Gaussian bumps (sigma, or (sigma_x, sigma_y)) moving along unit directions."""
        size = self.size
        sx, sy = (sigma, sigma) if np.isscalar(sigma) else sigma
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        field = np.zeros((size, size, 2), np.float32)
        for (px, py), (dx, dy), w in items:
            n = np.hypot(dx, dy) or 1.0
            g = np.exp(-0.5 * ((xx - px) ** 2 / (sx * sx) + (yy - py) ** 2 / (sy * sy))).astype(np.float32) * w
            field[..., 0] += g * (dx / n)
            field[..., 1] += g * (dy / n)
        return field


@lru_cache(maxsize=64)
def _subject(seed: int, size: int, variation: float) -> _Subject:
    return _Subject(seed, size, variation)


def subject_landmarks(params: dict) -> np.ndarray:
    """(478, 2) approximate landmark positions of the subject's neutral face, in output pixels."""
    return _subject(int(params.get("subject_seed", 0)), int(params.get("size", 128)),
                    float(params.get("variation", 1.0))).points.copy()


def _blink_closure(params: dict, t: int) -> float:
    c = 0.0
    for b in params.get("blinks") or ():
        d = abs(int(t) - int(b))
        c = max(c, {0: 1.0, 1: 0.55}.get(d, 0.0))
    return c


def render_photo_frame(params: dict, t: int) -> np.ndarray:
    """Frame ``t`` (1-based) of a photo-mode clip: (size, size, 3) uint8 RGB."""
    import cv2

    size = int(params.get("size", 128))
    subj = _subject(int(params.get("subject_seed", 0)), size, float(params.get("variation", 1.0)))
    amplitude = float(params.get("amplitude", 3.0))
    disp = np.zeros((size, size, 2), np.float32)
    for au, value in au_intensities(params, int(t)).items():
        if au in subj.fields and value:
            disp += subj.fields[au] * np.float32(amplitude * value)
    closure = _blink_closure(params, t)
    if closure:
        disp += subj.blink * np.float32(closure)
    rng = np.random.default_rng([int(params.get("clip_seed", 0)), int(t), 104729])
    jitter = float(params.get("jitter", 0.0) or 0.0)
    jx, jy = rng.normal(0.0, jitter, 2) if jitter else (0.0, 0.0)
    # backward map: out(x) = base(x - d(x) - j); d is smooth, so d(x - d) ~ d(x) at these amplitudes
    map_x = subj.grid_x - disp[..., 0] - np.float32(jx)
    map_y = subj.grid_y - disp[..., 1] - np.float32(jy)
    frame = cv2.remap(subj.base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    n = max(int(params.get("n_frames", 1)) - 1, 1)
    drift = float(params.get("drift", 0.0) or 0.0)
    if drift:
        frame *= np.float32(1.0 + drift * (int(t) - 1) / n)
    noise = float(params.get("noise", 0.0) or 0.0)
    if noise:
        frame += rng.normal(0.0, noise, frame.shape).astype(np.float32)
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def planted_regions(params: dict) -> dict[str, np.ndarray]:
    """AU -> (n, 2) output-pixel positions of the landmarks its warp moves (for tests and checks)."""
    pts = subject_landmarks(params)
    return {au: pts[[i for i, _, _ in _AU_POINTS[au]]] for au in (params.get("aus") or {}) if au in _AU_POINTS}


def photo_params(subject_seed: int = 0, size: int = 128, n_frames: int = 30, onset: int = 8, apex: int = 13,
                 offset: int = 19, aus: dict | None = None, blinks=(), jitter: float = 0.0, clip_seed: int = 0,
                 drift: float = 0.0, noise: float = 0.0, **extra) -> dict:
    """A params dict for :func:`render_photo_frame` (the same keys the synthetic dataset uses)."""
    return dict(face="photo", subject_seed=subject_seed, size=size, n_frames=n_frames, onset=onset, apex=apex,
                offset=offset, aus=dict(aus if aus is not None else {"AU12": 0.8}), blinks=list(blinks),
                jitter=jitter, clip_seed=clip_seed, drift=drift, noise=noise, **extra)


def photo_clip(params: dict):
    """An in-memory :class:`~mebench.io.ArrayClip` of all frames (numbered from 1)."""
    from ..io import ArrayClip

    frames = np.stack([render_photo_frame(params, t) for t in range(1, int(params["n_frames"]) + 1)])
    return ArrayClip(frames, first=1, locator=f"<photo subject {params.get('subject_seed')}>")
