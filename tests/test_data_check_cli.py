"""`mebench data check` / `mebench data info` on miniature copies of every loader, through the CLI."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fixtures_datasets as F  # noqa: E402

KEYS = {"n_samples", "n_subjects", "label_counts", "warnings", "sheet"}


def _megc(root: Path) -> None:
    F.write_casme2(root / "CASME2")
    F.write_samm(root / "SAMM")
    F.write_smic(root / "SMIC")


# name, writer, extra options, expected samples, expected label sets, expected sheet count
LOADERS = [
    ("casme2", F.write_casme2, [], 10, {"all", "5class", "megc3", "objective"}, 1),
    ("samm", F.write_samm, [], 8, {"all", "5class", "megc3", "objective"}, 1),
    ("smic", F.write_smic, [], 6, {"all", "megc3"}, 0),
    ("casme3a", F.write_casme3a, [], 6, {"all", "megc3", "4class", "objective"}, 1),
    ("megc2019", _megc, [], 5 + 7 + 6, {"megc3"}, 2),
    ("reallife-trial", F.write_reallife, [], 24, {"deception"}, 1),
    ("dolos", F.write_dolos, [], 24, {"deception"}, 3),
    ("bag-of-lies", F.write_bag_of_lies, [], 12, {"deception"}, 1),
    ("mu3d", F.write_mu3d, [], 16, {"deception"}, 1),
    ("kaggle-me-lie", F.write_kaggle, [], 18, {"deception"}, 0),
    ("manifest", F.write_manifest, ["--dataset-opt", "apex=middle"], 5, {"label"}, 0),
]


@pytest.mark.parametrize("name,writer,extra,n,sets,n_sheets", LOADERS, ids=[x[0] for x in LOADERS])
def test_check_json_for_every_loader(cli, tmp_path, name, writer, extra, n, sets, n_sheets):
    writer(tmp_path)
    result = cli("data", "check", name, "--root", tmp_path, *extra, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert KEYS <= set(summary)
    assert summary["n_samples"] == n and summary["ok"] is True and summary["errors"] == []
    assert set(summary["label_counts"]) == sets
    for counts in summary["label_counts"].values():
        assert counts is None or all(isinstance(v, int) for v in counts.values())
    assert len(summary["sheet"]) == n_sheets
    assert summary["n_subjects"] >= 1 and len(summary["sample_list_sha256"]) == 64


def test_check_reports_missing_frames_and_apex_problems(cli, tmp_path):
    F.write_casme2(tmp_path)
    shutil.rmtree(tmp_path / "CASME2_RAW_selected" / "sub02" / "EP13_02")
    shutil.rmtree(tmp_path / "CASME2_RAW_selected" / "sub05" / "EP18_03")
    result = cli("data", "check", "casme2", "--root", tmp_path, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert summary["ok"] is False and summary["n_samples"] == 10
    assert len(summary["missing_frames"]) == 2 and "casme2/sub02/EP13_02" in summary["missing_frames"][0]
    assert "row 6" in summary["missing_frames"][0]
    assert len(summary["apex_problems"]) == 1 and "'/'" in summary["apex_problems"][0]
    assert summary["label_counts"]["5class"] == {"disgust": 2, "happiness": 3, "others": 1, "repression": 1,
                                                 "surprise": 1}
    assert "unknown version" in next(iter(summary["sheet"].values()))
    text = cli("data", "check", "casme2", "--root", tmp_path)
    assert text.exit_code == 1
    assert "missing frames / frame problems: 2" in text.output and "FAILED: 2 problem(s)" in text.output
    assert "5class: disgust 2, happiness 3" in text.output and "samples: 10   subjects: 4" in text.output
    # the same options as `run`: skipping the bad samples makes the copy usable
    ok = cli("data", "check", "casme2", "--root", tmp_path, "--dataset-opt", "bad_frames=skip", "--json")
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output)
    assert summary["n_samples"] == 8 and len(summary["skipped"]) == 2


def test_check_passes_dataset_options(cli, tmp_path):
    F.write_casme2(tmp_path)
    result = cli("data", "check", "casme2", "--root", tmp_path, "--dataset-opt", "labels=megc3",
                 "--dataset-opt", "apex=middle", "--json")
    summary = json.loads(result.output)
    assert summary["options"] == {"labels": "megc3", "apex": "middle"}
    assert summary["n_samples"] == 7 and summary["counts"]["apex_resolved_middle"] == 1
    assert len(summary["skipped"]) == 3  # others, fear, sadness are not in megc3


def test_check_errors_are_clean(cli, tmp_path):
    F.write_casme2(tmp_path)
    result = cli("data", "check", "casme2", "--root", tmp_path, "--dataset-opt", "lables=5class")
    assert result.exit_code == 2 and "does not take option 'lables'" in result.output  # an unknown name
    assert "Traceback" not in result.output
    result = cli("data", "check", "casme2", "--root", tmp_path / "nope")
    assert result.exit_code == 1 and "does not exist" in result.output
    result = cli("data", "check", "casme", "--root", tmp_path)
    assert result.exit_code == 2 and "casme2" in result.output  # did you mean
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("data", "check", "samm", "--root", empty)
    assert result.exit_code == 1 and "SAMM FACS codes sheet not found" in result.output


def test_check_identities_missing_is_shown(cli, tmp_path):
    F.write_reallife(tmp_path, identities=None)
    result = cli("data", "check", "reallife-trial", "--root", tmp_path)
    assert result.exit_code == 0
    assert "speaker identities: NO" in result.output and "no speaker identities" in result.output


def test_info(cli):
    result = cli("data", "info", "casme2")
    assert result.exit_code == 0
    for text in ("5class", "megc3", "objective", "PLoS ONE", "apex=middle", "variant=raw"):
        assert text in result.output
    meta = json.loads(cli("data", "info", "dolos", "--json").output)
    assert meta["tasks"] == ["deception"] and "subset" in meta["options"]
    assert cli("data", "info", "nope").exit_code == 2
    for name in [x[0] for x in LOADERS]:
        meta = json.loads(cli("data", "info", name, "--json").output)
        assert meta["name"] == name and meta["citation"] and meta["label_sets"], name


def test_list_datasets_shows_label_sets(cli):
    result = cli("list", "datasets")
    assert result.exit_code == 0 and "megc3" in result.output and "reallife-trial" in result.output


def test_acceptance_run_reallife_trial_on_annotations_alone(cli, tmp_path):
    F.write_reallife(tmp_path / "rlt")
    assert not (tmp_path / "rlt" / "Clips").exists()
    result = cli("run", "--dataset", "reallife-trial", "--root", tmp_path / "rlt", "--features", "mumin",
                 "--classifier", "logreg", "--protocol", "loso", "--json", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["n"] == 24 and out["uar"] > 0.8
