"""No surprises in long work (issue 19, section 3): progress with an ETA, piped progress lines,
interruptions that say how to resume, abandoned staging folders cleaned, one error prefix, and
mebench's own synthetic sheet recognised."""
from __future__ import annotations

import io
import os
import signal
import time

import pytest
from _cli import run_cli, small_opts, start_cli

from mebench.progress import Progress, RunProgress


# ---- the one progress helper ----
def test_piped_progress_prints_a_line_every_interval_with_an_eta_and_a_last_line():
    stream = io.StringIO()
    with Progress(stream=stream, interval=0.05, terminal=False) as display:
        task = display.task("columns", unit="columns")
        task.update(0, 4)
        for done in range(1, 5):
            time.sleep(0.08)
            task.update(done, 4)
        task.close()
    lines = stream.getvalue().splitlines()
    assert any("columns: " in line and "/4 columns" in line and "ETA" in line for line in lines), lines
    assert lines[-1].startswith("columns: 4/4 columns in "), lines


def test_a_short_step_prints_nothing_when_piped_and_an_untouched_step_never_shows():
    stream = io.StringIO()
    with Progress(stream=stream, interval=5, terminal=False) as display:
        display.task("never updated")
        task = display.task("quick", unit="clips")
        task.update(3, 3)
    assert stream.getvalue() == ""


def test_on_a_terminal_the_bar_shows_count_and_eta():
    stream = io.StringIO()
    with Progress(stream=stream, terminal=True, transient=False) as display:
        task = display.task("data synth", unit="clips")
        task.update(1, 10)
        time.sleep(0.05)
        task.update(5, 10)
    text = stream.getvalue()
    assert "data synth" in text and "5/10" in text and "ETA" in text


def test_an_interrupted_display_marks_reported_steps_stopped():
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with Progress(stream=stream, interval=0.02, terminal=False) as display:
            steps = RunProgress(display, "hoof+logreg · loso")
            steps.samples(3, 10)
            time.sleep(0.1)
            raise KeyboardInterrupt
    assert stream.getvalue().splitlines()[-1].endswith("(stopped)")
    assert "hoof+logreg · loso · features: 3/10 samples" in stream.getvalue()


def test_run_counts_feature_extraction_in_samples_when_piped(tmp_path):
    result = run_cli("run", *small_opts(), "--no-cache", "--out", tmp_path / "run",
                     env={"MEBENCH_PROGRESS_INTERVAL": "0.05"}, check=True)
    out = result.output
    assert "hoof+logreg · loso · features: " in out and "/16 samples" in out, out
    assert "folds: 4/4 folds in" in out and "0/?" not in out


def test_data_synth_counts_clips_and_names_its_sheet_as_mebench_own(tmp_path):
    out = tmp_path / "synth"
    result = run_cli("data", "synth", "--out", out, "--dataset-opt", "subjects=2", "--dataset-opt",
                     "clips_per_subject=6", "--dataset-opt", "frames=6", "--dataset-opt", "size=32",
                     env={"MEBENCH_PROGRESS_INTERVAL": "0.02"}, check=True)
    assert "data synth: " in result.output and "/12 clips" in result.output
    assert "emotions in the sheet:" in result.output
    from mebench.data.casme2 import CASME2
    from mebench.data.synthetic import SYNTHETIC_SHEET_VERSION

    ds = CASME2(root=str(out))
    samples = ds.load("emotion")
    assert len(samples) == 12
    assert not [w for w in ds.warnings if "unrecognised annotation version" in w], ds.warnings
    assert list(ds.sheet_versions.values()) == [SYNTHETIC_SHEET_VERSION]
    n_sad = int((samples["label"] == "sadness").sum())
    if n_sad:  # the 5-class set drops sadness as for the real corpus, and synth says so with the count
        assert f"drops sadness ({n_sad} of 12 clips)" in result.output and "labels=all" in result.output
        five = CASME2(root=str(out), labels="5class")
        assert len(five.load("emotion")) == 12 - n_sad


def test_a_sheet_not_written_by_mebench_still_warns(tmp_path):
    from openpyxl import Workbook

    from mebench.data.synthetic import is_synthetic_sheet

    wb = Workbook()
    wb.properties.creator = "someone else"
    wb.save(tmp_path / "x.xlsx")
    assert not is_synthetic_sheet(tmp_path / "x.xlsx")
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    assert not is_synthetic_sheet(tmp_path / "bad.xlsx")


# ---- messages ----
def test_every_error_starts_with_one_lower_case_prefix():
    usage = run_cli("run", "--bogus")
    assert usage.exit_code == 2 and "error: No such option '--bogus'" in usage.output and "Error:" not in usage.output
    ours = run_cli("run", "--task", "emotions")
    assert ours.exit_code == 2 and ours.output.startswith("error:") and "Error:" not in ours.output
    missing = run_cli("leaderboard", "verify")
    assert missing.exit_code == 2 and "error: Missing argument" in missing.output


# ---- interruptions ----
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_says_how_to_resume_with_the_conventional_status(tmp_path, sig, code):
    # enough work that the run is still going when the signal arrives, however fast the machine (it is stopped
    # at its first progress line, so the size costs nothing)
    proc = start_cli("run", *small_opts(subjects=24, clips_per_subject=40, frames=48), "--no-cache",
                     "--out", tmp_path / "run", env={"MEBENCH_PROGRESS_INTERVAL": "0.1"})
    try:
        first = proc.stderr.readline()  # the first progress line: the run is working
        assert "features" in first or "folds" in first, first
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "interrupted: run the same command again to resume" in err
    assert "Aborted!" not in err and "Traceback" not in err


# ---- abandoned staging folders ----
def test_abandoned_staging_folders_are_removed_and_held_ones_kept(tmp_path):
    from mebench.fsutil import lock_file
    from mebench.leaderboard.suites import STAGING_LOCK, clean_staging

    staging = tmp_path / "board" / ".staging"
    abandoned = staging / "synthetic-abandoned"
    (abandoned / "run").mkdir(parents=True)
    (abandoned / STAGING_LOCK).write_text("")
    old_unlocked = staging / "synthetic-old"
    old_unlocked.mkdir()
    past = time.time() - 3600
    os.utime(old_unlocked, (past, past))
    young_unlocked = staging / "synthetic-starting"
    young_unlocked.mkdir()
    held = staging / "synthetic-running"
    held.mkdir()
    holder = open(held / STAGING_LOCK, "a+")
    lock_file(holder)
    try:
        assert clean_staging(staging) == 2
    finally:
        holder.close()
    assert sorted(p.name for p in staging.iterdir()) == ["synthetic-running", "synthetic-starting"]


def test_bench_cleans_an_interrupted_bench_staging_before_running(tmp_path):
    board = tmp_path / "board"
    (board / "suites").mkdir(parents=True)
    (board / "suites" / "tiny.yaml").write_text(
        "name: tiny\ndescription: one tiny pipeline\nseed: 0\nmetrics: [uf1]\n"
        "protocols:\n  - {dataset: synthetic, protocol: loso, dataset_opts: {subjects: 3, clips_per_subject: 4, "
        "frames: 8, size: 32}}\n"
        "pipelines:\n  - {features: hoof, classifier: ridge, features_opts: {size: 32, grid: 4}}\n")
    left = board / ".staging" / "tiny-killed" / "run" / "checkpoint"
    left.mkdir(parents=True)
    (board / ".staging" / "tiny-killed" / ".lock").write_text("")
    result = run_cli("bench", "--suite", "tiny", "--board", board, check=True)
    assert "removed 1 staging folder(s) left by an interrupted bench" in result.output
    assert not (board / ".staging").exists()
    assert len(list((board / "runs" / "tiny").iterdir())) == 1


def test_a_net_inside_bench_reports_its_epochs(tmp_path):
    board = tmp_path / "board"
    (board / "suites").mkdir(parents=True)
    (board / "suites" / "net.yaml").write_text(
        "name: net\ndescription: a tiny net\nseed: 0\nmetrics: [uf1]\n"
        "protocols:\n  - {dataset: synthetic, protocol: loso, dataset_opts: {subjects: 3, clips_per_subject: 4, "
        "frames: 8, size: 32}}\n"
        "pipelines:\n  - {features: hoof, classifier: mlp, features_opts: {size: 32, grid: 4}, "
        "classifier_opts: {epochs: 40, hidden: 4}}\n")
    result = run_cli("bench", "--suite", "net", "--board", board, env={"MEBENCH_PROGRESS_INTERVAL": "0.02"},
                     check=True)
    assert "[1/1] hoof+mlp · epochs" in result.output and " epochs (" in result.output, result.output


# ---- every long command reports, also when piped ----
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from _leaderboard_helpers import ridge

    base = tmp_path_factory.mktemp("long")
    return ridge(base / "a", 1.0), ridge(base / "b", 100.0)


def test_leaderboard_verify_compare_and_report_count_their_work(two_runs, tmp_path, monkeypatch):
    """Each long command hands the shared display a count with a total (the display's timing is tested above)."""
    import time

    from mebench.leaderboard import tables
    from mebench.leaderboard.report import render_report
    from mebench.leaderboard.verify import verify
    from mebench.stats.runs import compare_runs

    cells = tables._column_cells  # a column that takes longer than one display interval, however warm the caches
    monkeypatch.setattr(tables, "_column_cells", lambda *args, **kw: (time.sleep(0.2), cells(*args, **kw))[1])
    a, b = two_runs
    record = tmp_path / "board.json"
    table = run_cli("leaderboard", a, b, "--bootstrap", 300, "--permutations", 300, "--format", "json", "--out",
                    record, env={"MEBENCH_PROGRESS_INTERVAL": "0.01"}, check=True)
    assert "leaderboard uf1: " in table.output and "/1 columns" in table.output

    def recorder():
        calls = []
        return calls, lambda done, total=None: calls.append((done, total))

    calls, cb = recorder()
    verify(record, progress=cb)
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)
    calls, cb = recorder()
    compare_runs([a, b], ["uf1", "uar"], 100, 100, progress=cb)
    assert calls[0] == (0, 2) and calls[-1] == (2, 2)
    calls, cb = recorder()
    render_report(a, n_resamples=100, progress=cb)
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)


def test_an_interrupted_data_synth_leaves_no_half_tree_and_the_same_command_completes(tmp_path):
    out = tmp_path / "synth"
    args = ("data", "synth", "--out", out, "--dataset-opt", "subjects=8", "--dataset-opt", "clips_per_subject=10",
            "--dataset-opt", "frames=60")  # still writing when the signal arrives, however fast the machine
    proc = start_cli(*args, env={"MEBENCH_PROGRESS_INTERVAL": "0.1"})
    try:
        assert "data synth: " in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted: run the same command again to resume" in err
    assert not out.exists() and (tmp_path / ".synth.partial").is_dir()
    again = run_cli(*args, check=True)
    assert f"to {out}" in again.output and not (tmp_path / ".synth.partial").exists()
    assert len(list((out / "CASME2_RAW_selected").glob("sub*/*"))) == 80


def test_the_eta_counts_only_work_done_since_the_step_started():
    """Samples served from the cache (or folds from a checkpoint) are done at the first update; they must
    not make the remaining work look instantaneous."""
    display = Progress(enabled=False)
    task = display.task("features", unit="samples")
    task.update(90, 100)  # 90 cached
    assert task.eta() is None
    task.started -= 10.0  # ten seconds later, five more samples computed
    task.update(95, 100)
    assert task.eta() == pytest.approx(10.0, rel=0.05)
