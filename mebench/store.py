"""Run directories: predictions.parquet, metrics.json and manifest.json, written atomically."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .errors import RunStoreError
from .fsutil import atomic_write_bytes

PREDICTION_COLUMNS = ("run_id", "dataset", "protocol", "pipeline", "fold", "subject_id", "sample_id", "y_true", "y_pred")
RUN_FILES = ("predictions.parquet", "metrics.json", "manifest.json")


def read_json(path: str | Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunStoreError(f"{path} not found; is this a mebench run directory?") from None
    except json.JSONDecodeError as exc:
        raise RunStoreError(f"{path} is not valid JSON ({exc}); the run directory is damaged.") from None


def write_predictions(path: str | Path, predictions: pd.DataFrame) -> None:
    import io

    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing or not any(c.startswith("score_") for c in predictions.columns):
        raise RunStoreError(f"predictions lack column(s) {missing or ['score_<class>']}")
    buf = io.BytesIO()
    predictions.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def prepare_run_dir(out: str | Path | None, run_id: str) -> Path:
    """The directory for a new run. An explicit ``out`` must be absent or empty; never overwrite."""
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise RunStoreError(f"--out {out} is a file; pass a directory for the run.")
        if out.is_dir() and any(out.iterdir()):
            existing = out / "manifest.json"
            which = ""
            if existing.is_file():
                try:
                    which = f" (run {json.loads(existing.read_text()).get('run_id')})"
                except (OSError, json.JSONDecodeError):
                    pass
            raise RunStoreError(
                f"--out {out} already holds files{which}; mebench never overwrites a run. "
                "Choose a new directory or remove the old one."
            )
        out.mkdir(parents=True, exist_ok=True)
        return out
    base = Path("runs") / run_id
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{run_id}-{n}")
    candidate.mkdir(parents=True)
    return candidate


def load_run(run_dir: str | Path) -> dict:
    """Read a run directory: {'dir', 'predictions', 'metrics', 'manifest'}."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunStoreError(f"run directory {run_dir} does not exist.")
    for name in RUN_FILES:
        if not (run_dir / name).is_file():
            raise RunStoreError(f"{run_dir} lacks {name}; it is not a complete mebench run.")
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    return {
        "dir": run_dir,
        "predictions": predictions,
        "metrics": read_json(run_dir / "metrics.json"),
        "manifest": read_json(run_dir / "manifest.json"),
    }


def score_columns(predictions: pd.DataFrame) -> list[str]:
    return [c for c in predictions.columns if c.startswith("score_")]


def classes_of(predictions: pd.DataFrame) -> list[str]:
    """Class labels in score-column order."""
    return [c[len("score_"):] for c in score_columns(predictions)]
