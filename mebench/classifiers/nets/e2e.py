"""``resnet-e2e``: the seed pipeline's two streams fine-tuned end to end with an FPF + TMFE fusion head.

Input per sample: a (6, S, S) image in [0, 1] — the aligned apex crop (RGB, the FPF stream) and
the onset→apex motion image (three channels, the TMFE stream), with S a multiple of 16 (224 gives
14×14 maps). ``streams="tmfe"`` or ``"fpf"`` takes a (3, S, S) image and keeps one stream.

Each stream is a backbone cut at stride 16 (:mod:`mebench.features.deep.backbones`: resnet18/34/50
or efficientnet-lite0, ``weights=imagenet|none|PATH``). The two maps are concatenated along
channels, then pooled the FPF way: the global mean plus one weighted mean per facial region
(brows, eyes, nose, mouth, whole face), with the regions of the canonical face of aligned crops
(:func:`mebench.features.deep.inputs.region_weights`). Dropout and one linear layer give the
logits. Everything trains; with ``train_bn=False`` (default) the backbones' batch norms keep their
pretrained statistics, which small micro-expression batches would only disturb.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError, InputShapeError
from ...features.deep.weights import StartingWeights
from .wrapper import IMAGE_INPUT_CHECKS, TorchClassifier

STREAMS = ("fpf+tmfe", "fpf", "tmfe")
E2E_HINT = ("It takes (n, 6, S, S) images in [0, 1]: the aligned apex crop (RGB) and the onset->apex motion image, "
            "S a multiple of 16 (--features flow-image --features-opt kind=apex+flow --features-opt size=112); "
            "or (n, 3, S, S) with streams=tmfe or streams=fpf (--features flow-image --features-opt size=112).")


def _size_advice(shape: tuple, channels: int) -> str:
    """What is wrong with an input of ``shape`` and the sizes that would do, e.g. for 28-pixel flow images."""
    if len(shape) != 4 or shape[1] != channels:
        return f"it takes {channels} channels per sample ({'apex RGB + motion' if channels == 6 else 'one stream'})."
    side = shape[2]
    if shape[2] != shape[3]:
        return f"it takes square images, not {shape[2]}x{shape[3]}."
    larger = max(32, -(-side // 16) * 16)
    return (f"it takes S x S images with S a multiple of 16 and at least 32 (its backbones work at stride 16; "
            f"224 is their native size), not {side} px. Resize them: --features-opt size={larger} (or 112/224) "
            f"for flow-image, or resize precomputed images to {larger}x{larger} or larger.")


def facial_regions(size: int, grid: int) -> np.ndarray:
    """(R, grid, grid) region weights of the canonical aligned face; a region covering no cell is uniform."""
    from ...data.canonical_face import canonical_landmarks
    from ...features.deep.inputs import region_weights

    weights = region_weights(canonical_landmarks(size), size, grid)
    empty = weights.sum(axis=(1, 2)) <= 1e-6
    weights[empty] = 1.0
    return weights / weights.sum(axis=(1, 2), keepdims=True)


class FusionNet(nn.Module):
    """Two backbones → concatenated maps → global + facial-region pooling → dropout → linear."""

    def __init__(self, backbones: dict, regions: np.ndarray, n_classes: int, dropout: float, train_bn: bool):
        super().__init__()
        self.streams = nn.ModuleDict(backbones)
        self.register_buffer("regions", torch.as_tensor(regions, dtype=torch.float32))
        width = sum(b.out_channels for b in backbones.values())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width * (1 + len(regions)), n_classes))
        self.train_bn = train_bn

    def fused_map(self, x):
        """The streams' maps concatenated along channels: (n, C_fpf + C_tmfe, S/16, S/16)."""
        maps, offset = [], 0
        for backbone in self.streams.values():
            maps.append(backbone(backbone.normalise(x[:, offset:offset + 3])))
            offset += 3
        return torch.cat(maps, dim=1)

    def forward(self, x):
        fused = self.fused_map(x)
        pooled = torch.einsum("nchw,rhw->nrc", fused, self.regions)
        features = torch.cat([fused.mean(dim=(2, 3)).unsqueeze(1), pooled], dim=1)
        return self.head(features.flatten(1))

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and not self.train_bn:
            for module in self.streams.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


class ResNetE2E(StartingWeights, TorchClassifier):
    """FPF + TMFE streams fine-tuned end to end (apex crop + motion image, (n, 6, S, S))."""

    input_hint = E2E_HINT
    owner = "classifier resnet-e2e"
    net_params = {"backbone": "efficientnet-lite0", "weights": "imagenet", "pretrained_on": None, "streams": "fpf+tmfe",
                  "dropout": 0.5, "train_bn": False}
    defaults = {"epochs": 30, "batch_size": 32, "lr": 1e-4, "optimizer": "adamw", "weight_decay": 1e-4,
                "patience": 5}
    quick_params = {"weights": "none", "epochs": 2, "batch_size": 8, "lr": 1e-3}

    def _channels(self) -> int:
        if self.streams not in STREAMS:
            raise ConfigError(f"resnet-e2e: streams must be one of {', '.join(STREAMS)}, not {self.streams!r}.")
        return 3 * len(self.streams.split("+"))

    def _validate(self, X, reset: bool, y=None):
        channels = self._channels()
        shape = getattr(X, "shape", None)
        if shape is not None and len(shape) == 2:
            side = math.isqrt(shape[1] // channels) if shape[1] % channels == 0 else 0
            if side and channels * side * side == shape[1]:
                X = np.asarray(X).reshape(shape[0], channels, side, side)
        out = super()._validate(X, reset, y)
        Xc = out[0] if reset else out
        if Xc.ndim != 4 or Xc.shape[1] != channels or Xc.shape[2] != Xc.shape[3] or Xc.shape[2] % 16 \
                or Xc.shape[2] < 32:
            raise InputShapeError(f"resnet-e2e (streams={self.streams}) got images of shape {Xc.shape[1:]}; "
                                  f"{_size_advice(Xc.shape, channels)} {E2E_HINT}")
        return out

    # -- starting weights (StartingWeights; checked before any data is read, recorded in the manifest) --
    # no _weights_seed: each stream draws its own initialisation seed from the member's seed
    def model_files(self) -> dict[str, str]:
        """{backbone:file name: sha256} of the starting weights."""
        return self.weights_info().provenance()

    def build_module(self, input_shape, n_classes):
        from ...features.deep.backbones import build_backbone

        size = int(input_shape[-1])
        info = self.weights_info()
        backbones = {}
        for name in self.streams.split("+"):
            seed = int(torch.randint(0, 2 ** 31 - 1, (1,)))  # follows the member's seed
            backbones[name] = build_backbone(self.backbone, seed=seed, info=info)
        return FusionNet(backbones, facial_regions(size, size // 16), n_classes, float(self.dropout),
                         bool(self.train_bn))

    @classmethod
    def example_data(cls, n_samples: int = 90, n_classes: int = 2, seed: int = 0):
        rng = np.random.default_rng(seed)
        y = np.arange(n_samples) % n_classes
        centres = rng.uniform(0.2, 0.8, (n_classes, 6, 32, 32))
        X = np.clip(centres[y] + rng.normal(0, 0.1, (n_samples, 6, 32, 32)), 0, 1)
        return X.astype(np.float32), y

    @classmethod
    def sklearn_expected_failed_checks(cls) -> dict[str, str]:
        failed = super().sklearn_expected_failed_checks()
        reason = ("takes (6, S, S) images with S a multiple of 16; the check feeds a table, which is refused with a "
                  "ValueError naming the expected shape")
        failed.update({name: reason for name in IMAGE_INPUT_CHECKS})
        return failed
