"""The Python API (issue 19, section 4): ``mebench.evaluate`` and ``mebench.load_run`` on the CLI's code path."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from _cli import SMALL, cli_env, run_cli

import mebench
from mebench.errors import ConfigError, RunStoreError, UnknownNameError, UsageError


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("api")
    logreg = mebench.evaluate(dataset="synthetic", features="hoof", classifier="logreg", protocol="loso",
                              dataset_opts=SMALL, out=base / "logreg", progress=False)
    ridge = mebench.evaluate(features="hoof", classifier="ridge", classifier_opts={"alpha": 10}, dataset_opts=SMALL,
                             out=base / "ridge", progress=False)
    return base, logreg, ridge


def test_evaluate_equals_mebench_run_and_returns_metrics_and_predictions(runs, tmp_path):
    base, logreg, _ = runs
    assert isinstance(logreg, mebench.Run) and logreg.dir == base / "logreg"
    cli = run_cli("run", *[a for k, v in SMALL.items() for a in ("--dataset-opt", f"{k}={v}")], "--out",
                  tmp_path / "cli", "--json", check=True)
    import json

    printed = json.loads(cli.stdout)
    assert printed["run_id"] == logreg.run_id  # same config, same dataset: the same run identity
    assert logreg.metrics == pytest.approx({k: printed[k] for k in ("accuracy", "uar", "uf1", "auc")})
    cli_preds = pd.read_parquet(tmp_path / "cli" / "predictions.parquet")
    pd.testing.assert_frame_equal(logreg.predictions, cli_preds)
    assert list(logreg.predictions["y_true"].unique())  # a DataFrame, one row per held-out sample
    assert len(logreg.predictions) == SMALL["subjects"] * SMALL["clips_per_subject"]
    assert logreg.pipeline == "hoof+logreg" and logreg.flags == []
    assert "uf1=" in repr(logreg)


def test_stats_compare_and_report_are_the_commands_own(runs, tmp_path):
    base, logreg, ridge = runs
    stats = logreg.stats(permutations=20, bootstrap=100, progress=False)
    assert (base / "logreg" / "stats.json").is_file() and stats["permutation"]["n_permutations"] == 20
    assert 0 < stats["metrics"]["uf1"]["p_value"] <= 1
    result = logreg.compare(ridge, permutations=100, bootstrap=100, progress=False)
    cli = run_cli("compare", base / "logreg", base / "ridge", "--permutations", 100, "--bootstrap", 100, "--json",
                  check=True)
    import json

    assert json.loads(cli.stdout)["metrics"]["uf1"]["p_value"] == result["metrics"]["uf1"]["p_value"]
    html = logreg.report(bootstrap=100, progress=False)
    assert html.startswith("<!DOCTYPE html>") and logreg.run_id in html
    out = logreg.report(tmp_path / "r.html", bootstrap=100, progress=False)
    assert out.read_text() == html
    with pytest.raises(RunStoreError, match="exists"):
        logreg.report(tmp_path / "r.html", bootstrap=100, progress=False)
    with pytest.raises(UsageError, match="different runs"):
        logreg.compare(logreg.dir)


def test_load_run_opens_a_stored_run_and_checks_it(runs, tmp_path):
    base, logreg, _ = runs
    again = mebench.load_run(base / "logreg")
    assert again.run_id == logreg.run_id and again.metrics == logreg.metrics
    with pytest.raises(RunStoreError):
        mebench.load_run(tmp_path)


def test_mistakes_are_the_cli_errors_before_any_data_is_read(tmp_path):
    with pytest.raises(UsageError, match="unknown argument 'clasifier'. Did you mean 'classifier'"):
        mebench.evaluate(clasifier="ridge")
    with pytest.raises(UnknownNameError, match="Did you mean 'ridge'"):
        mebench.evaluate(classifier="ridgee", out=tmp_path / "a")
    with pytest.raises(ConfigError, match="seed"):
        mebench.evaluate(seed=-1, out=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_import_mebench_stays_light():
    code = ("import sys, mebench; heavy = [m for m in ('numpy', 'pandas', 'sklearn', 'rich', 'torch', 'mebench.api', "
            "'mebench.run') if m in sys.modules]; print(heavy); assert not heavy; "
            "assert callable(mebench.evaluate) and 'mebench.api' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env=cli_env())
