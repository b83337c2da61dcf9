"""Alignment on the astronaut clip with a planted micro-expression: per-clip and tracked modes,
the content-hash cache, and the no-face policies (Haar fallback, skip, error)."""
from __future__ import annotations

import numpy as np
import pytest
from _face_helpers import astronaut_params, face_cache, face_model  # noqa: F401  (fixtures)

from mebench.data.synthetic_photo import photo_clip
from mebench.errors import DataError
from mebench.face.align import AlignedClip, NoFaceError, NoFaceSkip, align_clip
from mebench.face.geometry import TEMPLATE, key_points, similarity_transform
from mebench.face.landmarks import Landmarker
from mebench.io import ArrayClip, write_frames


@pytest.fixture(scope="module")
def astro_clip():
    return photo_clip(astronaut_params())


class NoFace:
    """A landmarker that never finds a face (MediaPipe failing on the onset frame)."""

    mode, blendshapes, min_confidence, model_path = "image", True, 0.5, None

    def detect(self, frame, timestamp_ms=None):
        return None


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, t = 0.3, 1.7, np.array([4.0, -9.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = similarity_transform(src, src @ rot.T + t)
    assert np.allclose(m[:, :2], rot) and np.allclose(m[:, 2], t)


def test_landmarks_on_every_frame_and_stable_per_clip_alignment(astro_clip, face_model, face_cache):  # noqa: F811
    with Landmarker(mode="video") as lm:
        faces = [lm.detect(astro_clip.read(i)) for i in astro_clip.indices]
    assert all(f is not None for f in faces)  # landmarks found on every frame

    aligned = align_clip(astro_clip, onset=8, stop=24, size=112)
    assert isinstance(aligned, AlignedClip) and aligned.indices == list(range(8, 25))
    assert aligned.fallback == "none" and aligned.landmarks_source == "mediapipe"
    for m in aligned.transforms.values():  # the onset transform is reused for every frame
        assert np.array_equal(m, aligned.transform)
    kp = key_points(aligned.landmarks)
    assert np.abs(kp - TEMPLATE * 112).max() < 3.0  # eyes and nose land on the template
    assert len(aligned.frames) == 17 and aligned.frames[10].shape == (112, 112, 3)
    assert aligned.read(10, grey=True, size=64).shape == (64, 64)
    assert aligned.counts == {"aligned_clips": 1}
    # re-detecting on the aligned onset frame agrees with the transformed landmarks
    with Landmarker() as lm:
        again = lm.detect(aligned.read(8))
    assert np.abs(again.points[:, :2] - aligned.landmarks[:, :2]).mean() < 1.5


def test_per_clip_keeps_the_expression_tracked_follows_the_head(face_model, face_cache):  # noqa: F811
    params = astronaut_params(noise=0.0)
    base = photo_clip(params).frames
    moved = np.stack([np.roll(f, 2 * k, axis=1) for k, f in enumerate(base)])  # head slides 2 px per frame
    clip = ArrayClip(moved, first=1, locator="<moving head>")
    per = align_clip(clip, 1, 24, size=128, mode="per-clip", landmark_frames=[13])
    tracked = align_clip(clip, 1, 24, size=128, mode="tracked")
    assert tracked.counts["no_face_frames"] == 0
    nose_per = [per.transforms[i][0] @ [clip.frames[i - 1].shape[1] / 2, 0, 1] for i in (1, 24)]
    shift_per = per.transforms[24][:, 2] - per.transforms[1][:, 2]
    shift_tr = tracked.transforms[24][:, 2] - tracked.transforms[1][:, 2]
    assert np.allclose(shift_per, 0) and nose_per[0] == nose_per[1]
    scale = np.hypot(*tracked.transform[:, 0])
    assert abs(shift_tr[0] + 46 * scale) < 4  # the tracked transform undoes the 46 px slide
    # the apex landmarks (per-clip mode) show the lip corners pulled up, in crop coordinates
    lift = per.landmarks[[61, 291], 1] - per.frame_landmarks[13][[61, 291], 1]
    assert np.all(lift > 0.5)


def test_aligned_clips_are_cached_by_content(tmp_path, face_model, face_cache):  # noqa: F811
    write_frames(tmp_path / "clip", photo_clip(astronaut_params(n_frames=12, onset=2, apex=5, offset=9)).frames)
    first = align_clip(str(tmp_path / "clip"), 2, 9)
    again = align_clip(str(tmp_path / "clip"), 2, 9)
    assert not first.from_cache and again.from_cache
    assert np.array_equal(first.transform, again.transform) and np.allclose(first.landmarks, again.landmarks)
    assert np.array_equal(first.read(5), again.read(5))
    assert not align_clip(str(tmp_path / "clip"), 2, 9, size=96).from_cache
    assert len(list(face_cache.glob("aligned/*/*.npz"))) == 2
    # changing a frame file changes the content signature: no stale reuse
    (tmp_path / "clip" / "img2.jpg").write_bytes((tmp_path / "clip" / "img3.jpg").read_bytes())
    assert not align_clip(str(tmp_path / "clip"), 2, 9).from_cache


def test_no_face_on_onset_falls_back_to_haar_and_is_counted(astro_clip, face_cache):  # noqa: F811
    aligned = align_clip(astro_clip, 8, 20, landmarker=NoFace())
    assert aligned.fallback == "haar" and aligned.landmarks_source == "canonical"
    assert aligned.counts == {"aligned_clips": 1, "no_face_onset": 1, "haar_fallback": 1}
    kp = key_points(aligned.landmarks)
    assert np.abs(kp - TEMPLATE * 128).max() < 1.0  # canonical face sits on the template
    with Landmarker() as lm:  # the Haar-aligned crop is still a usable face
        face = lm.detect(aligned.read(8))
    assert face is not None and np.abs(key_points(face.points) - TEMPLATE * 128).max() < 12


def test_no_face_anywhere_full_frame_skip_and_error(tmp_path, face_model, face_cache):  # noqa: F811
    rng = np.random.default_rng(0)
    frames = [np.full((96, 80, 3), 100, np.uint8) + rng.integers(0, 3, (96, 80, 3), dtype=np.uint8) for _ in range(4)]
    write_frames(tmp_path / "wall", frames, first=1)
    aligned = align_clip(str(tmp_path / "wall"), 1, 4, size=64)
    assert aligned.fallback == "full-frame" and aligned.counts["full_frame_fallback"] == 1
    assert aligned.read(2).shape == (64, 64, 3)
    with pytest.raises(NoFaceSkip) as skip:
        align_clip(str(tmp_path / "wall"), 2, 4, on_no_face="skip")
    assert skip.value.skip and isinstance(skip.value, DataError) and "img2.jpg" in str(skip.value)
    with pytest.raises(NoFaceError, match="no face found on onset frame 1.*img1.jpg") as err:
        align_clip(str(tmp_path / "wall"), 1, 4, on_no_face="error", mode="tracked")
    assert not err.value.skip


def test_bad_arguments(astro_clip):
    with pytest.raises(DataError, match="onset frame 99"):
        align_clip(astro_clip, 99, landmarker=False)
    with pytest.raises(ValueError, match="mode"):
        align_clip(astro_clip, 8, mode="global")
    with pytest.raises(ValueError, match="on_no_face"):
        align_clip(astro_clip, 8, on_no_face="ignore")
