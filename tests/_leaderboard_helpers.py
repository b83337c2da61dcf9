"""Small real runs for the leaderboard tests, written by the real runner on tiny synthetic data."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from mebench.cli import main

SMALL = ["--dataset-opt", "subjects=5", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=8",
         "--dataset-opt", "size=32"]
HOOF = ["--features-opt", "size=32", "--features-opt", "grid=4"]


def run(out: Path, *args: str) -> Path:
    """``mebench run --out OUT`` on the tiny synthetic set; returns the run directory."""
    res = CliRunner().invoke(main, ["run", "--out", str(out), "--json", *SMALL, *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def ridge(out: Path, alpha, *extra: str) -> Path:
    return run(out, *HOOF, "--classifier", "ridge", "--classifier-opt", f"alpha={alpha}", *extra)


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
