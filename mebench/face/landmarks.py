"""Face landmarks with MediaPipe's Tasks ``FaceLandmarker`` and a Haar-cascade box fallback.

``Landmarker`` gives 478 points (468 mesh + 10 iris) in pixels and 52 ARKit-style blendshape
scores per frame. Landmark indices of the facial regions are in :data:`REGIONS`; "left" and
"right" are the subject's, so on a frontal photo ``right_eye`` lies on the image's left.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

# Landmark indices of MediaPipe's 478-point face mesh (subject's left/right).
RIGHT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
LEFT_EYE = [362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398]
RIGHT_BROW = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107]
LEFT_BROW = [276, 283, 282, 295, 285, 300, 293, 334, 296, 336]
RIGHT_IRIS = [468, 469, 470, 471, 472]
LEFT_IRIS = [473, 474, 475, 476, 477]
NOSE = [168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 64, 294, 48, 278, 115, 344, 220, 440, 45, 275]
LIPS_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
LIPS_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
MOUTH = LIPS_OUTER + LIPS_INNER
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
RIGHT_CHEEK = [50, 101, 36, 205, 187, 123, 116, 117, 118, 119, 100, 47, 126, 142, 203, 206, 207, 147]
LEFT_CHEEK = [280, 330, 266, 425, 411, 352, 345, 346, 347, 348, 329, 277, 355, 371, 423, 426, 427, 376]
CHIN = [152, 148, 176, 149, 150, 377, 400, 378, 379, 175, 199, 200, 18, 171, 396, 208, 428, 32, 262]
GLABELLA = [9, 8, 151, 107, 336, 55, 285, 193, 417, 168]
FOREHEAD = [10, 109, 67, 103, 338, 297, 332, 151, 108, 69, 104, 337, 299, 333]

NOSE_TIP = 1

REGIONS: dict[str, list[int]] = {"right_eye": RIGHT_EYE,
                                 "left_eye": LEFT_EYE,
                                 "right_brow": RIGHT_BROW,
                                 "left_brow": LEFT_BROW,
                                 "right_iris": RIGHT_IRIS,
                                 "left_iris": LEFT_IRIS,
                                 "glabella": GLABELLA,
                                 "forehead": FOREHEAD,
                                 "nose": NOSE,
                                 "right_cheek": RIGHT_CHEEK,
                                 "left_cheek": LEFT_CHEEK,
                                 "mouth": MOUTH,
                                 "lips_outer": LIPS_OUTER,
                                 "right_mouth_corner": [61, 146, 185, 40, 91, 78, 95, 191],
                                 "left_mouth_corner": [291, 375, 409, 270, 321, 308, 324, 415],
                                 "chin": CHIN,
                                 "face_oval": FACE_OVAL}
# Regions that blink; excluded where motion must come from expressions.
EYE_REGIONS = ("right_eye", "left_eye", "right_iris", "left_iris")

N_LANDMARKS = 478
N_BLENDSHAPES = 52


@dataclass
class FaceResult:
    """One detected face: ``points`` (478, 3) float32 (x, y in pixels, z in MediaPipe's x scale),
    ``blendshapes`` (name -> score, 52 entries, empty when disabled), ``box`` (x0, y0, x1, y1) pixels."""

    points: np.ndarray
    blendshapes: dict[str, float] = field(default_factory=dict)
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    source: str = "mediapipe"

    def region(self, name: str) -> np.ndarray:
        """(n, 2) pixel coordinates of region ``name`` (see :data:`REGIONS`)."""
        return self.points[REGIONS[name], :2]

    def eye_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(right_eye, left_eye) centres in pixels (subject's right eye first)."""
        return self.points[RIGHT_EYE, :2].mean(axis=0), self.points[LEFT_EYE, :2].mean(axis=0)

    def interocular(self) -> float:
        r, l = self.eye_centres()
        return float(np.hypot(*(l - r)))


def _box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = points[:, :2].min(axis=0)
    x1, y1 = points[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def as_rgb_uint8(frame: np.ndarray, where: str = "frame") -> np.ndarray:
    """Check/convert a frame to a contiguous (H, W, 3) uint8 array (grey is replicated)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise DataError(f"{where}: expected a uint8 image, got dtype {frame.dtype}",
                        hint="Read frames with mebench.io.open_clip(...).read(i).")
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or min(frame.shape[:2]) < 8:
        raise DataError(f"{where}: expected an (H, W, 3) RGB image of at least 8x8 pixels, got shape {frame.shape}")
    if frame.shape[2] == 4:
        frame = frame[:, :, :3]
    return np.ascontiguousarray(frame)


class Landmarker:
    """MediaPipe FaceLandmarker (one face) as a context manager.

    ``mode="image"`` treats every frame independently; ``mode="video"`` tracks across calls and
    needs increasing timestamps: ``detect(frame, timestamp_ms)``; when ``timestamp_ms`` is None an
    internal clock advances 33 ms per call. Call :meth:`reset` between unrelated clips in video
    mode. ``model_path`` defaults to :func:`mebench.model_files.ensure_face_landmarker`.
    """

    def __init__(self, mode: str = "image", blendshapes: bool = True, min_confidence: float = 0.5,
                 model_path: str | Path | None = None, verbose: bool = True):
        if mode not in ("image", "video"):
            raise ValueError(f"Landmarker mode must be 'image' or 'video', not {mode!r}")
        if not 0.0 <= float(min_confidence) <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1], not {min_confidence!r}")
        from ..model_files import ensure_face_landmarker, verify

        self.mode = mode
        self.blendshapes = bool(blendshapes)
        self.min_confidence = float(min_confidence)
        self.model_path = Path(verify(model_path) if model_path else ensure_face_landmarker(verbose=verbose))
        self._model_bytes = self.model_path.read_bytes()
        self._task = None
        self._clock = 0
        self._lock = threading.Lock()
        self.counts = {"frames": 0, "faces": 0, "no_face": 0}
        self._open()

    # -- lifecycle -------------------------------------------------------------------------
    def _open(self) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self._model_bytes),
            running_mode=vision.RunningMode.VIDEO if self.mode == "video" else vision.RunningMode.IMAGE,
            num_faces=1,
            min_face_detection_confidence=self.min_confidence,
            min_face_presence_confidence=self.min_confidence,
            min_tracking_confidence=self.min_confidence,
            output_face_blendshapes=self.blendshapes,
        )
        self._task = vision.FaceLandmarker.create_from_options(options)
        self._clock = 0

    @property
    def is_open(self) -> bool:
        return self._task is not None

    def reset(self) -> None:
        """Start a fresh tracker (video mode): the next clip is not tracked from the last one."""
        self.close()
        self._open()

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self) -> "Landmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- detection -------------------------------------------------------------------------
    def detect(self, rgb_frame: np.ndarray, timestamp_ms: int | None = None) -> FaceResult | None:
        """Landmarks of the most prominent face in an RGB uint8 frame, or None when none is found."""
        import mediapipe as mp

        if self._task is None:
            raise RuntimeError("Landmarker is closed")
        frame = as_rgb_uint8(rgb_frame)
        h, w = frame.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
        with self._lock:
            if self.mode == "video":
                if timestamp_ms is None:
                    timestamp_ms = self._clock + 33
                timestamp_ms = int(timestamp_ms)
                if timestamp_ms <= self._clock and self._clock:
                    raise ValueError(f"video-mode timestamps must increase: {timestamp_ms} after {self._clock} ms; "
                                     "call reset() before a new clip")
                self._clock = timestamp_ms
                result = self._task.detect_for_video(image, timestamp_ms)
            else:
                result = self._task.detect(image)
        self.counts["frames"] += 1
        if not result.face_landmarks:
            self.counts["no_face"] += 1
            return None
        self.counts["faces"] += 1
        lms = result.face_landmarks[0]
        points = np.array([(p.x, p.y, p.z) for p in lms], dtype=np.float32)
        points[:, 0] *= w
        points[:, 1] *= h
        points[:, 2] *= w
        shapes = {}
        if self.blendshapes and result.face_blendshapes:
            shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
        return FaceResult(points=points, blendshapes=shapes, box=_box_of(points))


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade: a box-only fallback (no landmarks, no model fetch)."""

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size_fraction: float = 0.15):
        import cv2

        path = Path(cv2.data.haarcascades) / cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise DataError("cannot load the Haar cascade", file=path,
                            hint="Reinstall opencv-contrib-python, which ships the cascades.")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_size_fraction = min_size_fraction

    def detect(self, rgb_frame: np.ndarray) -> tuple[float, float, float, float] | None:
        """The largest face box (x0, y0, x1, y1) in pixels, or None."""
        import cv2

        frame = np.asarray(rgb_frame)
        grey = frame if frame.ndim == 2 else cv2.cvtColor(as_rgb_uint8(frame), cv2.COLOR_RGB2GRAY)
        side = min(grey.shape[:2])
        min_size = max(20, int(side * self.min_size_fraction))
        faces = self._cascade.detectMultiScale(cv2.equalizeHist(grey), scaleFactor=self.scale_factor,
                                               minNeighbors=self.min_neighbors, minSize=(min_size, min_size))
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        return float(x), float(y), float(x + w), float(y + h)


def region_mask(points: np.ndarray, shape: tuple[int, int], regions, dilate: int = 0) -> np.ndarray:
    """Boolean (H, W) mask of the convex hulls of ``regions`` (names or index lists) of ``points``."""
    import cv2

    mask = np.zeros(shape[:2], dtype=np.uint8)
    for region in regions:
        idx = REGIONS[region] if isinstance(region, str) else list(region)
        hull = cv2.convexHull(np.round(points[idx, :2]).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
    if dilate > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, kernel)
    return mask.astype(bool)
