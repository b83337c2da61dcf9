"""LBP-TOP: local binary patterns on three orthogonal planes (Zhao & Pietikainen, TPAMI 2007).

For every voxel of a greyscale clip volume (T, H, W), a circular LBP code is computed in each of
the XY, XT and YT planes through it; codes are mapped to uniform patterns and histogrammed per
spatio-temporal block; the per-block, per-plane histograms are normalised to sum 1 and
concatenated (block-major: block 0 XY, XT, YT, block 1 XY, ...).

Plane conventions (they fix the bit order, hence the ``u2`` bin numbering):
  * XY: rows y, columns x (the frame itself);
  * XT: rows t, columns x (the volume cut at a fixed y);
  * YT: rows t, columns y (the volume cut at a fixed x).
Neighbour ``i`` of ``P`` in a plane with row radius ``Ra`` and column radius ``Rb`` sits at
``(-Ra sin(2 pi i / P), +Rb cos(2 pi i / P))`` (offsets rounded to 5 decimals) and carries bit
``2**i``; off-grid neighbours are bilinearly interpolated. This is scikit-image's
``local_binary_pattern`` geometry, so with equal radii in a plane our codes equal its codes;
``patterns="u2"`` equals its ``nri_uniform`` labels (``P (P - 1) + 3`` bins) and
``patterns="riu2"`` its ``uniform`` labels (``P + 2`` bins). The one difference: scikit-image
interpolates absolute values, so where the interpolated neighbour exactly equals the centre it
can round just below it (bit 0); we test ``sum_k w_k (I_k - I_c) >= 0``, exact there (bit 1).
Without interpolation (e.g. P = 4, R = 1) the two agree bit for bit.

Centre voxels are the volume interior (``ceil(R)`` away from every border on every axis), the
same set for the three planes.

Speed: the volume is processed as one flat float32 array. A neighbour's "value minus centre"
is a flat shift, so every bit is a handful of whole-array (chunked, cache-resident) numpy
operations; pairs of opposite neighbours share one difference array; the bit test is done in
difference form ``sum_k w_k (I_k - I_c) >= 0``, which is exact on flat regions. Eight bit planes
are packed into a byte by shifting 8-byte words. Clips run in parallel threads (numpy releases
the GIL). See ``benchmarks/bench_features.py`` for the comparison with a per-plane
scikit-image reference.
"""
from __future__ import annotations

import math
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..errors import ConfigError, DataError
from ..face.grid import axis_cells
from ._util import aligned_clip, keep_params, map_rows, open_row_clip, pair, read_volume, sample_name, segment_indices
from .base import POSITIVE_INT, SIDE, FeatureExtractor

PATTERNS = ("u2", "riu2")
_CHUNK = 1 << 17  # voxels per chunk: keeps the ~9 difference arrays inside the L2/L3 caches
_DTYPE = np.float32


# ----------------------------------------------------------------------------------------------
# pattern tables
@lru_cache(maxsize=None)
def pattern_table(P: int, patterns: str = "u2") -> np.ndarray:
    """Map every ``P``-bit LBP code to its pattern bin (int64 array of length ``2**P``).

    ``u2`` (uniform, not rotation invariant): 0 for no ones, ``1 + (n - 1) P + ((P - s) mod P)``
    for a single run of ``n`` ones starting at bit ``s``, ``P (P - 1) + 1`` for all ones and
    ``P (P - 1) + 2`` for every non-uniform code. ``riu2``: the number of ones for uniform codes,
    ``P + 1`` otherwise.
    """
    codes = np.arange(2 ** P, dtype=np.int64)
    bits = (codes[:, None] >> np.arange(P)) & 1  # (2**P, P)
    rolled = np.roll(bits, 1, axis=1)  # rolled[:, i] = bit i-1
    transitions = (bits != rolled).sum(axis=1)
    ones = bits.sum(axis=1)
    uniform = transitions <= 2
    if patterns == "riu2":
        return np.where(uniform, ones, P + 1).astype(np.int64)
    starts = (bits == 1) & (rolled == 0)  # a run of ones starts at bit i
    start = np.argmax(starts, axis=1)
    out = 1 + (ones - 1) * P + (P - start) % P
    out = np.where(ones == 0, 0, out)
    out = np.where(ones == P, P * (P - 1) + 1, out)
    out = np.where(uniform, out, P * (P - 1) + 2)
    return out.astype(np.int64)


@lru_cache(maxsize=None)
def _onehot(P: int, patterns: str) -> np.ndarray:
    table = pattern_table(P, patterns)
    m = np.zeros((2 ** P, n_bins(P, patterns)), np.float64)
    m[np.arange(2 ** P), table] = 1.0
    return m


def n_bins(P: int, patterns: str = "u2") -> int:
    return P * (P - 1) + 3 if patterns == "u2" else P + 2


# ----------------------------------------------------------------------------------------------
# neighbourhood geometry
def _circle_corners(P: int, Ra: float, Rb: float) -> list[list[tuple[tuple[int, int], float]]]:
    """Per neighbour: the bilinear cell corners (row offset, col offset) with non-zero weight."""
    out = []
    for i in range(P):
        a = round(-Ra * math.sin(2 * math.pi * i / P), 5)
        b = round(Rb * math.cos(2 * math.pi * i / P), 5)
        a0, b0 = math.floor(a), math.floor(b)
        fa, fb = a - a0, b - b0
        corners = []
        for da, db, w in ((0, 0, (1 - fa) * (1 - fb)), (0, 1, (1 - fa) * fb), (1, 0, fa * (1 - fb)), (1, 1, fa * fb)):
            if w > 0:
                corners.append(((a0 + da, b0 + db), w))
        out.append(corners)
    return out


class _Plan:
    """Everything about an LBP-TOP computation that depends only on shape and parameters."""

    def __init__(self, shape, radii, neighbours, grid, t_blocks, patterns):
        T, H, W = shape
        rx, ry, rt = (float(r) for r in radii)
        self.shape = shape
        mt, my, mx = math.ceil(rt), math.ceil(ry), math.ceil(rx)
        self.margins = (mt, my, mx)
        if T - 2 * mt < 1 or H - 2 * my < 1 or W - 2 * mx < 1:
            raise ValueError("volume too small")
        self.strides = (H * W, W, 1)
        # planes: (name, P, row radius, col radius, axis of rows, axis of cols) with axes t=0, y=1, x=2
        planes = [("xy", int(neighbours[0]), ry, rx, 1, 2), ("xt", int(neighbours[1]), rt, rx, 0, 2),
                  ("yt", int(neighbours[2]), rt, ry, 0, 1)]
        self.planes = []
        shifts = set()
        for name, P, Ra, Rb, ax_a, ax_b in planes:
            bits = []
            for corners in _circle_corners(P, Ra, Rb):
                terms = []
                for (da, db), w in corners:
                    off = [0, 0, 0]
                    off[ax_a] += da
                    off[ax_b] += db
                    s = off[0] * self.strides[0] + off[1] * self.strides[1] + off[2]
                    if s == 0:
                        continue  # the centre itself: weight times zero difference
                    terms.append((abs(s), 1 if s > 0 else -1, w))
                    shifts.add(abs(s))
                bits.append(_group_terms(terms))
            self.planes.append((name, P, bits))
        self.shifts = sorted(shifts)
        self.max_shift = max(self.shifts) if self.shifts else 0
        # the flat range that holds every interior voxel
        first = mt * H * W + my * W + mx
        last = (T - 1 - mt) * H * W + (H - 1 - my) * W + (W - 1 - mx)
        self.lo, self.hi = first, last + 1
        assert self.lo >= self.max_shift and self.hi + self.max_shift <= T * H * W
        # block id of every position in [lo, hi): interior voxels get their block, others the trash id
        Ti, Hi, Wi = T - 2 * mt, H - 2 * my, W - 2 * mx
        gy, gx = int(grid[0]), int(grid[1])
        gt = int(t_blocks)
        self.n_blocks = gt * gy * gx
        bt = np.full(T, -1, np.int64)
        bt[mt:T - mt] = axis_cells(Ti, gt)
        by = np.full(H, -1, np.int64)
        by[my:H - my] = axis_cells(Hi, gy)
        bx = np.full(W, -1, np.int64)
        bx[mx:W - mx] = axis_cells(Wi, gx)
        block = (bt[:, None, None] * gy + by[None, :, None]) * gx + bx[None, None, :]
        valid = (bt[:, None, None] >= 0) & (by[None, :, None] >= 0) & (bx[None, None, :] >= 0)
        block = np.where(valid, block, self.n_blocks).ravel()[self.lo:self.hi]
        self.block_u8 = block.astype(np.uint8) if self.n_blocks < 255 else None
        self.block_key = None if self.block_u8 is not None else block.astype(np.intp)
        self.n_voxels = int(valid.sum())


def _group_terms(terms):
    """Group a neighbour's (shift, sign, weight) terms by weight, largest weight first.

    Returns [(relative weight, [(shift, sign), ...]), ...]: the bit is
    ``sum_g rel_g * sum_{(s, sign) in g} sign * D_s >= 0`` with ``D_s[o] = I[o + s] - I[o]``.
    """
    groups: dict[float, list] = {}
    for s, sign, w in terms:
        groups.setdefault(round(w, 12), []).append((s, sign))
    if not groups:
        return []
    weights = sorted(groups, reverse=True)
    return [(w / weights[0], groups[w]) for w in weights]


@lru_cache(maxsize=32)
def _plan(shape, radii, neighbours, grid, t_blocks, patterns) -> _Plan:
    return _Plan(shape, radii, neighbours, grid, t_blocks, patterns)


# ----------------------------------------------------------------------------------------------
# the core
def _plane_codes(flat: np.ndarray, plan: _Plan, a: int, b: int, out: list[np.ndarray]) -> None:
    """LBP codes of positions [a, b) for the three planes, written into ``out[p][a - lo:b - lo]``."""
    n = b - a
    # D_s over [a - s, b): D_s[o] = I[o + s] - I[o]; the view for sign -1 starts at a - s
    diffs = {s: np.subtract(flat[a:b + s], flat[a - s:b]) for s in plan.shifts}
    word = n // 8 * 8  # the part packed 8 bytes at a time
    for p, (name, P, bits) in enumerate(plan.planes):
        n_bytes = (P + 7) // 8
        codes = [np.zeros(n, np.uint8) for _ in range(n_bytes)]
        mask = np.empty(n, np.bool_)
        for i, groups in enumerate(bits):
            _bit(diffs, groups, n, mask)
            target = codes[i // 8]
            shift = i % 8
            m8 = mask.view(np.uint8)
            if shift == 0:
                np.bitwise_or(target, m8, out=target)
            else:
                t64 = target[:word].view(np.uint64)
                m64 = m8[:word].view(np.uint64)
                np.bitwise_or(t64, np.left_shift(m64, np.uint64(shift)), out=t64)
                if word < n:
                    target[word:] |= m8[word:] << np.uint8(shift)
        dest = out[p]
        lo = a - plan.lo
        if n_bytes == 1:
            dest[lo:lo + n] = codes[0]
        else:
            acc = dest[lo:lo + n]
            acc[:] = 0
            for k, c in enumerate(codes):
                acc |= c.astype(dest.dtype) << (8 * k)


def _group_value(diffs, members, n):
    """(array, negated): the group's sum of signed differences is ``-array`` when negated.

    A member (s, +1) is ``D_s[o] = I[o + s] - I[o]``; a member (s, -1) is the difference to the
    opposite neighbour, ``I[o - s] - I[o] = -D_s[o - s]``.
    """
    pos = [diffs[s][s:s + n] for s, sign in members if sign > 0]
    neg = [diffs[s][:n] for s, sign in members if sign < 0]
    if not pos:
        acc = neg[0]
        for v in neg[1:]:
            acc = np.add(acc, v)
        return acc, True
    acc = pos[0]
    for v in pos[1:]:
        acc = np.add(acc, v)
    for v in neg:
        acc = np.subtract(acc, v)
    return acc, False


def _bit(diffs, groups, n, mask) -> None:
    """mask[:] = (the neighbour's interpolated value minus the centre >= 0), in difference form."""
    if not groups:  # every corner is the centre itself (radius 0 on this axis): always >= 0
        mask[:] = True
        return
    if len(groups) == 1:
        acc, negated = _group_value(diffs, groups[0][1], n)
        (np.less_equal if negated else np.greater_equal)(acc, 0, out=mask)
        return
    values = [_group_value(diffs, members, n) + (rel,) for rel, members in groups]
    (acc1, neg1, _), rest = values[0], values[1:]
    sign1 = -1.0 if neg1 else 1.0
    # sign1 * acc1 + sum_g sign_g rel_g acc_g >= 0  <=>  sign1 * acc1 >= -(rest): compare, don't add
    acc2, neg2, rel2 = rest[0]
    other = np.multiply(acc2, np.float32(sign1 * (1.0 if neg2 else -1.0) * rel2))
    for acc, neg, rel in rest[1:]:
        np.subtract(other, np.multiply(acc, np.float32(sign1 * (-1.0 if neg else 1.0) * rel)), out=other)
    (np.less_equal if neg1 else np.greater_equal)(acc1, other, out=mask)


def lbptop_histograms(volume: np.ndarray, radii=(1, 1, 1), neighbours=(8, 8, 8), grid=(5, 5), t_blocks: int = 1,
                      patterns: str = "u2", normalise: bool = True) -> np.ndarray:
    """LBP-TOP histograms of a (T, H, W) greyscale volume.

    Returns (n_blocks, 3 planes concatenated) as a 1-D float64 vector of length
    ``n_blocks * (bins_xy + bins_xt + bins_yt)``; block order is t-block, row, column.
    ``radii`` are (R_x, R_y, R_t); ``neighbours`` are (P_xy, P_xt, P_yt).
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be (T, H, W); got shape {volume.shape}")
    radii = tuple(float(r) for r in radii)
    neighbours = tuple(int(p) for p in neighbours)
    plan = _plan(tuple(volume.shape), radii, neighbours, (int(grid[0]), int(grid[1])), int(t_blocks), patterns)
    flat = np.ascontiguousarray(volume, dtype=_DTYPE).ravel()
    m = plan.hi - plan.lo
    outs = [np.empty(m, np.uint8 if P <= 8 else (np.uint16 if P <= 16 else np.uint32)) for _, P, _ in plan.planes]
    for a in range(plan.lo, plan.hi, _CHUNK):
        _plane_codes(flat, plan, a, min(a + _CHUNK, plan.hi), outs)
    parts = []
    nb = plan.n_blocks
    for (name, P, _), codes in zip(plan.planes, outs):
        if plan.block_u8 is not None and P <= 8:
            import cv2

            cols = 1024
            rows = m // cols
            hist = np.zeros((256, nb + 1), np.float64)
            if rows:
                hist += cv2.calcHist([codes[:rows * cols].reshape(rows, cols), plan.block_u8[:rows * cols].reshape(rows, cols)],
                                     [0, 1], None, [256, nb + 1], [0, 256, 0, nb + 1])
            if rows * cols < m:
                tail = np.bincount(plan.block_u8[rows * cols:].astype(np.intp) * 256 + codes[rows * cols:],
                                   minlength=(nb + 1) * 256).reshape(nb + 1, 256).T
                hist += tail
            by_code = hist.T[:nb, :2 ** P]  # (nb, 2**P)
        else:
            block = plan.block_key if plan.block_key is not None else plan.block_u8.astype(np.intp)
            key = block * (2 ** P) + codes.astype(np.intp)
            by_code = np.bincount(key, minlength=(nb + 1) * 2 ** P).reshape(nb + 1, 2 ** P)[:nb].astype(np.float64)
        h = by_code @ _onehot(P, patterns)  # sum the code counts into pattern bins
        parts.append(h)
    hist = np.concatenate(parts, axis=1)  # (nb, sum of bins)
    if normalise:
        start = 0
        for part in parts:
            k = part.shape[1]
            seg = hist[:, start:start + k]
            total = seg.sum(axis=1, keepdims=True)
            seg /= np.where(total > 0, total, 1.0)
            start += k
    return hist.ravel()


# ----------------------------------------------------------------------------------------------
# the extractor
class LBPTOP(FeatureExtractor):
    """LBP-TOP (Zhao & Pietikainen 2007): uniform-pattern histograms on XY, XT, YT per block.

    Parameters:
      ``radii``       (R_x, R_y, R_t) sampling radii in pixels / frames (default (1, 1, 1));
      ``neighbours``  (P_xy, P_xt, P_yt) points per plane (default (8, 8, 8); up to 16);
      ``grid``        (rows, cols) spatial blocks (default (5, 5));
      ``t_blocks``    temporal blocks (default 1);
      ``patterns``    ``"u2"`` (uniform, P(P-1)+3 bins per plane) or ``"riu2"`` (rotation-invariant, P+2);
      ``size``        side the frames are resized to (None keeps their size; then the crops of
                      one clip must share a size);
      ``segment``     ``"onset-offset"`` (the annotated range when there is one) or ``"all"``;
      ``align``       None (frames used as given, e.g. CASME II's cropped faces), ``"per-clip"``
                      or ``"tracked"`` face alignment (``mebench.face.align``) to a ``size`` crop;
      ``n_jobs``      threads over clips (-1: every core); it does not change the output.

    Output: ``t_blocks * rows * cols * (bins_xy + bins_xt + bins_yt)`` values, each block's
    plane histogram normalised to sum 1 (4425 with the defaults).
    """

    stateless = True
    version = "1"
    requires = ("frames",)
    _parameter_constraints = {
        "radii": [Interval(Real, 0, None, closed="left"), tuple, list],
        "neighbours": [Interval(Integral, 1, 16, closed="both"), tuple, list],
        "grid": [POSITIVE_INT, tuple, list], "t_blocks": [POSITIVE_INT], "patterns": [StrOptions(set(PATTERNS))],
        "size": [None, SIDE], "segment": [StrOptions({"onset-offset", "all"})],
        "align": [None, StrOptions({"per-clip", "tracked"})], "n_jobs": [Integral, None],
    }

    def __init__(self, radii=(1, 1, 1), neighbours=(8, 8, 8), grid=(5, 5), t_blocks: int = 1, patterns: str = "u2",
                 size: int | None = None, segment: str = "onset-offset", align: str | None = None, n_jobs: int = -1):
        keep_params(self, locals())

    def check_values(self):
        self._checked()

    def _checked(self):
        radii = tuple(float(r) for r in _triple(self.radii, "radii"))
        neighbours = tuple(int(p) for p in _triple(self.neighbours, "neighbours"))
        if any(r < 0 for r in radii):
            raise ConfigError(f"lbptop: radii must be >= 0, got {self.radii}")
        if any(not 1 <= p <= 16 for p in neighbours):
            raise ConfigError(f"lbptop: neighbours must lie in 1..16, got {self.neighbours}")
        grid = pair(self.grid, "grid", "lbptop")
        if self.patterns not in PATTERNS:
            raise ConfigError(f"lbptop: patterns must be one of {', '.join(PATTERNS)}, not {self.patterns!r}")
        if int(self.t_blocks) < 1:
            raise ConfigError("lbptop: t_blocks must be positive")
        return radii, neighbours, grid

    def n_features(self) -> int:
        _, neighbours, grid = self._checked()
        return int(self.t_blocks) * grid[0] * grid[1] * sum(n_bins(p, self.patterns) for p in neighbours)

    def transform(self, X):
        self.check_columns(X)
        radii, neighbours, grid = self._checked()
        values = map_rows(self, X, lambda row: self._one(row, radii, neighbours, grid), self.n_jobs)
        if not values:
            return np.zeros((0, self.n_features()))
        return np.vstack(values)

    def extract_one(self, row) -> np.ndarray:
        radii, neighbours, grid = self._checked()
        return self._one(row, radii, neighbours, grid)[0]

    def _one(self, row, radii, neighbours, grid):
        counts: dict = {}
        need = 2 * math.ceil(radii[2]) + 1
        clip = open_row_clip(row, "lbptop", min_frames=need)
        idx = segment_indices(clip, row, self.segment)
        if len(idx) < need:
            raise DataError(f"sample {sample_name(row)}: {len(idx)} frame(s) in its segment; lbptop with "
                            f"R_t={radii[2]:g} needs at least {need}", file=clip.locator,
                            hint="Use segment='all' or a smaller R_t, or --on-error skip.")
        clip = aligned_clip(clip, row, self.align, self.size, idx[0], idx[-1], counts)
        volume = read_volume(clip, idx, self.size if not self.align else None, row)
        try:
            return lbptop_histograms(volume, radii, neighbours, grid, int(self.t_blocks), self.patterns), counts
        except ValueError as exc:
            raise DataError(f"sample {sample_name(row)}: frames of {volume.shape[2]}x{volume.shape[1]} pixels are "
                            f"too small for lbptop radii {radii} ({exc})", file=clip.locator,
                            hint="Use larger frames (size=...) or smaller radii.") from None


def _triple(value, name):
    values = [value] * 3 if np.isscalar(value) else list(value)
    if len(values) != 3:
        raise ConfigError(f"lbptop: {name} needs 3 values (or one for all), got {value!r}")
    return values


# ----------------------------------------------------------------------------------------------
# the straightforward reference (for tests and the benchmark; needs scikit-image)
def reference_lbptop_histograms(volume: np.ndarray, radius=(1, 1, 1), neighbours=(8, 8, 8), grid=(5, 5),
                                t_blocks: int = 1, patterns: str = "u2", normalise: bool = True) -> np.ndarray:
    """LBP-TOP by calling scikit-image's ``local_binary_pattern`` on every XY, XT and YT slice.

    Same output layout as :func:`lbptop_histograms`. scikit-image has one radius per image, so a
    plane's two radii must be equal (R_x == R_y for XY, R_x == R_t for XT, R_y == R_t for YT).
    """
    from skimage.feature import local_binary_pattern

    volume = np.asarray(volume, dtype=np.uint8)
    rx, ry, rt = (float(r) for r in radius)
    if not (rx == ry == rt):
        raise ValueError("the scikit-image reference needs equal radii on all axes")
    T, H, W = volume.shape
    m = math.ceil(rx)
    method = "nri_uniform" if patterns == "u2" else "uniform"
    p_xy, p_xt, p_yt = (int(p) for p in neighbours)
    xy = np.stack([local_binary_pattern(volume[t], p_xy, rx, method) for t in range(T)])  # (T, H, W)
    xt = np.stack([local_binary_pattern(volume[:, y, :], p_xt, rx, method) for y in range(H)], axis=1)  # (T, H, W)
    yt = np.stack([local_binary_pattern(volume[:, :, x], p_yt, rx, method) for x in range(W)], axis=2)  # (T, H, W)
    inner = (slice(m, T - m), slice(m, H - m), slice(m, W - m))
    Ti, Hi, Wi = T - 2 * m, H - 2 * m, W - 2 * m
    gy, gx, gt = int(grid[0]), int(grid[1]), int(t_blocks)
    bt, by, bx = axis_cells(Ti, gt), axis_cells(Hi, gy), axis_cells(Wi, gx)
    out = []
    for kt in range(gt):
        for ky in range(gy):
            for kx in range(gx):
                for codes, P in ((xy, p_xy), (xt, p_xt), (yt, p_yt)):
                    block = codes[inner][bt == kt][:, by == ky][:, :, bx == kx].astype(np.int64)
                    h = np.bincount(block.ravel(), minlength=n_bins(P, patterns)).astype(np.float64)
                    if normalise and h.sum() > 0:
                        h /= h.sum()
                    out.append(h)
    return np.concatenate(out)
