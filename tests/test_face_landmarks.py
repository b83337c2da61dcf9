"""MediaPipe landmarks (IMAGE and VIDEO modes), blendshapes, regions and the Haar fallback, on a real face."""
from __future__ import annotations

import numpy as np
import pytest
from _face_helpers import face_model  # noqa: F401  (fixture)
from skimage.data import astronaut

from mebench.errors import DataError
from mebench.face.landmarks import (
    EYE_REGIONS,
    N_BLENDSHAPES,
    N_LANDMARKS,
    REGIONS,
    HaarFaceDetector,
    Landmarker,
    region_mask,
)


@pytest.fixture(scope="module")
def astro_face(face_model):  # noqa: F811
    with Landmarker(mode="image") as lm:
        return lm.detect(astronaut())


def test_image_mode_gives_478_points_and_52_blendshapes(astro_face):
    face = astro_face
    assert face.points.shape == (N_LANDMARKS, 3) and face.points.dtype == np.float32
    assert len(face.blendshapes) == N_BLENDSHAPES
    assert {"browInnerUp", "mouthSmileLeft", "eyeBlinkRight", "jawOpen"} <= set(face.blendshapes)
    assert face.blendshapes["mouthSmileLeft"] > 0.3  # she smiles
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 220  # the face in the 512x512 photo
    haar = HaarFaceDetector().detect(astronaut())
    hx0, hy0, hx1, hy1 = haar
    cx, cy = face.points[:, 0].mean(), face.points[:, 1].mean()
    assert hx0 < cx < hx1 and hy0 < cy < hy1


def test_regions_are_anatomically_ordered(astro_face):
    face = astro_face
    assert all(max(idx) < N_LANDMARKS for idx in REGIONS.values())
    y = {name: face.region(name)[:, 1].mean() for name in REGIONS}
    x = {name: face.region(name)[:, 0].mean() for name in REGIONS}
    assert y["right_brow"] < y["right_eye"] < y["nose"] < y["mouth"] < y["chin"]
    assert y["left_brow"] < y["left_eye"]
    assert x["right_eye"] < x["left_eye"] and x["right_mouth_corner"] < x["left_mouth_corner"]  # subject's sides
    right, left = face.eye_centres()
    assert 30 < face.interocular() < 60 and right[0] < left[0]
    mask = region_mask(face.points, (512, 512), EYE_REGIONS)
    assert mask[int(right[1]), int(right[0])] and not mask[int(y["mouth"]), int(x["mouth"])]


def test_video_mode_tracks_with_increasing_timestamps(face_model):  # noqa: F811
    import cv2

    frames = [np.ascontiguousarray(cv2.resize(np.roll(astronaut(), 2 * i, axis=1), (256, 256))) for i in range(5)]
    with Landmarker(mode="video", blendshapes=False) as lm:
        faces = [lm.detect(f, timestamp_ms=40 * (i + 1)) for i, f in enumerate(frames)]
        assert all(f is not None and f.blendshapes == {} for f in faces)
        nose = [f.points[1, 0] for f in faces]
        assert np.all(np.diff(nose) > 0)  # follows the shift to the right
        with pytest.raises(ValueError, match="timestamps must increase"):
            lm.detect(frames[0], timestamp_ms=40)
        lm.reset()
        assert lm.detect(frames[0], timestamp_ms=40) is not None
        assert lm.counts == {"frames": 6, "faces": 6, "no_face": 0}


def test_no_face_and_bad_frames(face_model):  # noqa: F811
    blank = np.full((128, 128, 3), 127, np.uint8)
    with Landmarker() as lm:
        assert lm.detect(blank) is None
        assert lm.detect(blank[:, :, 0]) is None  # grey input is accepted
        assert lm.counts["no_face"] == 2
        with pytest.raises(DataError, match="uint8"):
            lm.detect(blank.astype(np.float32))
        with pytest.raises(DataError, match="shape"):
            lm.detect(np.zeros((4, 4, 3), np.uint8))
    assert HaarFaceDetector().detect(blank) is None
    with pytest.raises(ValueError, match="mode"):
        Landmarker(mode="stream")
