"""Checkpoints of a run in progress, so a killed run resumes without redoing finished folds.

Layout inside the run directory, removed when the run's final files are written:

    checkpoint/state.json      what the run is (run id, resolved config, plugin files), written first
    checkpoint/folds/NNNN.fold one atomic shard per finished fold: a magic line, a JSON header line
                               (key, note, shapes, blake2b of the body), then the held-out scores
                               (little-endian float64) and predicted codes (int64)
    checkpoint/lock            held (flock) by the process running it, released by the kernel on death

A shard is reused only when its key (run id, fold name, train and test sample ids) matches, so a
changed dataset or fold assignment recomputes. Fitted fold models of estimators that ask for it
(``save_fold_models = True``, the nets) are kept in ``models/`` beside the run's final files.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from .errors import RunStoreError
from .fsutil import atomic_write_bytes, json_text

STATE = "state.json"
SHARD_SUFFIX = ".fold"
_SHARD_MAGIC = b"mebench fold shard 1\n"


def interrupted_state(run_dir: str | Path) -> dict | None:
    """The state of an interrupted run in ``run_dir`` (None when there is none)."""
    path = Path(run_dir) / "checkpoint" / STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunStoreError(f"{path} is damaged ({exc}); remove {path.parent} to start the run afresh.") from None
    if not (isinstance(state, dict) and isinstance(state.get("run_id"), str) and isinstance(state.get("config"), dict)):
        raise RunStoreError(f"{path} is damaged (no run id and config); remove {path.parent} to start the run afresh.")
    return state


def _differences(previous: dict, state: dict) -> list[str]:
    """Why an interrupted run's fold shards may not be reused by ``state`` (empty: they may)."""
    if previous.get("run_id") != state.get("run_id"):
        return [f"another configuration or dataset ({previous.get('run_id')}, not {state.get('run_id')})"]
    old, new = previous.get("code") or {}, state.get("code") or {}
    out = [f"{key} {old.get(key)} then, {new.get(key)} now" for key in ("mebench_version", "git_hash")
           if old.get(key) != new.get(key)]
    before, now = old.get("plugins_sha256") or {}, new.get("plugins_sha256") or {}
    out += [f"plugin file {name} changed" for name in sorted(set(before) | set(now)) if before.get(name) != now.get(name)]
    return out


class RunCheckpoint:
    """Fold shards and the run lock of one run directory."""

    def __init__(self, run_dir: str | Path, state: dict):
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / "checkpoint"
        self.state = state
        self._lock = None
        self.first_started = state.get("started")  # when the run was first started (earlier when resumed)

    # -- life cycle ----------------------------------------------------------------------------
    def open(self) -> "RunCheckpoint":
        """Lock the run (a second process gets a RunStoreError), check or write the state, sweep stale temps."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._acquire()
        try:
            previous = interrupted_state(self.run_dir)
        except RunStoreError:
            self.close()
            raise
        differences = _differences(previous, self.state) if previous is not None else []
        if differences and self._finished_folds():
            self.close()
            raise RunStoreError(
                f"{self.run_dir} holds an interrupted run whose finished folds cannot be reused: "
                f"{'; '.join(differences)}. Resume it with the same options and code, choose another --out, "
                f"or remove {self.root} to start afresh.")
        if differences:  # it stopped before any fold finished: nothing to lose, start afresh
            import shutil

            shutil.rmtree(self.root / "folds", ignore_errors=True)
            (self.root / "features.npy").unlink(missing_ok=True)
            previous = None
        for stale in list(self.run_dir.glob(".*.tmp")) + list(self.root.rglob(".*.tmp")):
            stale.unlink(missing_ok=True)  # a write cut short by a kill
        if previous is None:
            atomic_write_bytes(self.root / STATE, json_text(self.state).encode())
        else:
            self.first_started = previous.get("started", self.first_started)
        return self

    def _finished_folds(self) -> list[Path]:
        """Every shard file, of this format or an earlier one (``.npz``): finished work not to discard."""
        folder = self.root / "folds"
        return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")] if folder.is_dir() else []

    def _acquire(self) -> None:
        from .fsutil import lock_file

        fh = open(self.root / "lock", "a+")
        if not lock_file(fh, wait=False):
            fh.close()
            raise RunStoreError(f"{self.run_dir} is being written by another mebench process right now; "
                                "wait for it, or choose another --out.") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def finish(self) -> None:
        """The final files are written: drop the shards and the lock."""
        import shutil

        self.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- folds ---------------------------------------------------------------------------------
    def fold_key(self, name: str, train_ids, test_ids) -> str:
        h = hashlib.sha256(f"{self.state.get('run_id')}|{name}|".encode())
        h.update("\n".join(map(str, train_ids)).encode() + b"|" + "\n".join(map(str, test_ids)).encode())
        return h.hexdigest()

    def _shard(self, index: int) -> Path:
        return self.root / "folds" / f"{index:04d}{SHARD_SUFFIX}"

    def load_fold(self, index: int, key: str, n_test: int, n_classes: int):
        """(scores, predicted codes, note) of a finished fold, or None: absent, made for other samples,
        damaged (its digest, its shapes or its predicted codes disagree), or of another format."""
        try:
            data = self._shard(index).read_bytes()
        except OSError:
            return None
        try:
            if not data.startswith(_SHARD_MAGIC):
                return None
            end = data.index(b"\n", len(_SHARD_MAGIC))
            head = json.loads(data[len(_SHARD_MAGIC):end])
            body = data[end + 1:]
            if head["key"] != key or head["blake2b"] != hashlib.blake2b(body, digest_size=16).hexdigest():
                return None
            if [n_test, n_classes] != head["scores"] or [n_test] != head["pred"]:
                return None
            if len(body) != 8 * n_test * (n_classes + 1):
                return None
            scores = np.frombuffer(body[:8 * n_test * n_classes], "<f8").reshape(n_test, n_classes).astype(np.float64)
            pred = np.frombuffer(body[8 * n_test * n_classes:], "<i8").astype(np.int64)
            if ((pred < 0) | (pred >= n_classes)).any():
                return None
            return scores, pred, head.get("note") or None
        except (ValueError, KeyError, TypeError):
            return None

    def save_fold(self, index: int, key: str, scores: np.ndarray, pred: np.ndarray, note: str | None) -> None:
        scores = np.ascontiguousarray(scores, dtype="<f8")
        pred = np.ascontiguousarray(pred, dtype="<i8")
        body = scores.tobytes() + pred.tobytes()
        head = json.dumps({"key": key, "note": note or "", "scores": list(scores.shape), "pred": list(pred.shape),
                           "blake2b": hashlib.blake2b(body, digest_size=16).hexdigest()})
        atomic_write_bytes(self._shard(index), _SHARD_MAGIC + head.encode() + b"\n" + body)

    def save_model(self, fold_name: str, model) -> None:
        """Keep a fitted fold model (nets) as ``models/<fold>.joblib``, part of the finished run."""
        import joblib

        buf = io.BytesIO()
        joblib.dump(model, buf)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(fold_name))
        atomic_write_bytes(self.run_dir / "models" / f"{safe}.joblib", buf.getvalue())
