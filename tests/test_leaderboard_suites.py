"""Suites, `mebench bench`, `leaderboard build` / `verify` / `add`, and the committed leaderboard."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _cli import BOARD_HOOF, run_cli, start_cli
from _leaderboard_helpers import edit_prediction, rehash, ridge, run, with_file_hashes

REPO = Path(__file__).resolve().parents[1]
TINY = """\
name: tiny
description: Two tiny synthetic datasets (effect 0.9 and a null one) under LOSO.
metrics: [uf1, auc]
seed: 0
protocols:
  - name: effect
    dataset: synthetic
    dataset_opts: {subjects: 5, clips_per_subject: 4, frames: 8, size: 32, effect: 0.9}
    task: deception
    protocol: loso
  - name: "null"
    dataset: synthetic
    dataset_opts: {subjects: 5, clips_per_subject: 4, frames: 8, size: 32, effect: 0.0}
    task: deception
    protocol: loso
pipelines:
  - {name: ridge-1, features: hoof, features_opts: {size: 32, grid: 4}, classifier: ridge, classifier_opts: {alpha: 1}}
  - {name: ridge-100, features: hoof, features_opts: {size: 32, grid: 4}, classifier: ridge,
     classifier_opts: {alpha: 100}}
  - {name: majority, features: hoof, features_opts: {size: 32, grid: 4}, classifier: majority}
"""


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _outputs(board: Path) -> dict:
    """README, LaTeX tables and figures of a built leaderboard folder."""
    out = {"README.md": (board / "README.md").read_bytes()}
    for sub in ("tables", "figures"):
        if (board / sub).is_dir():
            out.update({f"{sub}/{k}": v for k, v in _tree(board / sub).items()})
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tiny suite benched and built twice from scratch in two separate leaderboard folders."""
    base = tmp_path_factory.mktemp("suite")
    boards = []
    for i in (1, 2):
        board = base / f"board{i}"
        (board / "suites").mkdir(parents=True)
        (board / "suites" / "tiny.yaml").write_text(TINY)
        res = run_cli("bench", "--suite", "tiny", "--board", board,
                      env={"MEBENCH_CACHE": str(base / f"cache{i}")})  # from scratch: no shared feature cache
        assert res.exit_code == 0, res.output
        assert "6 run(s) added" in res.output
        res = run_cli("leaderboard", "build", "--board", board)
        assert res.exit_code == 0, res.output
        boards.append(board)
    return boards


def test_bench_stores_runs_and_pins(built):
    board = built[0]
    runs = sorted((board / "runs" / "tiny").iterdir())
    assert len(runs) == 6 and all((r / "predictions.parquet").is_file() for r in runs)
    pins = json.loads((board / "pins.json").read_text())["pins"]
    assert len(pins) == 2 and {p["protocol"] for p in pins} == {"loso"}
    readme = (board / "README.md").read_text()
    assert "## tiny" in readme and "### uf1" in readme and "### auc" in readme
    assert (board / "tables" / "tiny-uf1.tex").is_file() and (board / "figures" / "tiny-cd-uf1.png").is_file()
    # running the suite again resumes: every pair is already stored
    res = run_cli("bench", "--suite", "tiny", "--board", board)
    assert res.exit_code == 0 and "0 run(s) added, 6 already stored" in res.output


def test_rebuild_changes_no_byte(built, tmp_path):
    board = built[0]
    before = _tree(board)
    res = run_cli("leaderboard", "build", "--board", board)
    assert res.exit_code == 0, res.output
    assert _tree(board) == before


def test_rebuild_from_scratch_reproduces_tables_byte_for_byte(built):
    first, second = (_outputs(b) for b in built)
    assert sorted(first) == sorted(second)
    for name in first:
        assert first[name] == second[name], f"{name} differs between two builds from scratch"


def test_verify_passes_and_fails_on_an_edited_prediction(built, tmp_path):
    board = built[0]
    res = run_cli("leaderboard", "verify", board)
    assert res.exit_code == 0, res.output
    assert "verified 12 cell(s) of 2 table(s) from 6 run(s)" in res.output
    copy = tmp_path / "copy"
    shutil.copytree(board, copy)
    run_dir = next(p for p in sorted((copy / "runs" / "tiny").iterdir()) if "ridge" in p.name)
    edit_prediction(run_dir, row=2)
    res = run_cli("leaderboard", "verify", copy)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"predictions.parquet of run runs/tiny/{run_dir.name} was modified" in res.output
    assert "cell hoof+ridge[" in res.output
    # a hand-edited table is caught too
    copy2 = tmp_path / "copy2"
    shutil.copytree(board, copy2)
    tex = copy2 / "tables" / "tiny-uf1.tex"
    tex.write_text(tex.read_text().replace("\\textbf{", "\\textbf{1", 1))
    res = run_cli("leaderboard", "verify", copy2)
    assert res.exit_code == 1 and "output tables/tiny-uf1.tex" in res.output


def test_verify_fails_on_an_emptied_table_and_on_a_run_left_out(built, tmp_path):
    board = built[0]
    emptied = tmp_path / "emptied"
    shutil.copytree(board, emptied)
    record = json.loads((emptied / "leaderboard.json").read_text())
    record["tables"][0]["cells"] = []
    (emptied / "leaderboard.json").write_text(json.dumps(record))
    res = run_cli("leaderboard", "verify", emptied)
    assert res.exit_code == 1 and "holds no cells" in res.output and "Traceback" not in res.output
    # a run stored after the build (or hidden during it) is absent from every table: caught
    partial = tmp_path / "partial"
    shutil.copytree(board, partial)
    left_out = sorted((partial / "runs" / "tiny").iterdir())[0]
    aside = tmp_path / "aside"
    shutil.move(str(left_out), str(aside))
    assert run_cli("leaderboard", "build", "--board", partial).exit_code == 0
    shutil.move(str(aside), str(left_out))
    res = run_cli("leaderboard", "verify", partial)
    assert res.exit_code == 1 and f"run runs/tiny/{left_out.name} is stored" in res.output


def test_committed_leaderboard_rebuilds_byte_for_byte(tmp_path):
    committed = REPO / "leaderboard"
    copy = tmp_path / "leaderboard"
    shutil.copytree(committed, copy)
    res = run_cli("leaderboard", "build", "--board", copy)
    assert res.exit_code == 0, res.output
    built = _tree(copy)
    for name, data in built.items():
        if name == "leaderboard.json" and not (committed / name).is_file():
            continue
        assert (committed / name).is_file(), f"leaderboard build writes {name}, which is not committed"
        assert (committed / name).read_bytes() == data, f"rebuilding changes {name}"
    stored = sorted((committed / "runs").glob("*/*/manifest.json")) if (committed / "runs").is_dir() else []
    if not stored:
        assert "No runs are stored yet" in (committed / "README.md").read_text()
        return
    res = run_cli("leaderboard", "verify", copy)
    assert res.exit_code == 0, res.output
    edit_prediction(copy / stored[0].parent.relative_to(committed), row=0)
    res = run_cli("leaderboard", "verify", copy)
    assert res.exit_code == 1


# --------------------------------------------------------------------------------------------
# leaderboard add
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    base = tmp_path_factory.mktemp("add")
    made = {"a": ridge(base / "a", 1), "b": ridge(base / "b", 100),
            "c": run(base / "c", features_opts=BOARD_HOOF, classifier="majority"),
            "leaky": ridge(base / "leaky", 1, protocol="kfold", protocol_opts={"k": 4})}
    for d in made.values():
        with_file_hashes(d)
    return base, made


def _refused(res, board: Path, before: dict, *phrases):
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    for p in phrases:
        assert p in res.output, (p, res.output)
    assert (_tree(board) if board.exists() else {}) == before, "a refused add wrote something"


def test_add_accepts_a_valid_run_and_refuses_a_second_copy(candidates, tmp_path):
    base, made = candidates
    board = tmp_path / "board"
    res = run_cli("leaderboard", "add", made["a"], "--board", board)
    _refused(res, board, {}, "no protocol pin for loso")
    res = run_cli("leaderboard", "add", made["a"], "--board", board, "--pin", "--suite", "mine")
    assert res.exit_code == 0, res.output
    stored = board / "runs" / "mine" / json.loads((made["a"] / "manifest.json").read_text())["run_id"]
    assert sorted(p.name for p in stored.iterdir()) == ["manifest.json", "metrics.json", "predictions.parquet"]
    assert json.loads((board / "pins.json").read_text())["pins"][0]["fold_hash"]
    before = _tree(board)
    _refused(run_cli("leaderboard", "add", made["a"], "--board", board, "--suite", "mine"), board, before,
             "is already stored")
    # the pin now admits another pipeline on the same protocol without --pin
    assert run_cli("leaderboard", "add", made["b"], "--board", board, "--suite", "mine").exit_code == 0


def test_add_accepts_a_run_of_combined_extractors(tmp_path):
    """A run of ``--features a+b`` has a '+' in its run id, a safe folder name."""
    made = run(tmp_path / "combined", features="hoof+biwoof", features_opts={"align": None, **BOARD_HOOF})
    run_id = json.loads((made / "manifest.json").read_text())["run_id"]
    assert "hoof+biwoof" in run_id
    board = tmp_path / "board"
    res = run_cli("leaderboard", "add", made, "--board", board, "--pin", "--suite", "mine")
    assert res.exit_code == 0, res.output
    assert (board / "runs" / "mine" / run_id / "predictions.parquet").is_file()


def test_add_refuses_tampered_predictions(candidates, tmp_path):
    base, made = candidates
    board = tmp_path / "board"
    bad = tmp_path / "tampered"
    shutil.copytree(made["a"], bad)
    edit_prediction(bad, row=1)
    _refused(run_cli("leaderboard", "add", bad, "--board", board, "--pin"), board, {},
             f"run {bad}: predictions.parquet has been modified since the run wrote it")
    # the hashes brought up to date: metrics.json and the predictions now disagree
    rehash(bad)
    _refused(run_cli("leaderboard", "add", bad, "--board", board, "--pin"), board, {},
             "metrics.json says", "the stored predictions give")


def test_add_refuses_a_mismatched_fold_hash(candidates, tmp_path):
    base, made = candidates
    board = tmp_path / "board"
    bad = tmp_path / "folds"
    shutil.copytree(made["a"], bad)
    man = json.loads((bad / "manifest.json").read_text())
    man["protocol"]["fold_hash"] = "f" * 64
    (bad / "manifest.json").write_text(json.dumps(man))
    _refused(run_cli("leaderboard", "add", bad, "--board", board, "--pin"), board, {}, "fold hash mismatch")
    # a run whose folds differ from the pinned protocol's
    assert run_cli("leaderboard", "add", made["a"], "--board", board, "--pin").exit_code == 0
    pins = json.loads((board / "pins.json").read_text())
    pins["pins"][0]["fold_hash"] = "e" * 64
    (board / "pins.json").write_text(json.dumps(pins))
    before = _tree(board)
    _refused(run_cli("leaderboard", "add", made["b"], "--board", board), board, before, "protocol pin mismatch")


def test_add_refuses_leakage(candidates, tmp_path):
    base, made = candidates
    board = tmp_path / "board"
    _refused(run_cli("leaderboard", "add", made["leaky"], "--board", board, "--pin"), board, {},
             "is refused: LEAKY", "subject-disjoint")


def test_two_concurrent_adds_both_land(candidates, tmp_path):
    base, made = candidates
    board = tmp_path / "board"
    procs = [start_cli("leaderboard", "add", made[k], "--board", board, "--pin", "--suite", "both") for k in ("b", "c")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    stored = sorted(p.name for p in (board / "runs" / "both").iterdir())
    assert len(stored) == 2 and not any(n.startswith(".") for n in stored)
    assert len(json.loads((board / "pins.json").read_text())["pins"]) == 1


# --------------------------------------------------------------------------------------------
# suite definitions
# --------------------------------------------------------------------------------------------
def test_committed_suites_resolve():
    from mebench.leaderboard.suites import load_suite, suite_specs
    from mebench.registry import CLASSIFIERS, DATASETS, PROTOCOLS, check_params
    from mebench.run import build_extractor

    names = sorted(p.stem for p in (REPO / "leaderboard" / "suites").glob("*.yaml"))
    assert names == ["casme2", "dolos", "megc2019", "reallife-trial", "samm", "synthetic"]
    for name in names:
        suite = load_suite(REPO / "leaderboard" / "suites" / f"{name}.yaml")
        assert suite.name == name
        for _, _, spec in suite_specs(suite):
            build_extractor(spec)  # a combination (a+b) dispatches its options to the parts
            for registry, comp, opts in ((DATASETS, spec.dataset, spec.dataset_opts),
                                         (CLASSIFIERS, spec.classifier, spec.classifier_opts),
                                         (PROTOCOLS, spec.protocol, spec.protocol_opts)):
                check_params(registry.get(comp), opts, f"suite {name}: {comp}")
    synthetic = load_suite(REPO / "leaderboard" / "suites" / "synthetic.yaml")
    effects = sorted(cfg.values["dataset_opts"].get("effect", 0.9) for _, cfg in synthetic.protocols)
    assert effects == [0.0, 0.25, 0.5, 0.7, 0.9]
    pipes = {(cfg.values.get("features"), cfg.values.get("classifier")) for _, cfg in synthetic.pipelines}
    assert {("hoof", "majority"), ("hoof", "stratified-random"), ("sex-only", "logreg")} <= pipes
    text = (REPO / "leaderboard" / "suites" / "synthetic.yaml").read_text()
    assert "TODO" not in text
    assert {("resnet-fpf-tmfe+au-libreface", "logreg"), ("flow-image", "ststnet")} <= pipes


def test_suite_errors_name_the_problem(tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "bad.yaml").write_text("name: bad\nprotocol: [x]\npipelines: [y]\n")
    res = run_cli("bench", "--suite", "bad", "--board", tmp_path)
    assert res.exit_code == 1 and "unknown key(s) 'protocol' (did you mean 'protocols'?)" in res.output
    (suites / "bad.yaml").write_text("name: bad\nprotocols: [protocols/missing.yaml]\npipelines: [{features: hoof}]\n")
    res = run_cli("bench", "--suite", "bad", "--board", tmp_path)
    assert res.exit_code == 1 and "entry 'protocols/missing.yaml' is not a file" in res.output
    (suites / "bad.yaml").write_text("name: bad\nprotocols: [{dataset: synthetic, protocl: loso}]\n"
                                     "pipelines: [{features: hoof}]\n")
    res = run_cli("bench", "--suite", "bad", "--board", tmp_path)
    assert res.exit_code == 1 and "'protocl' (did you mean 'protocol'?)" in res.output
    (suites / "bad.yaml").write_text("name: bad\nprotocols: [{dataset: synthetic}]\npipelines: [{features: hooff}]\n")
    res = run_cli("bench", "--suite", "bad", "--board", tmp_path)
    assert res.exit_code == 2 and "hooff" in res.output and "Traceback" not in res.output
    res = run_cli("bench", "--suite", "nope", "--board", tmp_path)
    assert res.exit_code == 2 and "no suite named 'nope'" in res.output and "known suites: bad" in res.output
