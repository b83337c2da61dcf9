"""Apex spotting (apex=spot) and MEGC-style interval spotting on clips with planted micro-expressions."""
from __future__ import annotations

import numpy as np
import pytest
from _face_helpers import astronaut_params, face_cache, face_model  # noqa: F401

from mebench.data.synthetic_photo import photo_clip, photo_params
from mebench.errors import DataError
from mebench.face.spotting import evaluate_spotting, interval_iou, lbp_image, spot_apex, spot_intervals
from mebench.io import ArrayClip, write_frames

CASES = [  # subject, size, onset, apex, offset, AUs, blinks
    (0, 128, 3, 8, 14, {"AU12": 0.7}, [10]),
    (1, 96, 5, 9, 17, {"AU1": 0.6, "AU2": 0.6}, [16]),
    (2, 224, 2, 6, 12, {"AU4": 0.8}, [4]),
    (3, 128, 6, 12, 20, {"AU15": 0.7}, [18]),
    (4, 160, 4, 7, 13, {"AU9": 0.7}, []),
]


@pytest.mark.parametrize("subject, size, onset, apex, offset, aus, blinks", CASES)
def test_apex_within_two_frames_of_the_planted_apex(subject, size, onset, apex, offset, aus, blinks,
                                                     face_model, face_cache):  # noqa: F811
    params = photo_params(subject_seed=subject, size=size, n_frames=offset + 4, onset=onset, apex=apex,
                          offset=offset, aus=aus, blinks=blinks, jitter=0.15, noise=2.0, drift=0.05,
                          clip_seed=subject)
    assert abs(spot_apex(photo_clip(params), onset, offset) - apex) <= 2


def test_astronaut_apex_with_farneback_on_a_frames_folder(tmp_path, face_model, face_cache):  # noqa: F811
    write_frames(tmp_path / "clip", photo_clip(astronaut_params()).frames, first=1)
    assert abs(spot_apex(str(tmp_path / "clip"), 8, 19, method="farneback") - 13) <= 2


def test_blinks_do_not_win_because_the_eyes_are_excluded(face_model, face_cache):  # noqa: F811
    params = photo_params(subject_seed=2, size=128, n_frames=26, onset=4, apex=9, offset=15,
                          aus={"AU12": 0.35}, blinks=[20], noise=1.5, jitter=0.1, clip_seed=2)
    clip = photo_clip(params)
    assert abs(spot_apex(clip, 4, 24) - 9) <= 2
    assert spot_apex(clip, 4, 24, exclude_eyes=False) == 20  # the control: with the eyes, the blink wins


def test_apex_without_a_detectable_face(face_model, face_cache):  # noqa: F811
    """A textured non-face clip: the full-frame fallback and the canonical face-region mask."""
    import cv2

    rng = np.random.default_rng(5)
    tex = cv2.resize(rng.normal(0, 1, (24, 24)).astype(np.float32), (96, 96), interpolation=cv2.INTER_CUBIC)
    base = np.clip(128 + 45 * tex, 0, 255).astype(np.float32)
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    bump = np.exp(-((xx - 48) ** 2 + (yy - 66) ** 2) / (2 * 6.0 ** 2)).astype(np.float32)  # canonical mouth
    frames = []
    for t in range(1, 21):
        env = max(0.0, 1 - abs(t - 11) / 6)
        jx, jy = rng.normal(0, 0.2, 2)
        map_x = (xx - jx).astype(np.float32)
        map_y = (yy - 2.5 * env * bump - jy).astype(np.float32)
        f = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.repeat(np.clip(f + rng.normal(0, 1.5, f.shape), 0, 255).astype(np.uint8)[:, :, None], 3, 2))
    clip = ArrayClip(np.stack(frames), first=1, locator="<texture>")
    assert abs(spot_apex(clip, 3, 19) - 11) <= 2
    assert abs(spot_apex(clip, 3, 19, landmarker=False) - 11) <= 2  # no landmark model at all


def _long_params(seed, n=200, size=128):
    rng = np.random.default_rng(seed)
    events, t = [], 15
    while t < n - 25:
        rise, fall = int(rng.integers(3, 7)), int(rng.integers(4, 8))
        aus = [{"AU12": 0.7}, {"AU1": 0.6, "AU2": 0.6}, {"AU4": 0.7}, {"AU15": 0.7}, {"AU9": 0.6}][int(rng.integers(5))]
        events.append(dict(onset=t, apex=t + rise, offset=t + rise + fall, aus=aus))
        t += rise + fall + int(rng.integers(20, 45))
    blinks = sorted(int(b) for b in rng.integers(5, n - 5, 5))
    params = photo_params(subject_seed=seed, size=size, n_frames=n, onset=0, apex=0, offset=0, aus={},
                          blinks=blinks, jitter=0.15, noise=2.0, drift=0.05, clip_seed=seed, events=events)
    return params, [(e["onset"], e["apex"], e["offset"]) for e in events]


def test_interval_spotting_on_long_clips_meets_the_megc_criterion(face_model, face_cache):  # noqa: F811
    preds, truths = {}, {}
    for seed in (0, 1, 2):
        params, truth = _long_params(seed, n=240)
        preds[seed] = spot_intervals(photo_clip(params), k=6)
        truths[seed] = truth
        assert all(on <= apex <= off for on, apex, off in preds[seed])
    result = evaluate_spotting(preds, truths, iou=0.5)
    assert result["tp"] + result["fn"] >= 14  # planted micro-expressions
    assert result["recall"] >= 0.85 and result["precision"] >= 0.75 and result["f1"] >= 0.8, result


def test_blinks_are_not_spotted_as_micro_expressions(face_model, face_cache):  # noqa: F811
    params, _ = _long_params(1)
    params["events"] = []  # blinks, jitter and noise only
    clip = photo_clip(params)
    found, scores = spot_intervals(clip, k=6, return_scores=True)
    assert not any(abs(apex - b) <= 2 for _, apex, _ in found for b in params["blinks"])
    assert len(scores["blinks"]) >= 3
    control = spot_intervals(clip, k=6, blink_ratio=None)  # without blink suppression they are spotted
    assert sum(any(abs(apex - b) <= 2 for _, apex, _ in control) for b in params["blinks"]) >= 3


def test_interval_spotting_returns_scores_and_supports_lbp(face_model, face_cache):  # noqa: F811
    params, truth = _long_params(3, n=80)
    intervals, scores = spot_intervals(photo_clip(params), k=6, feature="lbp", return_scores=True)
    assert scores["frames"][0] == 7 and scores["frames"][-1] == 74  # k frames at each end have no score
    assert len(scores["difference"]) == len(scores["contrast"]) == 68
    assert min(scores["contrast"]) >= 0


def test_evaluate_spotting_by_hand():
    assert interval_iou((10, 20), (10, 20)) == 1.0
    assert interval_iou((10, 19), (15, 24)) == pytest.approx(5 / 15)
    assert interval_iou((0, 4), (5, 9)) == 0.0
    truth = [(10, 14, 20), (50, 55, 60), (90, 95, 100)]
    pred = [(11, 15, 21), (12, 14, 19), (52, 56, 68), (70, 72, 74)]
    r = evaluate_spotting(pred, truth)
    # (11..21) vs (10..20): IoU 10/12; (12..19) would match the same truth but it is taken: FP;
    # (52..68) vs (50..60): 9/19 < 0.5: FP; (70..74): FP
    assert (r["tp"], r["fp"], r["fn"]) == (1, 3, 2)
    assert r["precision"] == pytest.approx(0.25) and r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(2 * 0.25 * (1 / 3) / (0.25 + 1 / 3))
    assert evaluate_spotting([], truth)["recall"] == 0.0 and evaluate_spotting([], [])["f1"] == 0.0
    assert evaluate_spotting({"a": pred}, {"a": truth, "b": [(1, 2, 3)]})["fn"] == 3


def test_lbp_codes_are_uniform_bins():
    img = np.random.default_rng(0).integers(0, 255, (20, 20), dtype=np.uint8)
    codes = lbp_image(img)
    assert codes.shape == (18, 18) and codes.max() <= 58
    assert np.all(lbp_image(np.full((5, 5), 7, np.uint8)) == lbp_image(np.full((5, 5), 7, np.uint8))[0, 0])


def test_bad_spotting_input(face_cache):  # noqa: F811
    clip = ArrayClip(np.zeros((6, 32, 32, 3), np.uint8), first=1)
    with pytest.raises(DataError, match="offset 3 must come after onset 5"):
        spot_apex(clip, 5, 3, landmarker=False)
    with pytest.raises(DataError, match="needs at least 13"):
        spot_intervals(clip, k=6, landmarker=False)
    one = ArrayClip(np.zeros((1, 32, 32, 3), np.uint8), first=1, locator="one-frame")
    with pytest.raises(DataError, match="clip has 1 frame"):
        spot_intervals(one, k=1, landmarker=False)
