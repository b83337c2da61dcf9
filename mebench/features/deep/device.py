"""The one meaning of a ``device`` option, for every torch component (deep extractors and nets)."""
from __future__ import annotations

from ...errors import ConfigError


def resolve_device(device: str | None = "auto"):
    """The torch device a ``device`` option names (its ``str`` is what cache tokens and manifests record).

    ``auto`` or None: ``cuda`` when torch sees a CUDA device, else ``cpu``; anything else is a name
    ``torch.device`` accepts. A ConfigError for an unknown name, or for CUDA where torch sees none.
    """
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device ({exc}); use auto, cpu or cuda.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for, but torch sees no CUDA device here. Use device=cpu "
                          "or device=auto.")
    return resolved
