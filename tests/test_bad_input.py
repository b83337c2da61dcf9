"""Bad input never ends in a traceback: each case gets a clear message and a non-zero exit."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from _cli import small_opts

SMALL = small_opts(subjects=3)  # the counts below are of three subjects
THREE = {"subjects": 3}


def _fails(result, code, *phrases) -> bool:
    """True when the command exited with ``code``, without a traceback, and printed every phrase."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    missing = [p for p in phrases if p not in result.output]
    assert not missing, f"{missing} not in: {result.output}"
    return True


def test_unknown_names(cli):
    assert _fails(cli("run", "--features", "hooof"), 2, "Did you mean 'hoof'")
    assert _fails(cli("run", "--protocol", "lso"), 2, "unknown protocol 'lso'")
    assert _fails(cli("run", "--dataset", "nope-dataset"), 2, "unknown dataset")


def test_unknown_plugin_option_is_named(cli):
    assert _fails(cli("run", "--dataset-opt", "subjcts=3"), 2, "'subjcts'", "Did you mean 'subjects'")
    assert _fails(cli("run", "--classifier-opt", "X"), 2, "KEY=VALUE")


@pytest.fixture
def no_data(monkeypatch):
    """No component may be built and no dataset read: the mistake must be found from the names alone."""
    import mebench.data.base
    import mebench.run.build

    def refuse(*args, **kwargs):
        raise AssertionError("a component was built or the dataset read before the mistake was reported")

    monkeypatch.setattr(mebench.run.build, "build_dataset", refuse)
    monkeypatch.setattr(mebench.data.base.Dataset, "load", refuse)


@pytest.mark.parametrize("args,phrases", [
    (["--task", "emotions"], ["dataset 'synthetic' has no task 'emotions'", "Did you mean 'emotion'?",
                              "It supports: deception, emotion"]),
    (["--classifier-opt", "label=x"], ["classifier 'logreg' does not take option 'label'",
                                       "It takes: C, class_weight, max_iter, random_state"]),
    (["--classifier-opt", "c=0.1"], ["classifier 'logreg' does not take option 'c'", "Did you mean 'C'?"]),
    (["--features-opt", "bogus=1"], ["extractor 'hoof' does not take option 'bogus'"]),
    (["--features", "hoof+lbptop", "--features-opt", "bogus=1"], ["none of hoof, lbptop takes 'bogus'"]),
    (["--features", "hoof+lbptop", "--features-opt", "lbptp.radii=2"],
     ["'lbptp' is not one of the combined extractors", "Did you mean 'lbptop'?"]),
    (["--protocol-opt", "k=3"], ["protocol 'loso' does not take option 'k'"]),
    (["--dataset", "casme2"], ["dataset 'casme2' needs --root PATH"]),
], ids=["task", "classifier-opt label", "classifier-opt c", "features-opt", "combined option", "combined part",
        "protocol-opt", "missing root"])
def test_unknown_names_exit_2_before_any_data(cli, tmp_path, no_data, args, phrases):
    """Usage errors and unknown names exit 2, and are reported from the names alone: no component is built,
    no dataset read, no fold bar drawn."""
    result = cli("run", *SMALL, *args, "--out", tmp_path / "out")
    text = " ".join(result.output.split())  # rich wraps long lines
    assert _fails(result, 2) and all(p in text for p in phrases), result.output
    assert "folds" not in result.output and result.output.startswith("error:"), result.output
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_unknown_names_exit_2_from_a_config_file_too(cli, tmp_path, no_data):
    config = tmp_path / "run.yaml"
    config.write_text("task: emotoin\nclassifier_opts: {C: 1}\n")
    assert _fails(cli("run", "--config", config, "--out", tmp_path / "out"), 2, "has no task 'emotoin'",
                  "Did you mean 'emotion'?")


def test_a_plugin_dataset_with_a_fixed_task_list_is_checked_before_it_is_built(cli, tmp_path, no_data):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "from mebench.data.base import Dataset\n"
        "from mebench.registry import DATASETS\n\n\n"
        "@DATASETS.register('needs-root-test-ds')\n"
        "class NeedsRoot(Dataset):\n"
        "    \"\"\"A dataset on disk.\"\"\"\n"
        "    tasks = ('valence',)\n")
    base = ["run", "--plugins", plugin, "--dataset", "needs-root-test-ds", "--out", tmp_path / "out"]
    assert _fails(cli(*base, "--task", "valance"), 2, "has no task 'valance'", "Did you mean 'valence'?")
    assert _fails(cli(*base), 2, "dataset 'needs-root-test-ds' needs --root PATH")


def test_unknown_suite_exits_2_with_the_closest_name(cli, tmp_path):
    suites = tmp_path / "board" / "suites"
    suites.mkdir(parents=True)
    (suites / "synthetic.yaml").write_text("name: synthetic\n")
    result = cli("bench", "--suite", "synthetc", "--board", tmp_path / "board")
    assert _fails(result, 2, "no suite named 'synthetc'", "Did you mean 'synthetic'?")


def test_malformed_yaml_and_unknown_key(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: hoof\nclassifier: [logreg\n")
    assert _fails(cli("run", "--config", bad), 1, "bad.yaml", "not valid YAML", "line")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("features: hoof\nclasifier: logreg\n")
    assert _fails(cli("run", "--config", unknown), 1, "'clasifier'", "did you mean 'classifier'")


def test_fewer_than_two_subjects(cli, tmp_path):
    assert _fails(cli("run", "--dataset-opt", "subjects=1", "--out", tmp_path / "x"), 1, "at least two")


def test_out_dir_holding_another_run_is_refused(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("run", *SMALL, "--out", out, "--json").exit_code == 0
    before = (out / "predictions.parquet").read_bytes()
    assert _fails(cli("run", *SMALL, "--seed", 9, "--out", out), 1, "already holds", "never overwrites")
    assert (out / "predictions.parquet").read_bytes() == before


def test_default_out_never_overwrites(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert cli("run", *SMALL, "--json").exit_code == 0
    dirs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(dirs) == 2 and dirs[1] == dirs[0] + "-2"


def test_training_fold_lacking_a_class_completes_with_full_label_set(tmp_path, small_spec, run_api):
    plugin = tmp_path / "rare.py"
    plugin.write_text('''
import pandas as pd
from mebench.registry import DATASETS
from mebench.data.synthetic import SyntheticDataset

@DATASETS.register("test-rare-class")
class RareClass(SyntheticDataset):
    """Synthetic emotion data where one subject alone carries the class 'rare'."""
    name = "test-rare-class"

    def _load(self, task):
        samples = super()._load(task)
        first = samples["subject_id"] == samples["subject_id"].iloc[0]
        samples.loc[first, "label"] = ["rare"] * int(first.sum())
        samples.loc[~first, "label"] = ["common", "other"] * int((~first).sum() // 2)
        return samples
''')
    result = run_api(small_spec("r", plugins=(str(plugin),), dataset="test-rare-class", task="emotion",
                                dataset_opts=THREE))
    assert result.metrics["classes"] == ["common", "other", "rare"]
    assert any("lacks 1 class" in w for w in result.manifest["warnings"])
    predictions = pd.read_parquet(tmp_path / "r" / "predictions.parquet")
    assert {"score_common", "score_other", "score_rare"} <= set(predictions.columns)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert len(metrics["confusion_matrix"]) == 3 and metrics["per_class"]["rare"]["recall"] == 0.0


def test_single_class_training_fold_predicts_constant(cli, tmp_path):
    plugin = tmp_path / "single.py"
    plugin.write_text('''
from mebench.registry import DATASETS
from mebench.data.synthetic import SyntheticDataset

@DATASETS.register("test-two-subject-classes")
class PerSubjectLabel(SyntheticDataset):
    """Each of two subjects has its own single label."""
    name = "test-two-subject-classes"

    def _load(self, task):
        samples = super()._load(task)
        samples["label"] = ["a" if s.endswith("01") else "b" for s in samples["subject_id"]]
        return samples
''')
    result = cli("run", "--plugins", plugin, "--dataset", "test-two-subject-classes", "--dataset-opt", "subjects=2",
                 "--dataset-opt", "clips_per_subject=3", "--out", tmp_path / "s", "--json")
    assert result.exit_code == 0, result.output
    assert "single class" in result.output


def test_leakage_guard_refuses_overlapping_subjects():
    import numpy as np
    import pytest

    from mebench.data.synthetic import SyntheticDataset
    from mebench.errors import LeakageError
    from mebench.protocols import Fold, Protocol

    class Leaky(Protocol):
        name = "leaky"

        def split(self, samples):
            idx = np.arange(len(samples))
            return [Fold("0", idx[: len(idx) // 2 + 1], idx[len(idx) // 2:])]

    samples = SyntheticDataset(subjects=2, clips_per_subject=4).load("deception")
    with pytest.raises(LeakageError, match="both train and test"):
        Leaky().run(samples)
    with pytest.raises(LeakageError, match="identities"):
        from mebench.protocols import LeaveOneSubjectOut

        LeaveOneSubjectOut().run(samples, identities=False)


def test_bad_sample_stops_the_run_or_is_recorded_as_a_skip(cli, tmp_path):
    plugin = tmp_path / "flaky.py"
    plugin.write_text('''
import numpy as np
from mebench.errors import DataError
from mebench.registry import EXTRACTORS
from mebench.features import FeatureExtractor

@EXTRACTORS.register("test-flaky")
class Flaky(FeatureExtractor):
    """Fails on one sample (a corrupt frame) and policy-skips another (no face)."""

    def extract_one(self, row):
        if row.sample_id.endswith("sub01/EP01_01"):
            raise DataError("cannot decode image (truncated or corrupt file)", file="sub01/EP01_01/img3.jpg")
        if row.sample_id.endswith("sub02/EP02_01"):
            err = DataError("no face found on the onset frame", file="sub02/EP02_01/img1.jpg")
            err.skip = True
            raise err
        return np.array([float(row.onset), float(row.apex)])
''')
    stopped = cli("run", "--plugins", plugin, "--features", "test-flaky", *SMALL, "--out", tmp_path / "a")
    assert _fails(stopped, 1, "synthetic/sub01/EP01_01", "img3.jpg", "--on-error skip")
    ok = cli("run", "--plugins", plugin, "--features", "test-flaky", *SMALL, "--on-error", "skip",
             "--out", tmp_path / "b", "--json")
    assert ok.exit_code == 0, ok.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["n_skipped"] == 2
    reasons = {s["sample_id"]: s for s in manifest["skipped"]}
    assert "corrupt" in reasons["synthetic/sub01/EP01_01"]["reason"]
    assert reasons["synthetic/sub02/EP02_01"]["policy"] == "extractor policy"
    predictions = pd.read_parquet(tmp_path / "b" / "predictions.parquet")
    assert len(predictions) == 10 and "synthetic/sub01/EP01_01" not in set(predictions.sample_id)


def test_training_only_samples_are_not_scored_and_overlapping_tests_refused(cli, tmp_path, small_spec, run_api):
    plugin = tmp_path / "protos.py"
    plugin.write_text('''
import numpy as np
from mebench.protocols import Fold, Protocol
from mebench.registry import PROTOCOLS

@PROTOCOLS.register("test-train-only")
class TrainOnlyFirstSubject(Protocol):
    """LOSO over all subjects but the first, which is only ever used for training."""
    name = "test-train-only"

    def split(self, samples):
        subjects = samples["subject_id"].to_numpy()
        first = sorted(set(subjects))[0]
        return [Fold(s, np.flatnonzero(subjects != s), np.flatnonzero(subjects == s))
                for s in sorted(set(subjects)) if s != first]

@PROTOCOLS.register("test-double-test")
class DoubleTest(Protocol):
    """Tests every subject twice."""
    name = "test-double-test"

    def split(self, samples):
        subjects = samples["subject_id"].to_numpy()
        return [Fold(f"{s}-{r}", np.flatnonzero(subjects != s), np.flatnonzero(subjects == s))
                for s in sorted(set(subjects)) for r in (1, 2)]
''')
    ok = run_api(small_spec("a", plugins=(str(plugin),), protocol="test-train-only", dataset_opts=THREE))
    assert ok.metrics["n"] == 8 and any("in no test fold" in w for w in ok.manifest["warnings"])
    assert len(pd.read_parquet(tmp_path / "a" / "predictions.parquet")) == 8
    assert _fails(cli("run", "--plugins", plugin, "--protocol", "test-double-test", *SMALL, "--out", tmp_path / "b"), 1,
           "test set of 2 folds")
