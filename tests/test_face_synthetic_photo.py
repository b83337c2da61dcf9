"""The photo mode of the synthetic dataset, and the face pipeline end to end on CASME II-layout
trees written from it (raw-size and cropped frames)."""
from __future__ import annotations

import numpy as np
import pytest
from _face_helpers import face_cache, face_model  # noqa: F401  (fixtures)

from mebench.data.synthetic_photo import (
    SUPPORTED_AUS,
    photo_params,
    planted_regions,
    render_photo_frame,
    subject_landmarks,
)


def test_frames_are_pure_and_deterministic():
    p = photo_params(subject_seed=11, size=96, n_frames=20, onset=4, apex=9, offset=15, aus={"AU12": 0.8},
                     blinks=[6], jitter=0.2, noise=2.0, drift=0.05, clip_seed=5)
    forward = [render_photo_frame(p, t) for t in range(1, 21)]
    backward = [render_photo_frame(dict(p), t) for t in range(20, 0, -1)][::-1]
    assert all(np.array_equal(a, b) for a, b in zip(forward, backward))
    assert forward[0].shape == (96, 96, 3) and forward[0].dtype == np.uint8
    assert not np.array_equal(forward[0], render_photo_frame({**p, "clip_seed": 6}, 1))  # noise is per clip


def test_subjects_differ_and_are_detectable(face_model):  # noqa: F811
    from mebench.face.landmarks import Landmarker

    frames = {}
    with Landmarker() as lm:
        for seed in range(8):
            for size in (64, 128, 224):
                p = photo_params(subject_seed=seed, size=size)
                frames[seed, size] = render_photo_frame(p, 1)
                face = lm.detect(frames[seed, size])
                assert face is not None, (seed, size)
                # the renderer knows where the subject's landmarks are (within 2% of the frame)
                assert np.abs(face.points[:, :2] - subject_landmarks(p)).mean() < 0.02 * size
    grey = {k: v.astype(float).mean(axis=2) for k, v in frames.items() if k[1] == 128}
    for a in range(8):
        for b in range(a + 1, 8):
            assert np.abs(grey[a, 128] - grey[b, 128]).mean() > 5  # every subject is its own face


@pytest.mark.parametrize("au", SUPPORTED_AUS)
def test_the_planted_warp_sits_in_its_au_region(au):
    p = photo_params(subject_seed=4, size=128, n_frames=20, onset=4, apex=9, offset=15, aus={au: 1.0})
    neutral, apex = render_photo_frame(p, 1).astype(float), render_photo_frame(p, 9).astype(float)
    assert np.array_equal(neutral, render_photo_frame(p, 4).astype(float))  # no change before onset
    assert np.array_equal(neutral, render_photo_frame(p, 16).astype(float))  # none after offset
    diff = np.abs(apex - neutral).mean(axis=2)
    yy, xx = np.mgrid[0:128, 0:128]
    near = np.zeros((128, 128), bool)
    for x, y in planted_regions(p)[au]:
        near |= (xx - x) ** 2 + (yy - y) ** 2 <= 16 ** 2
    assert diff[near].sum() > 0.8 * diff.sum()
    mid = render_photo_frame(p, 6).astype(float)
    assert 0 < np.abs(mid - neutral).mean() < np.abs(apex - neutral).mean()  # rises towards the apex


def test_photo_mode_through_the_synthetic_dataset():
    from mebench.data.synthetic import SyntheticDataset
    from mebench.io import open_clip

    samples = SyntheticDataset(subjects=2, clips_per_subject=2, frames=12, size=64, face="photo").load("emotion")
    clip = open_clip(samples.frames[0])
    frame = clip.read(clip.indices[0])
    assert frame.shape == (64, 64, 3) and frame.std() > 20  # a photo, not a blank


@pytest.mark.parametrize("variant", ["raw", "cropped"])
def test_face_pipeline_end_to_end_on_casme2_layout(variant, tmp_path, face_model, face_cache):  # noqa: F811
    from openpyxl import load_workbook

    from mebench.data.casme2 import CASME2
    from mebench.data.synthetic import SyntheticDataset, write_casme2_layout
    from mebench.face.align import align_clip
    from mebench.face.flow import onset_apex_flow
    from mebench.face.spotting import resolve_spot_apexes, spot_apex
    from mebench.io import open_clip

    truth = SyntheticDataset(subjects=2, clips_per_subject=3, frames=24, size=128, face="photo", seed=3,
                             blink_rate=0.0).load("emotion")
    info = write_casme2_layout(truth, tmp_path, variant=variant)
    # blank every apex cell: the loader must resolve them with apex=spot
    wb = load_workbook(info["sheet"])
    ws = wb["Sheet1"]
    for row in range(2, ws.max_row + 1):
        ws.cell(row=row, column=5).value = None
    wb.save(info["sheet"])

    dataset = CASME2(tmp_path, variant=variant, apex="spot", sheet=info["sheet"])
    samples = dataset.load("emotion")
    assert samples["apex"].isna().all() and (samples["apex_source"] == "spot").all()
    samples, counts = resolve_spot_apexes(samples)
    assert counts == {"apex_resolved_spot": len(truth)}
    assert len(samples) == len(truth)
    planted = {sid.split("/", 1)[1]: apex for sid, apex in zip(truth.sample_id, truth.apex)}  # subNN/EPxx_yy
    for row in samples.itertuples(index=False):
        expected = planted[row.sample_id.split("/", 1)[1]]
        assert abs(int(row.apex) - expected) <= 2, (row.sample_id, row.apex, expected)
        clip = open_clip(row.frames)
        aligned = align_clip(clip, int(row.onset), int(row.offset), size=112)
        assert aligned.fallback == "none"  # landmarks found on the onset frame of every clip
        flow = onset_apex_flow(aligned, int(row.onset), int(row.apex))
        assert np.hypot(flow[..., 0], flow[..., 1]).max() > 0.3
        assert abs(spot_apex(aligned, int(row.onset), int(row.offset)) - expected) <= 2
