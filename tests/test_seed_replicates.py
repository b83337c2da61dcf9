"""Seed replicates in a leaderboard column (issue 19): mean ± sd over seeds, the seed ensemble as its
own ranked row, every seed in the record and re-hashed by verify; never one seed picked silently."""
from __future__ import annotations

import numpy as np
import pytest
from _cli import run_cli
from _leaderboard_helpers import edit_prediction, rehash, ridge, run

from mebench.errors import RunStoreError
from mebench.leaderboard.runs import load_runs
from mebench.leaderboard.seeds import ENSEMBLE_SUFFIX, SUMMARY_SUFFIX
from mebench.leaderboard.tables import BoardOptions, build_board
from mebench.metrics.batch import batch_metrics
from mebench.store import open_run

FIXED_DATA = {"seed": 0}  # the data set stays the same while the run seed changes
FOREST = {"classifier": "rf", "classifier_opts": {"n_estimators": 5}, "features_opts": {"size": 32, "grid": 4}}
OPTS = BoardOptions(metric="uf1", n_resamples=200, n_permutations=200)


@pytest.fixture(scope="module")
def replicates(tmp_path_factory):
    base = tmp_path_factory.mktemp("seeds")
    for seed in (0, 1, 2):
        run(base / f"rf-{seed}", dataset_opts=FIXED_DATA, seed=seed, **FOREST)
    ridge(base / "ridge", 1.0, dataset_opts=FIXED_DATA)
    return base


def test_replicates_show_as_mean_and_sd_and_as_a_ranked_seed_ensemble(replicates):
    runs = load_runs([replicates])
    board = build_board(runs, OPTS)
    forest = [r for r in runs if r.manifest.config["classifier"] == "rf"]
    pipeline = forest[0].label
    cells = {c["row"]: c for c in board["cells"]}
    assert pipeline not in cells  # no row stands for one seed
    summary, ensemble = cells[pipeline + SUMMARY_SUFFIX], cells[pipeline + ENSEMBLE_SUFFIX]
    values = [float(batch_metrics(["uf1"], r.classes, r.y[None], r.pred[None], r.scores[None])[0, 0])
              for r in sorted(forest, key=lambda r: r.manifest.run_seed)]
    assert summary["value"] == pytest.approx(np.mean(values))
    assert summary["sd"] == pytest.approx(np.std(values, ddof=1))
    assert [s["seed"] for s in summary["runs"]] == [0, 1, 2]
    assert [s["value"] for s in summary["runs"]] == pytest.approx(values)
    assert not summary["ranked"] and summary["ci_low"] is None and summary["n_seeds"] == 3
    assert ensemble["ranked"] and ensemble["ci_low"] is not None and ensemble["n_seeds"] == 3
    base = forest[0]
    mean_scores = np.mean([r.aligned_to(base)[1] for r in forest], axis=0)
    expected = float(batch_metrics(["uf1"], base.classes, base.y[None], np.argmax(mean_scores, 1)[None],
                                   mean_scores[None])[0, 0])
    assert ensemble["value"] == pytest.approx(expected)
    assert any("3 seed replicates" in note for note in board["footnotes"])
    from mebench.leaderboard.render import to_markdown

    text = to_markdown(board)
    assert f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} (3 seeds)" in text


def test_a_stored_record_with_replicates_verifies_and_a_tampered_seed_fails(replicates, tmp_path):
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(replicates, copy)
    record = tmp_path / "board.json"
    run_cli("leaderboard", copy, "--bootstrap", 200, "--permutations", 200, "--format", "json", "--out", record,
            check=True)
    ok = run_cli("leaderboard", "verify", record, check=True)
    assert "from 4 run(s)" in ok.output
    seed_one = next(d for d in copy.iterdir() if d.name == "rf-1")
    edit_prediction(seed_one)
    rehash(seed_one)
    bad = run_cli("leaderboard", "verify", record)
    assert bad.exit_code != 0 and "rf-1" in bad.output and "modified" in bad.output


def test_the_same_pipeline_and_seed_twice_is_refused(tmp_path, replicates):
    import shutil

    shutil.copytree(replicates / "rf-1", tmp_path / "rf-1-again")
    runs = load_runs([replicates / "rf-0", replicates / "rf-1", tmp_path / "rf-1-again"])
    with pytest.raises(RunStoreError, match="appears twice with seed 1"):
        build_board(runs, OPTS)


def test_replicates_on_other_samples_are_refused_with_the_seed_hint(tmp_path, replicates):
    other = run(tmp_path / "rf-data-seed-5", dataset_opts={"seed": 5}, seed=5, **FOREST)
    with pytest.raises(RunStoreError, match="Seed replicates must share samples and folds"):
        build_board([open_run(replicates / "rf-0"), open_run(other)], OPTS)
