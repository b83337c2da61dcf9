"""`mebench leaderboard`: tables recomputed from real runs, marks equal to `mebench compare`, bad input.

Runs are written by the real runner on tiny synthetic data (5 subjects x 4 clips). Column A has
an effect (0.9), column B is a null dataset (effect 0). Golden files live in tests/golden/; after
an intended change regenerate them with ``MEBENCH_UPDATE_GOLDEN=1 pytest tests/test_leaderboard.py``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from _cli import BOARD_HOOF, run_cli
from _figure_helpers import PDFTOTEXT, layout_problems, pdf_words
from _leaderboard_helpers import edit_prediction, rehash, ridge, run, sha256

GOLDEN = Path(__file__).parent / "golden"
EFFECT0 = {"effect": 0.0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("board-runs")
    made = {}
    for col, data in (("A", {}), ("B", EFFECT0)):
        for alpha in (1, 10, 100):
            made[f"{col}/ridge{alpha}"] = ridge(base / col / f"ridge{alpha}", alpha, dataset_opts=data)
        made[f"{col}/majority"] = run(base / col / "majority", features_opts=BOARD_HOOF, classifier="majority",
                                      dataset_opts=data)
    made["A/sex"] = run(base / "A" / "sex", features="sex-only", classifier="ridge")
    from mebench.stats.runs import store_rows

    for name, path in made.items():  # the permutation rows the marks read (a board never refits)
        if "ridge" in name:
            store_rows(path, 99)
    return base, made


def _board(paths, **kw):
    from mebench.leaderboard.runs import load_runs
    from mebench.leaderboard.tables import BoardOptions, build_board

    return build_board(load_runs(paths), BoardOptions(**kw))


def _normalise(text: str) -> str:
    """Package versions differ between machines; everything else must match byte for byte."""
    return re.sub(r"Versions: [^\n\"\\<]*", "Versions: <versions>", text)


@pytest.mark.parametrize("fmt,ext", [("markdown", "md"), ("latex", "tex"), ("csv", "csv"), ("html", "html"),
                                     ("json", "json")])
def test_golden_outputs(runs, fmt, ext, tmp_path):
    base, _ = runs
    out = base / f"golden-out.{ext}"
    res = run_cli("leaderboard", base / "A", base / "B", "--format", fmt, "--out", out, "--title", "Golden")
    assert res.exit_code == 0, res.output
    text = out.read_text()
    if fmt == "json":
        data = json.loads(text)
        for cell in data["tables"][0]["cells"]:
            cell.pop("files")  # manifests carry timestamps, so their hashes differ per run
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    text = _normalise(text)
    golden = GOLDEN / f"leaderboard.{ext}"
    if os.environ.get("MEBENCH_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.is_file(), f"missing golden file {golden}; run with MEBENCH_UPDATE_GOLDEN=1"
    assert text == golden.read_text(), f"{fmt} output differs from {golden}"
    # printed and written outputs are the same string
    printed = run_cli("leaderboard", base / "A", base / "B", "--format", fmt, "--title", "Golden")
    if fmt != "json":
        assert printed.stdout == out.read_text()


def test_table_content(runs):
    base, made = runs
    board = _board([base / "A", base / "B"])
    cols = [c["label"] for c in board["columns"]]
    assert cols == ["synthetic/deception effect=0 · loso", "synthetic/deception effect=0.9 · loso"]
    roles = {r["label"]: r["role"] for r in board["rows"]}
    assert roles["sex-only+ridge"] == "probe"
    assert roles["hoof+majority[f.grid=4,f.size=32]"] == "control"
    for col in cols:
        ranked = [c for c in board["cells"] if c["column"] == col and c["ranked"]]
        assert len(ranked) == 3 and sum(c["best"] for c in ranked) == 1
        best = next(c for c in ranked if c["best"])
        assert best["value"] == max(c["value"] for c in ranked)
        for c in ranked:
            assert c["ci_low"] <= c["value"] <= c["ci_high"]
    controls = [c for c in board["cells"] if c["role"] != "method"]
    assert controls and not any(c["ranked"] or c["best"] for c in controls)
    # the mean rank is shown (two datasets) and comes from the ranked methods only
    assert board["ranking"]["shown"] and len(board["ranking"]["pipelines"]) == 3
    notes = "\n".join(board["footnotes"])
    assert "pooled over 5 LOSO folds: 20 held-out predictions of 5 subjects" in notes
    assert "subject-cluster bootstrap, BCa, 2000 resamples" in notes
    assert "prior-shift diagnostic" in notes and "Seeds: run seed 0" in notes
    assert "samples sha256" in notes and "fold hash 431c8f4f3ebb" in notes
    assert "has no `stratified-random` control run; produce it with `mebench run" in notes


@pytest.mark.parametrize("metric", ["uf1", "auc"])
def test_marks_equal_mebench_compare(runs, metric):
    base, _ = runs
    board = _board([base / "A", base / "B"], metric=metric)
    for col in board["columns"]:
        ranked = sorted((c for c in board["cells"] if c["column"] == col["label"] and c["ranked"]),
                        key=lambda c: c["row"])
        res = run_cli("compare", *[base / c["run_dir"] if not Path(c["run_dir"]).is_absolute() else c["run_dir"]
                      for c in ranked], "--metric", metric, "--no-refit", "--json")
        assert res.exit_code == 0, res.output
        cmp = json.loads(res.stdout)["metrics"][metric]
        best = next(c for c in ranked if c["best"])
        assert cmp["best"].startswith(best["row"] + " (")
        by_row = {comp["a"].split(" (")[0]: comp for comp in cmp["comparisons"]}
        for c in ranked:
            if c["best"]:
                continue
            assert c["p_holm"] == by_row[c["row"]]["p_holm"]
            assert c["p_value"] == by_row[c["row"]]["p_value"]
            holm_p = by_row[c["row"]]["p_holm"]  # None where the test is not calibrated for the metric
            assert c["not_worse"] == (None if holm_p is None else holm_p > 0.05)


def test_a_column_whose_test_cannot_reject_is_footnoted(runs):
    """With 9 permutation rows the smallest p is 1/10, times 2 comparisons under Holm: above 0.05."""
    base, _ = runs
    board = _board([base / "A"], metric="uar", n_rows=9)
    notes = "\n".join(board["footnotes"])
    assert "Too few subjects for the test to reject" in notes and "0.2 with 5 subjects" in notes
    assert all(c["not_worse"] for c in board["cells"] if c["ranked"] and not c["best"])


def test_footnote_controls_are_recomputed_from_the_predictions(runs, tmp_path):
    """The prior-shift diagnostic and the majority control come from the predictions, not metrics.json."""
    base, made = runs
    honest = _board([made["A/ridge1"]], metric="uf1")
    copy = tmp_path / "edited"
    shutil.copytree(made["A/ridge1"], copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["prior_shift"]["pooled"]["uf1"] = 0.987
    metrics["baselines"]["majority"]["uf1"] = 0.876
    (copy / "metrics.json").write_text(json.dumps(metrics))
    rehash(copy)
    edited = _board([copy], metric="uf1")
    assert edited["columns"][0]["prior_shift"] == honest["columns"][0]["prior_shift"] != 0.987
    assert edited["columns"][0]["majority_in_run"] == honest["columns"][0]["majority_in_run"] != 0.876


def test_the_best_run_does_not_depend_on_argument_order(runs):
    from mebench.stats.multiple import best_index

    assert best_index([0.5, 0.7, 0.7], True, ["c", "b", "a"]) == 2  # a tie goes to the smallest run id
    assert best_index([0.5, 0.7, 0.7], True, ["a", "b", "c"]) == 1
    assert best_index([float("nan"), 0.2], False, ["a", "b"]) == 1 and best_index([float("nan")], True, ["a"]) is None
    base, made = runs
    dirs = [made["A/ridge1"], made["A/ridge10"], made["A/ridge100"]]
    bests = set()
    for order in (dirs, dirs[::-1], [dirs[1], dirs[0], dirs[2]]):
        res = run_cli("compare", *order, "--metric", "uar", "--no-refit", "--json")
        assert res.exit_code == 0, res.output
        bests.add(json.loads(res.stdout)["metrics"]["uar"]["best"])
    assert len(bests) == 1


def test_across_datasets_names_blocks_and_runs(runs):
    base, made = runs
    res = run_cli("compare", "--across-datasets", str(made["A/ridge1"]), str(made["A/ridge10"]),
                  str(made["B/ridge1"]), "--metric", "uar")
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "lacks run(s) of" in text and str(made["B/ridge1"]) in text
    res = run_cli("compare", "--across-datasets", made["A/ridge1"], made["A/ridge10"], made["B/ridge1"],
                  made["B/ridge10"], "--metric", "uar", "--json")
    assert res.exit_code == 0, res.output
    blocks = json.loads(res.stdout)["blocks"]
    assert len(blocks) == 2 and len(set(blocks)) == 2  # distinct names for distinct blocks


def test_two_ranked_runs_match_compare_too(runs):
    base, made = runs
    board = _board([made["A/ridge1"], made["A/ridge100"]], metric="accuracy")
    other = next(c for c in board["cells"] if not c["best"])
    res = run_cli("compare", made["A/ridge1"], made["A/ridge100"], "--metric", "accuracy", "--no-refit", "--json")
    cmp = json.loads(res.stdout)["metrics"]["accuracy"]
    assert other["p_holm"] == cmp["p_holm"] and other["p_value"] == cmp["p_value"]


def test_missing_control_command_produces_the_control(runs, tmp_path):
    base, _ = runs
    board = _board([base / "A"])
    col = board["columns"][0]
    cmd = col["missing_controls"]["stratified-random"]
    assert cmd.startswith("mebench run ") and "--classifier stratified-random" in cmd
    out = tmp_path / "strat"
    res = run_cli(*cmd.split()[1:], "--out", out, "--json")
    assert res.exit_code == 0, res.output
    board2 = _board([base / "A", out])
    assert "stratified-random" not in board2["columns"][0]["missing_controls"]
    assert any(r["label"].startswith("hoof+stratified-random") and r["role"] == "control" for r in board2["rows"])


def test_flagged_runs_are_marked_and_not_ranked(runs, tmp_path):
    base, made = runs
    leaky = ridge(tmp_path / "kfold", 1, protocol="kfold", protocol_opts={"k": 4})
    contaminated = tmp_path / "contaminated"
    shutil.copytree(made["A/ridge10"], contaminated)
    man = json.loads((contaminated / "manifest.json").read_text())
    man["flags"], man["flag_reasons"] = ["contaminated"], {"contaminated": "extractor 'x' was trained on synthetic"}
    (contaminated / "manifest.json").write_text(json.dumps(man))
    board = _board([made["A/ridge1"], made["A/ridge100"], contaminated, leaky])
    cells = {(c["row"], c["column"]): c for c in board["cells"]}
    leaky_cell = next(c for c in board["cells"] if "kfold" in c["column"])
    assert leaky_cell["flags"] == ["LEAKY"] and not leaky_cell["ranked"] and not leaky_cell["best"]
    cont = next(c for c in cells.values() if c["flags"] == ["contaminated"])
    assert not cont["ranked"] and cont["value"] is not None
    md = run_cli("leaderboard", made["A/ridge1"], made["A/ridge100"], contaminated, leaky).stdout
    assert "⚠ LEAKY" in md and "⚠ contaminated" in md
    assert "LEAKY: hoof+ridge[c.alpha=1,f.grid=4,f.size=32] on synthetic/deception · kfold" in md
    assert "trained on synthetic; marked and not ranked" in md


def test_latex_is_booktabs_and_escapes_names(runs, tmp_path):
    from mebench.leaderboard.render import to_latex

    base, _ = runs
    board = _board([base / "A", base / "B"])
    for row in board["rows"] + board["cells"]:
        key = "label" if "label" in row else "row"
        row[key] = row[key].replace("hoof", "my_feat&50%#$~^{x}")
    tex = to_latex(board)
    _check_latex(tex, len(board["columns"]) + 2)
    assert r"my\_feat\&50\%\#\$\textasciitilde{}\textasciicircum{}\{x\}" in tex
    engine = next((e for e in ("pdflatex", "lualatex", "xelatex") if shutil.which(e)), None)
    if engine is None:
        pytest.skip("no LaTeX engine installed (texlive is too large for CI): structural checks only, which passed")
    doc = tmp_path / "doc.tex"
    (tmp_path / "table.tex").write_text(tex)
    doc.write_text("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
                   "\\begin{document}\n\\input{table.tex}\n\\end{document}\n")
    res = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]


def _check_latex(tex: str, ncols: int) -> None:
    """Structure: balanced environments and braces, booktabs rules, every row with ncols cells."""
    envs = re.findall(r"\\(begin|end)\{(\w+)\}", tex)
    stack = []
    for kind, name in envs:
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} closes the wrong environment"
    assert not stack, f"unclosed environments {stack}"
    unescaped = re.sub(r"\\[{}]", "", re.sub(r"\\textbackslash\{\}", "", tex))
    depth = 0
    for ch in unescaped:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, "a closing brace without an opening one"
    assert depth == 0, "unbalanced braces"
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert rule in tex
    body = tex.split("\\toprule", 1)[1].split("\\bottomrule", 1)[0]
    for line in body.splitlines():
        line = line.strip()
        if not line.endswith("\\\\"):
            continue
        if line.startswith("\\multicolumn"):
            assert f"\\multicolumn{{{ncols}}}" in line
            continue
        cells = len(re.findall(r"(?<!\\)&", line)) + 1
        assert cells == ncols, f"row has {cells} cells, expected {ncols}: {line}"
    # outside commands no raw special characters remain in the text
    text_only = re.sub(r"\\[A-Za-z]+|\\.", "", tex)
    text_only = re.sub(r"%[^\n]*", "", text_only)  # comments
    assert "#" not in text_only and "_" not in re.sub(r"\$[^$]*\$", "", text_only)


def test_column_refused_when_fold_hash_differs(runs, tmp_path):
    base, made = runs
    odd = tmp_path / "odd"
    shutil.copytree(made["A/ridge10"], odd)
    man = json.loads((odd / "manifest.json").read_text())
    man["protocol"]["fold_hash"] = "0" * 64
    (odd / "manifest.json").write_text(json.dumps(man))
    res = run_cli("leaderboard", str(made["A/ridge1"]), str(odd))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "is refused" in res.output and "fold hash" in res.output
    assert str(odd) in res.output and str(made["A/ridge1"]) in res.output


def test_column_refused_when_dataset_fingerprint_differs(runs, tmp_path):
    base, made = runs
    other_seed = ridge(tmp_path / "seed1", 1, seed=1)
    res = run_cli("leaderboard", str(made["A/ridge10"]), str(other_seed))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "dataset fingerprint" in res.output and str(other_seed) in res.output


def test_column_refused_when_label_sets_differ(runs, tmp_path):
    base, made = runs
    odd = tmp_path / "labels"
    shutil.copytree(made["A/ridge10"], odd)
    preds = pd.read_parquet(odd / "predictions.parquet")
    preds["score_unsure"] = 0.0
    preds.to_parquet(odd / "predictions.parquet", index=False)
    rehash(odd)
    res = run_cli("leaderboard", str(made["A/ridge1"]), str(odd))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "label set" in res.output and "unsure" in res.output and str(odd) in res.output


def test_bad_input_gets_a_clear_message(runs, tmp_path):
    base, made = runs
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_cli("leaderboard", str(empty))
    assert res.exit_code == 1 and "Traceback" not in res.output and f"{empty} is empty" in res.output

    corrupt = tmp_path / "corrupt"
    shutil.copytree(made["A/ridge1"], corrupt)
    (corrupt / "predictions.parquet").write_bytes(b"PAR1 this is not a parquet file")
    rehash(corrupt)
    res = run_cli("leaderboard", str(corrupt))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{corrupt}/predictions.parquet cannot be read as parquet" in res.output

    incomplete = tmp_path / "search" / "incomplete"
    shutil.copytree(made["A/ridge1"], incomplete)
    (incomplete / "metrics.json").unlink()
    res = run_cli("leaderboard", str(tmp_path / "search"))  # found while searching a folder
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"run {incomplete} is incomplete: it lacks metrics.json" in res.output

    res = run_cli("leaderboard", str(made["A/ridge1"]), "--metric", "uf2")
    assert res.exit_code == 2 and "Traceback" not in res.output and "did you mean" in res.output.lower()

    for key, value in (("seeds", [0]), ("dataset", "synthetic"), ("config", {"dataset_opts": [1]})):
        bad = tmp_path / f"bad-{key}"
        shutil.copytree(made["A/ridge1"], bad)
        manifest = json.loads((bad / "manifest.json").read_text())
        manifest[key] = value if key != "config" else {**manifest["config"], **value}
        (bad / "manifest.json").write_text(json.dumps(manifest))
        res = run_cli("leaderboard", str(bad))
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        assert "manifest.json" in res.output and "damaged" in res.output
        res = run_cli("leaderboard", "add", str(bad), "--board", str(tmp_path / "board"), "--pin")
        assert res.exit_code == 1 and "Traceback" not in res.output and not (tmp_path / "board" / "runs").exists()


def test_metric_undefined_for_a_run_is_named(runs, tmp_path):
    base, made = runs
    single = tmp_path / "single"
    shutil.copytree(made["A/ridge1"], single)
    preds = pd.read_parquet(single / "predictions.parquet")
    preds[preds["y_true"] == "deceptive"].to_parquet(single / "predictions.parquet", index=False)
    rehash(single)
    res = run_cli("leaderboard", str(single), "--metric", "auc")
    assert res.exit_code == 0 and "Traceback" not in res.output
    assert "| n/a |" in res.output
    assert "auc is undefined for hoof+ridge[c.alpha=1,f.grid=4,f.size=32] on" in res.output
    assert str(single) in res.output and "needs at least two classes" in res.output


def test_figures_are_written_and_byte_reproducible(runs, tmp_path):
    base, made = runs
    chosen = [tmp_path / "runs" / k for k in ("A/ridge1", "A/ridge100", "B/ridge1", "B/ridge100")]
    for k, dest in zip(("A/ridge1", "A/ridge100", "B/ridge1", "B/ridge100"), chosen):
        shutil.copytree(made[k], dest)
    res = run_cli("stats", chosen[0], "--permutations", "49", "--bootstrap", "100", "--json")
    assert res.exit_code == 0, res.output
    first = "hoof+ridge[c.alpha=1,f.grid=4,f.size=32]"
    for d in ("f1", "f2"):
        res = run_cli("leaderboard", *chosen, "--figures", tmp_path / d, "--out", tmp_path / d / "t.md",
                      "--label", f"{first}=R1")
        assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "f1").iterdir())
    for kind in ("roc", "subjects", "confusion", "cd", "null"):
        assert any(f.startswith(f"t-{kind}") and f.endswith(".png") for f in files), kind
        assert any(f.startswith(f"t-{kind}") and f.endswith(".pdf") for f in files), kind
    for name in files:
        a, b = (tmp_path / "f1" / name).read_bytes(), (tmp_path / "f2" / name).read_bytes()
        assert a == b, f"{name} differs between two renderings"
        if name.endswith(".png"):
            assert a[:8] == b"\x89PNG\r\n\x1a\n"
        if name.endswith(".pdf"):
            assert a[:5] == b"%PDF-"
            assert b"CreationDate" not in a or b"D:19700101" in a  # no date, or the fixed epoch
            if PDFTOTEXT:  # every word inside the page, none over another
                assert not layout_problems(tmp_path / "f1" / name)
    if PDFTOTEXT:  # the user's label on the plot, a generated key (with the full name) for the other pipeline
        words = " ".join(w for *_, w in pdf_words(tmp_path / "f1" / next(f for f in files if f.startswith("t-roc")
                                                                          and f.endswith(".pdf")))[2])
        assert "R1:" in words and "P1" in words and "hoof+ridge[c.alpha=100," in words and first not in words
    # --figure-width two: every figure two columns (7 in) wide
    res = run_cli("leaderboard", *chosen, "--figures", tmp_path / "wide", "--figure-width", "two", "--out",
                  tmp_path / "wide" / "t.md", "--bootstrap", "100", "--permutations", "100")
    assert res.exit_code == 0, res.output
    if PDFTOTEXT:
        for pdf in (tmp_path / "wide").glob("*.pdf"):
            assert pdf_words(pdf)[0] == pytest.approx(504, abs=0.5) and not layout_problems(pdf), pdf.name
    # a label naming no pipeline, or given without --figures, is a usage error and writes nothing
    res = run_cli("leaderboard", *chosen, "--figures", tmp_path / "f3", "--label", "hoof+ridge[c.alpha=3]=R3")
    assert res.exit_code == 2 and "did you mean" in res.output and not (tmp_path / "f3").exists(), res.output
    res = run_cli("leaderboard", *chosen, "--label", f"{first}=R1")
    assert res.exit_code == 2 and "--figures" in res.output, res.output


def test_verify_json_record(runs, tmp_path):
    base, made = runs
    work = tmp_path / "work"
    shutil.copytree(base / "A", work / "A")
    record = work / "board.json"
    assert run_cli("leaderboard", work / "A", "--format", "json", "--out", record).exit_code == 0
    res = run_cli("leaderboard", "verify", record)
    assert res.exit_code == 0 and "verified 5 cell(s)" in res.output
    # one edited prediction: the file hash no longer matches the record
    edit_prediction(work / "A" / "ridge100", row=3)
    res = run_cli("leaderboard", "verify", str(record))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "cell hoof+ridge[c.alpha=100,f.grid=4,f.size=32] × synthetic/deception · loso" in res.output
    assert "predictions.parquet of run A/ridge100 was modified" in res.output
    # hashes updated everywhere to hide the edit: the recomputed cell still differs
    rehash(work / "A" / "ridge100")
    rec = json.loads(record.read_text())
    for cell in rec["tables"][0]["cells"]:
        if cell["run_dir"] == "A/ridge100":
            cell["files"] = {n: sha256(work / "A" / "ridge100" / n) for n in cell["files"]}
    record.write_text(json.dumps(rec))
    res = run_cli("leaderboard", "verify", str(record))
    assert res.exit_code == 1
    assert re.search(r"cell hoof\+ridge\[c\.alpha=100[^\n]*: value recorded [0-9.]+, recomputed [0-9.]+", res.output)
