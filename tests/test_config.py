"""The one run config: YAML files, suite entries and flags read, checked and merged by one module."""
from __future__ import annotations

from dataclasses import fields

import pytest

from mebench.config import CONFIG_KEYS, LABEL_KEYS, Config, check_spec_values, merge
from mebench.errors import ConfigError, UsageError


def _yaml(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_key_given_twice_in_a_run_config_is_refused(tmp_path):
    path = _yaml(tmp_path, "twice.yaml", "features: hoof\nseed: 1\nfeatures: lbptop\n")
    with pytest.raises(ConfigError, match="key 'features' appears twice \\(lines 1 and 3\\)") as err:
        Config.from_yaml(path)
    assert str(path) in str(err.value) and "line 3" in str(err.value)
    nested = _yaml(tmp_path, "nested.yaml", "classifier_opts:\n  C: 1\n  C: 2\n")
    with pytest.raises(ConfigError, match="key 'C' appears twice"):
        Config.from_yaml(nested)


def test_a_key_given_twice_in_a_suite_file_is_refused(tmp_path):
    from mebench.leaderboard.suites import load_suite

    top = _yaml(tmp_path, "top.yaml", "name: s\nseed: 0\nprotocols: [{dataset: synthetic}]\nseed: 1\n"
                                      "pipelines: [{features: hoof}]\n")
    with pytest.raises(ConfigError, match="key 'seed' appears twice \\(lines 2 and 4\\)") as err:
        load_suite(top)
    assert f"suite file {top}" in str(err.value)
    inline = _yaml(tmp_path, "inline.yaml", "protocols:\n  - dataset: synthetic\n    dataset: casme2\n"
                                            "pipelines: [{features: hoof}]\n")
    with pytest.raises(ConfigError, match="key 'dataset' appears twice \\(lines 2 and 3\\)"):
        load_suite(inline)
    flow = _yaml(tmp_path, "flow.yaml", "protocols: [{dataset: synthetic}]\n"
                                        "pipelines: [{features: hoof, classifier: ridge, features: lbptop}]\n")
    with pytest.raises(ConfigError, match="key 'features' appears twice \\(line 2\\)"):
        load_suite(flow)
    entry = _yaml(tmp_path, "entry.yaml", "features: hoof\nclassifier: ridge\nclassifier: logreg\n")
    suite = _yaml(tmp_path, "by-file.yaml", f"protocols: [{{dataset: synthetic}}]\npipelines: [{entry}]\n")
    with pytest.raises(ConfigError, match="key 'classifier' appears twice") as err:
        load_suite(suite)
    assert str(entry) in str(err.value)


BOMB = "".join(f"{k}: &{k} [" + ", ".join([f"*{p}"] * 9 if p else ['"lol"'] * 9) + "]\n"
               for p, k in zip(["", *"abcdefgh"], "abcdefghi"))


def test_yaml_merge_keys_work_and_their_overrides_are_not_duplicates(tmp_path):
    path = _yaml(tmp_path, "merge.yaml", "features_opts: &shared {bins: 8, grid: 4}\n"
                                         "classifier_opts:\n  <<: *shared\n  bins: 6\n")
    assert Config.from_yaml(path).values["classifier_opts"] == {"bins": 6, "grid": 4}
    twice = _yaml(tmp_path, "twice.yaml", "features_opts: &shared {bins: 8}\nclassifier_opts:\n  <<: *shared\n"
                                          "  C: 1\n  C: 2\n")
    with pytest.raises(ConfigError, match="key 'C' appears twice"):
        Config.from_yaml(twice)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """"Billion laughs": nine lines of aliases stand for 9**9 strings; reading them must not hang or exhaust memory."""
    import time

    from mebench.config import parse_options

    start = time.perf_counter()
    for text in (BOMB, BOMB.replace("i: &i", "description: &i")):
        with pytest.raises(ConfigError, match="expand to more than 100,000 values"):
            Config.from_yaml(_yaml(tmp_path, "bomb.yaml", text))
    with pytest.raises(ConfigError, match="refers to itself"):
        Config.from_yaml(_yaml(tmp_path, "loop.yaml", "seed: &a [1, *a]\n"))
    value = "{" + BOMB.replace("\n", ", ") + "}"
    assert parse_options([f"x={value}"], "--dataset-opt") == {"x": value}  # kept as text, never expanded
    assert time.perf_counter() - start < 10


def test_unknown_keys_get_a_did_you_mean_from_every_source(tmp_path):
    with pytest.raises(ConfigError, match="unknown key\\(s\\) 'clasifier' \\(did you mean 'classifier'\\?\\)"):
        Config.from_yaml(_yaml(tmp_path, "c.yaml", "clasifier: logreg\n"))
    with pytest.raises(ConfigError, match="suite s: pipelines\\[0\\]: unknown key\\(s\\) 'feature' \\(did you mean"):
        Config({"feature": "hoof"}, "suite s: pipelines[0]").validate()
    with pytest.raises(ConfigError, match="'protocl' \\(did you mean 'protocol'\\?\\)"):
        Config.from_cli(protocl="loso")


def test_values_are_checked_and_name_their_source(tmp_path):
    with pytest.raises(ConfigError, match="config file .*c.yaml: 'seed' must be a whole number"):
        Config.from_yaml(_yaml(tmp_path, "c.yaml", "seed: 1.5\n"))
    with pytest.raises(ConfigError, match="--seed must lie in 0..4294967295"):
        Config.from_cli(seed=-1)
    with pytest.raises(ConfigError, match="--features-opt has an option named 'a b'"):
        Config.from_cli(features_opt=["a b=1"])
    with pytest.raises(UsageError, match="KEY=VALUE"):
        Config.from_cli(classifier_opt=["C"])


def test_merge_later_wins_and_option_mappings_merge_key_by_key():
    a = Config({"name": "a", "dataset": "synthetic", "seed": 1, "metrics": ["uf1", "uar"],
                "dataset_opts": {"subjects": 4, "effect": 0.9}, "classifier_opts": {"C": 1.0}})
    b = Config({"description": "b", "seed": 2, "metrics": ["auc"], "dataset_opts": {"effect": 0.0}})
    c = Config({"classifier": "ridge", "dataset_opts": {"frames": 8}})
    merged = merge(a, b, c)
    assert merged.values == {"dataset": "synthetic", "seed": 2, "metrics": ["auc"], "classifier": "ridge",
                             "dataset_opts": {"subjects": 4, "effect": 0.0, "frames": 8}, "classifier_opts": {"C": 1.0}}
    assert merge(c, a).values["dataset_opts"] == {"frames": 8, "subjects": 4, "effect": 0.9}
    assert a.values["dataset_opts"] == {"subjects": 4, "effect": 0.9}  # the inputs are not changed
    assert merged.spec_kwargs()["metrics"] == ("auc",)


def test_from_cli_and_from_yaml_give_equal_configs(tmp_path):
    path = _yaml(tmp_path, "same.yaml", "dataset: synthetic\ntask: emotion\nseed: 3\nfeatures: hoof\n"
                                        "dataset_opts: {subjects: 6, effect: 0.5}\nclassifier_opts: {C: 1e-3}\n"
                                        "protocol_opts: {shuffle: true}\n")
    from_cli = Config.from_cli(dataset="synthetic", task="emotion", seed=3, features="hoof", classifier=None,
                               dataset_opt=["subjects=6", "effect=0.5"], classifier_opt=["C=1e-3"],
                               protocol_opt=["shuffle=true"])
    assert from_cli == Config.from_yaml(path)
    assert from_cli.values["classifier_opts"] == {"C": 0.001}


def test_the_config_keys_are_run_spec_fields():
    from mebench.run import RunSpec

    assert CONFIG_KEYS.difference(LABEL_KEYS) <= {f.name for f in fields(RunSpec)}


def test_a_run_spec_built_in_python_is_checked():
    from mebench.run import RunSpec

    check_spec_values(RunSpec())
    with pytest.raises(ConfigError, match="run spec: 'seed' must lie in 0..4294967295"):
        check_spec_values(RunSpec(seed=2**32))
    with pytest.raises(ConfigError, match="run spec: 'metrics' lists uf1 more than once"):
        check_spec_values(RunSpec(metrics=("uf1", "uf1")))
    with pytest.raises(ConfigError, match="jobs must be a positive number"):
        check_spec_values(RunSpec(jobs=0))


def test_repeated_config_flags_equal_the_merged_configs(cli, tmp_path, monkeypatch):
    from mebench.run import RunSpec

    a = _yaml(tmp_path, "a.yaml", "name: a\ndataset: synthetic\nseed: 5\ndataset_opts: {subjects: 4, effect: 0.9}\n"
                                  "metrics: [uf1, auc]\n")
    b = _yaml(tmp_path, "b.yaml", "features: hoof\nclassifier: ridge\nseed: 6\ndataset_opts: {effect: 0.0}\n"
                                  "classifier_opts: {alpha: 10.0}\n")
    specs = []
    monkeypatch.setattr("mebench.cli._run_and_report", lambda spec, *args: specs.append(spec))
    assert cli("run", "--config", a, "--config", b).exit_code == 0
    assert cli("run", "--config", a, "--config", b, "--dataset-opt", "frames=8", "--seed", "7").exit_code == 0
    merged = merge(Config.from_yaml(a), Config.from_yaml(b))
    assert specs[0] == RunSpec(**merged.spec_kwargs())
    assert specs[0].dataset_opts == {"subjects": 4, "effect": 0.0} and specs[0].metrics == ("uf1", "auc")
    flags = Config.from_cli(seed=7, dataset_opt=["frames=8"])
    assert specs[1] == RunSpec(**merge(Config.from_yaml(a), Config.from_yaml(b), flags).spec_kwargs())
    assert specs[1].seed == 7 and specs[1].dataset_opts == {"subjects": 4, "effect": 0.0, "frames": 8}
