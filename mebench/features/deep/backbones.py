"""ImageNet backbones cut at stride 16: ``forward(x) -> (n, C, H/16, W/16)`` (14x14 for 224x224 input).

Weights files, channels and mean/std are read from :data:`mebench.model_files.BACKBONES`; the cuts:

==================  =====================================  ========  ==========================
name                source                                 channels  normalisation (mean, std)
==================  =====================================  ========  ==========================
resnet18            torchvision, conv1 .. layer3           256       ImageNet
resnet34            torchvision, conv1 .. layer3           256       ImageNet
resnet50            torchvision, conv1 .. layer3           1024      ImageNet
efficientnet-lite0  timm ``tf_efficientnet_lite0``,        112       0.5, 0.5
                    conv_stem .. blocks[4]
==================  =====================================  ========  ==========================

``stride=32`` keeps one stage more (ResNet ``layer4``: 512 / 2048 channels; EfficientNet
``blocks[5:7]``: 320 channels), as LibreFace's ResNet-18 encoder does.

The cut keeps the source model's parameter names (``conv1.weight``, ``layer3.1.bn2.bias``,
``blocks.4.2.conv_pwl.weight``...), so a state dict of the full model, or of the cut part, loads
by name. A file whose names differ but whose tensors match the full model's one for one, in
order and shape (the shipped EfficientNet-Lite0 file), is mapped by order. Anything else is a
:class:`~mebench.errors.ConfigError` naming the first tensor that does not fit.

``build_backbone(name, weights=...)`` returns a trainable :class:`Backbone` (the nets use it);
``shared_backbone`` returns a cached, frozen, eval-mode instance for feature extraction.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError
from ...model_files import BACKBONES
from .weights import WeightsInfo, check_backbone, load_state_dict, resolve_weights

STRIDE = 16


class _ResNetTrunk(nn.Module):
    """torchvision ResNet from ``conv1`` to ``layer3`` (stride 16) or ``layer4`` (32), with torchvision's names."""

    def __init__(self, full: nn.Module, stride: int = 16):
        super().__init__()
        self.stages = ("layer1", "layer2", "layer3") + (("layer4",) if stride == 32 else ())
        for name in ("conv1", "bn1", "relu", "maxpool") + self.stages:
            setattr(self, name, getattr(full, name))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in self.stages:
            x = getattr(self, name)(x)
        return x


class _EfficientNetTrunk(nn.Module):
    """timm EfficientNet from ``conv_stem`` to ``blocks[4]`` (stride 16) or ``blocks[6]`` (32), with timm's names."""

    def __init__(self, full: nn.Module, stride: int = 16):
        super().__init__()
        self.conv_stem = full.conv_stem
        self.bn1 = full.bn1
        self.blocks = full.blocks[:5] if stride == 16 else full.blocks

    def forward(self, x):
        return self.blocks(self.bn1(self.conv_stem(x)))


def _full_model(name: str) -> nn.Module:
    library, architecture = BACKBONES[name].architecture.split()
    if library == "timm":
        import timm

        return timm.create_model(architecture, pretrained=False)
    import torchvision

    return getattr(torchvision.models, architecture)(weights=None)


def _trunk(name: str, full: nn.Module, stride: int = 16) -> nn.Module:
    if stride not in (16, 32):
        raise ConfigError(f"backbone stride must be 16 or 32, not {stride!r}")
    timm_model = BACKBONES[name].architecture.startswith("timm ")
    return _EfficientNetTrunk(full, stride) if timm_model else _ResNetTrunk(full, stride)


def _strip(key: str) -> str:
    for prefix in ("module.", "_orig_mod.", "trunk."):  # DataParallel, torch.compile, a saved Backbone
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def guess_backbone(names) -> str | None:
    """The backbone of :data:`BACKBONES` whose parameter names a state dict's ``names`` look like, if any.

    Used only to say which ``backbone=`` a weights file wants when it does not fit the one asked for
    (the default, efficientnet-lite0, given a ResNet file)."""
    names = {_strip(str(k)) for k in names}
    if "conv_stem.weight" in names:
        return "efficientnet-lite0"
    if "layer1.0.conv1.weight" not in names:
        return None
    if "layer1.0.conv3.weight" in names:
        return "resnet50"
    return "resnet34" if "layer3.5.conv1.weight" in names else "resnet18"


def _other_backbone_hint(source: dict, full: OrderedDict) -> str:
    guess = guess_backbone(source)
    if guess is None or guess_backbone(full) == guess:
        return ""
    return f" The file looks like {guess} weights: pass backbone={guess} with them."


def map_state_dict(source: dict, full: OrderedDict[str, torch.Tensor], needed: list[str], what: str) -> dict:
    """Tensors of ``source`` renamed onto the ``needed`` names of the reference model ``full``.

    By name when every needed name is present with its shape and no name is foreign to ``full``;
    else by order when ``source`` matches ``full`` (or the needed part) tensor for tensor in shape.
    """
    source = OrderedDict((_strip(k), v) for k, v in source.items())
    if all(k in source and tuple(source[k].shape) == tuple(full[k].shape) for k in needed):
        foreign = next((k for k in source if k not in full), None)
        if foreign is not None:  # e.g. resnet34's layer1.2.* offered to resnet18: another model's file
            raise ConfigError(f"{what}: the file holds tensor {foreign!r}, which this model does not have; "
                              f"it is a file for another architecture.{_other_backbone_hint(source, full)}")
        return {k: source[k] for k in needed}
    for reference in (list(full), needed):
        if len(source) == len(reference) and all(
                tuple(s.shape) == tuple(full[r].shape) for s, r in zip(source.values(), reference)):
            by_order = dict(zip(reference, source.values()))
            return {k: by_order[k] for k in needed}
    for k in needed:  # name the first tensor that does not fit
        if k not in source:
            raise ConfigError(
                f"{what}: tensor {k!r} {tuple(full[k].shape)} is missing, and the file's {len(source)} tensors do not "
                f"match the model's {len(full)} one for one in order (first in file: {next(iter(source), None)!r})."
                f"{_other_backbone_hint(source, full)}")
        if tuple(source[k].shape) != tuple(full[k].shape):
            raise ConfigError(f"{what}: tensor {k!r} has shape {tuple(source[k].shape)}, the model needs "
                              f"{tuple(full[k].shape)}.")
    raise ConfigError(f"{what}: the file does not fit the model")  # pragma: no cover - unreachable


class Backbone(nn.Module):
    """A backbone cut at stride 16. ``forward(x)``: x (n, 3, H, W) normalised -> (n, C, H/16, W/16).

    Attributes: ``name``, ``out_channels``, ``stride`` (16, or 32 when asked), ``mean`` / ``std`` (the normalisation its
    weights expect), ``weights_info`` (:class:`~.weights.WeightsInfo`). :meth:`normalise` turns
    images in [0, 1] into the input; :meth:`preprocess` does so for uint8 (n, H, W, 3) arrays.
    """

    def __init__(self, name: str, trunk: nn.Module, weights_info: WeightsInfo, stride: int = STRIDE):
        super().__init__()
        self.name = name
        self.trunk = trunk
        self.stride = stride
        config = BACKBONES[name]
        self.out_channels = config.channels[0] if stride == 16 else config.channels[1]
        self.weights_info = weights_info
        mean, std = config.mean, config.std
        self.mean, self.std = mean, std
        self.register_buffer("_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 3, H, W) floats in [0, 1] -> the backbone's normalised input."""
        return (x - self._mean) / self._std

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """(n, H, W, 3) uint8 RGB (or floats in [0, 1]) -> normalised (n, 3, H, W) float32 tensor.

        Pixels travel to the model's device as they are (uint8 is 4x smaller) and are scaled there in
        place; the result keeps the channels-last layout of the input.
        """
        arr = np.ascontiguousarray(images)
        x = torch.from_numpy(arr).to(self._mean.device).permute(0, 3, 1, 2).float()
        scale = self._std * (255.0 if arr.dtype == np.uint8 else 1.0)
        return x.div_(scale).sub_(self._mean / self._std)


def build_backbone(name: str, weights="imagenet", pretrained_on=None, seed: int = 0,
                   state_dict: dict | None = None, info: WeightsInfo | None = None, stride: int = STRIDE) -> Backbone:
    """A trainable :class:`Backbone` with ``weights`` (``imagenet``, ``none`` or a path; see :mod:`.weights`).

    ``seed`` seeds the random initialisation (used as such when ``weights=none``). ``state_dict``
    (already loaded tensors, e.g. renamed from a LibreFace checkpoint) replaces reading the file;
    ``info`` passes weights already resolved; ``stride`` 16 (default) or 32.
    """
    check_backbone(name)
    info = info or resolve_weights(name, weights, pretrained_on, seed=seed, owner=f"backbone {name}")
    if info.untrained and info.seed is not None:
        seed = info.seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed or 0))
        full = _full_model(name)
    trunk = _trunk(name, full, stride)
    if not info.untrained or state_dict is not None:
        source = state_dict if state_dict is not None else load_state_dict(info.path, info.sha256)
        reference = full.state_dict()
        needed = list(trunk.state_dict())
        trunk.load_state_dict(map_state_dict(source, reference, needed,
                                             f"weights {info.path or 'state dict'} for {name}"), strict=True)
    return Backbone(name, trunk, info, stride)


_shared: dict = {}
_shared_lock = threading.Lock()


def shared_backbone(name: str, info: WeightsInfo, device: str = "cpu", stride: int = STRIDE,
                    loader=None) -> Backbone:
    """A frozen eval-mode :class:`Backbone`, built once per (name, weights, device, stride) in this process.

    ``loader(info) -> state dict`` replaces reading ``info.path`` (e.g. renaming a LibreFace checkpoint).
    """
    key = (name, info, str(device), int(stride), None if loader is None else f"{loader.__module__}.{loader.__qualname__}")
    with _shared_lock:
        model = _shared.get(key)
        if model is None:
            state = loader(info) if loader is not None else None
            model = build_backbone(name, seed=info.seed or 0, info=info, state_dict=state, stride=stride).to(device).eval()
            for p in model.parameters():
                p.requires_grad_(False)
            if len(_shared) >= 4:  # a run uses one or two; keep memory bounded
                _shared.pop(next(iter(_shared)))
            _shared[key] = model
    return model


def imagenet_model(name: str, info: WeightsInfo) -> nn.Module:
    """The whole source model (with its 1000-class ImageNet head) loaded with ``info``'s file, eval mode.

    For checking a weights file end to end (e.g. the top-1 class of a known photo).
    """
    full = _full_model(name)
    reference = full.state_dict()
    full.load_state_dict(map_state_dict(load_state_dict(info.path), reference, list(reference),
                                        f"weights {info.path} for {name}"), strict=True)
    return full.eval()
