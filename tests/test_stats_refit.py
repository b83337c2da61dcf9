"""The refit studentised paired test: stored rows, reuse, refusals and the sequential rule."""
import json
import shutil

import numpy as np
import pytest
from _cli import BOARD_HOOF, run_cli

from mebench.stats.permutation import prepared_from_arrays, row_engine, row_store, sequential_p
from mebench.stats.permutation.rows import read_store, run_stores
from mebench.stats.studentised import PipelineRows, studentised_test


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from _api import board_spec, run

    base = tmp_path_factory.mktemp("refit")
    made = {}
    for name, fields in {"ridge": {"classifier": "ridge"},
                         "ridge100": {"classifier": "ridge", "classifier_opts": {"alpha": 100}},
                         "logreg": {"classifier": "logreg"}}.items():
        made[name] = base / name
        run(board_spec(made[name], features_opts=BOARD_HOOF, **fields))
    return made


def _fresh(runs, tmp_path, *names):
    """Copies of the runs without stored rows."""
    out = []
    for name in names:
        dest = tmp_path / name
        shutil.copytree(runs[name], dest)
        shutil.rmtree(dest / "permutations", ignore_errors=True)
        (dest / "stats.json").unlink(missing_ok=True)
        out.append(str(dest))
    return out


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_sequential_rule():
    exceed = np.array([0, 1, 0, 1, 1, 0, 1], float)
    assert sequential_p(exceed, 0) == (5 / 8, 4, 7, False)
    assert sequential_p(exceed, 3) == (3 / 5, 3, 5, True)          # stops at the 3rd exceedance, row 5
    assert sequential_p(exceed, 9) == (5 / 8, 4, 7, False)          # never reaches h: all rows
    assert sequential_p(np.array([np.nan, 1, np.nan]), 0) == (1.0, 1, 1, False)  # undefined rows skipped


def test_identical_pipelines_give_p_one_and_rows_match_refits():
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(6), 6)
    labels = np.tile(["a", "b", "a", "b", "a", "b"], 6)
    X = rng.normal(size=(36, 5))
    prepared = prepared_from_arrays(X, labels, subjects)
    engine = row_engine(prepared)
    store = row_store(prepared, "within-subject", 0, ["accuracy"])
    from mebench.stats.permutation import compute_rows, observed_row

    compute_rows(prepared, engine, store, "within-subject", 0, 30)
    values, sums = store.arrays(30)
    obs_v, obs_s, _ = observed_row(prepared, engine, store)
    rows = PipelineRows(store.metrics, obs_v, obs_s, values, sums, "within-subject", 0)
    for m in ("accuracy", "uf1", "auc"):
        res = studentised_test(rows, rows, m, 30)
        assert res.t == 0 and res.p_value == 1.0
    # the generic refit gives the same rows as the exact path
    generic = row_store(prepared, "within-subject", 0, ["accuracy"])
    compute_rows(prepared, row_engine(prepared, "generic"), generic, "within-subject", 0, 30)
    np.testing.assert_allclose(generic.arrays(30)[0], values, atol=1e-9)
    np.testing.assert_allclose(generic.arrays(30)[1], sums, atol=1e-9)


def test_compare_reuses_rows_stored_by_stats(runs, tmp_path):
    a, b = _fresh(runs, tmp_path, "ridge", "ridge100")
    refused = run_cli("compare", a, b, "--no-refit", "--permutations", "99")
    assert refused.exit_code == 1 and "holds no permutation rows" in refused.output
    assert f"mebench stats {a}" in refused.output and "Traceback" not in refused.output
    for run in (a, b):
        _json(run_cli("stats", run, "--permutations", "99", "--bootstrap", "50", "--early-stop", "0", "--json"))
        assert [s.prefix() for s in run_stores(run)] == [99]
    reused = _json(run_cli("compare", a, b, "--no-refit", "--permutations", "99", "--bootstrap", "50",
                           "--early-stop", "0",
                           "--json"))
    assert reused["refit"]["rows_refit"] == {} and set(reused["refit"]["rows_reused"].values()) == {99}
    c, d = _fresh(runs, tmp_path / "again", "ridge", "ridge100")
    refit = _json(run_cli("compare", c, d, "--permutations", "99", "--bootstrap", "50", "--early-stop", "0", "--json"))
    assert set(refit["refit"]["rows_refit"].values()) == {99}
    for m, entry in reused["metrics"].items():
        assert entry["p_value"] == refit["metrics"][m]["p_value"]          # the same rows, refit or stored
        test = entry["comparisons"][0]["tests"]["studentised_refit"]
        assert "refit studentised" in test["test"] and test["n_rows_used"] <= 99
    # the refit rows were kept in the runs: a second compare refits nothing
    again = _json(run_cli("compare", c, d, "--permutations", "99", "--bootstrap", "50", "--json", "--no-refit"))
    assert again["refit"]["rows_refit"] == {}


def test_rows_of_another_seed_are_never_mixed(runs, tmp_path):
    a, b = _fresh(runs, tmp_path, "ridge", "ridge100")
    _json(run_cli("stats", a, "--permutations", "60", "--bootstrap", "50", "--seed", "1", "--json"))
    _json(run_cli("stats", b, "--permutations", "60", "--bootstrap", "50", "--json"))
    res = run_cli("compare", a, b, "--no-refit", "--permutations", "60")
    assert res.exit_code == 1 and a in res.output and "seed 0" in res.output
    store = run_stores(b)[0]
    store.key["stream"]["labels"] = "0" * 64  # rows drawn from other labels
    store.path = next((tmp_path / "ridge" / "permutations").glob("*.npz")).with_name("rows-forged.npz")
    store.key["pipeline"] = read_store(next((tmp_path / "ridge" / "permutations").glob("rows-*seed1*"))).key["pipeline"]
    store.key["stream"]["seed"] = 0
    store.save()
    res = run_cli("compare", a, b, "--no-refit", "--permutations", "60")
    assert res.exit_code == 1 and "different label streams" in res.output and "labels" in res.output


def test_a_net_without_rows_gets_the_descriptive_swap(runs, tmp_path, monkeypatch):
    from mebench.stats import stored_rows

    monkeypatch.setattr(stored_rows, "is_expensive", lambda run, plugins=(): "logreg" in str(run.dir))
    a, b = _fresh(runs, tmp_path, "ridge", "logreg")
    from mebench.stats.runs import compare_runs

    out = compare_runs([a, b], ["accuracy"], n_permutations=40, n_resamples=50, n_swaps=200)
    comp = out["metrics"]["accuracy"]["comparisons"][0]
    assert "studentised_refit" not in comp["tests"] and comp["p_holm"] is None
    assert "net" in next(iter(out["refit"]["no_rows"].values()))
