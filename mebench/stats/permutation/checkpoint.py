"""Checkpoints of the generic path: finished permutations, written atomically, reused on resume.

A checkpoint file is keyed by everything that determines the null distribution (configuration,
folds, samples, labels, scheme, seed, block size, metrics); a file whose key differs, or that is
damaged, is ignored and rewritten.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .schemes import BLOCK

# 2: predictions come from the classifier's predict (not the argmax of its scores), UF1/UAR average
# over the classes present, and the 'hybrid' scheme exists: older files are not reused.
CHECKPOINT_FORMAT = "mebench-permutations-2"


def checkpoint_key(prepared, scheme: str, seed: int, metric_names: list, y) -> dict:
    spec = prepared.spec
    return {"format": CHECKPOINT_FORMAT,
            "config": spec.config(),
            "fold_hash": prepared.split.fold_hash,
            "samples": hashlib.sha256("\n".join(prepared.samples["sample_id"].astype(str)).encode()).hexdigest(),
            "labels": hashlib.sha256(np.asarray(y, dtype=np.int64).tobytes()).hexdigest(),
            "classes": list(prepared.classes),
            "scheme": scheme,
            "seed": int(seed),
            "block": BLOCK,
            "metrics": list(metric_names)}


def checkpoint_path(directory, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(directory) / "permutations" / f"{key['scheme']}-seed{key['seed']}-{digest}.json"


def load_checkpoint(path: Path, key: dict, n_metrics: int) -> dict[int, np.ndarray]:
    """Finished permutations ``{index: metric values}`` stored under ``key`` (empty if none)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # a damaged checkpoint is ignored and rewritten
    if data.get("key") != json.loads(json.dumps(key, default=str)):
        return {}
    done = {}
    for i, row in zip(data.get("indices", []), data.get("values", [])):
        if len(row) == n_metrics:
            done[int(i)] = np.array([np.nan if v is None else float(v) for v in row])
    return done


def save_checkpoint(path: Path, key: dict, done: dict[int, np.ndarray]) -> None:
    from ...fsutil import write_json

    idx = sorted(done)
    write_json(path, {"key": key, "indices": idx, "values": [done[i].tolist() for i in idx],
                      "note": "null distribution of the permutation test; one row of metric values per permutation"})
