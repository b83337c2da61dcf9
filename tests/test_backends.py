"""Parallel engines: loky, a local Ray instance and a local Dask cluster give byte-identical predictions."""
from __future__ import annotations

import pytest

# frames=12: a little more work per clip than the usual small set; no cache: every run extracts on the workers
PARALLEL = {"dataset_opts": {"frames": 12}, "use_cache": False, "jobs": 2}


@pytest.fixture
def always_parallel(monkeypatch):
    """Small test runs would stay in one process; make every parallel loop use the workers."""
    from mebench import backends

    monkeypatch.setattr(backends, "MIN_PARALLEL_WORK_S", 0.0)


def _run(out, **fields):
    """A parallel run's predictions (bytes) and manifest."""
    from _api import run, small_spec

    result = run(small_spec(out, **{**PARALLEL, **fields}))
    return (out / "predictions.parquet").read_bytes(), result.manifest


@pytest.fixture(scope="module")
def loky_reference(tmp_path_factory):
    from mebench import backends

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backends, "MIN_PARALLEL_WORK_S", 0.0)
        data, manifest = _run(tmp_path_factory.mktemp("loky") / "run", backend="loky")
    assert manifest["platform"]["folds_on_parallel_workers"] and manifest["features"]["chunks_on_parallel_workers"]
    return data


def test_serial_run_equals_parallel_loky(tmp_path, loky_reference):
    data, _ = _run(tmp_path / "serial", jobs=1)
    assert data == loky_reference


def test_dask_local_cluster_gives_loky_predictions(tmp_path, always_parallel, loky_reference):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster):
        data, manifest = _run(tmp_path / "dask", backend="dask")
    assert manifest["platform"]["backend"] == "dask" and manifest["platform"]["folds_on_parallel_workers"]
    assert data == loky_reference


def test_ray_local_instance_gives_loky_predictions(tmp_path, always_parallel, loky_reference):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        data, manifest = _run(tmp_path / "ray", backend="ray")
    finally:
        ray.shutdown()
    assert manifest["platform"]["backend"] == "ray" and manifest["platform"]["folds_on_parallel_workers"]
    assert data == loky_reference


def test_plugins_work_on_parallel_workers(tmp_path, always_parallel):
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
    data, manifest = _run(tmp_path / "plugin", plugins=(str(plugin),), features="onset-apex-gap")
    assert manifest["features"]["chunks_on_parallel_workers"] and manifest["platform"]["folds_on_parallel_workers"]


def test_unknown_backend_is_refused(cli, monkeypatch):
    monkeypatch.setenv("MEBENCH_BACKEND", "spark")
    result = cli("run", "--dataset-opt", "subjects=3")
    assert result.exit_code == 2 and "spark" in result.output
