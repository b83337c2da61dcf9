"""Per-thread MediaPipe landmarkers and Haar detectors shared by the face steps, closed explicitly.

Creating a landmarker costs ~40 ms, so extractors reuse one per (thread, mode, blendshapes). The
landmarkers of threads that have ended are closed whenever a new one is made; the runner calls
:func:`close_shared_landmarkers` when extraction ends (also on errors), and an ``atexit`` hook closes
whatever is still open as a last resort.
"""
from __future__ import annotations

import atexit
import threading

from .landmarks import HaarFaceDetector, Landmarker

_shared: dict = {}
_shared_lock = threading.Lock()
_haar: dict = {}


def shared_landmarker(mode: str = "image", blendshapes: bool = True) -> Landmarker:
    """A process-wide :class:`Landmarker` per (thread, mode, blendshapes), closed at exit.

    Extractors run clips on short-lived worker threads; the landmarkers of threads that have
    ended are closed whenever a new one is made, so they do not pile up over a run.
    """
    key = (threading.get_ident(), mode, bool(blendshapes))
    with _shared_lock:
        lm = _shared.get(key)
        if lm is None or not lm.is_open:
            alive = {t.ident for t in threading.enumerate()}
            for old in [k for k in _shared if k[0] not in alive]:
                try:
                    _shared.pop(old).close()
                except Exception:  # noqa: BLE001 - closing must not fail the new detection
                    pass
            lm = _shared[key] = Landmarker(mode=mode, blendshapes=blendshapes)
    return lm


def close_shared_landmarkers() -> None:
    """Close every shared landmarker (also run automatically at interpreter exit)."""
    with _shared_lock:
        for lm in _shared.values():
            try:
                lm.close()
            except Exception:  # noqa: BLE001 - mediapipe already torn down
                pass
        _shared.clear()
        _haar.clear()


atexit.register(close_shared_landmarkers)


def haar_detector() -> HaarFaceDetector:
    """This thread's OpenCV Haar face detector."""
    key = threading.get_ident()
    if key not in _haar:
        _haar[key] = HaarFaceDetector()
    return _haar[key]
