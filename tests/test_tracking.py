"""`--mlflow`: a run and its statistics logged to MLflow, read back through MLflow's client."""
from __future__ import annotations

import json

import pytest
from _cli import SMALL_OPTS


def test_run_and_stats_are_logged_and_read_back(cli, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # the default store is local: ./mlflow.db and ./mlartifacts
    result = cli("run", *SMALL_OPTS, "--out", tmp_path / "run", "--mlflow")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert cli("stats", tmp_path / "run", "--permutations", "0", "--bootstrap", "100", "--mlflow").exit_code == 0

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mebench")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # the statistics joined the run's entry
    logged = runs[0]
    assert logged.data.tags["mebench.run_id"] == manifest["run_id"]
    assert logged.data.tags["mebench.fold_hash"] == manifest["protocol"]["fold_hash"]
    assert logged.data.params["features"] == "hoof" and logged.data.params["protocol"] == "loso"
    assert logged.data.metrics["auc"] == pytest.approx(metrics["pooled"]["auc"])
    assert logged.data.metrics["majority.auc"] == pytest.approx(0.5)
    assert logged.data.metrics["auc.ci_low"] <= metrics["pooled"]["auc"] <= logged.data.metrics["auc.ci_high"]
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"predictions.parquet", "metrics.json", "manifest.json", "stats.json"} <= artifacts
