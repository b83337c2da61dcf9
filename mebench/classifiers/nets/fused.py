"""The fused CPU engine of STSTNet: a small C kernel, compiled on first use, called through ctypes.

Why: on a CPU, STSTNet's cost is not per-step overhead but memory traffic. Every sample makes a
16×30×30 activation map that PyTorch writes and re-reads a dozen times (convolution, ReLU, batch
norm, max pooling with indices, their backward passes). The kernel in ``_ststnet_kernel.py``
keeps each map in registers and cache and never stores it, which makes one fold about seven
times faster on one thread (benchmarks/RESULTS.md). Folds are independent calls that release the
GIL, so ``fit_folds`` trains several folds at once in threads, and each fold's result is
bit-for-bit the result of training that fold alone.

The shared library is built with the system C compiler (``$CC``, else ``cc``) and cached under
``cache_dir()/kernels``, keyed by the source, the compiler and the CPU. Without a working compiler
``engine="auto"`` falls back to the torch engine (and says so); ``engine="fused"`` raises.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ._ststnet_kernel import SOURCE

FLAG_SETS = (["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-predictive-commoning"],
             ["-O3", "-march=native", "-mprefer-vector-width=512"],
             ["-O3", "-march=native"],
             ["-O3"])
OPTIMIZER_CODES = {"adam": 0, "adamw": 1, "sgd": 2}
_lock = threading.Lock()
_state: dict = {}


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
        model = next((line for line in text.splitlines() if line.startswith("model name")), "")
        return model + flags
    except OSError:
        return platform.processor() + platform.machine()


def _compiler_version(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=20)
        return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _build(cc: str, target: Path) -> tuple[bool, str]:
    """Compile SOURCE into ``target`` with the first flag set that works."""
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "ststnet.c"
        src.write_text(SOURCE)
        for flags in FLAG_SETS:
            out = Path(tmp) / "ststnet.so"
            try:
                proc = subprocess.run([cc, *flags, "-fPIC", "-shared", "-o", str(out), str(src), "-lm"],
                                      capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.SubprocessError) as exc:
                return False, f"{cc}: {exc}"
            if proc.returncode == 0:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp_target = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                tmp_target.write_bytes(out.read_bytes())
                os.replace(tmp_target, target)
                return True, " ".join(flags)
            errors.append(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return False, f"{cc} failed: {errors[-1] if errors else 'unknown error'}"


def load_kernel():
    """The compiled kernel (ctypes CDLL), or None with the reason in ``kernel_status()``."""
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        from ...fsutil import cache_dir

        cc = os.environ.get("CC", "cc")
        version = _compiler_version(cc)
        lib = None
        if not version:
            _state["why"] = f"no C compiler found ({cc!r}; set $CC to one)"
        else:
            key = hashlib.sha256("\n".join([SOURCE, cc, version, _cpu_signature(), repr(FLAG_SETS)]).encode())
            target = cache_dir() / "kernels" / f"ststnet-{key.hexdigest()[:20]}.so"
            ok, why = (True, "cached") if target.is_file() else _build(cc, target)
            _state["why"] = why
            if ok:
                try:
                    lib = _bind(ctypes.CDLL(str(target)))
                except OSError as exc:
                    _state["why"] = f"cannot load {target}: {exc}"
        _state["lib"] = lib
        return lib


def kernel_status() -> str:
    load_kernel()
    return ("available: " if _state["lib"] is not None else "unavailable: ") + _state.get("why", "")


def _bind(lib):
    f32, i32 = ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_int32)
    u64 = ctypes.POINTER(ctypes.c_uint64)
    c_int, c_float = ctypes.c_int, ctypes.c_float
    lib.ststnet_param_count.argtypes = [c_int]
    lib.ststnet_param_count.restype = c_int
    lib.ststnet_work_size.argtypes = [c_int, c_int]
    lib.ststnet_work_size.restype = ctypes.c_long
    lib.ststnet_forward_backward.argtypes = [f32, i32, i32, c_int, c_int, f32, f32, f32, f32, c_float, f32, f32]
    lib.ststnet_forward_backward.restype = ctypes.c_double
    lib.ststnet_optimizer_step.argtypes = [f32, f32, f32, f32, c_int, c_int, c_int] + [c_float] * 6
    lib.ststnet_optimizer_step.restype = None
    lib.ststnet_epoch.argtypes = ([f32, i32, i32, c_int, c_int, c_int, f32, f32, f32, f32, i32, f32]
                                  + [c_float, c_float, c_int] + [c_float] * 6 + [u64])
    lib.ststnet_epoch.restype = ctypes.c_double
    return lib


def ptr(array: np.ndarray, kind=ctypes.c_float):
    return array.ctypes.data_as(ctypes.POINTER(kind))


# ---------------------------------------------------------------------- parameters <-> module
def pack(module) -> tuple[np.ndarray, np.ndarray]:
    """STSTNetModule → (flat float32 parameters, running mean+var)."""
    parts = [module.conv.weight, module.conv.bias, module.bn.weight, module.bn.bias, module.fc.weight, module.fc.bias]
    flat = np.concatenate([p.detach().cpu().numpy().astype(np.float32).ravel() for p in parts])
    running = np.concatenate([module.bn.running_mean.cpu().numpy(), module.bn.running_var.cpu().numpy()])
    return np.ascontiguousarray(flat), np.ascontiguousarray(running.astype(np.float32))


def unpack(module, flat: np.ndarray, running: np.ndarray, steps: int) -> None:
    """Load flat parameters and running statistics into an STSTNetModule (in place)."""
    import torch

    k = module.fc.out_features
    sizes = [432, 16, 16, 16, 400 * k, k]
    targets = [module.conv.weight, module.conv.bias, module.bn.weight, module.bn.bias, module.fc.weight, module.fc.bias]
    offset = 0
    with torch.no_grad():
        for size, target in zip(sizes, targets):
            target.copy_(torch.from_numpy(flat[offset:offset + size].copy()).view_as(target))
            offset += size
        module.bn.running_mean.copy_(torch.from_numpy(running[:16].copy()))
        module.bn.running_var.copy_(torch.from_numpy(running[16:].copy()))
        module.bn.num_batches_tracked.fill_(int(steps))


def pad_inputs(X: np.ndarray) -> np.ndarray:
    """(n, 3, 28, 28) → (n, 3, 32, 32) float32 with the convolution's zero padding of 2."""
    out = np.zeros((len(X), 3, 32, 32), np.float32)
    out[:, :, 2:30, 2:30] = X
    return out


class FusedSTSTNetTrainer:
    """Trains one STSTNet run with the C kernel; the module it returns is a plain STSTNetModule."""

    engine = "fused"

    def __init__(self, owner, X, codes, train_idx, hp, seed, lib, padded=None):
        import torch

        from .wrapper import seeded_build

        if tuple(X.shape[1:]) != (3, 28, 28):
            raise ConfigError(f"the fused STSTNet engine takes (n, 3, 28, 28) inputs, got {X.shape}.")
        optimizer = str(hp["optimizer"]).lower()
        self.lib, self.device = lib, torch.device("cpu")
        self.net = seeded_build(owner, tuple(X.shape[1:]), seed)
        self.params, self.running = pack(self.net)
        self.m = np.zeros_like(self.params)
        self.v = np.zeros_like(self.params)
        self.step = np.zeros(1, np.int32)
        self.rng = np.array([(int(seed) * 0x2545F4914F6CDD1D + 0x9E37) % 2 ** 64], np.uint64)  # the fold's stream
        self.xpad = pad_inputs(X) if padded is None else padded
        self.codes = np.ascontiguousarray(codes, dtype=np.int32)
        self.idx = np.ascontiguousarray(train_idx, dtype=np.int32)
        weights = owner._loss_weights(codes[train_idx], self.device)
        self.cw = None if weights is None else np.ascontiguousarray(weights.numpy(), dtype=np.float32)
        self.k = len(owner.classes_)
        self.hp = (float(owner.dropout), 0.1, OPTIMIZER_CODES[optimizer], float(hp["lr"]), 0.9, 0.999, 1e-8,
                   float(hp["weight_decay"]), float(hp["momentum"]))
        self.batch = int(hp["batch_size"])
        self.last_loss = None

    def epoch(self) -> None:
        dropout, bn_m, opt, lr, b1, b2, eps, wd, mom = self.hp
        self.last_loss = self.lib.ststnet_epoch(
            ptr(self.xpad), ptr(self.codes, ctypes.c_int32), ptr(self.idx, ctypes.c_int32), len(self.idx), self.batch,
            self.k, ptr(self.params), ptr(self.running), ptr(self.m), ptr(self.v), ptr(self.step, ctypes.c_int32),
            ptr(self.cw) if self.cw is not None else None, dropout, bn_m, opt, lr, b1, b2, eps, wd, mom,
            ptr(self.rng, ctypes.c_uint64))

    def module(self):
        unpack(self.net, self.params, self.running, int(self.step[0]))
        return self.net

    def state(self) -> dict:
        return {"params": self.params.copy(), "running": self.running.copy(), "step": int(self.step[0])}

    def load(self, state: dict) -> None:
        self.params[:] = state["params"]
        self.running[:] = state["running"]
        self.step[0] = state["step"]
