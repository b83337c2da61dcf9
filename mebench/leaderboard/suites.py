"""Baseline suites, the committed leaderboard folder, and admission of runs into it.

A leaderboard folder (``leaderboard/`` in the repository) holds::

    suites/<suite>.yaml          suite definitions: protocols x pipelines (run-config YAML entries)
    runs/<suite>/<run_id>/       stored runs (predictions.parquet, metrics.json, manifest.json)
    pins.json                    pinned fold hashes per protocol and dataset fingerprint
    README.md, tables/*.tex, figures/*.{png,pdf}, leaderboard.json    built by ``leaderboard build``

``mebench bench --suite NAME`` runs every pipeline of a suite on every protocol of it and admits
each run through :func:`add_run`, the same gate as ``mebench leaderboard add``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..config import BUNDLED_DIR, Config, bundled_configs, bundled_path, check_keys, merge, read_yaml
from ..errors import ConfigError, RunStoreError, UnknownNameError, did_you_mean
from ..fsutil import _current_umask, lock_file
from ..store import RUN_FILES, open_run
from .runs import STATS_FILE, find_run_dirs, sha256_bytes, short

SUITE_KEYS = ("name", "description", "metrics", "seed", "protocols", "pipelines", "rows")
PINS_FILE = "pins.json"
RECORD_FILE = "leaderboard.json"
PINS_FORMAT = "mebench-pins/1"
REJECTED_FLAGS = ("LEAKY", "contaminated")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")  # '+' joins combined extractors (a+b)


# ---- suite definitions ----
@dataclass
class Suite:
    name: str
    path: Path
    description: str = ""
    metrics: list = field(default_factory=lambda: ["uf1"])
    seed: int = 0
    protocols: list = field(default_factory=list)   # [(name, Config)]
    pipelines: list = field(default_factory=list)   # [(name, Config)]
    rows: int = 0                                   # permutation rows refit per ranked pipeline (0: none)


def _resolve_entry_path(raw: str, suite_path: Path) -> Path:
    p = Path(raw)
    if p.is_absolute():
        candidates = [p]
    else:
        here = suite_path.resolve().parent
        candidates = [here / p, *(parent / p for parent in here.parents), Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return c
    shipped = bundled_path(raw)  # `protocols/x.yaml` from any directory: the configs shipped with mebench
    if shipped is not None:
        return shipped
    raise ConfigError(f"suite {suite_path}: entry {raw!r} is not a file (looked beside the suite, in its parent "
                      "folders, in the current directory and among the configs shipped with mebench).")


def _entries(raw, key: str, path: Path) -> list:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"suite {path}: {key!r} must be a non-empty list of config files or mappings.")
    out, names = [], set()
    for i, item in enumerate(raw):
        if isinstance(item, str):
            file = _resolve_entry_path(item, path)
            cfg = Config.from_yaml(file, f"config file {file} (suite {path}, {key}[{i}])")
            name = cfg.values.get("name") or file.stem
        elif isinstance(item, dict):
            cfg = Config(dict(item), f"suite {path}: {key}[{i}]").validate()
            name = cfg.values.get("name") or f"{key}-{i + 1}"
        else:
            raise ConfigError(f"suite {path}: {key}[{i}] must be a mapping of run-config keys or a path to a "
                              "config YAML.")
        if name in names:
            raise ConfigError(f"suite {path}: two {key} are named {name!r}; give each a distinct name.")
        names.add(name)
        out.append((name, cfg))
    return out


def load_suite(path) -> Suite:
    """Read and check a suite YAML (unknown keys, missing files and bad names are errors naming them)."""
    from ..registry import METRICS

    path = Path(path)
    data = read_yaml(path, "suite file")
    if not isinstance(data, dict):
        raise ConfigError(f"suite file {path} must hold a mapping with keys {', '.join(SUITE_KEYS)}.")
    check_keys(data, SUITE_KEYS, f"suite file {path}")
    metrics = data.get("metrics", ["uf1"])
    metrics = [metrics] if isinstance(metrics, str) else metrics
    labels = {key: data[key] for key in ("name", "description", "seed") if key in data}
    Config({**labels, "metrics": metrics}, f"suite file {path}").validate()  # the run-config checks
    name = data.get("name") or path.stem
    if not _NAME.match(name):
        raise ConfigError(f"suite file {path}: name {name!r} must be letters, digits, '.', '_' or '-'.")
    for m in metrics:
        METRICS.entry(m)
    rows = data.get("rows", 0)
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise ConfigError(f"suite file {path}: rows must be a non-negative whole number (permutation rows refit per "
                          f"ranked pipeline), not {rows!r}.")
    return Suite(name, path, data.get("description", "").strip(), list(metrics), data.get("seed", 0),
                 _entries(data.get("protocols"), "protocols", path), _entries(data.get("pipelines"), "pipelines", path),
                 rows)


def _ranked_method(run_dir) -> bool:
    """Whether a finished run is a ranked method whose rows a board needs (not a control, probe or net)."""
    from ..stats.stored_rows import is_expensive
    from ..store import open_run

    run = open_run(run_dir)
    return run.role == "method" and not run.flags[0] and not is_expensive(run)


def suite_definitions(board_dir) -> dict:
    """Every suite YAML under ``<board>/suites`` by name."""
    folder = Path(board_dir) / "suites"
    out = {}
    if folder.is_dir():
        for p in sorted(folder.glob("*.y*ml")):
            s = load_suite(p)
            out[s.name] = s
    return out


def find_suite(name_or_path: str, board_dir) -> Path:
    """A suite file: a path, else ``<board>/suites/NAME.yaml`` (the leaderboard's own record of it), else the
    suite shipped with mebench (``mebench list configs``), so ``--suite NAME`` works from any directory."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise ConfigError(f"suite file {p} does not exist.")
        return p
    folder = Path(board_dir) / "suites"
    for ext in (".yaml", ".yml"):
        if (folder / f"{name_or_path}{ext}").is_file():
            return folder / f"{name_or_path}{ext}"
    shipped = bundled_configs(("suites",))["suites"]
    if name_or_path in shipped:
        return shipped[name_or_path]
    known = sorted({*shipped, *(q.stem for q in folder.glob("*.y*ml"))} if folder.is_dir() else shipped)
    raise UnknownNameError(f"no suite named {name_or_path!r} in {folder} or among the suites shipped with mebench"
                           + (f"; known suites: {', '.join(known)}" if known else "")
                           + f".{did_you_mean(name_or_path, known, n=1)} Pass a suite name or a suite YAML file.")


def record_suite(suite_path: Path, suite_name: str, board: Path) -> None:
    """Keep a copy of a suite shipped with mebench in ``<board>/suites/`` when it runs, so that ``leaderboard
    build`` finds its definition beside its runs (its entries name shipped configs, found from anywhere);
    a different suite of that name already there is refused."""
    if BUNDLED_DIR not in Path(suite_path).resolve().parents:
        return
    target = board / "suites" / f"{suite_name}.yaml"
    data = Path(suite_path).read_bytes()
    if target.is_file():
        if target.read_bytes() != data:
            raise ConfigError(f"{target} already defines suite {suite_name!r} differently from {suite_path}; run "
                              f"that file (--suite {target}) or use another --board.")
        return
    from ..fsutil import atomic_write_bytes

    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)


def suite_specs(suite: Suite, root=None, jobs: int = 1, dataset_opts=None, use_cache: bool = True) -> list:
    """``[(protocol name, pipeline name, RunSpec)]`` for every protocol x pipeline of the suite."""
    from ..run import RunSpec

    first = Config({"seed": suite.seed})  # an entry's own seed wins over the suite's
    last = Config({"dataset_opts": dict(dataset_opts or {}), **({} if root is None else {"root": str(root)})})
    return [(pname, qname, RunSpec(**merge(first, pcfg, qcfg, last).spec_kwargs(), jobs=jobs, use_cache=use_cache))
            for pname, pcfg in suite.protocols for qname, qcfg in suite.pipelines]


def _canonical(config: dict) -> str:
    from ..fsutil import json_safe

    return json.dumps(json_safe(config), sort_keys=True)


def run_suite(name_or_path: str, board_dir, root=None, jobs: int = 1, dataset_opts=None, use_cache: bool = True,
              echo=None, display=None) -> dict:
    """Run every pipeline of a suite on every protocol; store each run (via :func:`add_run`).

    Runs already stored with the same resolved config are kept (so an interrupted suite resumes), and
    the staging folders an interrupted suite left in ``<board>/.staging`` are removed first.
    A failing pair is recorded and the others go on; every name is checked before anything runs.
    ``display`` (a :class:`mebench.progress.Progress`) shows each run's samples, folds and epochs.
    """
    from ..errors import MebenchError
    from ..run import check_spec, execute
    from ..stats.runs import store_rows

    echo = echo or (lambda m: None)
    board = Path(board_dir)
    suite = load_suite(find_suite(name_or_path, board))
    specs = suite_specs(suite, root, jobs, dataset_opts, use_cache)
    for pname, qname, spec in specs:
        try:
            check_spec(spec)
        except MebenchError as exc:
            raise type(exc)(f"suite {suite.name}: {pname} x {qname}: {exc}") from None
    record_suite(suite.path, suite.name, board)
    runs_dir = board / "runs" / suite.name
    stored = set()
    if runs_dir.is_dir() and any(runs_dir.iterdir()):
        for d in find_run_dirs([runs_dir]):
            try:
                stored.add(_canonical(json.loads((d / "manifest.json").read_text()).get("config") or {}))
            except (OSError, json.JSONDecodeError):
                continue
    added, present, failed = [], [], []
    staging_root = board / ".staging"
    removed = clean_staging(staging_root)
    if removed:
        echo(f"removed {removed} staging folder(s) left by an interrupted bench in {staging_root}")
    for i, (pname, qname, spec) in enumerate(specs, 1):
        tag = f"[{i}/{len(specs)}] {pname} x {qname}"
        if _canonical(spec.config()) in stored:
            present.append({"protocol": pname, "pipeline": qname})
            echo(f"{tag}: already stored")
            continue
        staging_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=staging_root, prefix=f"{suite.name}-"))
        holder = open(tmp / STAGING_LOCK, "a+")
        lock_file(holder)  # held while the run is staged: a concurrent bench's clean-up leaves it alone
        steps = None
        try:
            spec.out = str(tmp / "run")
            echo(f"{tag}: running")
            if display is not None:
                from ..progress import RunProgress

                steps = RunProgress(display, f"[{i}/{len(specs)}] {spec.pipeline}")
            result = execute(spec, **({} if steps is None else {"progress": steps.folds, "fit_progress": steps.epochs,
                                                                "extract_progress": steps.samples}))
            if suite.rows and _ranked_method(result.run_dir):
                echo(f"{tag}: refitting on {suite.rows} permutation rows (kept in the run for the board's marks)")
                store_rows(result.run_dir, suite.rows, seed=0, jobs=spec.jobs, plugins=spec.plugins)
            res = add_run(result.run_dir, board, suite=suite.name, pin=True)
            added.append({"protocol": pname, "pipeline": qname, "run_id": res["run_id"], "path": res["path"]})
            echo(f"{tag}: stored {res['path']}")
        except MebenchError as exc:
            failed.append({"protocol": pname, "pipeline": qname, "error": str(exc)})
            echo(f"{tag}: failed: {exc}")
        finally:
            if steps is not None:
                steps.close()
            shutil.rmtree(tmp, ignore_errors=True)
            holder.close()
    with contextlib.suppress(OSError):
        staging_root.rmdir()
    return {"suite": suite.name, "added": added, "present": present, "failed": failed, "runs_dir": str(runs_dir)}


STAGING_LOCK = ".lock"
STAGING_GRACE_S = 60.0  # a folder without its lock file this young may be a concurrent bench starting up


def clean_staging(staging_root: Path) -> int:
    """Remove the staging folders no running bench holds (an interrupted or killed bench's); returns how many.

    A bench holds an ``flock`` on ``<folder>/.lock`` while its run is staged there, so a folder whose
    lock can be taken is abandoned; one without a lock file is abandoned once it is a minute old.
    """
    import time

    if not staging_root.is_dir():
        return 0
    removed = 0
    for folder in sorted(p for p in staging_root.iterdir() if p.is_dir()):
        lock = folder / STAGING_LOCK
        if lock.is_file():
            with open(lock, "a+") as fh:
                if not lock_file(fh, wait=False):
                    continue  # a running bench
                shutil.rmtree(folder, ignore_errors=True)
        elif time.time() - folder.stat().st_mtime > STAGING_GRACE_S:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            continue
        removed += not folder.exists()
    with contextlib.suppress(OSError):
        staging_root.rmdir()
    return removed


# ---- pins and admission ----
@contextlib.contextmanager
def board_lock(board: Path):
    """An exclusive lock on the leaderboard folder (serialises concurrent adds)."""
    board.mkdir(parents=True, exist_ok=True)
    from ..fsutil import lock_file, unlock_file

    with open(board / ".lock", "a+") as fh:
        lock_file(fh)
        try:
            yield
        finally:
            unlock_file(fh)


def read_pins(board: Path) -> list:
    path = Path(board) / PINS_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunStoreError(f"{path} is not valid JSON ({exc}); restore it from version control.") from None
    pins = data.get("pins") if isinstance(data, dict) else None
    if not isinstance(pins, list):
        raise RunStoreError(f"{path} must hold {{\"format\": \"{PINS_FORMAT}\", \"pins\": [...]}}.")
    return pins


def write_pins(board: Path, pins: list) -> None:
    from ..fsutil import write_json

    pins = sorted(pins, key=lambda p: (p["dataset"], str(p["task"]), p["protocol"],
                                       json.dumps(p["protocol_opts"], sort_keys=True), p["samples_sha256"]))
    write_json(Path(board) / PINS_FILE, {"format": PINS_FORMAT, "pins": pins})


def pin_of(run) -> dict:
    """The pin entry a run would create: protocol, its options, dataset fingerprint -> fold hash."""
    ident = run.column_identity
    return {"dataset": ident["dataset"], "task": ident["task"], "protocol": ident["protocol"],
            "protocol_opts": ident["protocol_opts"], "samples_sha256": run.manifest.samples_sha256,
            "fold_hash": run.manifest.fold_hash, "pinned_from": run.run_id}


def _pin_key(p: dict) -> tuple:
    return (p["dataset"], p["task"], p["protocol"], json.dumps(p["protocol_opts"], sort_keys=True), p["samples_sha256"])


def check_pin(run, pins: list, allow_new: bool) -> tuple[dict | None, bool]:
    """(matching pin or None, whether a new pin is needed). Refuses a fold hash that differs from its pin."""
    mine = pin_of(run)
    for p in pins:
        if _pin_key(p) == _pin_key(mine):
            if p.get("fold_hash") != mine["fold_hash"]:
                raise RunStoreError(
                    f"run {run.dir} is refused: protocol pin mismatch. Its fold hash {short(mine['fold_hash'])}… differs "
                    f"from the pinned {short(p.get('fold_hash'))}… for protocol {mine['protocol']} on "
                    f"{mine['dataset']}/{mine['task']} (samples {short(mine['samples_sha256'])}…, pinned from run "
                    f"{p.get('pinned_from')}). The run used other folds than the leaderboard's protocol; re-run it "
                    "with the pinned protocol and its options.")
            return p, False
    if not allow_new:
        raise RunStoreError(
            f"run {run.dir} is refused: no protocol pin for {mine['protocol']} on {mine['dataset']}/{mine['task']} "
            f"with samples sha256 {short(mine['samples_sha256'])}… in {PINS_FILE}. The leaderboard accepts runs on "
            "pinned protocols only; a maintainer pins one with `mebench leaderboard add RUN_DIR --pin` (or "
            "`mebench bench --suite NAME`).")
    return None, True


def validate_run(run_dir) -> tuple:
    """Load a run and check it for admission. Returns (StoredRun, warnings); raises naming the problem.

    Checks: the three files parse; ``manifest["files"]`` hashes (when recorded); required manifest
    fields; the fold hash and sample list recomputed from the predictions; the pooled metrics in
    metrics.json recomputed from the predictions; no LEAKY or contaminated flag.
    """
    import numpy as np

    from ..metrics.batch import batch_metrics
    from ..registry import METRICS
    from .runs import recompute_fold_hash, recompute_sample_hash

    run = open_run(run_dir)
    man = run.manifest
    warnings = []
    if not isinstance(man.raw.get("files"), dict):
        warnings.append(f"run {run.dir}: manifest.json records no file hashes (written before mebench recorded "
                        "them); the hashes taken now are the ones the leaderboard verifies.")
    ds, protocol = man.dataset, man.protocol
    required = {"run_id": man.run_id, "config": man.config, "dataset.dataset": ds.get("dataset"),
                "dataset.sample_list_sha256": ds.get("sample_list_sha256"), "protocol.name": protocol.get("name"),
                "protocol.fold_hash": protocol.get("fold_hash")}
    missing = [k for k, v in required.items() if not v]
    if missing:
        raise RunStoreError(f"run {run.dir} is refused: manifest.json lacks {', '.join(missing)}; it is not a "
                            "complete mebench run.")
    ids = set(run.predictions["run_id"].astype(str))
    if ids != {str(man.run_id)}:
        raise RunStoreError(f"run {run.dir} is refused: predictions.parquet holds run id(s) {sorted(ids)[:3]}, the "
                            f"manifest says {man.run_id!r}; the files come from different runs.")
    folds = recompute_fold_hash(run.predictions)
    if folds != protocol["fold_hash"]:
        raise RunStoreError(f"run {run.dir} is refused: fold hash mismatch. manifest.json records "
                            f"{short(protocol['fold_hash'])}…, the folds in predictions.parquet give {short(folds)}…; "
                            "the manifest or the predictions were edited.")
    training_only = any("in no test fold" in str(w) for w in man.warnings + (protocol.get("audit") or []))
    expected = man.samples_sha256
    if not training_only and recompute_sample_hash(run.predictions) != expected:
        raise RunStoreError(f"run {run.dir} is refused: the samples, subjects or labels in predictions.parquet do not "
                            f"match the dataset fingerprint in manifest.json ({short(expected)}…); the files were "
                            "edited or come from different runs.")
    a = run
    for name, value in sorted((run.metrics.get("pooled") or {}).items()):
        if name not in METRICS or value is None:
            continue
        now = float(batch_metrics([name], a.classes, a.y[None], a.pred[None], a.scores[None])[0, 0])
        if np.isfinite(now) and abs(now - float(value)) > 1e-9:
            raise RunStoreError(f"run {run.dir} is refused: metrics.json says {name} = {value}, the stored predictions "
                                f"give {now}; one of the files was edited.")
    flags, reasons = run.flags
    bad = [f for f in flags if f in REJECTED_FLAGS]
    if bad:
        raise RunStoreError(f"run {run.dir} is refused: " + "; ".join(f"{f}: {reasons[f]}" for f in bad)
                            + ". The leaderboard admits only subject-disjoint runs without contamination.")
    return run, warnings


def add_run(run_dir, board_dir, suite: str = "submitted", pin: bool = False) -> dict:
    """Validate a run and store a copy under ``<board>/runs/<suite>/<run_id>/``.

    Nothing is written when a check fails. Concurrent adds are serialised by a lock on the
    folder; each lands in its own directory, moved into place with one rename.
    """
    board = Path(board_dir)
    if not _NAME.match(suite):
        raise ConfigError(f"suite name {suite!r} must be letters, digits, '.', '_' or '-'.")
    run, warnings = validate_run(run_dir)
    if not _RUN_ID.match(run.run_id):
        raise RunStoreError(f"run {run.dir} is refused: its run id {run.run_id!r} is not a safe folder name.")
    target = board / "runs" / suite / run.run_id
    if target.exists():
        raise RunStoreError(f"run {run.run_id} is already stored in {target}; nothing was written.")
    check_pin(run, read_pins(board), allow_new=pin)  # read-only pre-check: a refusal writes nothing
    names = list(RUN_FILES) + sorted(n for n in run.manifest.files if n not in RUN_FILES)
    if (run.dir / STATS_FILE).is_file():
        names.append(STATS_FILE)
    names += sorted(str(p.relative_to(run.dir)) for p in (run.dir / "permutations").glob("rows-*.npz"))
    with board_lock(board):
        pins = read_pins(board)
        _, new_pin = check_pin(run, pins, allow_new=pin)
        if target.exists():
            raise RunStoreError(f"run {run.run_id} is already stored in {target}; nothing was written.")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{run.run_id}."))
        try:
            for name in names:
                dest = tmp / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(run.dir / name, dest)
                if name in run.files and sha256_bytes(dest.read_bytes()) != run.files[name]:
                    raise RunStoreError(f"run {run.dir}: {name} changed while it was being added; nothing was written.")
            os.chmod(tmp, 0o777 & ~_current_umask())
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if new_pin:
            write_pins(board, pins + [pin_of(run)])
    return {"run_id": run.run_id, "path": str(target), "pinned": new_pin, "warnings": warnings}


# ---- build ----
README_HEAD = """# Leaderboard

<!-- Generated by `mebench leaderboard build` from the stored runs; do not edit by hand. -->

Every number here is recomputed from stored per-sample predictions
(`runs/<suite>/<run_id>/predictions.parquet`), never copied from a log: a cell is the metric pooled
over all held-out predictions with its subject-cluster bootstrap CI, controls and bias probes sit
beside every method, and runs that leak subjects or saw the test data in pre-training are marked
and never ranked.

- Reproduce a suite: `mebench bench --suite NAME [--root DATA]`, then `mebench leaderboard build`.
- Check every cell against the predictions and the file hashes: `mebench leaderboard verify leaderboard`.
- Submit a run: `mebench leaderboard add RUN_DIR --suite NAME` (schema, file hashes, the protocol pin
  in `pins.json` and the absence of leakage are checked; a refused run writes nothing).
- LaTeX tables (booktabs) are in `tables/`, figures (PNG and PDF) in `figures/`.
"""


def collect(board_dir) -> tuple[dict, dict]:
    """(suite definitions, {suite: [StoredRun]}) of a leaderboard folder."""
    board = Path(board_dir)
    defs = suite_definitions(board)
    runs: dict = {}
    root = board / "runs"
    if root.is_dir():
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not any(d.iterdir()):
                continue
            runs[d.name] = [open_run(r) for r in find_run_dirs([d])]
    return defs, runs


def compute_boards(defs: dict, runs: dict, board_dir, jobs: int = 1, progress=None) -> list:
    """Every suite's board for each of its metrics; ``progress(done, total)`` counts columns of all of them."""
    from .tables import BoardOptions, build_board, count_columns

    boards = []
    plan = [(name, metric) for name in runs for metric in (defs[name].metrics if name in defs else ["uf1"])]
    widths = {name: count_columns(rs) for name, rs in runs.items()}
    total = sum(widths[name] for name, _ in plan)
    done = 0
    for name, rs in runs.items():
        metrics = defs[name].metrics if name in defs else ["uf1"]
        for metric in metrics:
            step = None if progress is None else (lambda d, _t, offset=done: progress(offset + d, total))
            b = build_board(rs, BoardOptions(metric=metric), base_dir=board_dir, title=name, jobs=jobs, progress=step)
            done += widths[name]
            b["suite"] = name
            boards.append(b)
    return boards


def table_path(board: dict) -> str:
    from .figures import slug

    return f"tables/{slug(board['suite'])}-{slug(board['metric'])}.tex"


def text_outputs(boards: list, defs: dict, runs: dict, figure_paths: dict) -> dict:
    """README.md and tables/*.tex as {relative path: text}; ``runs``: {suite: its runs (or run ids)}."""
    from .render import to_latex, to_markdown

    out = {}
    lines = [README_HEAD, "## Suites", "", "| suite | description | runs |", "|---|---|---:|"]
    for name in sorted(set(defs) | set(runs)):
        desc = " ".join(defs[name].description.split()) if name in defs else "(no suite definition)"
        n = len(runs.get(name, []))
        shown = f"[{name}](#{name})" if n else name
        lines.append(f"| {shown} | {desc.replace('|', '/')} | "
                     + (str(n) if n else f"none yet: `mebench bench --suite {name}`") + " |")
    lines.append("")
    if not runs:
        lines += ["No runs are stored yet. Generate the synthetic suite with `mebench bench --suite synthetic` and "
                  "rebuild with `mebench leaderboard build`.", ""]
    for name in sorted(runs):
        lines += [f"## {name}", ""]
        if name in defs and defs[name].description:
            lines += [" ".join(defs[name].description.split()), ""]
        for b in (b for b in boards if b["suite"] == name):
            lines += [f"### {b['metric']}", "", to_markdown(b).rstrip("\n"), "",
                      f"LaTeX: [`{table_path(b)}`]({table_path(b)})", ""]
            out[table_path(b)] = to_latex(b, label=f"mebench-{name}-{b['metric']}")
        figs = figure_paths.get(name, [])
        if figs:
            lines += ["Figures: " + ", ".join(f"[{Path(p).stem}]({p})" for p in figs if p.endswith(".png")), ""]
    out["README.md"] = "\n".join(lines).rstrip("\n") + "\n"
    return out


def figure_outputs(boards: list, runs: dict, board_dir, progress=None) -> dict:
    """Draw the figures of every suite; returns {suite: [relative paths]} (files written).
    ``progress(done, total)`` counts suites."""
    from .figures import board_figures, board_labels, cd_figure_files, slug

    board = Path(board_dir)
    out: dict = {}
    for name in sorted(runs):
        suite_boards = [b for b in boards if b["suite"] == name]
        if not suite_boards:
            continue
        first = suite_boards[0]
        paths = board_figures({**first, "ranking": {"shown": False}}, runs[name], board / "figures", stem=slug(name),
                              confusion=False, strips=True, nulls=False)
        short, key = board_labels(first)  # one key per suite: P3 is the same pipeline in every figure
        for b in suite_boards:
            if b["ranking"].get("shown"):
                paths += cd_figure_files(b["ranking"], board / "figures" / f"{slug(name)}-cd-{slug(b['metric'])}",
                                         f"{name}, {b['metric']}: mean rank over {len(b['ranking']['blocks'])} columns; "
                                         "bars join pipelines not significantly different", labels=short, key=key)
        out[name] = [Path(os.path.relpath(p, board)).as_posix() for p in paths]
        if progress:
            progress(len(out), len(runs))
    return out


def build(board_dir, jobs: int = 1, progress=None, figure_progress=None) -> dict:
    """Regenerate README.md, tables/*.tex, figures/ and leaderboard.json of a leaderboard folder.

    ``progress(done, total)`` counts the tables' columns, ``figure_progress(done, total)`` the suites drawn.
    """
    from ..fsutil import atomic_write_bytes, json_text
    from .tables import record

    board = Path(board_dir)
    if not board.is_dir():
        raise RunStoreError(f"leaderboard folder {board} does not exist.")
    defs, runs = collect(board)
    boards = compute_boards(defs, runs, board, jobs, progress=progress)
    previous = _previous_outputs(board)
    if figure_progress:
        figure_progress(0, len(runs))
    figures = figure_outputs(boards, runs, board, progress=figure_progress)
    texts = text_outputs(boards, defs, runs, figures)
    for rel, text in texts.items():
        atomic_write_bytes(board / rel, text.encode("utf-8"))
    outputs = {rel: sha256_bytes((board / rel).read_bytes()) for rel in sorted(texts)}
    for paths in figures.values():
        for rel in paths:
            outputs[rel] = sha256_bytes((board / rel).read_bytes())
    for rel in sorted(set(previous) - set(outputs)):
        stale = board / rel
        if stale.is_file():
            stale.unlink()
    rec = record(boards)
    rec["figures"] = figures
    rec["outputs"] = dict(sorted(outputs.items()))
    atomic_write_bytes(board / RECORD_FILE, json_text(rec).encode("utf-8"))
    return {"n_tables": len(boards), "n_runs": sum(len(r) for r in runs.values()),
            "outputs": sorted(outputs) + [RECORD_FILE]}


def _previous_outputs(board: Path) -> dict:
    path = board / RECORD_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    outs = data.get("outputs") if isinstance(data, dict) else None
    if not isinstance(outs, dict):
        return {}
    # only files a build writes may be removed as stale: tables/ and figures/, never outside the folder
    return {k: v for k, v in outs.items() if isinstance(k, str) and k.startswith(("tables/", "figures/"))
            and ".." not in Path(k).parts}
