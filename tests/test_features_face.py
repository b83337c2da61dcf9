"""Feature tests on a real face: ``skimage.data.astronaut()`` turned into short clips with a planted
micro-expression (a 1-3 px warp of the brow or lip-corner landmarks rising and decaying over ~10
frames, small sensor noise; see ``mebench.data.synthetic_photo``).

Asserted: flow features (MDMO, Bi-WOOF) and ``landmark-motion`` concentrate in the warped region,
and ``au-mediapipe`` moves in the right AU."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _face_helpers import face_cache, face_model  # noqa: F401

from mebench.errors import DataError

MOUTH_AUS = {"AU12": 1.0}
BROW_AUS = {"AU4": 1.0}


def _sample(aus, subject=0, size=128, name=None, noise=2.0, apex=6):
    from mebench.data.synthetic_photo import photo_params

    params = photo_params(subject_seed=subject, size=size, n_frames=12, onset=2, apex=apex, offset=11, aus=aus,
                          noise=noise, clip_seed=subject + 1, variation=0.0 if subject == 0 else 1.0)
    params["v"] = 1
    return {"sample_id": f"photo/s{subject}/{name or '+'.join(aus) or 'neutral'}", "dataset": "photo",
            "subject_id": f"photo/s{subject}", "label": "x", "onset": 2, "apex": apex, "offset": 11,
            "frames": "synthetic:" + json.dumps(params, sort_keys=True, separators=(",", ":"))}


@pytest.fixture(scope="module")
def clips():
    rows = [_sample(MOUTH_AUS), _sample(BROW_AUS), _sample({"AU1": 1.0, "AU2": 1.0}), _sample({}),
            _sample(MOUTH_AUS, subject=5), _sample(BROW_AUS, subject=5)]
    return pd.DataFrame(rows)


def test_mdmo_main_rois_are_the_warped_ones(clips, face_model, face_cache):  # noqa: F811
    from mebench.features.flow_features import MDMO, MDMO_ROIS

    names = list(MDMO_ROIS)
    ex = MDMO()
    X = ex.transform(clips)
    assert X.shape == (len(clips), 2 * len(names))
    assert ex.counts_.get("align_aligned_clips") == len(clips) and not ex.counts_.get("align_haar_fallback")
    rho = X[:, 0::2]
    for i in (0, 4):  # AU12: lip corners pulled up and out
        top = names[int(np.argmax(rho[i]))]
        assert top in ("right_mouth_corner", "left_mouth_corner"), (top, rho[i])
        brows = [rho[i, names.index(n)] for n in names if "brow" in n]
        assert max(brows) < 0.3
    for i in (1, 2, 5):  # AU4, AU1+2: the brows
        top = names[int(np.argmax(rho[i]))]
        assert "brow" in top or top == "glabella", (top, rho[i])
        corners = [rho[i, names.index(n)] for n in ("right_mouth_corner", "left_mouth_corner")]
        assert max(corners) < 0.3
    # the direction: AU12 moves the lip corners up (negative y in image coordinates)
    theta = X[0, 1::2][names.index("right_mouth_corner")]
    assert np.sin(theta) < 0
    vec = MDMO(angle="vector").transform(clips.iloc[:1])
    np.testing.assert_allclose(np.hypot(vec[0, 0::2], vec[0, 1::2]), rho[0], atol=1e-9)


def test_biwoof_mass_sits_in_the_warped_cells(clips, face_model, face_cache):  # noqa: F811
    from mebench.features.flow_features import BiWOOF

    X = BiWOOF(grid=(5, 5), bins=8).transform(clips)
    assert X.shape == (len(clips), 200) and np.isfinite(X).all() and (X >= 0).all()
    mass = X.reshape(len(clips), 5, 5, 8).sum(axis=3)  # (clip, row, col)
    # aligned crop template: eyes at 36% of the height, nose tip at 58%; brows in row 1, mouth in row 3
    for i in (0, 4):
        assert mass[i, 3].sum() > 3 * mass[i, 1].sum(), mass[i]
    for i in (1, 2, 5):
        assert mass[i, 1].sum() > 3 * mass[i, 3].sum(), mass[i]
    # magnitudes and strain are scaled by their maxima, so the neutral clip's noise is spread out
    share = mass.max(axis=(1, 2)) / mass.sum(axis=(1, 2))
    assert share[3] < min(share[i] for i in (0, 1, 4, 5))


def test_landmark_motion_concentrates_in_the_warped_region(clips, face_model, face_cache):  # noqa: F811
    from mebench.features.landmark_motion import REGIONS, LandmarkMotion

    ex = LandmarkMotion()
    X = ex.transform(clips)
    assert X.shape == (len(clips), 3 * len(REGIONS))
    mag = dict(zip(REGIONS, X.T[2::3]))
    corners = np.maximum(mag["right_mouth_corner"], mag["left_mouth_corner"])
    brows = np.maximum(mag["right_brow"], mag["left_brow"])
    for i in (0, 4):
        assert corners[i] > 2 * brows[i], (corners[i], brows[i])
        assert corners[i] > 2 * max(mag["right_eye"][i], mag["left_eye"][i], mag["forehead"][i])
    for i in (1, 2, 5):  # brows lowered / raised: the brows move most (the mesh's lip corners follow a little)
        top = REGIONS[int(np.argmax(X[i, 2::3]))]
        assert top in ("right_brow", "left_brow", "glabella"), (top, X[i, 2::3])
        assert brows[i] > 1.3 * corners[i]
    assert X[3, 2::3].max() < 0.3 * min(corners[0], brows[1])  # neutral clip: landmark jitter only
    # AU12 raises the lip corners: mean dy of the corners is negative (up) after registration
    assert X[0, 3 * REGIONS.index("right_mouth_corner") + 1] < 0
    points = LandmarkMotion(output="points").transform(clips.iloc[:1])
    assert points.shape == (1, 936)


def test_au_mediapipe_moves_in_the_right_au(clips, face_model, face_cache):  # noqa: F811
    from mebench.features.au import AUS, AUMediaPipe

    ex = AUMediaPipe(stats=("delta", "mean", "max", "std"))
    X = ex.transform(clips)
    assert X.shape == (len(clips), 64)
    assert ex.counts_["au_frames"] == 10 * len(clips) and ex.counts_["au_no_face_frames"] == 0
    delta = X[:, 0::4]
    au = {a: delta[:, k] for k, a in enumerate(AUS)}
    for i in (1, 5):  # AU4 planted: brow lowerer is the largest increase among the brow/eye AUs
        assert au["AU4"][i] > 0.05, au["AU4"][i]
        assert au["AU4"][i] > max(au["AU1"][i], au["AU2"][i], au["AU5"][i])
    # AU1+AU2 planted: inner and outer brow raisers rise, brow lowerer does not
    assert au["AU1"][2] > 0.15 and au["AU2"][2] > 0.15 and au["AU4"][2] < 0.05
    assert max(au["AU1"][2], au["AU2"][2]) == delta[2].max()
    assert np.abs(delta[3]).max() < 0.1  # neutral clip: nothing moves much
    again = AUMediaPipe(stats=("delta", "mean", "max", "std")).transform(clips.iloc[[2]])
    np.testing.assert_array_equal(again[0], X[2])


def test_blendshape_mapping():
    from mebench.features.au import AU_BLENDSHAPES, AUS, blendshapes_to_aus

    names = sorted({n for v in AU_BLENDSHAPES.values() for n in v} | {"_neutral", "cheekPuff", "jawLeft"})
    scores = {n: (k + 1) / 100 for k, n in enumerate(names)}
    aus = dict(zip(AUS, blendshapes_to_aus(scores)))
    assert aus["AU1"] == pytest.approx(scores["browInnerUp"])
    assert aus["AU12"] == pytest.approx((scores["mouthSmileLeft"] + scores["mouthSmileRight"]) / 2)
    assert aus["AU26"] == pytest.approx(scores["jawOpen"])
    assert aus["AU45"] == pytest.approx((scores["eyeBlinkLeft"] + scores["eyeBlinkRight"]) / 2)
    assert len(AUS) == 16
    del scores["jawOpen"]
    with pytest.raises(DataError, match="jawOpen"):
        blendshapes_to_aus(scores)


def test_no_face_is_an_error_or_zeros_and_is_counted(tmp_path, face_model, face_cache):  # noqa: F811
    from mebench.features.au import AUMediaPipe
    from mebench.features.landmark_motion import LandmarkMotion
    from mebench.io import write_frames

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 96, 3), dtype=np.uint8) for _ in range(4)]
    write_frames(tmp_path / "noise", frames, pattern="img{}.png")
    samples = pd.DataFrame([{"sample_id": "n/s/c", "dataset": "n", "subject_id": "n/s", "label": "x",
                             "onset": 1, "apex": 2, "offset": 4, "frames": str(tmp_path / "noise")}])
    with pytest.raises(DataError, match="no face") as err:
        AUMediaPipe().transform(samples)
    assert "n/s/c" in str(err.value)
    ex = AUMediaPipe(on_no_face="zeros")
    assert not ex.transform(samples).any() and ex.counts_["au_no_face_clips"] == 1
    with pytest.raises(DataError, match="onset frame 1"):
        LandmarkMotion().transform(samples)
    lm = LandmarkMotion(on_no_face="zeros")
    assert not lm.transform(samples).any() and lm.counts_["landmark_no_face_onset"] == 1


def test_flow_features_refuse_unusable_samples(tmp_path, face_cache):  # noqa: F811
    from mebench.features.flow_features import MDMO, BiWOOF
    from mebench.io import write_frames

    one = pd.DataFrame([{"sample_id": "o/s/c", "dataset": "o", "subject_id": "o/s", "label": "x", "onset": 1,
                         "apex": 1, "frames": str(write_frames(tmp_path / "one", [np.zeros((32, 32, 3), np.uint8)])[0])}])
    for ex in (BiWOOF(align=None), MDMO()):
        with pytest.raises(DataError, match="o/s/c"):
            ex.transform(one)
    two = [np.zeros((32, 32, 3), np.uint8)] * 3
    write_frames(tmp_path / "two", two)
    no_apex = one.assign(frames=str(tmp_path / "two"), apex=pd.NA)
    with pytest.raises(DataError, match="no apex"):
        BiWOOF(align=None).transform(no_apex)
    assert BiWOOF(align=None, apex="middle").transform(no_apex).shape == (1, 200)
    with pytest.raises(DataError, match="no frame lies in onset..offset 7..3"):
        BiWOOF(align=None, apex="middle").transform(no_apex.assign(onset=7))
    with pytest.raises(DataError, match="no apex frame; mdmo"):
        MDMO(segment="onset-apex").transform(no_apex)


def test_hoof_flow_method_and_alignment_options(clips, face_model, face_cache):  # noqa: F811
    from mebench.features.hoof import HOOF, farneback, oriented_histograms

    default = HOOF().transform(clips.iloc[:1])
    from mebench.io import open_clip

    clip = open_clip(clips.iloc[0]["frames"])
    a, b = clip.read(2, grey=True, size=(64, 64)), clip.read(6, grey=True, size=(64, 64))
    flow = farneback(a, b)
    flow = flow - np.median(flow.reshape(-1, 2), axis=0)
    np.testing.assert_allclose(default[0], oriented_histograms(flow, 6, 8))  # default behaviour unchanged
    X = HOOF(method="dis", align="per-clip", size=128, grid=4).transform(clips.iloc[[0, 1]])
    mass = X.reshape(2, 4, 4, 8).sum(axis=3)
    assert mass[0, 2:].sum() > 2 * mass[0, :2].sum()  # AU12: the lower half of the aligned face
    assert mass[1, :2].sum() > 2 * mass[1, 2:].sum()  # AU4: the upper half
    no_apex = clips.iloc[:1].assign(apex=pd.array([pd.NA], dtype="Int64"))
    with pytest.raises(DataError, match="no onset/apex"):
        HOOF().transform(no_apex)
