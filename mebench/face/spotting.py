"""Micro-expression spotting: the apex of an annotated clip, and (onset, apex, offset) intervals in
long clips, plus MEGC-style evaluation.

* :func:`spot_apex` -- the ``apex=spot`` policy: the frame of maximal motion relative to onset,
  measured by optical flow inside face regions that exclude the eyes (blinks must not win), with
  global (head) motion removed by subtracting the median flow. Loaders only mark such samples
  (``apex_source == "spot"``, apex missing); :func:`resolve_spot_apexes` fills them in before
  features are extracted (the runner and ``mebench data check`` call it).
* :func:`spot_intervals` -- a feature-difference detector in the style of the MEGC spotting
  baseline (Moilanen et al. 2014; Li et al. 2018): each frame's block features are compared with
  the average of the frames ``k`` before and ``k`` after, the contrast of that difference against
  its neighbours is thresholded at ``mean + p * (max - mean)``, and every peak gives the interval
  ``[peak - k, peak + k]``.
* :func:`evaluate_spotting` -- precision, recall and F1 under the MEGC criterion IoU >= 0.5.

The clip-level step built on :func:`spot_intervals` (an ME extractor run on every spotted interval,
aggregated per clip) is the ``spotted`` extractor, :class:`mebench.features.spotted.SpottedFeatures`.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ModelFetchError
from .grid import cell_index, cell_means
from .landmarks import EYE_REGIONS, region_mask

# Face regions in which expressions move (eyes excluded on purpose).
MOTION_REGIONS = ("right_brow", "left_brow", "glabella", "nose", "right_cheek", "left_cheek", "mouth", "chin")


def _landmarker(landmarker):
    """The landmarker to align with, or False (Haar/full-frame only) when the model is unavailable
    (offline, or no way to fetch it); :func:`resolve_spot_apexes` counts such samples."""
    if landmarker is not None:
        return landmarker
    from .landmarker_pool import shared_landmarker

    try:
        return shared_landmarker("image")
    except ModelFetchError:
        return False


def _aligned(clip, start, stop, size, landmarker, mode="per-clip", onset=None):
    from ..io import as_clip
    from .align import AlignedClip, align_clip

    clip = as_clip(clip)
    if isinstance(clip, AlignedClip):
        return clip
    return align_clip(clip, onset if onset is not None else start, stop, size=size, mode=mode,
                      landmarker=_landmarker(landmarker), on_no_face="haar")


def motion_mask(aligned, exclude_eyes: bool = True, margin: float = 0.03, eye_margin: float = 0.06) -> np.ndarray:
    """(S, S) bool mask of the expression regions of an aligned clip (eyes removed when asked).

    Uses the clip's onset landmarks, or the canonical mean face after a Haar/full-frame fallback.
    """
    size = aligned.size
    pts = aligned.landmarks
    mask = region_mask(pts, (size, size), MOTION_REGIONS, dilate=max(1, int(round(margin * size))))
    if exclude_eyes:
        eyes = region_mask(pts, (size, size), EYE_REGIONS, dilate=max(1, int(round(eye_margin * size))))
        mask &= ~eyes
    if mask.sum() < 0.02 * size * size:  # degenerate landmarks: fall back to the canonical face
        from ..data.canonical_face import canonical_landmarks

        c = canonical_landmarks(size)
        mask = region_mask(c, (size, size), MOTION_REGIONS, dilate=max(1, int(round(margin * size))))
        if exclude_eyes:
            mask &= ~region_mask(c, (size, size), EYE_REGIONS, dilate=max(1, int(round(eye_margin * size))))
    return mask


def _residual_magnitude(flow: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Flow magnitude after removing the global (median) motion inside the mask."""
    u = flow[..., 0] - np.median(flow[..., 0][mask])
    v = flow[..., 1] - np.median(flow[..., 1][mask])
    return np.sqrt(u * u + v * v)


def _top_mean(values: np.ndarray, fraction: float) -> float:
    k = max(1, int(round(fraction * values.size)))
    return float(np.partition(values, values.size - k)[values.size - k:].mean())


def motion_scores(clip, onset: int, offset: int, method: str = "dis", size: int = 128, landmarker=None,
                  exclude_eyes: bool = True, top: float = 0.1, counts: dict | None = None) -> dict[int, float]:
    """Frame -> motion relative to ``onset`` (mean of the top ``top`` fraction of residual flow
    magnitudes inside the expression mask), for frames ``onset..offset``. The alignment's counts
    (Haar or full-frame fallbacks) are added to ``counts`` when given."""
    from .flow import compute_flow

    aligned = _aligned(clip, onset, offset, size, landmarker)
    if counts is not None:
        for key, value in (getattr(aligned, "counts", None) or {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    aligned.require_frames(2, "apex spotting")
    mask = motion_mask(aligned, exclude_eyes=exclude_eyes)
    idx = [i for i in aligned.indices if onset <= i <= offset]
    if len(idx) < 2:
        raise DataError(f"apex spotting needs at least 2 frames between onset {onset} and offset {offset}; "
                        f"found {len(idx)}", file=aligned.locator, hint="Check the onset and offset columns.")
    ref = aligned.read(onset, grey=True)
    scores = {onset: 0.0}
    for i in idx:
        if i == onset:
            continue
        flow = compute_flow(ref, aligned.read(i, grey=True), method=method)
        scores[i] = _top_mean(_residual_magnitude(flow, mask)[mask], top)
    return scores


def spot_apex(clip, onset: int, offset: int, method: str = "dis", size: int = 128, landmarker=None,
              exclude_eyes: bool = True, counts: dict | None = None) -> int:
    """Absolute frame number of maximal motion relative to ``onset`` within ``onset..offset``.

    Works on any Clip (frames locator, array, aligned clip); without a detectable face (or without
    the landmark model) the mask comes from a Haar box or the whole frame as a face crop. The
    score is lightly smoothed over time (1-2-1) so single noisy frames do not win.
    """
    onset, offset = int(onset), int(offset)
    if offset <= onset:
        raise DataError(f"offset {offset} must come after onset {onset} to spot an apex",
                        hint="Check the onset/offset columns, or use apex=middle.")
    scores = motion_scores(clip, onset, offset, method=method, size=size, landmarker=landmarker,
                           exclude_eyes=exclude_eyes, counts=counts)
    idx = sorted(scores)
    s = np.array([scores[i] for i in idx])
    if len(s) >= 3:
        padded = np.pad(s, 1, mode="edge")
        s = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return int(idx[int(np.argmax(s))])


def resolve_spot_apexes(samples, on_error: str = "raise"):
    """Spot the apex of every sample a loader marked ``apex_source == "spot"`` with no apex.

    A clip that cannot be spotted is an error, or with ``on_error="skip"`` is dropped and listed in
    ``counts["skipped"]`` (``{"sample_id", "reason", "stage": "apex-spot"}``) for the manifest.
    Returns ``(samples, counts)``: a copy with the apexes filled in, and for the manifest
    ``{"apex_resolved_spot": n}`` plus the fallbacks: ``apex_spot_without_landmark_model`` (samples
    spotted with a Haar-box or full-frame mask because ``face_landmarker.task`` could not be had,
    e.g. offline) and ``apex_spot_haar_fallback`` / ``apex_spot_full_frame_fallback`` /
    ``apex_spot_no_face_onset`` (the alignment's own fallbacks). Empty when nothing was pending.
    """
    from ..io import open_clip

    if "apex_source" not in samples.columns or "apex" not in samples.columns:
        return samples, {}
    pending = (samples["apex_source"] == "spot") & samples["apex"].isna()
    if not pending.any():
        return samples, {}
    samples = samples.copy()
    landmarker = _landmarker(None)  # False: no landmark model, masks from a Haar box or the whole frame
    align_counts: dict = {}
    skipped, dropped = [], []
    for pos in np.flatnonzero(pending.to_numpy()):
        row = samples.iloc[pos]
        try:
            apex = spot_apex(open_clip(str(row["frames"])), int(row["onset"]), int(row["offset"]),
                             landmarker=landmarker, counts=align_counts)
        except DataError as exc:
            if on_error != "skip":
                raise DataError(f"sample {row['sample_id']}: cannot spot its apex (apex=spot): {exc}",
                                hint="Use --dataset-opt apex=middle, fix the frames, or pass --on-error skip."
                                ) from None
            skipped.append({"sample_id": str(row["sample_id"]), "reason": str(exc), "stage": "apex-spot"})
            dropped.append(pos)
            continue
        samples.iloc[pos, samples.columns.get_loc("apex")] = apex
    if dropped:
        samples = samples.drop(index=samples.index[dropped]).reset_index(drop=True)
    counts = {"apex_resolved_spot": int(pending.sum()) - len(dropped)}
    if skipped:
        counts["skipped"] = skipped
    if landmarker is False:
        counts["apex_spot_without_landmark_model"] = int(pending.sum())
    counts.update({f"apex_spot_{k}": int(v) for k, v in sorted(align_counts.items())
                   if k in ("haar_fallback", "full_frame_fallback", "no_face_onset")})
    return samples, counts


# --------------------------------------------------------------------------------------------
# interval spotting
def _uniform_lut() -> np.ndarray:
    """Map 8-bit LBP codes to 59 uniform-pattern bins (58 uniform codes + one for the rest)."""
    lut = np.full(256, 58, dtype=np.uint8)
    b = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        if transitions <= 2:
            lut[code] = b
            b += 1
    return lut


_LUT = _uniform_lut()


def lbp_image(grey: np.ndarray) -> np.ndarray:
    """Uniform LBP (8 neighbours, radius 1) codes 0..58 of a uint8 image, (H-2, W-2)."""
    g = grey.astype(np.int16)
    c = g[1:-1, 1:-1]
    h, w = g.shape
    code = np.zeros(c.shape, dtype=np.uint8)
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    for bit, (dy, dx) in enumerate(offsets):
        code |= ((g[1 + dy:h - 1 + dy, 1 + dx:w - 1 + dx] >= c).astype(np.uint8) << bit)
    return _LUT[code]


def block_lbp_histograms(grey: np.ndarray, blocks: int, keep: np.ndarray | None = None,
                         mask: np.ndarray | None = None) -> np.ndarray:
    """(n_blocks, 59) L1-normalised uniform-LBP histograms over a ``blocks`` x ``blocks`` grid
    (of the image's pixels, or only of those inside ``mask`` when given)."""
    codes = lbp_image(grey)
    h, w = codes.shape
    block = cell_index(grey.shape, (blocks, blocks))[1:-1, 1:-1].ravel()
    weights = None if mask is None else mask[1:-1, 1:-1].ravel().astype(np.float64)
    hist = np.bincount(block * 59 + codes.ravel(), weights=weights,
                       minlength=blocks * blocks * 59).reshape(blocks * blocks, 59)
    hist = hist.astype(np.float64)
    hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1)
    return hist if keep is None else hist[keep]


def _block_keep(mask: np.ndarray, blocks: int, min_fraction: float = 0.25) -> np.ndarray:
    keep = cell_means(mask.astype(np.float64), (blocks, blocks)) >= min_fraction
    return keep if keep.any() else np.ones_like(keep)


def feature_difference(clip, k: int, start: int | None = None, stop: int | None = None, size: int = 128,
                       blocks: int = 6, feature: str = "lbp", exclude_eyes: bool = True, landmarker=None,
                       align: str = "per-clip", top_fraction: float = 1 / 3, method: str = "dis",
                       eye_scores: dict | None = None) -> dict[int, float]:
    """Frame -> feature difference F(i) against the average of frames i-k and i+k (MEGC baseline).

    ``feature="lbp"``: chi-squared distance of block uniform-LBP histograms; ``feature="flow"``:
    mean residual flow magnitude per block from frames i-k and i+k to i. F(i) is the mean of the
    ``top_fraction`` largest block differences. Frames within k of either end get no score.
    With ``feature="flow"``, a dict passed as ``eye_scores`` receives the same difference measured
    inside the eyes (mean residual flow there), used to recognise blinks.
    """
    from ..io import as_clip
    from .flow import compute_flow

    if feature not in ("lbp", "flow"):
        raise ValueError(f"feature must be 'lbp' or 'flow', not {feature!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    src = as_clip(clip)
    src.require_frames(2 * k + 1, f"interval spotting with k={k}")
    aligned = _aligned(src, start, stop, size, landmarker, mode=align)
    mask = motion_mask(aligned, exclude_eyes=exclude_eyes)
    keep = _block_keep(mask, blocks)
    idx = aligned.indices
    if len(idx) < 2 * k + 1:
        raise DataError(f"interval spotting with k={k} needs at least {2 * k + 1} frames; the range has {len(idx)}",
                        file=aligned.locator, hint="Use a smaller k or a longer clip.")
    n_top = max(1, int(round(top_fraction * int(keep.sum()))))
    out: dict[int, float] = {}
    if feature == "lbp":
        feats = {}
        for i in idx:  # stream: each frame decoded once, only its histograms kept
            feats[i] = block_lbp_histograms(aligned.read(i, grey=True), blocks, keep, mask=mask)
        for n in range(k, len(idx) - k):
            cur = feats[idx[n]]
            aff = 0.5 * (feats[idx[n - k]] + feats[idx[n + k]])
            chi = ((cur - aff) ** 2 / np.maximum(cur + aff, 1e-12)).sum(axis=1)
            out[idx[n]] = float(np.sort(chi)[-n_top:].mean())
    else:
        eyes = region_mask(aligned.landmarks, (size, size), EYE_REGIONS, dilate=max(1, int(round(0.02 * size))))
        if not eyes.any():
            eyes = None
        ids = cell_index((size, size), (blocks, blocks))[mask]
        per_block_n = np.maximum(np.bincount(ids, minlength=blocks * blocks), 1)
        greys = {}
        for n, i in enumerate(idx):
            greys[i] = aligned.read(i, grey=True)
            for old in [j for j in greys if j < idx[max(0, n - 2 * k)]]:
                del greys[old]
            m = n - k
            if m < k:
                continue
            centre = idx[m]
            mags = []
            for other in (idx[m - k], idx[m + k]):
                flow = compute_flow(greys[other], greys[centre], method=method)
                mags.append(_residual_magnitude(flow, mask))
            mag = 0.5 * (mags[0] + mags[1])
            # block means over the expression mask only: eye pixels never count
            per_block = (np.bincount(ids, weights=mag[mask], minlength=blocks * blocks) / per_block_n)[keep]
            out[centre] = float(np.sort(per_block)[-n_top:].mean())
            if eye_scores is not None and eyes is not None:
                eye_scores[centre] = float(mag[eyes].mean())
    return out


def spot_intervals(clip, k: int = 6, threshold: float = 0.2, start: int | None = None, stop: int | None = None,
                   size: int = 128, blocks: int = 6, feature: str = "flow", exclude_eyes: bool = True,
                   landmarker=None, align: str = "per-clip", min_distance: int | None = None,
                   blink_ratio: float | None = 2.0, top_fraction: float = 1 / 3, return_scores: bool = False):
    """Spot micro-expression intervals in a (long) clip: a list of (onset, apex, offset).

    ``k`` is about half the expected ME length in frames (MEGC: ``k = (L + 1) / 2`` with L the
    average ME duration, e.g. k=6 for ~12-frame MEs). ``threshold`` is the MEGC ``p`` in
    ``T = mean(C) + p * (max(C) - mean(C))``, applied to the contrasted difference
    ``C(i) = F(i) - (F(i-k) + F(i+k)) / 2`` (negative values set to 0). Peaks closer than
    ``min_distance`` (default k) keep the larger one. ``feature`` is ``flow`` (default; residual
    optical flow, robust to sensor noise) or ``lbp`` (the MEGC LBP-chi-squared baseline).

    Blinks: the eyes are excluded from the expression mask, but flow spreads a few pixels beyond
    a moving eyelid. With ``feature="flow"`` a peak whose contrast measured inside the eyes is more
    than ``blink_ratio`` times its face contrast is taken for a blink and dropped (``None`` keeps
    every peak); ``return_scores=True`` reports the dropped apexes under ``"blinks"``.
    """
    k = int(k)
    eye: dict[int, float] = {}
    scores = feature_difference(clip, k, start=start, stop=stop, size=size, blocks=blocks, feature=feature,
                                exclude_eyes=exclude_eyes, landmarker=landmarker, align=align,
                                top_fraction=top_fraction, eye_scores=eye if blink_ratio is not None else None)
    idx = sorted(scores)
    f = np.array([scores[i] for i in idx])
    contrast = _contrast(f, k)
    eye_contrast = _contrast(np.array([eye[i] for i in idx]), k) if len(eye) == len(idx) and eye else None
    blinks: list[int] = []
    intervals: list[tuple[int, int, int]] = []
    if len(f) and contrast.max() > 0:
        thr = contrast.mean() + float(threshold) * (contrast.max() - contrast.mean())
        dist = int(min_distance if min_distance is not None else k)
        order = np.argsort(-contrast, kind="stable")
        chosen: list[int] = []
        for n in order:
            if contrast[n] < thr:
                break
            if n > 0 and contrast[n - 1] > contrast[n] or n + 1 < len(f) and contrast[n + 1] > contrast[n]:
                continue  # not a local maximum
            if eye_contrast is not None and eye_contrast[n] > float(blink_ratio) * contrast[n]:
                blinks.append(idx[n])
                continue
            if all(abs(idx[n] - idx[c]) > dist for c in chosen):
                chosen.append(n)
        src_idx = _all_indices(clip, start, stop)
        lo_i, hi_i = src_idx[0], src_idx[-1]
        for n in sorted(chosen):
            apex = idx[n]
            intervals.append((max(lo_i, apex - k), apex, min(hi_i, apex + k)))
    if return_scores:
        return intervals, {"frames": idx, "difference": f.tolist(), "contrast": contrast.tolist(),
                           "eye_contrast": None if eye_contrast is None else eye_contrast.tolist(),
                           "blinks": sorted(blinks)}
    return intervals


def _contrast(f: np.ndarray, k: int) -> np.ndarray:
    """C(i) = F(i) - (F(i-k) + F(i+k)) / 2, clipped at 0 (ends use the nearest available frame)."""
    out = np.zeros_like(f)
    for n in range(len(f)):
        lo, hi = f[max(0, n - k)], f[min(len(f) - 1, n + k)]
        out[n] = max(0.0, f[n] - 0.5 * (lo + hi))
    return out


def _all_indices(clip, start, stop) -> list[int]:
    from ..io import as_clip

    return as_clip(clip).frames_between(start, stop)


# --------------------------------------------------------------------------------------------
def interval_iou(a, b) -> float:
    """IoU of two inclusive frame intervals given as (onset, [apex,] offset)."""
    a0, a1 = int(a[0]), int(a[-1])
    b0, b1 = int(b[0]), int(b[-1])
    inter = min(a1, b1) - max(a0, b0) + 1
    if inter <= 0:
        return 0.0
    return inter / float((a1 - a0 + 1) + (b1 - b0 + 1) - inter)


def evaluate_spotting(pred, truth, iou: float = 0.5) -> dict:
    """MEGC spotting evaluation: a predicted interval is a true positive when its IoU with a
    not-yet-matched ground-truth interval is >= ``iou`` (one-to-one, best IoU first).

    ``pred``/``truth`` are lists of (onset, [apex,] offset), or dicts clip -> such lists (counts
    are summed over clips). Returns precision, recall, f1, tp, fp, fn (0 where undefined).
    """
    if isinstance(pred, dict) or isinstance(truth, dict):
        pred = pred if isinstance(pred, dict) else {}
        truth = truth if isinstance(truth, dict) else {}
        tp = fp = fn = 0
        for key in set(pred) | set(truth):
            r = evaluate_spotting(pred.get(key, []), truth.get(key, []), iou)
            tp, fp, fn = tp + r["tp"], fp + r["fp"], fn + r["fn"]
        return _prf(tp, fp, fn)
    pred, truth = list(pred), list(truth)
    pairs = sorted(((interval_iou(p, t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth)),
                   reverse=True)
    used_p, used_t = set(), set()
    for value, i, j in pairs:
        if value < iou:
            break
        if i in used_p or j in used_t:
            continue
        used_p.add(i)
        used_t.add(j)
    tp = len(used_p)
    return _prf(tp, len(pred) - tp, len(truth) - tp)


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
