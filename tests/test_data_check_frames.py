"""`mebench data check` decodes the frames a run reads and tells the truth about them: on a CASME II
tree written by `mebench data synth`, every kind of damaged frame is reported, and whenever the
check says OK the run on the same copy succeeds (and fails when a frame it reads is damaged)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

SYNTH = ["--dataset-opt", "subjects=3", "--dataset-opt", "clips_per_subject=4", "--dataset-opt", "frames=12"]


@pytest.fixture
def tree(cli, tmp_path):
    root = tmp_path / "casme2"
    result = cli("data", "synth", "--layout", "casme2", "--out", root, *SYNTH)
    assert result.exit_code == 0, result.output
    from mebench.registry import DATASETS

    samples = DATASETS.create("casme2", root=str(root)).load("emotion")
    return root, samples.reset_index(drop=True)


def _frame(samples, i: int, which: str) -> Path:
    row = samples.iloc[i]
    return Path(row["frames"]) / f"img{int(row[which])}.jpg"


def _middle(samples, i: int) -> Path:
    row = samples.iloc[i]
    between = [n for n in range(int(row["onset"]) + 1, int(row["offset"])) if n != int(row["apex"])]
    return Path(row["frames"]) / f"img{between[0]}.jpg"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _resize(path: Path) -> None:
    image = cv2.imread(str(path))
    cv2.imwrite(str(path), cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2)))


DAMAGE = {
    "truncated onset": (lambda s: _frame(s, 0, "onset"), _truncate, "cannot decode (truncated or corrupt file)"),
    "empty apex": (lambda s: _frame(s, 1, "apex"), lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "wrong-size apex": (lambda s: _frame(s, 2, "apex"), _resize, "all frames of a clip must share one size"),
    "deleted apex": (lambda s: _frame(s, 3, "apex"), Path.unlink, "is not on disk"),
    "garbage offset": (lambda s: _frame(s, 4, "offset"), lambda p: p.write_bytes(b"\xff\xd8 not a jpeg" * 40),
                       "cannot decode (truncated or corrupt file)"),
}


def _check(cli, root, *extra) -> tuple[int, dict]:
    result = cli("data", "check", "casme2", "--root", root, "--json", *extra)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.output)


def _run(cli, root, out) -> object:
    return cli("run", "--dataset", "casme2", "--root", root, "--task", "emotion", "--out", out, "--json")


def test_clean_copy_is_ok_and_runs(cli, tree, tmp_path):
    root, samples = tree
    code, summary = _check(cli, root)
    assert code == 0 and summary["ok"] and summary["frame_problems"] == []
    keys = {(r.frames, n) for r in samples.itertuples() for n in (r.onset, r.apex, r.offset)}
    assert summary["frames_decoded"] == len(keys)
    code, summary = _check(cli, root, "--frames", "all")
    assert code == 0 and summary["frames_decoded"] == 12 * 12
    assert _run(cli, root, tmp_path / "run").exit_code == 0


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_frame_the_run_reads_is_reported_and_stops_the_run(cli, tree, tmp_path, kind):
    root, samples = tree
    locate, damage, phrase = DAMAGE[kind]
    path = locate(samples)
    damage(path)
    code, summary = _check(cli, root)
    assert code == 1 and not summary["ok"]
    assert len(summary["frame_problems"]) == 1, summary["frame_problems"]
    (problem,) = summary["frame_problems"]
    assert phrase in problem and str(path.parent) in problem and problem in summary["errors"]
    assert kind == "deleted apex" or path.name in problem
    result = _run(cli, root, tmp_path / "run")
    if kind == "garbage offset":  # hoof reads onset and apex only: the run succeeds; lbptop would read it
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert str(path.parent) in " ".join(result.output.split())


def test_ok_means_the_run_succeeds_and_all_checks_every_frame(cli, tree, tmp_path):
    root, samples = tree
    hidden = _middle(samples, 5)  # a frame between onset and offset, neither apex: hoof never reads it
    _truncate(hidden)
    code, summary = _check(cli, root)
    assert code == 0 and summary["ok"]
    assert _run(cli, root, tmp_path / "run").exit_code == 0
    code, summary = _check(cli, root, "--frames", "all")
    assert code == 1 and len(summary["frame_problems"]) == 1 and hidden.name in summary["frame_problems"][0]
    text = cli("data", "check", "casme2", "--root", root).output
    assert "frames decoded:" in text and "--frames all decodes every frame" in text


def test_frames_none_skips_decoding(cli, tree):
    root, samples = tree
    _truncate(_frame(samples, 0, "onset"))
    code, summary = _check(cli, root, "--frames", "none")
    assert code == 0 and summary["frames_decoded"] == 0
