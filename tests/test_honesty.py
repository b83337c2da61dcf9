"""Honest by construction: extractors never see labels, runs are immutable, contamination is flagged."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from _cli import SMALL_OPTS, json_output


def _plugin(tmp_path, name, body):
    path = tmp_path / f"{name.replace('-', '_')}.py"
    path.write_text(textwrap.dedent(body))
    return path


LABEL_READER = """
    import numpy as np
    from mebench.registry import EXTRACTORS
    from mebench.features import FeatureExtractor

    @EXTRACTORS.register("{name}")
    class ReadsTheLabel(FeatureExtractor):
        \"\"\"Returns whether the clip is deceptive: a label, not a feature.\"\"\"

        def extract_one(self, row):
            return np.array([float(row.{column} == "deceptive")])
"""


@pytest.mark.parametrize("column", ["label", "deception"])
def test_a_label_reading_plugin_is_refused_on_null_data(cli, tmp_path, column):
    name = f"reads-{column}"
    plugin = _plugin(tmp_path, name, LABEL_READER.format(name=name, column=column))
    result = cli("run", "--plugins", plugin, "--features", name, "--dataset-opt", "effect=0", *SMALL_OPTS,
                 "--out", tmp_path / "run")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert f"read the column '{column}'" in text and "never see target columns" in text
    assert not (tmp_path / "run" / "predictions.parquet").exists()


TABLE_READER = """
    import numpy as np
    from mebench.registry import EXTRACTORS
    from mebench.features import FeatureExtractor

    @EXTRACTORS.register("{name}")
    class ReadsTheTable(FeatureExtractor):
        \"\"\"Reads the label from the whole table, in transform or (stateful) in fit.\"\"\"
        stateless = {stateless}

        def fit(self, X, y=None, targets=None):
            if not self.stateless:
                self._read(X)
            return self

        def transform(self, X):
            return self._read(X) if self.stateless else np.zeros((len(X), 1))

        def _read(self, X):
            return np.array([[float(v == "deceptive")] for v in {read}])
"""
TABLE_READS = {"records": '[r["label"] for r in X.to_dict("records")]',
               "loc": '[X.loc[i, "label"] for i in X.index]',
               "columns": 'X[["label", "sample_id"]].iloc[:, 0]'}


@pytest.mark.parametrize("how,stateless", [("records", True), ("loc", True), ("columns", True), ("records", False)])
def test_a_label_read_from_the_whole_table_is_refused(cli, tmp_path, how, stateless):
    """However a plugin reads the table (records, .loc, a column list; in transform or a stateful fit), reading
    a hidden column is the same clear refusal naming it."""
    name = f"table-{how}-{stateless}".lower()
    plugin = _plugin(tmp_path, name, TABLE_READER.format(name=name, stateless=stateless, read=TABLE_READS[how]))
    result = cli("run", "--plugins", plugin, "--features", name, "--dataset-opt", "effect=0", *SMALL_OPTS,
                 "--out", tmp_path / "run")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "This is a bug" not in result.output
    assert "read the column 'label'" in " ".join(result.output.split())


def test_a_plugin_dataset_cannot_unhide_the_label(cli, tmp_path):
    """A dataset plugin whose ``targets`` forgets ``label`` still never shows it to an extractor."""
    plugin = _plugin(tmp_path, "forgetful", LABEL_READER.format(name="reads-label-2", column="label") + """
    from mebench.data.synthetic import SyntheticDataset
    from mebench.registry import DATASETS

    @DATASETS.register("forgetful-synthetic")
    class Forgetful(SyntheticDataset):
        def targets(self, task=None):
            return ("deception",)
""")
    result = cli("run", "--plugins", plugin, "--dataset", "forgetful-synthetic", "--features", "reads-label-2",
                 "--dataset-opt", "effect=0", *SMALL_OPTS, "--out", tmp_path / "run")
    assert result.exit_code == 1, result.output
    assert "read the column 'label'" in " ".join(result.output.split())


def test_a_label_reading_plugin_that_tolerates_absence_scores_at_chance(tmp_path, small_spec, run_api):
    """``getattr(row, "label", None)`` finds nothing: the feature is constant, the AUC is chance."""
    plugin = _plugin(tmp_path, "peeks", """
        import numpy as np
        from mebench.registry import EXTRACTORS
        from mebench.features import FeatureExtractor

        @EXTRACTORS.register("peeks-at-label")
        class PeeksAtLabel(FeatureExtractor):
            def extract_one(self, row):
                return np.array([float(getattr(row, "label", None) == "deceptive"), 1.0])
    """)
    result = run_api(small_spec(plugins=(str(plugin),), features="peeks-at-label", dataset_opts={"effect": 0}))
    assert result.metrics["pooled"]["auc"] == pytest.approx(0.5)


def test_stateful_extractor_sees_training_targets_only_through_fit(tmp_path):
    """A supervised extractor's fit gets the training fold's labels as y; its table never holds them."""
    from _api import RunSpec, cross_predict, prepare

    from mebench.features import FeatureExtractor
    from mebench.registry import EXTRACTORS

    seen = {"fit_columns": set(), "transform_columns": set(), "fit_sizes": []}

    @EXTRACTORS.register("supervised-probe-of-tables")
    class Supervised(FeatureExtractor):
        stateless = False
        fit_targets = ("aus",)

        def fit(self, X, y=None, targets=None):
            seen["fit_columns"] |= set(X.columns)
            seen["fit_sizes"].append((len(X), None if y is None else len(y), None if targets is None else len(targets)))
            self.targets_index_ = None if targets is None else list(targets.index)
            self.fitted_ = True
            return self

        def transform(self, X):
            seen["transform_columns"] |= set(X.columns)
            return np.array([[float(o)] for o in X["onset"]])

    spec = RunSpec(features="supervised-probe-of-tables", dataset_opts={"subjects": 3, "clips_per_subject": 4,
                                                                       "frames": 10})
    prepared = prepare(spec)
    cross_predict(prepared)
    hidden = {"label", "deception", "emotion", "aus"}
    assert not hidden & seen["fit_columns"] and not hidden & seen["transform_columns"]
    assert "frames" in seen["transform_columns"]
    # one fit per fold on the training rows, with as many labels and AU targets as rows
    assert seen["fit_sizes"] and all(n == ny == nt == 8 for n, ny, nt in seen["fit_sizes"])


def test_target_columns_are_declared_per_task():
    from mebench.data.casme2 import CASME2
    from mebench.data.synthetic import SyntheticDataset

    assert {"label", "emotion", "deception"} <= set(SyntheticDataset.targets("deception"))
    assert "aus" not in SyntheticDataset.targets("emotion")  # an annotation, not a label, for emotion
    assert "aus" in SyntheticDataset.targets("au")  # but the label of the AU task
    assert {"label", "label_raw", "emotion", "objective"} <= set(CASME2.targets("emotion"))
    assert "aus" in CASME2.targets("au") and "aus" not in CASME2.targets("emotion")


def test_contaminated_run_is_marked(cli, tmp_path, small_spec, run_api):
    plugin = _plugin(tmp_path, "contaminated", """
        import numpy as np
        from mebench.registry import EXTRACTORS
        from mebench.features import FeatureExtractor

        @EXTRACTORS.register("trained-on-synthetic")
        class TrainedOnSynthetic(FeatureExtractor):
            trained_on = ("synthetic",)
            requires = ("onset", "apex")

            def extract_one(self, row):
                return np.array([float(row.onset), float(row.apex)])
    """)
    out = tmp_path / "run"
    result = cli("run", "--plugins", plugin, "--features", "trained-on-synthetic", *SMALL_OPTS, "--out", out)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "[contaminated]" in text and "trained on synthetic" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["flags"] == ["contaminated"] and manifest["features"]["trained_on"] == ["synthetic"]
    assert "synthetic" in manifest["flag_reasons"]["contaminated"]
    clean = run_api(small_spec("clean")).manifest
    assert clean["flags"] == [] and clean["roles"] == {"control": False, "probe": False}


def test_leaky_protocol_is_flagged(small_spec, run_api):
    manifest = run_api(small_spec("kfold", protocol="kfold", protocol_opts={"k": 4})).manifest
    assert "LEAKY" in manifest["flags"] and "not subject-disjoint" in manifest["flag_reasons"]["LEAKY"]


def test_probe_role_is_recorded(small_spec, run_api):
    manifest = run_api(small_spec("probe", features="sex-only")).manifest
    assert manifest["roles"]["probe"] is True


def test_run_files_are_hashed_and_a_tampered_file_is_reported(cli, tmp_path, small_spec, run_api):
    from mebench.errors import RunStoreError
    from mebench.hashing import file_sha256
    from mebench.store import open_run

    out = tmp_path / "run"
    run_api(small_spec(out.name))
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"predictions.parquet", "metrics.json"}
    for name, digest in manifest["files"].items():
        assert file_sha256(out / name) == digest
    open_run(out)
    predictions = pd.read_parquet(out / "predictions.parquet")
    other = {"deceptive": "truthful", "truthful": "deceptive"}
    predictions.loc[0, "y_pred"] = other[predictions.loc[0, "y_pred"]]
    predictions.to_parquet(out / "predictions.parquet", index=False)
    with pytest.raises(RunStoreError, match="predictions.parquet has been modified"):
        open_run(out)
    result = cli("stats", out, "--permutations", "0", "--bootstrap", "50")
    assert result.exit_code == 1 and "has been modified" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_out_is_checked_before_any_work(cli, tmp_path):
    plugin = _plugin(tmp_path, "never", """
        from mebench.registry import EXTRACTORS
        from mebench.features import FeatureExtractor

        @EXTRACTORS.register("must-not-run")
        class MustNotRun(FeatureExtractor):
            def extract_one(self, row):
                raise SystemExit("extraction started before --out was checked")
    """)
    out = tmp_path / "taken"
    out.mkdir()
    (out / "something.txt").write_text("x")
    result = cli("run", "--plugins", plugin, "--features", "must-not-run", *SMALL_OPTS, "--out", out)
    assert result.exit_code == 1 and "already holds files" in result.output


def test_cache_token_changes_with_library_versions_and_models(monkeypatch):
    from mebench.features import base
    from mebench.features.au import AUMediaPipe
    from mebench.features.hoof import HOOF
    from mebench.model_files import FACE_LANDMARKER

    hoof = HOOF()
    token = hoof.cache_token()
    assert "opencv-contrib-python" in token
    assert FACE_LANDMARKER.sha256 not in token  # no landmarks without alignment
    assert FACE_LANDMARKER.sha256 in HOOF(align="per-clip").cache_token()
    assert FACE_LANDMARKER.sha256 in AUMediaPipe().cache_token() and "mediapipe" in AUMediaPipe().cache_token()
    original = base._version
    monkeypatch.setattr(base, "_version", lambda name: "999" if name == "opencv-contrib-python" else original(name))
    assert hoof.cache_token() != token


def test_extractor_bug_is_a_clean_error_naming_it(cli, tmp_path):
    plugin = _plugin(tmp_path, "buggy", """
        from mebench.registry import EXTRACTORS
        from mebench.features import FeatureExtractor

        @EXTRACTORS.register("buggy-extractor")
        class Buggy(FeatureExtractor):
            def extract_one(self, row):
                raise ValueError("cannot handle this clip")
    """)
    for on_error in ("raise", "skip"):
        result = cli("run", "--plugins", plugin, "--features", "buggy-extractor", *SMALL_OPTS, "--on-error", on_error,
                     "--out", tmp_path / f"run-{on_error}")
        assert result.exit_code == 1 and "Traceback" not in result.output
        text = " ".join(result.output.split())
        assert "Buggy raised ValueError on sample synthetic/sub01/EP01_01: cannot handle this clip" in text


def test_a_moved_dataset_and_a_relative_root_are_served_from_the_cache(cli, tmp_path, monkeypatch):
    """The cache key holds frame-file identity relative to the root, not the path as typed."""
    import shutil

    first = tmp_path / "labA" / "casme2"
    assert cli("data", "synth", "--out", first, "--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=2",
               "--dataset-opt", "frames=10").exit_code == 0
    args = ("--dataset", "casme2", "--dataset-opt", "labels=all", "--json")
    cold = json_output(cli("run", "--root", first.resolve(), *args, "--out", tmp_path / "r1"))
    manifest = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    assert manifest["features"]["cache_misses"] == 6 and manifest["features"]["cache_hits"] == 0
    moved = tmp_path / "labB" / "copy"
    moved.parent.mkdir()
    shutil.move(str(first), str(moved))  # a move keeps names, sizes and mtimes
    monkeypatch.chdir(tmp_path / "labB")
    warm = json_output(cli("run", "--root", "copy", *args, "--out", tmp_path / "r2"))  # relative, in a new place
    manifest = json.loads((tmp_path / "r2" / "manifest.json").read_text())
    assert manifest["features"]["cache_hits"] == 6 and manifest["features"]["cache_misses"] == 0
    assert warm["auc"] == cold["auc"]
