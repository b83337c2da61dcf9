"""``mebench leaderboard verify``: recompute a stored leaderboard and compare it cell by cell.

For every cell of the record (``leaderboard.json``, or the output of ``--format json``):

1. each run file it was computed from still has the sha256 the record holds (and the one the
   run's own manifest holds, when it records file hashes);
2. the cell recomputed from the predictions, with the record's options, has the recorded value,
   CI, best/mark flags and p-values;

and for a built leaderboard folder, README.md and tables/*.tex re-render to the same bytes and
each figure file has its recorded sha256. Any difference fails, naming the cell or the file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import MebenchError, RunStoreError
from ..store import open_run
from .runs import sha256_bytes

CELL_FIELDS = ("value", "ci_low", "ci_high", "best", "not_worse", "ranked", "p_value", "p_holm", "flags", "role", "sd",
               "n_seeds")
TOL = 1e-9


class VerificationError(MebenchError):
    """A stored leaderboard does not match its runs."""


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=TOL, abs_tol=TOL)
    return a == b


def _read_record(path: Path) -> tuple[dict, Path]:
    file = path / "leaderboard.json" if path.is_dir() else path
    if not file.is_file():
        raise RunStoreError(f"{path} holds no leaderboard.json; pass a folder built by `mebench leaderboard build` or "
                            "a JSON record written with `mebench leaderboard RUNS --format json --out FILE`.")
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunStoreError(f"{file} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
        raise RunStoreError(f"{file} is not a mebench leaderboard record (no 'tables').")
    return data, file.parent


def _cell_name(table: dict, cell: dict) -> str:
    where = f"table {table.get('suite') + ' / ' if table.get('suite') else ''}{table.get('metric')}"
    return f"cell {cell.get('row')} × {cell.get('column')} ({where})"


def verify(path, progress=None) -> dict:
    """Verify a record; raises :class:`VerificationError` listing every problem, else returns a summary.

    ``progress(done, total)`` counts the recomputed columns of every table.
    """
    from .tables import BoardOptions, build_board

    path = Path(path)
    rec, base = _read_record(path)
    problems: list[str] = []
    recomputed = []
    n_cells = 0
    run_dirs = set()
    totals = [len(t.get("columns") or []) if isinstance(t, dict) else 0 for t in rec["tables"]]
    for index, table in enumerate(rec["tables"]):
        offset = sum(totals[:index])
        table_progress = None if progress is None else (
            lambda done, total, offset=offset: progress(offset + done, max(sum(totals), offset + (total or 0))))
        runs, intact = [], True
        if not isinstance(table, dict) or not table.get("cells"):
            problems.append(f"table {table.get('title') if isinstance(table, dict) else table!r}: the record holds no "
                            "cells for it; the record is damaged (rebuild with `mebench leaderboard build`).")
            continue
        opened: set = set()
        for cell in table.get("cells", []):
            n_cells += 1
            # a cell of seed replicates (leaderboard/seeds.py) names each replicate's run and files
            sources = cell.get("runs") if isinstance(cell, dict) and isinstance(cell.get("runs"), list) else [cell]
            if not all(isinstance(src, dict) and src.get("run_dir") and src.get("files") for src in sources):
                problems.append(f"{_cell_name(table, cell if isinstance(cell, dict) else {})}: the record names no run "
                                "directory or file hashes for it; the record is damaged.")
                intact = False
                continue
            for src in sources:
                d = base / src["run_dir"]
                run_dirs.add(str(d.resolve()))
                fresh = True
                for name, digest in sorted(src["files"].items()):
                    f = d / name
                    if not f.is_file():
                        problems.append(f"{_cell_name(table, cell)}: {name} of run {src['run_dir']} is missing.")
                        intact = fresh = False
                        continue
                    now = sha256_bytes(f.read_bytes())
                    if now != digest:
                        problems.append(f"{_cell_name(table, cell)}: {name} of run {src['run_dir']} was modified "
                                        f"after the leaderboard was built (sha256 recorded {digest[:12]}…, now "
                                        f"{now[:12]}…).")
                        intact = fresh = False
                if not fresh or str(d.resolve()) in opened:
                    continue
                opened.add(str(d.resolve()))
                try:
                    runs.append(open_run(d))
                except MebenchError as exc:
                    problems.append(f"{_cell_name(table, cell)}: {exc}")
                    intact = False
        if not intact or not runs:
            continue
        try:
            board = build_board(runs, BoardOptions.from_dict(table.get("options") or {}), base_dir=base,
                                title=table.get("title"), progress=table_progress)
        except MebenchError as exc:
            problems.append(f"table {table.get('title')} / {table.get('metric')}: cannot be recomputed: {exc}")
            continue
        if table.get("suite"):
            board["suite"] = table["suite"]
        recomputed.append(board)
        problems.extend(_compare(table, board))
    problems.extend(_unrecorded_runs(path, base, run_dirs))
    n_outputs = 0
    outputs = rec.get("outputs") or {}
    if outputs:
        n_outputs = len(outputs)
        problems.extend(_check_outputs(base, outputs, rec.get("figures") or {}, recomputed,
                                       len(recomputed) == len(rec["tables"])))
    if problems:
        shown = problems[:20]
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise VerificationError(f"leaderboard {path} does not match its runs ({len(problems)} problem(s)):\n  "
                                + "\n  ".join(shown) + more)
    return {"n_tables": len(rec["tables"]), "n_cells": n_cells, "n_runs": len(run_dirs), "n_outputs": n_outputs}


def _compare(table: dict, board: dict) -> list[str]:
    problems = []
    stored = {(c["row"], c["column"]): c for c in table.get("cells", [])}
    now = {(c["row"], c["column"]): c for c in board["cells"]}
    for key in sorted(set(stored) | set(now)):
        if key not in now or key not in stored:
            where = "is not in the recomputed table" if key not in now else "is missing from the record"
            problems.append(f"cell {key[0]} × {key[1]} {where}.")
            continue
        s, n = stored[key], now[key]
        for f in CELL_FIELDS:
            if not _same(s.get(f), n.get(f)):
                problems.append(f"{_cell_name(table, s)}: {f} recorded {s.get(f)!r}, recomputed {n.get(f)!r} from "
                                f"the predictions of run {s.get('run_dir')}.")
    srows = {r["label"]: r.get("mean_rank") for r in table.get("rows", [])}
    for r in board["rows"]:
        if not _same(srows.get(r["label"]), r.get("mean_rank")):
            problems.append(f"mean rank of {r['label']} (table {table.get('metric')}): recorded "
                            f"{srows.get(r['label'])!r}, recomputed {r.get('mean_rank')!r}.")
    if table.get("footnotes") != board["footnotes"]:
        problems.append(f"footnotes of table {table.get('title')} / {table.get('metric')} differ from the ones the "
                        "manifests give now.")
    return problems


def _unrecorded_runs(path: Path, base: Path, recorded: set) -> list[str]:
    """Runs stored in a leaderboard folder (``runs/<suite>/``) that the record leaves out."""
    from .runs import find_run_dirs

    root = base / "runs"
    if not path.is_dir() or not root.is_dir():
        return []
    suites = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".") and any(d.iterdir())]
    stored = {str(d.resolve()): d for d in find_run_dirs(suites)} if suites else {}
    return [f"run {stored[k].relative_to(base).as_posix()} is stored in the leaderboard folder but absent from the "
            "record: the tables were built without it (rebuild with `mebench leaderboard build`)."
            for k in sorted(set(stored) - recorded)]


def _check_outputs(base: Path, outputs: dict, figures: dict, boards: list, complete: bool) -> list[str]:
    """Text outputs re-rendered from the recomputed boards; figures by their recorded sha256."""
    from .suites import suite_definitions, text_outputs

    problems = []
    for rel, digest in sorted(outputs.items()):
        f = base / rel
        if not f.is_file():
            problems.append(f"output {rel} is missing.")
        elif sha256_bytes(f.read_bytes()) != digest:
            problems.append(f"output {rel} was modified after the leaderboard was built.")
    if complete and boards:
        defs = suite_definitions(base)
        runs_by_suite: dict = {}
        for b in boards:
            runs_by_suite.setdefault(b.get("suite"), set()).update(
                src["run_id"] for c in b["cells"] for src in (c.get("runs") or [c]))
        texts = text_outputs(boards, defs, {k: sorted(v) for k, v in runs_by_suite.items()}, figures)
        drawn = {rel for paths in figures.values() for rel in paths}
        problems += [f"output {rel} is listed in the record, but a rebuild would not write it." for rel in
                     sorted(set(outputs) - set(texts) - drawn)]
        for rel, text in texts.items():
            f = base / rel
            if rel not in outputs:
                problems.append(f"output {rel} would be written by a rebuild but is not in the record.")
            elif f.is_file() and f.read_bytes() != text.encode("utf-8"):
                problems.append(f"output {rel} differs from what the recomputed cells render to.")
    return problems
