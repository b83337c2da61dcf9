"""`mebench stats` and `mebench compare` end to end on small synthetic runs."""
import json

import numpy as np
import pandas as pd
import pytest
from _cli import BOARD_HOOF, run_cli


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from _api import board_spec, run

    base = tmp_path_factory.mktemp("runs")
    other = {"seed": 3}  # another draw of the synthetic data set
    made = {}
    for name, fields in {"ridge": {"classifier": "ridge"},
                         "ridge100": {"classifier": "ridge", "classifier_opts": {"alpha": 100}},
                         "logreg": {"classifier": "logreg"},
                         "other": {"classifier": "ridge", "dataset_opts": other},
                         "other100": {"classifier": "ridge", "classifier_opts": {"alpha": 100}, "dataset_opts": other},
                         "other_logreg": {"classifier": "logreg", "dataset_opts": other},
                         "majority": {"classifier": "majority"},  # a control in both blocks
                         "other_majority": {"classifier": "majority", "dataset_opts": other},
                         "sex": {"features": "sex-only", "classifier": "ridge", "features_opts": {}},  # a probe
                         }.items():
        made[name] = base / name
        run(board_spec(made[name], **{"features_opts": BOARD_HOOF, **fields}))
    return made


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_stats_json_and_files(runs):
    before = {name: (runs["ridge"] / name).read_bytes() for name in ("metrics.json", "manifest.json",
                                                                   "predictions.parquet")}
    res = run_cli("stats", str(runs["ridge"]), "--permutations", "99", "--bootstrap", "300", "--json")
    out = _json(res)
    assert set(out["metrics"]) == {"accuracy", "uar", "uf1", "auc"}
    for m in out["metrics"].values():
        assert {"value", "ci_low", "ci_high", "p_value"} <= set(m)
        assert m["ci_low"] <= m["value"] <= m["ci_high"] and 0 < m["p_value"] <= 1
        t = m["p_value_test"]
        assert t["n_permutations"] == 99 and "refit" in t["test"] and t["assumptions"]
        assert "within-subject" in t["assumptions"]
    assert out["permutation"]["method"] == "exact"
    stats_json = json.loads((runs["ridge"] / "stats.json").read_text())
    assert stats_json["metrics"]["auc"]["p_value"] == out["metrics"]["auc"]["p_value"]
    assert len(stats_json["per_subject"]["subjects"]) == 5
    assert all({"n", "n_classes_present", "auc"} <= set(e) for e in stats_json["per_subject"]["subjects"])
    assert stats_json["metrics"]["auc"]["ci_method"].startswith(
        "subject-cluster bootstrap, BCa, 95% (300 resamples of 5 subjects)")
    manifest = json.loads(before["manifest.json"])
    assert stats_json["inputs"] == manifest["files"]  # which run files the statistics were computed from
    # a finished run is immutable: stats.json sits beside the run's files, which stay byte-identical
    assert {name: (runs["ridge"] / name).read_bytes() for name in before} == before
    assert json.loads(before["metrics.json"])["pooled"]["auc"] == pytest.approx(out["metrics"]["auc"]["value"])


def test_stats_text_output_states_tests(runs):
    res = run_cli("stats", str(runs["ridge100"]), "--permutations", "49", "--bootstrap", "200")
    assert res.exit_code == 0, res.output
    assert "p vs chance" in res.output and "95% CI" in res.output
    assert "p = (C + 1) / (N + 1)" in res.output and "49 permutations" in res.output
    assert "subject-cluster bootstrap, BCa" in res.output


def test_stats_generic_path_is_resumable(runs):
    args = ["stats", str(runs["logreg"]), "--method", "generic", "--permutations", "6", "--bootstrap", "100",
            "--json"]
    first = _json(run_cli(*args))
    assert first["permutation"]["method"] == "generic" and first["permutation"]["computed"] == 6
    assert list((runs["logreg"] / "permutations").glob("rows-*.npz"))
    again = _json(run_cli(*args))
    assert again["permutation"]["resumed_from_checkpoint"] == 6 and again["permutation"]["computed"] == 0
    assert again["metrics"]["auc"]["p_value"] == first["metrics"]["auc"]["p_value"]
    batched = _json(run_cli("stats", str(runs["logreg"]), "--permutations", "6", "--bootstrap", "100", "--json"))
    assert batched["permutation"]["method"] == "batched"  # the default for logreg on stateless features
    assert batched["metrics"]["accuracy"]["p_value"] == first["metrics"]["accuracy"]["p_value"]
    res = run_cli("stats", str(runs["logreg"]), "--method", "exact", "--permutations", "5")
    assert res.exit_code == 1 and "exact linear path needs the 'ridge'" in res.output and "Traceback" not in res.output


def test_compare_two_runs_json(runs):
    res = run_cli("compare", str(runs["ridge"]), str(runs["ridge100"]), "--permutations", "199",
                  "--bootstrap", "300", "--json")
    out = _json(res)
    assert out["mode"] == "same-dataset" and len(out["runs"]) == 2
    for name, m in out["metrics"].items():
        assert {"value", "delta", "ci_low", "ci_high", "p_value", "p_holm", "p_values"} <= set(m)
        assert m["delta"] == pytest.approx(m["value_a"] - m["value_b"])
        assert {"studentised_refit", "paired_randomisation"} <= set(m["p_values"])
        assert m["p_value"] == m["p_values"]["studentised_refit"]          # the refit test is the primary
        calib = m["comparisons"][0]["p_value_calibration"]
        assert calib["in_holm_family"] and m["p_holm"] >= m["p_value"]    # measured in band for every metric
        assert calib["measured_false_positive_rate"]
        swap = m["comparisons"][0]["tests"]["paired_randomisation"]["calibration"]
        assert not swap["in_holm_family"] and "descriptive" in swap["note"]
    assert "mcnemar" in out["metrics"]["accuracy"]["p_values"] and "delong" in out["metrics"]["auc"]["p_values"]
    assert "Holm over the 4 primary" in out["correction"] and "accuracy, auc, uar, uf1" in out["correction"]
    refit = out["refit"]  # rows stored by the stats tests above are reused; the rest are refit, at most 199
    assert all(0 <= n <= 199 for n in refit["rows_refit"].values()) and refit["scheme"] == "within-subject"


def test_compare_many_runs_against_the_best(runs):
    res = run_cli("compare", str(runs["ridge"]), str(runs["ridge100"]), str(runs["logreg"]),
                  "--metric", "auc", "--permutations", "99", "--bootstrap", "200")
    assert res.exit_code == 0, res.output
    assert "each against the best" in res.output and "auc: best =" in res.output
    assert "assume independent samples" in res.output and "Holm over the 2 primary" in res.output
    assert "p (refit): refit studentised paired permutation test" in res.output
    assert "swap p*" in res.output and "[FPR 0." in res.output


def test_bad_seed_level_alpha_are_refused_without_traceback(runs):
    for args in (["stats", str(runs["ridge"]), "--seed", "-1"],
                 ["compare", str(runs["ridge"]), str(runs["ridge100"]), "--seed", "-1"],
                 ["compare", str(runs["ridge"]), str(runs["ridge100"]), "--level", "1.5"],
                 ["compare", str(runs["ridge"]), str(runs["ridge100"]), "--across-datasets", "--alpha", "0"]):
        res = run_cli(*args)
        assert res.exit_code in (1, 2) and "Traceback" not in res.output, (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception


def test_compare_refuses_runs_on_different_data(runs):
    res = run_cli("compare", str(runs["ridge"]), str(runs["other"]))
    assert res.exit_code == 1
    assert "cannot compare" in res.output and "sample_list_sha256_after_skips" in res.output
    assert "same samples, labels and folds" in res.output and "Traceback" not in res.output


def test_compare_refuses_different_folds(runs, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs["ridge100"], copy)
    man = json.loads((copy / "manifest.json").read_text())
    man["protocol"]["fold_hash"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(man))
    res = run_cli("compare", str(runs["ridge"]), str(copy))
    assert res.exit_code == 1 and "fold_hash" in res.output


def test_stats_refuses_when_the_replayed_folds_differ(runs, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs["ridge"], copy)
    man = json.loads((copy / "manifest.json").read_text())
    man["protocol"]["fold_hash"] = "f" * 64
    (copy / "manifest.json").write_text(json.dumps(man))
    res = run_cli("stats", str(copy), "--permutations", "5", "--bootstrap", "50")
    assert res.exit_code == 1 and "different folds" in res.output and "--permutations 0" in res.output


ACROSS = ("ridge", "ridge100", "logreg", "other", "other100", "other_logreg")
CONTROLS = ("majority", "other_majority", "sex")


def test_compare_across_datasets(runs, tmp_path, monkeypatch):
    import mebench.stats.multiple as multiple

    drawn = []
    draw = multiple.cd_diagram
    monkeypatch.setattr(multiple, "cd_diagram",
                        lambda ranks, *a, **k: drawn.append(dict(ranks)) or draw(ranks, *a, **k))
    cd = tmp_path / "cd.png"
    res = run_cli("compare", "--across-datasets", "--metric", "auc", "--cd-diagram", str(cd),
                  *(str(runs[r]) for r in ACROSS + CONTROLS), "--json")
    out = _json(res)
    auc = out["metrics"]["auc"]
    assert auc["n_blocks"] == 2 and auc["omnibus"]["skipped"] and "only 2 block(s)" in auc["omnibus"]["reason"]
    assert len(auc["pairwise"]) == 3 and cd.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cd.png"]  # exactly the file asked for
    # controls and probes: listed with their values, never ranked, tested or drawn
    methods = {"hoof+ridge[f.grid=4,f.size=32]", "hoof+ridge[c.alpha=100,f.grid=4,f.size=32]",
               "hoof+logreg[f.grid=4,f.size=32]"}
    assert set(out["pipelines"]) == set(auc["mean_ranks"]) == methods and drawn == [auc["mean_ranks"]]
    assert {p for r in auc["pairwise"] for p in (r["a"], r["b"])} == methods
    assert out["not_ranked"] == [{"pipeline": "hoof+majority[f.grid=4,f.size=32]", "role": "control"},
                                 {"pipeline": "sex-only+ridge", "role": "probe"}]
    assert "not competitors" in out["not_ranked_note"] and "CD diagram" in out["not_ranked_note"]
    control, probe = auc["not_ranked"]
    assert list(control["values"]) == out["blocks"] and control["values"][out["blocks"][0]] == pytest.approx(0.5)
    assert control["no_run_in"] == [] and len(probe["no_run_in"]) == 1
    assert probe["values"][probe["no_run_in"][0]] is None  # the probe was run in one block only
    reach = auc["smallest_attainable"]
    assert reach["wilcoxon_min_p"] == 0.5 and reach["holm_min_p"] == 1.0 and not reach["can_declare_a_pair"]
    res = run_cli("compare", "--across-datasets", str(runs["ridge"]), str(runs["other"]),
                  str(runs["ridge100"]))
    assert res.exit_code == 1 and "lacks run(s)" in res.output


def test_compare_across_datasets_text_labels_what_is_not_ranked(runs):
    res = run_cli("compare", "--across-datasets", "--metric", "uar", *(str(runs[r]) for r in ACROSS + CONTROLS))
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "uar: not ranked: control/probe (values per block, for reference)" in text
    assert "hoof+majority[f.grid=4,f.size=32] │ control │ 0.500 │ 0.500" in text
    assert "sex-only+ridge │ probe │" in text and "no run" in text
    assert "not ranked: controls (e.g. the majority and stratified-random classifiers) and probes" in text
    ranking = text[:text.index("pairwise Wilcoxon")]
    assert "hoof+ridge[c.alpha=100,f.grid=4,f.size=32]" in ranking and "majority" not in ranking  # names unescaped
    assert ("smallest attainable p: with 2 block(s) the smallest attainable p is 0.5000 for a pairwise Wilcoxon test "
            "and 1.0000 after Holm over 3 pair(s)") in text
    assert "No pair can be declared significant with this many blocks" in text and "need at least 7 blocks" in text


def test_compare_across_datasets_needs_two_methods(runs):
    res = run_cli("compare", "--across-datasets", *(str(runs[r]) for r in ("ridge", "other") + CONTROLS))
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "ranks methods, and these runs hold 1 method pipeline(s)" in text
    assert "hoof+majority[f.grid=4,f.size=32], sex-only+ridge), which are never ranked" in text


def test_cd_diagram_draws_one_metric_at_exactly_the_given_path(runs, tmp_path):
    args = ["compare", "--across-datasets", *(str(runs[r]) for r in ACROSS)]
    res = run_cli(*args, "--cd-diagram", tmp_path / "cd.svg")  # the runs hold four metrics
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "--cd-diagram" in text and "draws the ranking of one metric" in text
    assert "choose one with --metric" in text and "accuracy, uar, uf1, auc" in text
    res = run_cli(*args, "--metric", "uar", "--metric", "auc", "--cd-diagram", tmp_path / "cd.svg")
    assert res.exit_code == 2 and "give one --metric, not 2 (uar, auc)" in " ".join(res.output.split())
    assert list(tmp_path.iterdir()) == []
    res = run_cli(*args, "--metric", "uar", "--cd-diagram", tmp_path / "cd.svg")
    assert res.exit_code == 0, res.output
    assert [p.name for p in tmp_path.iterdir()] == ["cd.svg"] and "<svg" in (tmp_path / "cd.svg").read_text()
    assert f"critical-difference diagram of uar (methods only) written to {tmp_path / 'cd.svg'}" in \
        " ".join(res.output.split())


def test_single_class_pooled_set_is_explained(tmp_path):
    from mebench.fsutil import write_json
    from mebench.store import write_predictions

    run = tmp_path / "one-class"
    n = 12
    preds = pd.DataFrame({"run_id": "x", "dataset": "d", "protocol": "loso", "pipeline": "p", "fold": "f",
                          "subject_id": np.repeat(["d/a", "d/b", "d/c"], 4), "sample_id": [f"s{i}" for i in range(n)],
                          "y_true": "neg", "y_pred": np.where(np.arange(n) % 3, "neg", "pos"),
                          "score_neg": np.linspace(0.2, 0.9, n), "score_pos": np.linspace(0.8, 0.1, n)})
    write_predictions(run / "predictions.parquet", preds)
    write_json(run / "metrics.json", {"pooled": {"accuracy": 2 / 3, "auc": None}})
    write_json(run / "manifest.json", {"run_id": "x", "pipeline": "p", "config": {"metrics": ["accuracy", "auc"]},
                                       "dataset": {}, "protocol": {}})
    out = _json(run_cli("stats", str(run), "--permutations", "0", "--bootstrap", "100", "--json"))
    auc = out["metrics"]["auc"]
    assert auc["value"] is None and auc["ci_low"] is None and auc["p_value"] is None
    assert any("ROC AUC is undefined" in n and "only 'neg'" in n for n in auc["notes"])
    assert out["metrics"]["accuracy"]["value"] == pytest.approx(2 / 3)
    text = run_cli("stats", str(run), "--permutations", "0", "--bootstrap", "100")
    assert text.exit_code == 0 and "ROC AUC is undefined" in text.output
