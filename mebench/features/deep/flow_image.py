"""``flow-image``: one small image per sample, kept in its image shape (n, 3, size, size) for the nets.

- A sample whose frames are **one image** (a ``manifest`` row whose path is an image,
  ``frames_kind="image"``): that image's pixels, resized to ``size`` x ``size`` (area), RGB in
  [0, 1]. It is whatever was precomputed: an STSTNet-style (u, v, strain) flow image, or an apex crop.
- A sample with **frames**: the same image computed from them. ``kind="flow"``: optical flow from
  the onset to the apex of the aligned ``crop_size`` face crops (the face's median vector removed),
  with optical strain, resized to ``size`` (:func:`mebench.face.flow.flow_image`), channels (u, v,
  strain). ``kind="apex"``: the aligned apex crop, RGB. ``kind="apex+flow"``: both, six channels
  (apex RGB, then u, v, strain): the input of ``resnet-e2e``'s two streams (FPF on the apex, TMFE on
  the motion).

Alignment (``align``): ``auto`` (default) aligns the faces of samples with frames (MediaPipe, as
``per-clip``) and takes a single image as it is: a precomputed flow image or apex crop is already
cropped, so re-cropping it only loses pixels, and a run whose samples are all single images never
needs the face-landmarker model (it is not fetched). ``per-clip`` is the same for sequences; None
takes every frame as an aligned face crop.

``normalise="minmax"`` (default) stretches every channel of every image to [0, 1], as flow images
are when saved as 8-bit pictures, so computed and precomputed images look alike; ``"none"`` keeps
[0, 1] pixels and flow in pixels of the ``size`` grid. ``flatten=True`` returns (n, 3*size*size) for
classifiers that need vectors.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, DataError
from .._util import aligned_clip, field, keep_params, map_rows, open_row_clip, sample_name
from ..base import FeatureExtractor
from .inputs import onset_apex

KINDS = ("flow", "apex", "apex+flow")


def _missing(value) -> bool:
    try:
        return bool(value != value) or value is None
    except (TypeError, ValueError):  # pandas.NA
        return True


class FlowImage(FeatureExtractor):
    """One (3, size, size) image per sample (6 channels for ``apex+flow``): a precomputed flow image /
    apex crop, or computed from the frames.

    Parameters: ``kind`` (``flow``, ``apex`` or ``apex+flow``; for samples with frames), ``size`` (28), ``crop_size``
    (128: the aligned face the flow is computed on), ``align`` (``auto``: align samples with frames, never
    single images; ``per-clip``; or None: frames taken as aligned crops), ``apex`` (``column``, ``spot``,
    ``middle``), ``flow_method`` (``farneback``,
    ``tvl1``, ``dis``), ``normalise`` (``minmax`` or ``none``), ``flatten``, ``n_jobs`` threads.
    """

    stateless = True
    version = "1"
    requires = ("frames",)

    def __init__(self, kind: str = "flow", size: int = 28, crop_size: int = 128, align: str | None = "auto",
                 apex: str = "column", flow_method: str = "farneback", normalise: str = "minmax",
                 flatten: bool = False, n_jobs: int = -1):
        keep_params(self, locals())

    def _check(self):
        if self.kind not in KINDS:
            raise ConfigError(f"flow-image: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if int(self.size) < 4 or int(self.crop_size) < 16:
            raise ConfigError("flow-image: size must be >= 4 and crop_size >= 16")
        if self.align not in (None, "auto", "per-clip"):
            raise ConfigError(f"flow-image: align must be 'auto', 'per-clip' or None, not {self.align!r}")
        if self.normalise not in ("minmax", "none"):
            raise ConfigError(f"flow-image: normalise must be 'minmax' or 'none', not {self.normalise!r}")
        if self.flow_method not in ("farneback", "tvl1", "dis"):
            raise ConfigError(f"flow-image: flow_method must be farneback, tvl1 or dis, not {self.flow_method!r}")

    def needs_alignment(self, samples) -> bool:
        """Whether any of ``samples`` will be face-aligned (so the run must have the face-landmarker model).

        Decided from the table alone, before any file is opened: a sample marked ``frames_kind="image"``,
        ``n_frames == 1`` or whose locator is an image file is taken as it is; anything else may be aligned.
        """
        if not self.align:
            return False
        if self.align != "auto" or "frames" not in getattr(samples, "columns", ()):
            return True
        from ...io import IMAGE_EXTENSIONS

        kinds = samples["frames_kind"] if "frames_kind" in samples.columns else [None] * len(samples)
        counts = samples["n_frames"] if "n_frames" in samples.columns else [None] * len(samples)
        for frames, kind, n in zip(samples["frames"], kinds, counts):
            single = kind == "image" or (n is not None and not _missing(n) and int(n) == 1) or (
                isinstance(frames, str) and frames.lower().endswith(IMAGE_EXTENSIONS))
            if not single:
                return True
        return False

    @property
    def shape(self) -> tuple[int, ...]:
        """Per-sample output shape."""
        s, c = int(self.size), 6 if self.kind == "apex+flow" else 3
        return (c * s * s,) if self.flatten else (c, s, s)

    def transform(self, X):
        self.check_columns(X)
        self._check()
        images = map_rows(self, X, self._one, self.n_jobs)
        if not images:
            return np.zeros((0,) + self.shape)
        return np.stack([image.reshape(self.shape) for image in images])

    def extract_one(self, row):
        self._check()
        self.counts_ = getattr(self, "counts_", {})
        return self._one(row)[0].reshape(self.shape)

    def _one(self, row):
        from ...face.flow import compute_flow, flow_image

        counts: dict = {}
        size, crop = int(self.size), int(self.crop_size)
        clip = open_row_clip(row, "flow-image", min_frames=1)
        if clip.n_frames == 1 or field(row, "frames_kind") == "image":
            import cv2

            if self.kind == "apex+flow":
                raise DataError(f"sample {sample_name(row)} is a single image; kind='apex+flow' needs the frames to "
                                "compute both the apex crop and the motion", file=field(row, "frames"),
                                hint="Use kind='flow' or 'apex' for precomputed images.")

            frame = clip.read(clip.indices[0])
            image = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
            counts["flow_image_precomputed"] = 1
        else:
            onset, apex = onset_apex(row, clip, self.apex, "flow-image")
            if self.kind != "apex" and onset == apex:
                raise DataError(f"sample {sample_name(row)}: apex {apex} equals onset; a flow image needs two frames",
                                file=field(row, "frames"), hint="Check the apex column, or use apex='spot'.")
            if self.align:  # "auto" aligns exactly these: samples with frames
                clip = aligned_clip(clip, row, "per-clip", crop, min(onset, apex), max(onset, apex), counts)
            parts = []
            if self.kind in ("apex", "apex+flow"):
                import cv2

                parts.append(cv2.resize(clip.read(apex, size=(crop, crop)), (size, size),
                                        interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0)
            if self.kind in ("flow", "apex+flow"):
                flow = compute_flow(clip.read(onset, grey=True, size=(crop, crop)),
                                    clip.read(apex, grey=True, size=(crop, crop)), method=self.flow_method)
                flow = flow - np.median(flow.reshape(-1, 2), axis=0).astype(np.float32)
                parts.append(flow_image(flow, size))
            image = np.concatenate(parts, axis=2)
            counts["flow_image_computed"] = 1
        if self.normalise == "minmax":
            low = image.min(axis=(0, 1), keepdims=True)
            span = image.max(axis=(0, 1), keepdims=True) - low
            image = np.where(span > 1e-8, (image - low) / np.maximum(span, 1e-8), 0.0)
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float64), counts

    @classmethod
    def example_params(cls) -> dict:
        return {"align": None}
