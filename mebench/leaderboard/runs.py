"""Run directories as the leaderboard sees them: found, opened (:func:`mebench.store.open_run`),
recomputed hashes, and their ``stats.json``.

A run is read once, as bytes: the sha256 of exactly the bytes parsed is what a leaderboard
records, so ``leaderboard verify`` can tell later whether a file changed.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..errors import RunStoreError
from ..store import RUN_FILES, StoredRun, open_run

STATS_FILE = "stats.json"
SKIP_DIRS = ("permutations",)


# ---- finding runs ----
def _is_run_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in RUN_FILES)


def find_run_dirs(paths) -> list[Path]:
    """Run directories given directly or found below folders (hidden folders are skipped).

    A folder that holds no run at any depth is an error naming it, as is an empty folder.
    """
    found: list[Path] = []
    seen: set = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise RunStoreError(f"{path} does not exist; pass run directories or folders that contain them.")
        if not path.is_dir():
            raise RunStoreError(f"{path} is a file; pass a run directory (predictions.parquet, metrics.json, "
                                "manifest.json) or a folder that contains run directories.")
        if _is_run_dir(path):
            hits = [path]
        else:
            hits = [d for d in _walk(path) if _is_run_dir(d)]
            if not hits:
                what = "is empty" if not any(path.iterdir()) else "holds no mebench run at any depth"
                raise RunStoreError(f"{path} {what}: a run directory holds predictions.parquet, metrics.json and "
                                    "manifest.json (written by `mebench run`).")
        for d in hits:
            key = d.resolve()
            if key not in seen:
                seen.add(key)
                found.append(d)
    return found


def _walk(root: Path):
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if child.name.startswith(".") or child.name in SKIP_DIRS:
            continue
        if _is_run_dir(child):
            yield child
        else:
            yield from _walk(child)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_runs(paths) -> list[StoredRun]:
    """Find and open every run under ``paths`` (errors name the run)."""
    return [open_run(d) for d in find_run_dirs(paths)]


# ---- columns ----
def column_key(identity: dict) -> str:
    return json.dumps(identity, sort_keys=True, default=str)


def recompute_fold_hash(predictions) -> str:
    """The protocol fold hash from a predictions table (folds in order of first appearance).

    The runner stores predictions grouped by fold in the protocol's order, and the hash covers
    each fold's name and its sorted held-out sample ids (``mebench.protocols.fold_hash``).
    """
    import pandas as pd

    from ..protocols import Fold, fold_hash

    folds_col = predictions["fold"].astype(str).to_numpy()
    order = list(dict.fromkeys(folds_col))
    samples = pd.DataFrame({"sample_id": predictions["sample_id"].astype(str).to_numpy()})
    folds = [Fold(name, np.array([], int), np.flatnonzero(folds_col == name)) for name in order]
    return fold_hash(samples, folds)


def recompute_sample_hash(predictions) -> str:
    """The sample-list hash from a predictions table (valid when every sample was held out once)."""
    import pandas as pd

    from ..data.schema import sample_list_hash

    return sample_list_hash(pd.DataFrame({"sample_id": predictions["sample_id"].astype(str),
                                          "subject_id": predictions["subject_id"].astype(str),
                                          "label": predictions["y_true"].astype(str)}))


def short(value, n: int = 12) -> str:
    return str(value)[:n] if value else "none"


def finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


# ---- stats.json (written by `mebench stats`) ----
def read_stats(run_dir: Path, files: dict) -> tuple[dict | None, list[str]]:
    """``stats.json`` if present and readable, with notes (missing, damaged, computed from other files)."""
    path = run_dir / STATS_FILE
    if not path.is_file():
        return None, [f"no {STATS_FILE}: run `mebench stats {run_dir}` for the permutation test against chance."]
    try:
        stats = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return None, [f"{STATS_FILE} cannot be read ({exc}); it is ignored."]
    notes = []
    inputs = stats.get("inputs") if isinstance(stats, dict) else None
    if isinstance(inputs, dict):
        changed = [n for n, h in inputs.items() if n in files and files[n] != h]
        if changed:
            notes.append(f"{STATS_FILE} was computed from other versions of {', '.join(sorted(changed))}; its "
                         "statistics do not describe these files.")
    return stats if isinstance(stats, dict) else None, notes


def stats_entries(stats: dict | None) -> dict:
    """{metric: {value, ci_low, ci_high, ci_method, p_value}} from either stats.json layout.

    ``mebench stats`` writes per-metric entries under ``metrics``; the newer layout keeps the
    intervals under ``ci`` ({estimate, low, high, method, ...}) and the p-values under
    ``permutation.metrics``. Both are read; missing parts stay None.
    """
    if not stats:
        return {}
    out: dict = {}
    perm = (stats.get("permutation") or {}).get("metrics") or {}
    for m, e in (stats.get("metrics") or {}).items():
        if isinstance(e, dict):
            out[m] = {"value": e.get("value"), "ci_low": e.get("ci_low"), "ci_high": e.get("ci_high"),
                      "ci_method": e.get("ci_method"), "p_value": e.get("p_value")}
    for m, e in (stats.get("ci") or {}).items():
        if isinstance(e, dict):
            entry = out.setdefault(m, {})
            entry.setdefault("value", e.get("estimate", e.get("value")))
            entry.setdefault("ci_low", e.get("low", e.get("ci_low")))
            entry.setdefault("ci_high", e.get("high", e.get("ci_high")))
            entry.setdefault("ci_method", e.get("method") if isinstance(e.get("method"), str) else None)
    for m, e in perm.items():
        if isinstance(e, dict):
            entry = out.setdefault(m, {})
            if entry.get("p_value") is None:
                entry["p_value"] = e.get("p_value")
    return out


def permutation_null(run_dir: Path, stats: dict, metric: str):
    """The permutation null values of ``metric``: from stats.json, else its checkpoint file."""
    perm = stats.get("permutation") or {}
    null = perm.get("null")
    if isinstance(null, dict) and metric in null:
        return np.asarray([np.nan if v is None else v for v in null[metric]], float)
    ckpt = perm.get("checkpoint")
    if not ckpt:
        return None
    from ..stats.permutation.rows import read_store

    path = run_dir / "permutations" / Path(ckpt).name  # this run's copy first, then the recorded path
    store = read_store(path if path.is_file() else Path(ckpt))
    if store is None or metric not in store.metrics:
        return None
    values, _ = store.arrays(store.prefix(int(perm.get("n_used") or perm.get("n_permutations") or len(store.rows))),
                             [metric])
    return values[:, 0]
