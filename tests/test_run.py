"""End-to-end `mebench run`: acceptance criteria of the walking skeleton."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _cli import SMALL_OPTS, json_output, run_cli

from mebench.store import PREDICTION_COLUMNS


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "default"
    return out, json_output(run_cli("run", "--protocol", "loso", "--json", "--out", out))


def test_default_run_prints_pooled_metrics_and_beats_chance(default_run):
    out, payload = default_run
    for key in ("accuracy", "uar", "uf1", "auc"):
        assert isinstance(payload[key], float)
    assert payload["auc"] > 0.8, payload
    assert payload["majority"]["auc"] == 0.5
    assert payload["n"] == 120


def test_run_directory_has_the_three_files_with_the_schema(default_run):
    out, payload = default_run
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert list(predictions.columns[: len(PREDICTION_COLUMNS)]) == list(PREDICTION_COLUMNS)
    assert {"score_deceptive", "score_truthful"} <= set(predictions.columns)
    assert np.allclose(predictions[["score_deceptive", "score_truthful"]].sum(axis=1), 1.0)
    assert len(predictions) == 120 and predictions["sample_id"].is_unique
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pooled"]["auc"] == pytest.approx(payload["auc"])
    assert len(metrics["per_fold"]) == 12 and all("n_classes_present" in f for f in metrics["per_fold"])
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("versions", "git_hash", "config", "seeds", "dataset", "protocol", "duration_s", "warnings", "skipped"):
        assert key in manifest
    assert manifest["versions"]["mebench"] and manifest["versions"]["scikit-learn"]
    assert len(manifest["dataset"]["sample_list_sha256"]) == 64 and len(manifest["protocol"]["fold_hash"]) == 64
    assert manifest["seeds"]["run"] == 0 and manifest["seeds"]["classifier"] == 0
    timing = manifest["platform"]
    assert 0 < timing["folds_seconds"] < manifest["duration_s"] and manifest["features"]["seconds"] >= 0


def test_pooled_metrics_recompute_from_stored_predictions(default_run):
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    out, payload = default_run
    p = pd.read_parquet(out / "predictions.parquet")
    assert balanced_accuracy_score(p.y_true, p.y_pred) == pytest.approx(payload["uar"])
    assert roc_auc_score(p.y_true == "truthful", p.score_truthful) == pytest.approx(payload["auc"])


def test_no_subject_in_train_and_test(default_run):
    out, _ = default_run
    p = pd.read_parquet(out / "predictions.parquet")
    # LOSO: every fold holds out exactly one subject, and each subject is held out once.
    assert (p.groupby("fold")["subject_id"].nunique() == 1).all()
    assert p.groupby("subject_id")["fold"].nunique().max() == 1


def test_null_dataset_is_at_chance(tmp_path, run_api):
    from _api import RunSpec

    aucs = []
    for seed in (0, 1, 2):
        spec = RunSpec(dataset_opts={"effect": 0}, seed=seed, out=str(tmp_path / f"null{seed}"))
        pooled = run_api(spec).metrics["pooled"]
        assert abs(pooled["auc"] - 0.5) < 0.16, pooled  # 99% band for n=120 is about +-0.14
        aucs.append(pooled["auc"])
    assert abs(np.mean(aucs) - 0.5) < 0.1


def test_same_seed_identical_predictions_and_jobs_do_not_matter(tmp_path, small_spec, run_api):
    run_api(small_spec("a", seed=3))
    run_api(small_spec("b", seed=3, use_cache=False))
    run_api(small_spec("c", seed=3, jobs=2))
    a, b, c = (pd.read_parquet(tmp_path / x / "predictions.parquet") for x in "abc")
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    other = run_api(small_spec("d", seed=4))
    assert other.run_id != json.loads((tmp_path / "a" / "manifest.json").read_text())["run_id"]


def test_feature_cache_hits_on_second_run(tmp_path, small_spec, run_api):
    run_api(small_spec("first", seed=11))
    run_api(small_spec("second", seed=11))
    second = json.loads((tmp_path / "second" / "manifest.json").read_text())
    assert second["features"]["cache_hits"] == 16 and second["features"]["cache_misses"] == 0


@pytest.mark.parametrize("classifier", ["svm-linear", "rf", "ridge", "stratified-random"])
def test_other_classifiers_run(small_spec, run_api, classifier):
    pooled = run_api(small_spec(classifier, classifier=classifier)).metrics["pooled"]
    assert 0.0 <= pooled["accuracy"] <= 1.0


def test_emotion_task_and_configs(cli, tmp_path):
    payload = json_output(cli("run", "--protocol", "loso", "--json", "--out", tmp_path / "emo",
                              "--config", "protocols/synthetic-emotion-loso.yaml",
                              "--config", "baselines/hoof-logreg.yaml", "--dataset-opt", "subjects=6"))
    assert len(payload["classes"]) >= 4 and payload["uar"] > 1 / len(payload["classes"])
    manifest = json.loads((tmp_path / "emo" / "manifest.json").read_text())
    assert manifest["config"]["task"] == "emotion" and manifest["config"]["classifier_opts"] == {"C": 0.1}


def test_human_readable_output(cli, tmp_path):
    result = cli("run", *SMALL_OPTS, "--out", tmp_path / "h")
    assert result.exit_code == 0, result.output
    for text in ("accuracy", "uar", "uf1", "auc", "majority", "class distribution", "written to"):
        assert text in result.output


def test_stateful_extractor_is_fit_on_training_subjects_only(tmp_path, small_spec, run_api):
    plugin = tmp_path / "stateful.py"
    plugin.write_text('''
import numpy as np
from mebench.registry import EXTRACTORS
from mebench.features import FeatureExtractor

SEEN = []

@EXTRACTORS.register("test-stateful-centroid")
class Centroid(FeatureExtractor):
    """Distance of the onset frame number to the mean of the training fold (stateful)."""
    stateless = False

    def fit(self, X, y=None):
        SEEN.append(set(X["subject_id"]))
        self.mean_ = float(X["onset"].astype(float).mean())
        return self

    def transform(self, X):
        return np.c_[X["onset"].astype(float).to_numpy() - self.mean_, X["apex"].astype(float).to_numpy()]
''')
    run_api(small_spec("s", plugins=(str(plugin),), features="test-stateful-centroid"))
    import sys

    module = next(m for n, m in sys.modules.items() if n.startswith("mebench_user_plugin_") and hasattr(m, "SEEN") and m.SEEN)
    p = pd.read_parquet(tmp_path / "s" / "predictions.parquet")
    assert len(module.SEEN) == 4
    for fold, subjects in zip(sorted(p["fold"].unique()), module.SEEN):
        assert len(subjects) == 3 and fold not in subjects
