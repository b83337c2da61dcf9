"""LBP-TOP: pattern tables, agreement with scikit-image per plane, an independent brute force for
anisotropic radii, block layout and normalisation, and the extractor's handling of bad input."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mebench.errors import ConfigError, DataError
from mebench.features.lbptop import LBPTOP, lbptop_histograms, n_bins, pattern_table, reference_lbptop_histograms


def _face_volume(T=9, H=36, W=40, seed=0):
    """A real-photo volume (astronaut, shifted 1 px per frame, small noise) with a flat patch."""
    import cv2
    from skimage.data import astronaut

    rng = np.random.default_rng(seed)
    grey = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)[40:300, 150:330]
    base = cv2.resize(grey, (W + T, H), interpolation=cv2.INTER_AREA)
    vol = np.stack([base[:, k:k + W] for k in range(T)]).astype(int)
    vol = np.clip(vol + rng.integers(-3, 4, vol.shape), 0, 255).astype(np.uint8)
    vol[:, 5:15, 5:15] = 90  # flat: every neighbour ties with the centre
    return vol


def test_pattern_tables():
    u2 = pattern_table(8, "u2")
    assert u2.max() + 1 == n_bins(8, "u2") == 59
    assert u2[0] == 0 and u2[255] == 57 and u2[0b01010101] == 58  # none, all ones, non-uniform
    assert len(set(u2[[1, 2, 4, 8]])) == 4  # u2 is not rotation invariant
    riu2 = pattern_table(8, "riu2")
    assert riu2.max() + 1 == n_bins(8, "riu2") == 10
    assert riu2[0b00001110] == riu2[0b01110000] == 3 and riu2[0b00100101] == 9
    # exactly P(P-1)+2 uniform codes map to distinct bins
    assert len(np.unique(u2[u2 != 58])) == 58


def test_without_interpolation_counts_equal_scikit_image_exactly():
    """P=4, R=1 samples pixel centres only: codes must be bit-identical to scikit-image's."""
    pytest.importorskip("skimage")
    vol = _face_volume()
    ref = reference_lbptop_histograms(vol, neighbours=(4, 4, 4), grid=(2, 2), normalise=False)
    np.testing.assert_array_equal(lbptop_histograms(vol, neighbours=(4, 4, 4), grid=(2, 2), normalise=False), ref)


@pytest.mark.parametrize("kw", [
    {},
    {"patterns": "riu2"},
    {"neighbours": (8, 4, 16), "grid": (3, 2), "t_blocks": 2},
    {"radius": (1.5, 1.5, 1.5), "neighbours": (6, 12, 8)},
    {"radius": (2, 2, 2)},
])
def test_counts_match_scikit_image_up_to_exact_ties(kw):
    """scikit-image interpolates absolute values, so an exact tie (interpolated value == centre)
    can round just below the centre there; we test ``sum_k w_k (I_k - I_c) >= 0``, exact on ties
    (see the brute force below). Only those few codes may differ."""
    pytest.importorskip("skimage")
    vol = _face_volume()
    ref = reference_lbptop_histograms(vol, normalise=False, **kw)
    kw = dict(kw)
    if "radius" in kw:
        kw["radii"] = kw.pop("radius")
    ours = lbptop_histograms(vol, normalise=False, **kw)
    assert ours.shape == ref.shape and ours.sum() == ref.sum()
    assert np.abs(ours - ref).sum() <= 1e-3 * ref.sum()


def _brute_force(vol, radii, neighbours, patterns="u2"):
    """Per-voxel LBP-TOP in float64, written independently of the fast path (one block)."""
    T, H, W = vol.shape
    v = vol.astype(np.float64)
    rx, ry, rt = radii
    mt, my, mx = math.ceil(rt), math.ceil(ry), math.ceil(rx)

    out = []
    planes = [(neighbours[0], ry, rx, "y", "x"), (neighbours[1], rt, rx, "t", "x"), (neighbours[2], rt, ry, "t", "y")]
    for P, ra, rb, axis_a, axis_b in planes:
        table = pattern_table(P, patterns)
        hist = np.zeros(n_bins(P, patterns))
        for t in range(mt, T - mt):
            for y in range(my, H - my):
                for x in range(mx, W - mx):
                    code = 0
                    for i in range(P):
                        da = round(-ra * math.sin(2 * math.pi * i / P), 5)
                        db = round(rb * math.cos(2 * math.pi * i / P), 5)
                        pos = {"t": float(t), "y": float(y), "x": float(x)}
                        pos[axis_a] += da
                        pos[axis_b] += db
                        value = 0.0
                        a0, b0 = math.floor(pos[axis_a]), math.floor(pos[axis_b])
                        fa, fb = pos[axis_a] - a0, pos[axis_b] - b0
                        for ka, wa in ((0, 1 - fa), (1, fa)):
                            for kb, wb in ((0, 1 - fb), (1, fb)):
                                if wa * wb == 0:
                                    continue
                                q = {"t": t, "y": y, "x": x}
                                q[axis_a] = a0 + ka
                                q[axis_b] = b0 + kb
                                value += wa * wb * (v[q["t"], q["y"], q["x"]] - v[t, y, x])
                        code |= int(value >= 0) << i
                    hist[table[code]] += 1
        out.append(hist)
    return np.concatenate(out)


@pytest.mark.parametrize("radii, neighbours, patterns", [
    ((1, 1, 1), (8, 8, 8), "u2"),  # the defaults
    ((1, 2, 2), (8, 8, 4), "u2"),  # anisotropic: elliptical sampling in XT and YT
    ((2, 1, 1.5), (6, 8, 12), "riu2"),
])
def test_codes_match_an_independent_brute_force(radii, neighbours, patterns):
    vol = _face_volume(T=7, H=12, W=14, seed=1)
    vol[:, 2:7, 2:7] = 77  # flat patch with exact ties
    ours = lbptop_histograms(vol, radii=radii, neighbours=neighbours, grid=(1, 1), patterns=patterns,
                             normalise=False)
    np.testing.assert_array_equal(ours, _brute_force(vol, radii, neighbours, patterns))


def test_layout_and_normalisation():
    vol = _face_volume()
    h = lbptop_histograms(vol, grid=(2, 3), t_blocks=2)
    per_block = h.reshape(12, 3 * 59)
    for plane in range(3):
        np.testing.assert_allclose(per_block[:, plane * 59:(plane + 1) * 59].sum(axis=1), 1.0)
    assert LBPTOP(grid=(2, 3), t_blocks=2).n_features() == h.size
    assert LBPTOP().n_features() == 25 * 3 * 59 == 4425


def test_temporal_planes_see_motion():
    """XT/YT histograms of a moving texture differ from those of a static one; XY does not."""
    vol = _face_volume()
    static = np.repeat(vol[:1], len(vol), axis=0)
    moving, still = lbptop_histograms(vol, grid=(1, 1)), lbptop_histograms(static, grid=(1, 1))
    xy, xt = slice(0, 59), slice(59, 118)
    assert np.abs(moving[xt] - still[xt]).sum() > 0.5
    assert np.abs(moving[xy] - still[xy]).sum() < 0.35


def _write_clip(folder, frames):
    from mebench.io import write_frames

    write_frames(folder, frames, pattern="img{}.png", first=1)
    return str(folder)


def _samples(locator, **extra):
    row = {"sample_id": "t/s1/c1", "dataset": "t", "subject_id": "t/s1", "label": "a", "frames": locator}
    row.update(extra)
    return pd.DataFrame([row])


def test_extractor_reads_the_annotated_segment_and_threads_do_not_change_output(tmp_path):
    vol = _face_volume(T=12)
    loc = _write_clip(tmp_path / "c1", list(vol))
    whole = LBPTOP(segment="all").transform(_samples(loc, onset=3, offset=9))
    seg = LBPTOP().transform(_samples(loc, onset=3, offset=9))
    np.testing.assert_allclose(seg[0], lbptop_histograms(vol[2:9]))
    np.testing.assert_allclose(whole[0], lbptop_histograms(vol))
    two = pd.concat([_samples(loc, onset=3, offset=9), _samples(loc).assign(sample_id="t/s1/c2")], ignore_index=True)
    np.testing.assert_array_equal(LBPTOP(n_jobs=1).transform(two), LBPTOP(n_jobs=2).transform(two))
    assert "n_jobs" not in LBPTOP(n_jobs=2).cache_token()
    assert LBPTOP(size=16).transform(_samples(loc)).shape == (1, 4425)


def test_extractor_bad_input(tmp_path):
    vol = _face_volume(T=4)
    loc = _write_clip(tmp_path / "short", list(vol[:2]))
    with pytest.raises(DataError, match="needs at least 3"):
        LBPTOP().transform(_samples(loc))
    single = tmp_path / "one.png"
    import cv2

    cv2.imwrite(str(single), vol[0])
    with pytest.raises(DataError, match="single image"):
        LBPTOP().transform(_samples(str(single)))
    frames = [vol[0], vol[1], vol[2][:, :-2]]
    loc = _write_clip(tmp_path / "sizes", frames)
    with pytest.raises(DataError, match="frame 3") as err:
        LBPTOP().transform(_samples(loc))
    assert "img3.png" in str(err.value)
    tiny = _write_clip(tmp_path / "tiny", [np.zeros((2, 2), np.uint8)] * 4)
    with pytest.raises(DataError, match="too small"):
        LBPTOP().transform(_samples(tiny))
    with pytest.raises(ConfigError, match="patterns"):
        LBPTOP(patterns="ri").transform(_samples(loc))
    with pytest.raises(ConfigError, match="neighbours"):
        LBPTOP(neighbours=(8, 8)).transform(_samples(loc))
