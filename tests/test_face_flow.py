"""Optical flow (Farneback, TV-L1, DIS), optical strain and the (u, v, strain) flow image."""
from __future__ import annotations

import numpy as np
import pytest
from _face_helpers import astronaut_params, face_cache, face_model, region_mean  # noqa: F401

from mebench.errors import DataError
from mebench.face.flow import compute_flow, flow_image, onset_apex_flow, optical_strain


def _texture(size=64, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (size // 4, size // 4)).astype(np.float32)
    tex = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(128 + 40 * tex, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", ["farneback", "dis", "tvl1"])
def test_flow_recovers_a_translation(method):
    import cv2

    prev = _texture(64)
    m = np.float32([[1, 0, 1.5], [0, 1, -1.0]])
    nxt = cv2.warpAffine(prev, m, (64, 64), borderMode=cv2.BORDER_REFLECT)
    flow = compute_flow(prev, nxt, method=method)
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    inner = flow[16:48, 16:48]
    assert abs(np.median(inner[..., 0]) - 1.5) < 0.3 and abs(np.median(inner[..., 1]) + 1.0) < 0.3


def test_flow_accepts_rgb_and_rejects_mismatched_sizes():
    rgb = np.repeat(_texture(32)[:, :, None], 3, axis=2)
    still = compute_flow(rgb, rgb)
    assert np.abs(still[8:-8, 8:-8]).max() < 0.05 and np.median(np.abs(still)) < 1e-3
    with pytest.raises(DataError, match="differ in size: 32x32 vs 16x16"):
        compute_flow(rgb, rgb[:16, :16])
    with pytest.raises(ValueError, match="unknown flow method"):
        compute_flow(rgb, rgb, method="lucas-kanade")


def test_optical_strain_from_flow_gradients():
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    translation = np.dstack([np.full_like(xx, 2.0), np.full_like(xx, -1.0)])
    assert np.abs(optical_strain(translation)).max() < 1e-6  # rigid motion has no strain
    stretch = np.dstack([0.1 * xx, np.zeros_like(xx)])  # u = 0.1 x: e_xx = 0.1
    assert np.allclose(optical_strain(stretch), 0.1, atol=1e-6)
    shear = np.dstack([0.2 * yy, np.zeros_like(xx)])  # u = 0.2 y: e_xy = 0.1, |e| = sqrt(2) * 0.1
    assert np.allclose(optical_strain(shear), np.sqrt(2) * 0.1, atol=1e-6)
    rotation = np.dstack([-0.05 * yy, 0.05 * xx])  # infinitesimal rotation has no strain
    assert np.abs(optical_strain(rotation)).max() < 1e-6


def test_flow_image_channels_and_resizing():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    flow = np.dstack([0.1 * xx, np.full_like(xx, 3.0)])
    img = flow_image(flow)
    assert img.shape == (64, 64, 3) and img.dtype == np.float32
    assert np.allclose(img[..., 2], 0.1, atol=1e-6) and np.allclose(img[..., 1], 3.0)
    small = flow_image(flow, size=28)
    assert small.shape == (28, 28, 3)
    assert np.allclose(small[..., 1], 3.0 * 28 / 64, atol=1e-4)  # displacements in the new pixels
    assert np.allclose(small[..., 2], 0.1, atol=1e-4)  # strain is scale-free


@pytest.mark.parametrize("au, region, control", [("AU12", [61, 291], [105, 334]), ("AU1", [107, 336], [61, 291])])
def test_onset_apex_flow_concentrates_in_the_warped_region(au, region, control, face_model, face_cache):  # noqa: F811
    from mebench.data.synthetic_photo import photo_clip
    from mebench.face.align import align_clip

    clip = photo_clip(astronaut_params(aus={au: 0.9}))
    aligned = align_clip(clip, 8, 19, size=128)
    for method in ("farneback", "dis"):
        flow = onset_apex_flow(aligned, 8, 13, method=method)
        mag = np.hypot(flow[..., 0], flow[..., 1])
        inside = np.mean([region_mean(mag, aligned.landmarks[i, :2], 6) for i in region])
        outside = np.mean([region_mean(mag, aligned.landmarks[i, :2], 6) for i in control])
        assert inside > 0.8 and inside > 4 * outside, (method, inside, outside)
    strain = optical_strain(flow)
    assert np.mean([region_mean(strain, aligned.landmarks[i, :2], 8) for i in region]) > \
        2 * np.mean([region_mean(strain, aligned.landmarks[i, :2], 8) for i in control])


def test_onset_apex_flow_on_a_locator_with_resizing(tmp_path):
    from mebench.io import write_frames

    frames = [np.repeat(_texture(48, seed=1)[:, :, None], 3, axis=2)] * 3
    write_frames(tmp_path / "clip", frames, pattern="img{}.png", first=1)
    flow = onset_apex_flow(str(tmp_path / "clip"), 1, 3, size=(40, 32))
    assert flow.shape == (32, 40, 2) and np.median(np.abs(flow)) < 1e-3
