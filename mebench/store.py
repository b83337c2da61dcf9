"""Run directories: predictions.parquet, metrics.json and manifest.json, written atomically.

The manifest, written last, lists every other file with its sha256; :func:`load_run` checks them, so
an edited file is reported instead of read. A finished run is never rewritten: statistics go to
their own ``stats.json``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import RunStoreError
from .fsutil import atomic_write_bytes, json_text
from .hashing import file_sha256

PREDICTION_COLUMNS = ("run_id", "dataset", "protocol", "pipeline", "fold", "subject_id", "sample_id", "y_true", "y_pred")
RUN_FILES = ("predictions.parquet", "metrics.json", "manifest.json")
# manifest keys every consumer (stats, compare, leaderboard) relies on, with their JSON types
MANIFEST_KEYS = {"run_id": str, "config": dict, "pipeline": str, "dataset": dict, "protocol": dict}
OPTIONAL_MANIFEST_KEYS = {"seeds": dict, "versions": dict, "features": dict, "classifier": dict, "roles": dict,
                          "flags": list, "flag_reasons": dict, "warnings": list, "skipped": list, "n_skipped": int}


def read_json(path: str | Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunStoreError(f"{path} not found; is this a mebench run directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunStoreError(f"{path} is not valid JSON ({exc}); the run directory is damaged.") from None
    except OSError as exc:
        raise RunStoreError(f"{path} cannot be read ({exc}).") from None


def predictions_bytes(predictions: pd.DataFrame) -> bytes:
    """The parquet bytes of a predictions table (deterministic for equal tables)."""
    import io

    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing or not any(c.startswith("score_") for c in predictions.columns):
        raise RunStoreError(f"predictions lack column(s) {missing or ['score_<class>']}")
    buf = io.BytesIO()
    predictions.to_parquet(buf, index=False)
    return buf.getvalue()


def write_predictions(path: str | Path, predictions: pd.DataFrame) -> None:
    atomic_write_bytes(path, predictions_bytes(predictions))


def _refuse_existing(out: Path) -> None:
    """An explicit ``--out`` must be new, empty, or hold an interrupted run (which is then resumed)."""
    if out.exists() and not out.is_dir():
        raise RunStoreError(f"--out {out} is a file; pass a directory for the run.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    existing = out / "manifest.json"
    if not existing.is_file() and (out / "checkpoint" / "state.json").is_file():
        return  # an interrupted run: resumed if the configuration matches (checked once the dataset is loaded)
    which = ""
    if existing.is_file() and (out / "checkpoint").is_dir() and not _locked(out):
        import shutil  # the run finished but was killed before it dropped its checkpoint

        shutil.rmtree(out / "checkpoint", ignore_errors=True)
    if existing.is_file():
        try:
            which = f" (run {json.loads(existing.read_text()).get('run_id')})"
        except (OSError, json.JSONDecodeError):
            pass
    raise RunStoreError(
        f"--out {out} already holds files{which}; mebench never overwrites a run. "
        "Choose a new directory or remove the old one."
    )


def claim_run_dir(out: str | Path | None) -> Path | None:
    """Create an explicit ``--out`` before any work (it must be absent or empty); check ``runs/`` otherwise."""
    if out is None:
        base = Path("runs")
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"cannot create the runs folder {base.resolve()}: {exc}. Pass --out DIR.") from None
        if not os.access(base, os.W_OK | os.X_OK):
            raise RunStoreError(f"the runs folder {base.resolve()} is not writable. Pass --out DIR.")
        return None
    if not str(out).strip():
        raise RunStoreError("--out is empty; pass the directory to write the run into.")
    out = Path(out)
    _refuse_existing(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunStoreError(f"cannot create --out {out}: {exc}.") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise RunStoreError(f"--out {out} is not writable.")
    return out


def new_run_dir(run_id: str) -> Path:
    """``runs/<run_id>`` for a new run: an interrupted run of the same id is resumed when nobody holds
    it; a finished one, or one being written by another process, gets ``runs/<run_id>-2`` and so on."""
    base = Path("runs") / run_id
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)  # atomic: two concurrent runs never share a directory
            return candidate
        except FileExistsError:
            if not (candidate / "manifest.json").exists() and (candidate / "checkpoint" / "state.json").is_file() \
                    and not _locked(candidate):
                return candidate
        n += 1
        candidate = base.with_name(f"{run_id}-{n}")


def _locked(run_dir: Path) -> bool:
    from .fsutil import lock_file, unlock_file

    try:
        with open(run_dir / "checkpoint" / "lock", "a+") as fh:
            if not lock_file(fh, wait=False):
                return True
            unlock_file(fh)
        return False
    except OSError:
        return False


def write_run(run_dir: str | Path, predictions: pd.DataFrame, metrics: dict, manifest: dict) -> dict:
    """Write the run's files, then the manifest listing each with its sha256; returns the manifest."""
    run_dir = Path(run_dir)
    blobs = {"predictions.parquet": predictions_bytes(predictions), "metrics.json": json_text(metrics).encode()}
    for name, data in blobs.items():
        atomic_write_bytes(run_dir / name, data)
    files = {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}
    for path in sorted((run_dir / "models").glob("*")):  # the nets' fold models, saved as the folds finished
        if path.is_file() and not path.name.startswith("."):
            files[f"models/{path.name}"] = file_sha256(path)
    manifest = dict(manifest, files=files)
    atomic_write_bytes(run_dir / "manifest.json", json_text(manifest).encode())
    return manifest


def verify_run_files(run_dir: str | Path, manifest: dict) -> None:
    """Check every file the manifest lists against its sha256; a difference is a RunStoreError."""
    run_dir = Path(run_dir)
    for name, digest in (manifest.get("files") or {}).items():
        path = run_dir / name
        if not path.is_file():
            raise RunStoreError(f"{run_dir}: {name}, listed in manifest.json, is missing; the run is incomplete.")
        if file_sha256(path) != digest:
            raise RunStoreError(f"{path} has been modified since the run wrote it: its sha256 differs from the one "
                                "in manifest.json. Re-run the pipeline; never edit a run's files.")


def load_run(run_dir: str | Path, verify: bool = True) -> dict:
    """Read a run directory: {'dir', 'predictions', 'metrics', 'manifest'}; files checked against the manifest."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunStoreError(f"run directory {run_dir} does not exist.")
    for name in RUN_FILES:
        if not (run_dir / name).is_file():
            raise RunStoreError(f"{run_dir} lacks {name}; it is not a complete mebench run.")
    manifest = read_json(run_dir / "manifest.json")
    check_manifest(manifest, run_dir / "manifest.json")
    if verify:
        verify_run_files(run_dir, manifest)
    metrics = read_json(run_dir / "metrics.json")
    pooled = metrics.get("pooled", {}) if isinstance(metrics, dict) else None
    if not isinstance(pooled, dict) or not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                               for v in pooled.values()):
        raise RunStoreError(f"{run_dir}/metrics.json does not hold a mapping with 'pooled' metric values (numbers); "
                            "the run directory is damaged.")
    predictions = read_predictions(run_dir / "predictions.parquet")
    return {"dir": run_dir, "predictions": predictions, "metrics": metrics, "manifest": manifest}


def check_manifest(manifest, path: str | Path) -> None:
    """A RunStoreError unless ``manifest`` is a mapping with the keys every reader relies on."""
    if not isinstance(manifest, dict):
        raise RunStoreError(f"{path} holds no mapping (it holds {type(manifest).__name__}); the run directory is "
                            "damaged.")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise RunStoreError(f"{path} lacks key(s) {', '.join(missing)}; it is not a mebench run manifest (or the run "
                            "was cut short). Re-run the pipeline.")
    wrong = [f"{k} ({type(manifest[k]).__name__}, expected {t.__name__})" for k, t in MANIFEST_KEYS.items()
             if not isinstance(manifest[k], t)]
    if wrong:
        raise RunStoreError(f"{path}: key(s) of the wrong type: {', '.join(wrong)}; the run directory is damaged.")
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise RunStoreError(f"{path}: 'files' must map file names to sha256 digests; the run directory is damaged.")
    config = manifest["config"]
    for key in ("dataset_opts", "features_opts", "classifier_opts", "protocol_opts"):
        if not isinstance(config.get(key, {}), dict):
            raise RunStoreError(f"{path}: config.{key} is not a mapping; the run directory is damaged.")
    metrics = config.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise RunStoreError(f"{path}: config.metrics is not a list of metric names; the run directory is damaged.")
    wrong = [f"{k} ({type(manifest[k]).__name__}, expected {t.__name__})" for k, t in OPTIONAL_MANIFEST_KEYS.items()
             if k in manifest and manifest[k] is not None and not isinstance(manifest[k], t)]
    if wrong:
        raise RunStoreError(f"{path}: key(s) of the wrong type: {', '.join(wrong)}; the run directory is damaged.")


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read a predictions.parquet, checking that it is one: columns, types, at least one row."""
    path = Path(path)
    try:
        predictions = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        raise RunStoreError(f"{path} cannot be read as parquet ({type(exc).__name__}: {exc}); the file is truncated "
                            "or not a predictions file. Re-run the pipeline.") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing or not score_columns(predictions):
        raise RunStoreError(f"{path} lacks column(s) {', '.join(missing or ['score_<class>'])}; it is not a mebench "
                            "predictions file.")
    if len(predictions) == 0:
        raise RunStoreError(f"{path} holds no predictions (0 rows); the run directory is damaged.")
    for column in ("y_true", "y_pred", "subject_id", "sample_id"):
        if predictions[column].isna().any():
            row = int(predictions[column].isna().to_numpy().argmax())
            raise RunStoreError(f"{path}: column {column!r} is empty in row {row}; the predictions file is damaged.")
    scores = score_columns(predictions)
    not_numeric = [c for c in scores if not pd.api.types.is_numeric_dtype(predictions[c])
                   or pd.api.types.is_bool_dtype(predictions[c])]
    if not_numeric:
        raise RunStoreError(f"{path}: score column(s) {', '.join(not_numeric)} are not numeric; the predictions file "
                            "is damaged.")
    finite = np.isfinite(predictions[scores].to_numpy(np.float64))
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise RunStoreError(f"{path}: column {scores[col]!r} holds {predictions[scores[col]].iloc[row]} in row {row}; "
                            "every held-out sample needs finite scores. The predictions file is damaged.")
    duplicated = predictions["sample_id"].duplicated()
    if duplicated.any():
        row = int(duplicated.to_numpy().argmax())
        raise RunStoreError(f"{path}: sample {predictions['sample_id'].iloc[row]!r} is predicted more than once "
                            f"(row {row}); a run holds one held-out prediction per sample. The file is damaged.")
    return predictions


def score_columns(predictions: pd.DataFrame) -> list[str]:
    return [c for c in predictions.columns if c.startswith("score_")]


def classes_of(predictions: pd.DataFrame) -> list[str]:
    """Class labels in score-column order."""
    return [c[len("score_"):] for c in score_columns(predictions)]
