"""`mebench stats` on a run that cannot be written to (a read-only filesystem, an archive): the statistics are
computed and printed, with a note that nothing could be stored; never a traceback, and the run is left as it was."""
from __future__ import annotations

import errno
import shutil
import subprocess
import sys

import pytest
from _cli import ROOT, cli_env, run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from _api import run, small_spec

    base = tmp_path_factory.mktemp("ro-stats")
    run(small_spec(base / "run", dataset_opts={"subjects": 3}))
    return base / "run"


def _listing(folder):
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*"))


def test_stats_on_an_unwritable_run_prints_the_results_and_says_nothing_was_stored(run_dir, tmp_path, monkeypatch):
    import mebench.fsutil as fsutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = _listing(copy)
    monkeypatch.setattr(fsutil, "unwritable_reason", lambda folder: "Read-only file system")

    def refuse(path, data):  # nothing may even be tried inside the run
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(fsutil, "atomic_write_bytes", refuse)
    result = run_cli("stats", "--permutations", "20", "--bootstrap", "50", copy, catch_exceptions=True)
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "p vs chance" in text and "nothing could be stored in" in text and "Read-only file system" in text
    assert "written to" not in text and _listing(copy) == before
    as_json = run_cli("stats", "--permutations", "0", "--bootstrap", "50", "--json", copy)
    assert as_json.exit_code == 0 and '"stats_file": null' in as_json.stdout, as_json.output


def test_stats_on_a_read_only_mount(run_dir, tmp_path):
    """The real thing where the machine allows it: the run bind-mounted read-only in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount --bind {copy} {copy} && "
                            f"mount -o remount,bind,ro {copy}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("read-only bind mounts are not allowed here")
    script = (f"mount --bind {copy} {copy} && mount -o remount,bind,ro {copy} && "
              f"exec {sys.executable} -m mebench.cli stats --permutations 20 --bootstrap 50 {copy}")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env=cli_env({"MEBENCH_CACHE": str(tmp_path / "cache")}), timeout=600)
    text = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0 and "Traceback" not in text, text
    assert "nothing could be stored" in text and "Read-only file system" in text
    assert not (copy / "stats.json").exists()
