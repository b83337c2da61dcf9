"""Stored permutation rows: what the permutation statistics need from every refit, kept in the run.

Row ``i`` of the permutation stream (:func:`.schemes.permuted_codes`) is one relabelling of the data;
refitting the pipeline on it gives held-out predictions, from which one row of this store keeps
the pooled value of every metric and its per-subject influence sums (:mod:`mebench.stats.influence`).
That is all both tests need: the test against chance uses the values, the paired test of two
pipelines the values and sums of both, row by row. A store is the checkpoint of a refit (resumed
when the same test runs again) and what ``mebench compare`` reuses instead of refitting.

A store file is keyed by the **stream** (samples, labels, subjects, scheme, seed, block size: what
fixes the label rows) and the **pipeline** (configuration, folds, classes). Two runs' rows pair
only when their stream keys are equal; a damaged file, or one whose key differs, is ignored.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .schemes import BLOCK

# 3: rows hold metric values and per-subject influence sums (npz); format 2 (JSON metric values) is not reused
ROWS_FORMAT = "mebench-rows-3"
BUILTIN = ("accuracy", "uar", "uf1", "auc")  # always stored, so that any later comparison finds them


def _sha(values) -> str:
    return hashlib.sha256("\n".join(map(str, values)).encode()).hexdigest()


def stream_key(prepared, scheme: str, seed: int) -> dict:
    """What fixes the label rows: equal keys give equal rows."""
    samples = prepared.samples
    return {"format": ROWS_FORMAT, "scheme": scheme, "seed": int(seed), "block": BLOCK,
            "samples": _sha(samples["sample_id"].astype(str)),
            "labels": hashlib.sha256(np.asarray(prepared.y, dtype=np.int64).tobytes()).hexdigest(),
            "subjects": _sha(samples["subject_id"].astype(str)),
            "held_out": _sha(sorted(samples["sample_id"].astype(str).to_numpy()[prepared.evaluated]))}


def pipeline_key(prepared) -> dict:
    """What fixes the refits of one pipeline on a given label row."""
    return {"config": prepared.spec.config(), "fold_hash": prepared.split.fold_hash, "classes": list(prepared.classes)}


def store_metrics(metrics) -> list:
    """The metrics a store keeps: the built-in ones, then any other requested."""
    return list(BUILTIN) + [m for m in metrics if m not in BUILTIN]


@dataclass
class RowStore:
    """Rows ``{index: (values (M,), sums (S, M))}`` of one pipeline under one stream."""

    key: dict
    metrics: list
    subjects: list
    path: Path | None = None
    rows: dict = field(default_factory=dict)
    planned: int = 0  # rows 0..planned-1 were asked for without an early stop: a fixed design, whatever they show

    def prefix(self, limit: int | None = None) -> int:
        """How many rows 0, 1, ... are present without a gap (at most ``limit``)."""
        count = 0
        while count in self.rows and (limit is None or count < limit):
            count += 1
        return count

    def arrays(self, count: int, metrics=None) -> tuple[np.ndarray, np.ndarray]:
        """Values (count, m) and sums (count, S, m) of rows 0..count-1 for ``metrics`` (default: all)."""
        cols = [self.metrics.index(m) for m in (metrics or self.metrics)]
        if count == 0:
            return np.empty((0, len(cols))), np.empty((0, len(self.subjects), len(cols)))
        values = np.stack([self.rows[i][0] for i in range(count)])[:, cols]
        sums = np.stack([self.rows[i][1] for i in range(count)])[:, :, cols]
        return values, sums

    def observed(self, metrics) -> tuple[np.ndarray, np.ndarray] | None:
        """The refit on the observed labels (row -1), for ``metrics``, when the store holds it."""
        if -1 not in self.rows:
            return None
        cols = [self.metrics.index(m) for m in metrics]
        return self.rows[-1][0][cols], self.rows[-1][1][:, cols]

    def add(self, start: int, values: np.ndarray, sums: np.ndarray) -> None:
        for i in range(len(values)):
            self.rows[start + i] = (np.asarray(values[i], float), np.asarray(sums[i], float))

    def save(self) -> None:
        """Write the store atomically (a no-op for an in-memory store)."""
        if self.path is None:
            return
        from ...fsutil import atomic_write_bytes

        index = np.array(sorted(self.rows), dtype=np.int64)
        values, sums = (np.stack([self.rows[i][0] for i in index]), np.stack([self.rows[i][1] for i in index])) \
            if len(index) else (np.empty((0, len(self.metrics))), np.empty((0, len(self.subjects), len(self.metrics))))
        header = json.dumps({"key": self.key, "metrics": self.metrics, "subjects": self.subjects,
                             "planned": self.planned}, default=str)
        atomic_write_bytes(self.path, _npz_bytes({"header": np.array(header), "index": index, "values": values,
                                                  "sums": sums}))


def _npz_bytes(arrays: dict) -> bytes:
    """An ``.npz`` file (what ``np.load`` reads) with fixed entry dates, so equal rows give equal bytes."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            data = io.BytesIO()
            np.lib.format.write_array(data, np.asanyarray(array), allow_pickle=False)
            archive.writestr(entry, data.getvalue())
    return buf.getvalue()


def rows_path(directory, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    stream = key["stream"]
    return Path(directory) / "permutations" / f"rows-{stream['scheme']}-seed{stream['seed']}-{digest}.npz"


def read_store(path: Path) -> RowStore | None:
    """The store in ``path``, or None when it is missing or damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            index, values, sums = data["index"], data["values"], data["sums"]
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    if len(index) != len(values) or len(index) != len(sums):
        return None
    store = RowStore(header["key"], header["metrics"], header["subjects"], Path(path),
                     planned=int(header.get("planned", 0)))
    store.rows = {int(i): (values[j], sums[j]) for j, i in enumerate(index)}
    return store


def open_store(directory, key: dict, metrics: list, subjects: list) -> RowStore:
    """The stored rows under ``key`` in ``directory`` (None: in memory only), or an empty store.

    Rows stored for fewer metrics than ``metrics`` are dropped (recomputed for all of them).
    """
    if directory is None:
        return RowStore(key, list(metrics), list(subjects))
    path = rows_path(directory, key)
    found = read_store(path) if path.is_file() else None
    if (found is not None and found.key == json.loads(json.dumps(key, default=str))
            and found.subjects == list(subjects) and set(metrics) <= set(found.metrics)):
        return found
    merged = list(metrics) + [m for m in (found.metrics if found else []) if m not in metrics]
    return RowStore(key, merged, list(subjects), path)


def run_stores(run_dir) -> list[RowStore]:
    """Every readable row store in a run directory."""
    folder = Path(run_dir) / "permutations"
    stores = [read_store(p) for p in sorted(folder.glob("rows-*.npz"))] if folder.is_dir() else []
    return [s for s in stores if s is not None]
