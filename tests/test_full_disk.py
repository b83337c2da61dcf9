"""A full disk, a file-size limit: the error names the path, what was done is kept, and a full feature cache
degrades to no cache with a warning (issue 18)."""
from __future__ import annotations

import errno
import json
import resource
import subprocess
import sys

from _cli import ROOT, cli_env, json_output, run_cli, small_opts

SMALL = small_opts(subjects=3)


def test_a_full_feature_cache_degrades_to_no_cache_with_a_warning(tmp_path, monkeypatch):
    import mebench.fsutil as fsutil

    cache = tmp_path / "cache"
    monkeypatch.setenv("MEBENCH_CACHE", str(cache))
    real = fsutil._atomic_write_bytes
    tried = []

    def full(path, data):
        if str(path).startswith(str(cache / "features")):
            tried.append(path)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(fsutil, "_atomic_write_bytes", full)
    result = run_cli("run", *SMALL, "--json", "--out", tmp_path / "run")
    payload = json_output(result)
    assert len(tried) == 1  # one failed write, then no more tries
    assert "warning: the feature cache at" in result.stderr and "is full (no space is left" in result.stderr
    assert any("feature cache" in w and "is full" in w for w in payload["warnings"])
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["features"]["cache_misses"] == 12 and not list((cache / "features").rglob("*.npy"))
    monkeypatch.setattr(fsutil, "_atomic_write_bytes", real)  # room again: the next run caches, without the warning
    again = run_cli("run", *SMALL, "--json", "--out", tmp_path / "run2")
    assert "feature cache" not in again.stderr and len(list((cache / "features").rglob("*.npy"))) == 12


def _limited(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_file_size_limit_while_writing_the_run_names_the_file_and_the_rerun_completes_it(tmp_path):
    """Under ``ulimit -f`` (EFBIG, a real process): fold shards fit, the predictions table does not."""
    out, env = tmp_path / "run", cli_env({"MEBENCH_CACHE": str(tmp_path / "cache")})
    args = [sys.executable, "-m", "mebench.cli", "run", *SMALL, "--no-cache", "--json", "--out", str(out)]
    cut = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, preexec_fn=_limited(2048),
                         timeout=600)
    text = " ".join(cut.stderr.split())
    assert cut.returncode == 1 and "Traceback" not in cut.stderr, cut.stderr
    assert f"cannot write {out}/predictions.parquet" in text and "file-size limit is reached (EFBIG" in text
    assert (out / "checkpoint" / "state.json").is_file() and not (out / "manifest.json").exists()
    shards = sorted(p.name for p in (out / "checkpoint" / "folds").iterdir())
    assert len(shards) == 3  # every finished fold is kept
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not (out / "checkpoint").exists() and (out / "manifest.json").is_file()
