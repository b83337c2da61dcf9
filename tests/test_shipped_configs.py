"""Configs and suites ship inside the package and resolve by name from any directory."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from _cli import ROOT, run_cli

from mebench.config import BUNDLED_DIR, bundled_configs, bundled_path, find_config
from mebench.errors import ConfigError, UnknownNameError


def run_process(*args, cwd):
    """``mebench ARGS`` in a real process started in ``cwd`` (not the repository)."""
    return run_cli(*args, cwd=cwd, process=True)


SMALL = ("--dataset-opt", "subjects=4", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=10")


def test_the_shipped_configs_are_in_the_package():
    shipped = bundled_configs()
    assert {"synthetic-loso", "synthetic-null-loso"} <= set(shipped["protocols"])
    assert {"hoof-ridge", "hoof-logreg", "majority", "seed-fpf-tmfe-au-logreg"} <= set(shipped["baselines"])
    assert {"synthetic", "synthetic-quick", "casme2"} <= set(shipped["suites"])
    names = [n for kind in ("protocols", "baselines") for n in shipped[kind]]
    assert len(names) == len(set(names)), "a config name must mean one file"
    assert not (ROOT / "protocols").exists() and not (ROOT / "baselines").exists(), "one copy: the package's"


def test_committed_suites_are_the_shipped_ones():
    """The leaderboard folder keeps its record of each suite; it must be the suite mebench ships."""
    for path in sorted((ROOT / "leaderboard" / "suites").glob("*.yaml")):
        assert path.read_bytes() == (BUNDLED_DIR / "suites" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("name", ["hoof-ridge", "hoof-ridge.yaml", "baselines/hoof-ridge.yaml"])
def test_a_config_name_resolves_from_anywhere(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_config(name) == BUNDLED_DIR / "baselines" / "hoof-ridge.yaml"


def test_a_path_that_exists_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hoof-ridge.yaml").write_text("features: lbptop\n")
    assert find_config("hoof-ridge.yaml") == Path("hoof-ridge.yaml")
    assert find_config("hoof-ridge") == BUNDLED_DIR / "baselines" / "hoof-ridge.yaml"  # a bare name: shipped


def test_unknown_config_names_are_usage_errors_with_suggestions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownNameError, match="Did you mean 'synthetic-loso'"):
        find_config("synthetic-los")
    with pytest.raises(ConfigError, match="does not exist"):
        find_config("missing/nope.yaml")
    assert bundled_path("../pyproject.toml") is None and bundled_path("/etc/passwd") is None


def test_run_and_list_from_another_directory(tmp_path):
    """`mebench run --config NAME` and `--config protocols/x.yaml` work outside the repository."""
    res = run_process("run", "--config", "protocols/synthetic-loso.yaml", "--config", "hoof-ridge", *SMALL,
                      "--out", "r", "--json", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["config"]["classifier"] == "ridge" and manifest["config"]["classifier_opts"] == {"alpha": 10.0}
    listed = run_process("list", "configs", cwd=tmp_path)
    assert listed.exit_code == 0
    for name in ("synthetic-loso", "hoof-ridge", "synthetic-quick"):
        assert name in listed.stdout
    bad = run_process("run", "--config", "hoof-rige", cwd=tmp_path)
    assert bad.exit_code == 2 and "Did you mean 'hoof-ridge'" in bad.stderr


def test_bench_a_shipped_suite_from_another_directory(tmp_path):
    """`mebench bench --suite NAME` finds the shipped suite, records a copy beside its runs, and the board
    builds and verifies; the suite's `baselines/...` entries resolve with no repository around."""
    suite = tmp_path / "tiny.yaml"  # the shipped quick suite, smaller still (names: shipped configs)
    suite.write_text("name: tiny\nprotocols:\n  - {name: tiny-loso, dataset: synthetic, task: deception,\n"
                     "     dataset_opts: {subjects: 4, clips_per_subject: 4, frames: 10}}\n"
                     "pipelines: [baselines/hoof-ridge.yaml, majority]\n")
    res = run_process("bench", "--suite", str(suite), "--board", "b", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "b" / "runs" / "tiny").iterdir())) == 2

    res = run_process("bench", "--suite", "synthetic-quick", "--board", "q", "--dataset-opt", "subjects=4",
                      "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=10", cwd=tmp_path)
    assert res.exit_code == 0, res.output
    copy = tmp_path / "q" / "suites" / "synthetic-quick.yaml"
    assert copy.read_bytes() == (BUNDLED_DIR / "suites" / "synthetic-quick.yaml").read_bytes()
    assert run_process("leaderboard", "build", "--board", "q", cwd=tmp_path).exit_code == 0
    verified = run_process("leaderboard", "verify", "q", cwd=tmp_path)
    assert verified.exit_code == 0, verified.output

    unknown = run_process("bench", "--suite", "synthetic-quik", cwd=tmp_path)
    assert unknown.exit_code == 2 and "Did you mean 'synthetic-quick'" in unknown.stderr


def test_a_different_suite_of_that_name_on_the_board_is_refused(tmp_path):
    from mebench.leaderboard.suites import record_suite

    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "synthetic-quick.yaml").write_text("name: synthetic-quick\n")
    with pytest.raises(ConfigError, match="differently"):
        record_suite(BUNDLED_DIR / "suites" / "synthetic-quick.yaml", "synthetic-quick", tmp_path)


def test_the_wheel_ships_the_configs(tmp_path):
    """An installed (not editable) mebench has its configs: they are package data of the wheel."""
    pytest.importorskip("setuptools")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("mebench-*.whl")
    members = set(zipfile.ZipFile(wheel).namelist())
    for kind, configs in bundled_configs().items():
        for name, path in configs.items():
            assert f"mebench/configs/{kind}/{path.name}" in members, name
