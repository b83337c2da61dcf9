"""Crash-safe runs: SIGKILL at random moments, resume, and get the uninterrupted run's predictions."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from _cli import json_output, run_cli, start_cli

# slow enough that kills land in extraction, in the folds and in the final writes
ARGS = ["run", "--dataset-opt", "subjects=8", "--dataset-opt", "clips_per_subject=6", "--dataset-opt", "frames=20",
        "--classifier", "rf", "--classifier-opt", "n_estimators=300", "--json"]


def _mebench(args, cache: Path, **kw):
    """A live run (to be killed) with its own feature cache: what a kill leaves there is part of the test."""
    return start_cli(*args, env={"MEBENCH_CACHE": str(cache)}, **kw)


def _finish(args, cache):
    return json_output(run_cli(*args, process=True, env={"MEBENCH_CACHE": str(cache)}, timeout=300))


def _leftovers(*folders) -> list[str]:
    return [str(p) for folder in folders for p in Path(folder).rglob("*") if p.name.endswith(".tmp")]


def test_sigkill_at_random_moments_then_resume_gives_identical_predictions(tmp_path):
    reference_dir = tmp_path / "reference"
    reference = _finish([*ARGS, "--out", str(reference_dir)], tmp_path / "cache-ref")
    assert reference["n"] == 48
    expected = (reference_dir / "predictions.parquet").read_bytes()
    t0 = time.perf_counter()
    _finish([*ARGS, "--out", str(tmp_path / "timing")], tmp_path / "cache-timing")
    duration = time.perf_counter() - t0

    rng = np.random.default_rng(11)
    moments = np.sort(rng.uniform(0.15, 0.95, size=5)) * duration
    for i, moment in enumerate(moments):
        out, cache = tmp_path / f"killed{i}", tmp_path / f"cache{i}"
        proc = _mebench([*ARGS, "--out", str(out)], cache)
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        started = (out / "checkpoint" / "state.json").is_file()  # else killed before the dataset was loaded
        if (out / "manifest.json").is_file():  # killed after the final write: finished, nothing to redo
            proc = _mebench([*ARGS, "--out", str(out)], cache)
            assert proc.wait(timeout=120) == 1 and "already holds files" in proc.stderr.read()
            payload = {"run_id": json.loads((out / "manifest.json").read_text())["run_id"]}
        elif i % 2 and started:  # resume either way: --resume, or the same command into the same --out
            payload = _finish(["run", "--resume", str(out), "--json"], cache)
        else:
            payload = _finish([*ARGS, "--out", str(out)], cache)
        assert (out / "predictions.parquet").read_bytes() == expected, f"kill at {moment:.2f} s"
        assert payload["run_id"] == reference["run_id"]
        assert not (out / "checkpoint").exists()
        assert _leftovers(out, cache) == []
    # one more kill, timed on the run's own progress: after its second fold shard, before it finishes
    out, cache = tmp_path / "killed-mid-folds", tmp_path / "cache-mid"
    proc = _mebench([*ARGS, "--out", str(out)], cache)
    deadline = time.monotonic() + 120
    while len(list((out / "checkpoint" / "folds").glob("*.fold"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (out / "manifest.json").exists()
    _finish(["run", "--resume", str(out), "--json"], cache)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resume"]["folds_resumed"] >= 2 and manifest["resume"]["features_from_cache"] == 48
    assert manifest["resume"]["first_started"] <= manifest["started"]  # the killed session came first
    assert (out / "predictions.parquet").read_bytes() == expected


def test_finished_run_is_not_resumed_or_overwritten(tmp_path, cli):
    out = tmp_path / "run"
    small = ("--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=10")
    assert cli("run", *small, "--out", out).exit_code == 0
    again = cli("run", *small, "--out", out)
    assert again.exit_code == 1 and "already holds files" in again.output
    res = cli("run", "--resume", out)
    assert res.exit_code == 1 and "finished run" in res.output
    res = cli("run", "--resume", out, "--features", "hoof")
    assert res.exit_code == 2 and "drop --features" in res.output
    res = cli("run", "--resume", out, "--on-error", "skip")
    assert res.exit_code == 2 and "drop --on-error" in res.output


def test_interrupted_run_of_another_config_is_refused_once_a_fold_finished(tmp_path, cli):
    from mebench.checkpoint import RunCheckpoint

    out = tmp_path / "run"
    RunCheckpoint(out, {"run_id": "something-else", "config": {}}).open().close()
    (out / "checkpoint" / "folds").mkdir()
    (out / "checkpoint" / "folds" / "0000.fold").write_bytes(b"a finished fold")
    res = cli("run", "--dataset-opt", "subjects=3", "--out", out)
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "another configuration or dataset" in text and "remove" in text
    assert "Traceback" not in res.output


def test_a_run_that_failed_before_any_fold_can_be_rerun_with_other_options(tmp_path, cli):
    """A run stopped by a bad sample leaves no finished fold: re-running with the error's advice
    (another configuration) starts afresh in the same --out instead of being refused."""
    from mebench.checkpoint import RunCheckpoint

    out = tmp_path / "run"
    RunCheckpoint(out, {"run_id": "stopped-before-any-fold", "config": {}}).open().close()
    small = ("--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=10")
    res = cli("run", *small, "--out", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "metrics.json", "predictions.parquet"]


def test_resume_refuses_shards_made_by_other_code(tmp_path):
    """Finished folds of a run whose plugin file (or mebench) changed since are never mixed in."""
    from mebench.checkpoint import RunCheckpoint
    from mebench.errors import RunStoreError

    plugin = tmp_path / "plugin.py"
    plugin.write_text("x = 1\n")
    from mebench.run import code_identity

    state = {"run_id": "r", "config": {}, "code": code_identity([plugin])}
    RunCheckpoint(tmp_path / "run", state).open().close()
    (tmp_path / "run" / "checkpoint" / "folds").mkdir()
    (tmp_path / "run" / "checkpoint" / "folds" / "0000.fold").write_bytes(b"a finished fold")
    RunCheckpoint(tmp_path / "run", dict(state, code=code_identity([plugin]))).open().close()  # same code: fine
    plugin.write_text("x = 2\n")
    with pytest.raises(RunStoreError, match=r"plugin file .*plugin\.py changed"):
        RunCheckpoint(tmp_path / "run", dict(state, code=code_identity([plugin]))).open()


def test_a_damaged_state_file_is_a_clear_error(tmp_path, cli):
    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "state.json").write_text("[1, 2]")
    res = cli("run", "--resume", out)
    assert res.exit_code == 1 and "is damaged" in res.output and "Traceback" not in res.output


def test_a_locked_run_directory_is_refused(tmp_path, cli):
    from mebench.checkpoint import RunCheckpoint
    from mebench.errors import RunStoreError

    holder = RunCheckpoint(tmp_path / "run", {"run_id": "x", "config": {}}).open()
    try:
        with pytest.raises(RunStoreError, match="another mebench process"):
            RunCheckpoint(tmp_path / "run", {"run_id": "x", "config": {}}).open()
    finally:
        holder.close()


def test_two_concurrent_runs_into_one_results_folder_both_land(tmp_path):
    """Two processes, same config, default output folder: two complete run directories, nothing mixed."""
    env_cwd = tmp_path / "lab"
    env_cwd.mkdir()
    args = ["run", "--dataset-opt", "subjects=4", "--dataset-opt", "clips_per_subject=4", "--json"]
    procs = [_mebench(args, tmp_path / "cache", cwd=env_cwd) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    dirs = sorted({json.loads(o[0][o[0].index("{"):])["run_dir"] for o in outs})
    assert len(dirs) == 2
    payloads = []
    for d in dirs:
        run = env_cwd / d
        assert sorted(p.name for p in run.iterdir()) == ["manifest.json", "metrics.json", "predictions.parquet"]
        manifest = json.loads((run / "manifest.json").read_text())
        payloads.append((run / "predictions.parquet").read_bytes())
        from mebench.store import open_run

        open_run(run)  # every file matches its hash
        assert manifest["run_id"] in d
    assert payloads[0] == payloads[1]


def test_fold_shards_round_trip_and_damaged_ones_are_recomputed(tmp_path):
    from mebench.checkpoint import RunCheckpoint

    checkpoint = RunCheckpoint(tmp_path / "run", {"run_id": "r"}).open()
    scores, pred = np.random.default_rng(0).random((7, 3)), np.array([0, 2, 1, 1, 0, 2, 2])
    key = checkpoint.fold_key("sub01", ["a", "b"], ["c"])
    checkpoint.save_fold(0, key, scores, pred, "training fold lacks 1 class(es); their scores are 0")
    got_scores, got_pred, note = checkpoint.load_fold(0, key, 7, 3)
    np.testing.assert_array_equal(got_scores, scores)
    np.testing.assert_array_equal(got_pred, pred)
    assert note.startswith("training fold lacks") and got_scores.flags.writeable
    checkpoint.save_fold(1, key, scores[:2], pred[:2], None)
    assert checkpoint.load_fold(1, key, 2, 3)[2] is None
    assert checkpoint.load_fold(0, checkpoint.fold_key("sub01", ["a"], ["c"]), 7, 3) is None  # other samples
    assert checkpoint.load_fold(0, key, 7, 4) is None and checkpoint.load_fold(0, key, 6, 3) is None  # other shapes
    checkpoint.save_fold(2, key, scores, np.array([0, 2, 1, 1, 0, 2, 3]), None)
    assert checkpoint.load_fold(2, key, 7, 3) is None  # a predicted code outside the label set
    shard = tmp_path / "run" / "checkpoint" / "folds" / "0000.fold"
    whole = shard.read_bytes()
    flipped = whole[:-9] + bytes([whole[-9] ^ 1]) + whole[-8:]  # one bit of the scores, same length
    for damaged in (whole[:-5], whole[:30], b"", b"not a shard\n" + whole, whole.replace(b'"scores"', b'"score"'),
                    flipped):
        shard.write_bytes(damaged)
        assert checkpoint.load_fold(0, key, 7, 3) is None
    assert checkpoint.load_fold(5, key, 7, 3) is None  # never written
    checkpoint.close()


def test_shards_of_an_earlier_format_are_not_discarded_by_a_changed_run(tmp_path):
    from mebench.checkpoint import RunCheckpoint
    from mebench.errors import RunStoreError

    RunCheckpoint(tmp_path / "run", {"run_id": "r", "config": {}}).open().close()
    (tmp_path / "run" / "checkpoint" / "folds").mkdir()
    (tmp_path / "run" / "checkpoint" / "folds" / "0000.npz").write_bytes(b"a fold finished by an earlier mebench")
    with pytest.raises(RunStoreError, match="cannot be reused"):
        RunCheckpoint(tmp_path / "run", {"run_id": "another", "config": {}}).open()
    assert (tmp_path / "run" / "checkpoint" / "folds" / "0000.npz").is_file()


SLOW_PLUGIN = '''
import os
import time

import numpy as np
from mebench.features.base import FeatureExtractor
from mebench.registry import EXTRACTORS


@EXTRACTORS.register("slow-mean")
class SlowMean(FeatureExtractor):
    """The length of the sample id, once the file $HOLD_UNTIL exists: keeps a run busy while a second one arrives."""

    def extract_one(self, row):
        while not os.path.exists(os.environ["HOLD_UNTIL"]):
            time.sleep(0.05)
        return np.array([float(len(str(row.sample_id)))])
'''


def test_one_out_belongs_to_one_run_and_a_second_process_is_refused_naming_the_holder(tmp_path, cli):
    """Issue 18: two runs with different configs and one --out. The second is refused at once, naming the first's
    pid, while the first runs; the first completes with its own results; a finished run is never reopened."""
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PLUGIN)
    out = tmp_path / "run"
    first = start_cli("run", "--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--plugins",
                      plugin, "--features", "slow-mean", "--no-cache", "--out", out,
                      env={"MEBENCH_CACHE": str(tmp_path / "cache"), "HOLD_UNTIL": str(tmp_path / "go")})
    try:
        deadline = time.time() + 120
        while not (out / "checkpoint" / "state.json").exists() and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)  # the interrupted-run look that let the second run in before
        assert first.poll() is None, first.communicate()
        second = cli("run", "--dataset-opt", "subjects=3", "--classifier", "ridge", "--out", out)
        assert second.exit_code == 1 and f"pid {first.pid}" in second.output, second.output
        assert "belongs to a mebench run in progress" in second.output  # at once: the first is blocked till "go"
        (tmp_path / "go").touch()
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["features"] == "slow-mean" and manifest["config"]["classifier"] == "logreg"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "metrics.json", "predictions.parquet"]
    again = cli("run", "--dataset-opt", "subjects=3", "--classifier", "ridge", "--out", out)
    assert again.exit_code == 1 and "never overwrites a run" in again.output


def test_a_directory_claimed_by_a_run_that_then_failed_is_free_again(tmp_path, cli):
    out = tmp_path / "run"
    bad = cli("run", "--dataset-opt", "subjects=3", "--features-opt", "bins=many", "--out", out)
    assert bad.exit_code == 1 and not any(out.iterdir())  # no owner file left behind
    good = cli("run", "--dataset-opt", "subjects=3", "--out", out)
    assert good.exit_code == 0, good.output


SEGFAULT_PLUGIN = '''
import ctypes

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from mebench.registry import CLASSIFIERS


@CLASSIFIERS.register("segfaults")
class SegfaultsInFit(ClassifierMixin, BaseEstimator):
    """Crashes the process (SIGSEGV) in its second fold, as a broken compiled extension would."""

    def fit(self, X, y):
        import os

        marker = os.environ["SEGV_MARKER"]
        if os.path.exists(marker):
            ctypes.string_at(0)  # reads address 0: a segmentation fault
        open(marker, "w").close()
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))

    def predict(self, X):
        return np.zeros(len(X), dtype=int)
'''


def test_a_plugin_crashing_the_process_ends_with_a_message_naming_it_and_the_checkpoint(tmp_path):
    plugin = tmp_path / "segv.py"
    plugin.write_text(SEGFAULT_PLUGIN)
    out = tmp_path / "run"
    result = run_cli("run", "--dataset-opt", "subjects=3", "--plugins", plugin, "--classifier", "segfaults", "--out",
                     out, process=True, env={"SEGV_MARKER": str(tmp_path / "fitted-once"),
                                             "MEBENCH_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == -signal.SIGSEGV, result.output
    text = " ".join(result.stderr.split())
    assert "died without finishing" in text and "pipeline SegfaultsInFit was fitting and predicting fold" in text
    assert f"{out}/checkpoint/" in text and f"mebench run --resume {out}" in text
    assert (out / "checkpoint" / "state.json").is_file() and len(list((out / "checkpoint" / "folds").iterdir())) == 1
