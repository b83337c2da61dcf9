"""Small real runs for the leaderboard tests, written by the real runner on tiny synthetic data."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
from _api import BOARD_HOOF, board_spec
from _api import run as run_spec


def run(out: Path, **fields) -> Path:
    """A finished run on the tiny synthetic set (:data:`_cli.BOARD`) in ``out``; ``fields`` as for ``RunSpec``."""
    run_spec(board_spec(out, **fields))
    return out


def ridge(out: Path, alpha, **fields) -> Path:
    """A ridge run on the cheap HOOF features (:data:`_cli.BOARD_HOOF`)."""
    return run(out, features_opts=BOARD_HOOF, classifier="ridge", classifier_opts={"alpha": alpha}, **fields)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rehash(run_dir: Path) -> None:
    """Bring ``manifest["files"]`` up to date after a test edited a run file on purpose.

    A run written by a mebench that records file hashes lists them in its manifest; a test that
    wants a run whose files disagree with each other (not a stale hash) updates them here.
    """
    man_path = Path(run_dir) / "manifest.json"
    man = json.loads(man_path.read_text())
    if isinstance(man.get("files"), dict):
        man["files"] = {n: sha256(Path(run_dir) / n) for n in man["files"]}
        man_path.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")


def with_file_hashes(run_dir: Path) -> Path:
    """The run-directory contract's ``manifest["files"]`` (every run file except the manifest).

    Runs written by this branch's runner predate the field; the contract adds it on main. Adding
    it here, exactly as specified, lets the tamper tests run against both.
    """
    man_path = Path(run_dir) / "manifest.json"
    man = json.loads(man_path.read_text())
    if not isinstance(man.get("files"), dict):
        man["files"] = {n: sha256(Path(run_dir) / n) for n in ("predictions.parquet", "metrics.json")}
        man_path.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
    return Path(run_dir)


def edit_prediction(run_dir: Path, row: int = 0) -> None:
    """Flip one stored prediction (y_pred and its scores) of a run, in place."""
    path = Path(run_dir) / "predictions.parquet"
    preds = pd.read_parquet(path)
    classes = [c[len("score_"):] for c in preds.columns if c.startswith("score_")]
    current = preds.at[row, "y_pred"]
    other = next(c for c in classes if c != current)
    preds.at[row, "y_pred"] = other
    for c in classes:
        preds.at[row, f"score_{c}"] = 1.0 if c == other else 0.0
    preds.to_parquet(path, index=False)
