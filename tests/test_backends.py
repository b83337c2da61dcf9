"""Parallel engines: loky, a local Ray instance and a local Dask cluster give byte-identical predictions."""
from __future__ import annotations

import json

import pytest

SMALL = ("--dataset-opt", "subjects=4", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=12",
         "--no-cache", "--jobs", "2", "--json")


@pytest.fixture
def always_parallel(monkeypatch):
    """Small test runs would stay in one process; make every parallel loop use the workers."""
    from mebench import backends

    monkeypatch.setattr(backends, "MIN_PARALLEL_WORK_S", 0.0)


def _run(cli, out, *args):
    result = cli("run", *SMALL, "--out", out, *args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    return (out / "predictions.parquet").read_bytes(), manifest


@pytest.fixture(scope="module")
def loky_reference(tmp_path_factory):
    from click.testing import CliRunner

    from mebench import backends
    from mebench.cli import main

    old, backends.MIN_PARALLEL_WORK_S = backends.MIN_PARALLEL_WORK_S, 0.0
    try:
        out = tmp_path_factory.mktemp("loky") / "run"
        result = CliRunner().invoke(main, ["run", *SMALL, "--out", str(out), "--backend", "loky"])
        assert result.exit_code == 0, result.output
    finally:
        backends.MIN_PARALLEL_WORK_S = old
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["platform"]["folds_on_parallel_workers"] and manifest["features"]["chunks_on_parallel_workers"]
    return (out / "predictions.parquet").read_bytes()


def test_serial_run_equals_parallel_loky(cli, tmp_path, loky_reference):
    result = cli("run", *SMALL[:-3], "--jobs", "1", "--json", "--out", tmp_path / "serial")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "serial" / "predictions.parquet").read_bytes() == loky_reference


def test_dask_local_cluster_gives_loky_predictions(cli, tmp_path, always_parallel, loky_reference):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        data, manifest = _run(cli, tmp_path / "dask", "--backend", "dask")
    assert manifest["platform"]["backend"] == "dask" and manifest["platform"]["folds_on_parallel_workers"]
    assert data == loky_reference


def test_ray_local_instance_gives_loky_predictions(cli, tmp_path, always_parallel, loky_reference):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        data, manifest = _run(cli, tmp_path / "ray", "--backend", "ray")
    finally:
        ray.shutdown()
    assert manifest["platform"]["backend"] == "ray" and manifest["platform"]["folds_on_parallel_workers"]
    assert data == loky_reference


def test_plugins_work_on_parallel_workers(cli, tmp_path, always_parallel):
    plugin = tmp_path / "parallel_plugin.py"
    plugin.write_text(
        "import numpy as np\n"
        "from mebench.registry import EXTRACTORS\n"
        "from mebench.features import FeatureExtractor\n\n"
        "@EXTRACTORS.register('onset-apex-gap')\n"
        "class OnsetApexGap(FeatureExtractor):\n"
        "    requires = ('onset', 'apex')\n\n"
        "    def extract_one(self, row):\n"
        "        return np.array([float(row.apex - row.onset), float(row.onset)])\n")
    data, manifest = _run(cli, tmp_path / "plugin", "--plugins", plugin, "--features", "onset-apex-gap")
    assert manifest["features"]["chunks_on_parallel_workers"] and manifest["platform"]["folds_on_parallel_workers"]


def test_unknown_backend_is_refused(cli, monkeypatch):
    monkeypatch.setenv("MEBENCH_BACKEND", "spark")
    result = cli("run", "--dataset-opt", "subjects=3")
    assert result.exit_code == 2 and "spark" in result.output
