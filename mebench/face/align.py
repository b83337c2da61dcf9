"""Face alignment: a similarity transform from eye and nose landmarks to a canonical template.

``align_clip(clip, onset, stop, size, mode)`` returns an :class:`AlignedClip`, itself a
:class:`~mebench.io.Clip` whose frames are warped on demand (streamed, never all held in
memory), so every tool that reads a Clip (flow, spotting, features) reads aligned frames as well.

* ``mode="per-clip"`` (default; short ME clips): the transform is estimated on the onset frame and
  reused for every frame, so facial motion is not aligned away.
* ``mode="tracked"`` (long videos with head motion): landmarks on every frame (MediaPipe VIDEO
  mode), per-frame similarity parameters smoothed over ``smooth`` frames; frames without a face
  take the interpolated transform of their neighbours.

When MediaPipe finds no face on the onset frame, ``on_no_face`` decides: ``"haar"`` (default)
estimates the transform from an OpenCV Haar box (and, failing that, maps the whole frame onto the
crop), ``"skip"`` raises :class:`NoFaceSkip` and ``"error"`` raises :class:`NoFaceError`; both are
:class:`~mebench.errors.DataError` naming the frame's file. Fallbacks are counted in
``AlignedClip.counts`` for the manifest.

The alignment (transforms, landmarks, counts) is cached on disk by content hash under
``cache_dir()/aligned``; pixels are re-warped on read (a warp costs far less than a JPEG decode,
and caching pixels would take ~3 MB per 64-frame clip).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import Clip
from . import align_cache
from .geometry import (
    apply_transform,
    smooth_params,
    transform_from_box,
    transform_from_face,
    transform_from_params,
    transform_full_frame,
    transform_params,
)
from .landmarker_pool import haar_detector, shared_landmarker
from .landmarks import FaceResult

MODES = ("per-clip", "tracked")
NO_FACE_POLICIES = ("haar", "skip", "error")


class NoFaceError(DataError):
    """No face was found on the frame that alignment needs (``on_no_face="error"``)."""

    skip = False


class NoFaceSkip(NoFaceError):
    """No face was found and the policy is ``on_no_face="skip"``: record the sample as skipped."""

    skip = True


# --------------------------------------------------------------------------------------------
class AlignedFrames(Mapping):
    """Lazy mapping absolute frame number -> aligned RGB frame (warped when accessed)."""

    def __init__(self, clip: "AlignedClip"):
        self._clip = clip

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self._clip.transforms:
            raise KeyError(index)
        return self._clip.read(index)

    def __iter__(self):
        return iter(self._clip.indices)

    def __len__(self) -> int:
        return len(self._clip.transforms)


class AlignedClip(Clip):
    """A clip seen through alignment transforms; frames are warped from the source on read.

    Attributes: ``source`` (the Clip), ``size`` (crop side), ``mode``, ``onset``,
    ``transform`` (2x3, source pixels -> crop pixels, estimated on the onset frame),
    ``transforms`` (frame -> 2x3), ``landmarks`` ((478, 3) onset landmarks in crop coordinates, or
    the canonical mean face when no landmarks were found; see ``landmarks_source``),
    ``blendshapes`` (onset blendshapes or {}), ``frame_landmarks`` / ``frame_blendshapes``
    (frame -> value, for every frame where landmarks were detected), ``fallback`` ("none",
    "haar" or "full-frame"), ``counts`` (events for the manifest) and ``frames`` (lazy mapping).
    """

    def __init__(self, source: Clip, size: int, mode: str, onset: int, transforms: dict[int, np.ndarray],
                 landmarks: np.ndarray, landmarks_source: str, blendshapes: dict, fallback: str, counts: dict,
                 frame_landmarks: dict | None = None, frame_blendshapes: dict | None = None, from_cache: bool = False):
        self.source = source
        self.locator = source.locator
        self.size = int(size)
        self.mode = mode
        self.onset = int(onset)
        self.transforms = dict(sorted(transforms.items()))
        self.transform = self.transforms[self.onset]
        self.landmarks = landmarks
        self.landmarks_source = landmarks_source
        self.blendshapes = blendshapes
        self.frame_landmarks = frame_landmarks or {}
        self.frame_blendshapes = frame_blendshapes or {}
        self.fallback = fallback
        self.counts = counts
        self.from_cache = from_cache
        self.frames = AlignedFrames(self)

    @property
    def indices(self) -> list[int]:
        return list(self.transforms)

    def frame_file(self, index: int) -> str:
        return self.source.frame_file(index)

    def read(self, index: int, grey: bool = False, size=None) -> np.ndarray:
        import cv2

        if index not in self.transforms:
            raise DataError(f"frame {index} is outside the aligned range {self.indices[0]}..{self.indices[-1]}",
                            file=self.locator)
        raw = self.source.read(index, grey=grey)
        out = cv2.warpAffine(raw, self.transforms[index], (self.size, self.size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        if size is not None:
            wh = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
            if wh != (self.size, self.size):
                out = cv2.resize(out, wh, interpolation=cv2.INTER_AREA)
        return out

    def array(self, grey: bool = False, size=None) -> np.ndarray:
        """All aligned frames stacked (T, S, S[, 3]) uint8; for short clips."""
        return np.stack([self.read(i, grey=grey, size=size) for i in self.indices])


# --------------------------------------------------------------------------------------------
def _resolve_landmarker(landmarker, mode: str):
    """The landmarker to use: None for ``False`` (Haar only), the shared one for None/True, else the argument."""
    if landmarker is False:
        return None
    if landmarker is None or landmarker is True:
        return shared_landmarker("video" if mode == "tracked" else "image")
    return landmarker


def _detect(landmarker, frame) -> FaceResult | None:
    if landmarker is None:
        return None
    return landmarker.detect(frame)


def _fallback_transform(frame: np.ndarray, size: int, counts: dict) -> tuple[np.ndarray, str]:
    box = haar_detector().detect(frame)
    if box is not None:
        counts["haar_fallback"] = counts.get("haar_fallback", 0) + 1
        return transform_from_box(box, size), "haar"
    counts["full_frame_fallback"] = counts.get("full_frame_fallback", 0) + 1
    return transform_full_frame(frame.shape, size), "full-frame"


def _no_face(policy: str, clip: Clip, index: int, why: str):
    where = clip.frame_file(index)
    if policy == "skip":
        raise NoFaceSkip(f"no face found on onset frame {index} ({why}); sample skipped (on_no_face='skip')",
                         file=where, hint="Use on_no_face='haar' to fall back to a Haar box instead.")
    raise NoFaceError(f"no face found on onset frame {index} ({why})", file=where,
                      hint="Use on_no_face='haar' (Haar-box fallback) or 'skip' (record and skip the sample).")


def align_clip(clip, onset: int | None = None, stop: int | None = None, size: int = 128, mode: str = "per-clip",
               landmarker=None, on_no_face: str = "haar", smooth: int = 5, landmark_frames=(),
               cache: bool = True) -> AlignedClip:
    """Align frames ``onset..stop`` (inclusive; defaults: first..last) of ``clip`` to a ``size`` crop.

    ``clip`` is a Clip, a frames locator or a (T, H, W[, 3]) uint8 array. ``landmarker``: None uses
    a shared MediaPipe :class:`Landmarker`; pass one to reuse it, or ``False`` to align from the
    Haar box only (no model needed). ``landmark_frames``: extra frames (per-clip mode) whose
    landmarks and blendshapes are also detected and stored, in crop coordinates, in
    ``frame_landmarks``/``frame_blendshapes`` (e.g. the apex). See the module doc for the rest.
    """
    from ..io import as_clip

    if mode not in MODES:
        raise ValueError(f"alignment mode must be one of {', '.join(MODES)}, not {mode!r}")
    if on_no_face not in NO_FACE_POLICIES:
        raise ValueError(f"on_no_face must be one of {', '.join(NO_FACE_POLICIES)}, not {on_no_face!r}")
    size = int(size)
    if size < 16:
        raise ValueError(f"crop size must be at least 16 pixels, not {size}")
    clip = as_clip(clip)
    if onset is not None and int(onset) not in set(clip.indices):
        raise DataError(f"onset frame {onset} does not exist; frames run "
                        f"{clip.indices[0] if clip.indices else '?'}..{clip.indices[-1] if clip.indices else '?'}",
                        file=clip.locator, hint="Check the onset column against the frame numbers on disk.")
    indices = clip.frames_between(onset, stop)
    onset = indices[0] if onset is None else int(onset)
    if onset not in indices:
        raise DataError(f"onset frame {onset} does not exist; frames run {clip.indices[0]}..{clip.indices[-1]}",
                        file=clip.locator, hint="Check the onset column against the frame numbers on disk.")
    extra = sorted({int(i) for i in landmark_frames} - {onset}) if mode == "per-clip" else []
    for i in extra:
        if i not in indices:
            raise DataError(f"landmark frame {i} is outside the aligned range {indices[0]}..{indices[-1]}",
                            file=clip.locator)

    lm = _resolve_landmarker(landmarker, mode)
    key = None
    if cache and not isinstance(clip, AlignedClip):
        model = getattr(lm, "model_path", None)
        key = align_cache.cache_key(clip, dict(indices=[indices[0], indices[-1], len(indices)], onset=onset, size=size, mode=mode,
                                    on_no_face=on_no_face, smooth=smooth if mode == "tracked" else None, extra=extra,
                                    landmarker=(None if lm is None else
                                                [lm.blendshapes, lm.min_confidence, model and Path(model).stat().st_size])))
        if key is not None:
            hit = align_cache.load(align_cache.cache_path(key))
            if hit is not None and list(hit["transforms"]) == indices:
                return AlignedClip(clip, from_cache=True, **hit)

    counts: dict[str, int] = {"aligned_clips": 1}
    frame_landmarks: dict[int, np.ndarray] = {}
    frame_blendshapes: dict[int, dict] = {}
    onset_frame = clip.read(onset)
    if mode == "per-clip":
        face = _detect(lm, onset_frame)
        if face is None:
            counts["no_face_onset"] = 1
            if on_no_face != "haar":
                _no_face(on_no_face, clip, onset, "MediaPipe" if lm is not None else "no landmarker")
            m, fallback = _fallback_transform(onset_frame, size, counts)
        else:
            m, fallback = transform_from_face(face, size), "none"
        transforms = {i: m for i in indices}
        for i in extra:
            f = _detect(lm, clip.read(i))
            if f is not None:
                frame_landmarks[i] = apply_transform(m, f.points)
                frame_blendshapes[i] = f.blendshapes
            else:
                counts["no_face_frames"] = counts.get("no_face_frames", 0) + 1
    else:
        faces: dict[int, FaceResult | None] = {}
        if lm is not None and getattr(lm, "mode", "image") == "video" and lm is not landmarker:
            lm.reset()
        for i in indices:
            frame = onset_frame if i == onset else clip.read(i)
            faces[i] = _detect(lm, frame)
        missing = sum(f is None for f in faces.values())
        counts["no_face_frames"] = missing
        if faces[onset] is None:
            counts["no_face_onset"] = 1
        if missing == len(indices):
            if on_no_face != "haar":
                _no_face(on_no_face, clip, onset, "on any frame of the tracked range")
            m, fallback = _fallback_transform(onset_frame, size, counts)
            transforms = {i: m for i in indices}
        else:
            params = {i: (transform_params(transform_from_face(f, size)) if f is not None else None) for i, f in faces.items()}
            transforms = {i: transform_from_params(p) for i, p in smooth_params(params, int(smooth)).items()}
            fallback = "none" if faces[onset] is not None else "tracked-interpolated"
            for i, f in faces.items():
                if f is not None:
                    frame_landmarks[i] = apply_transform(transforms[i], f.points)
                    frame_blendshapes[i] = f.blendshapes
        face = faces[onset]
        m = transforms[onset]
    if face is not None:
        landmarks, source, shapes = apply_transform(m, face.points), "mediapipe", face.blendshapes
    else:
        from ..data.canonical_face import canonical_landmarks

        landmarks, source, shapes = canonical_landmarks(size), "canonical", {}
    a = dict(size=size, mode=mode, onset=onset, transforms=transforms, landmarks=landmarks,
             landmarks_source=source, blendshapes=shapes, fallback=fallback, counts=counts,
             frame_landmarks=frame_landmarks, frame_blendshapes=frame_blendshapes)
    if key is not None:
        align_cache.save(align_cache.cache_path(key), a)
    return AlignedClip(clip, **a)
