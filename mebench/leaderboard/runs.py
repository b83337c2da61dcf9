"""Run directories as the leaderboard sees them: found, loaded, hash-checked, and classified.

A run is read once, as bytes: the sha256 of exactly the bytes parsed is what a leaderboard
records, so ``leaderboard verify`` can tell later whether a file changed. Fields that newer runs
carry (``files``, ``flags``, ``roles``, ``prior_shift``, ``features.trained_on``) are read with
fallbacks, so runs written before them still load.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MebenchError, RunStoreError

RUN_FILES = ("predictions.parquet", "metrics.json", "manifest.json")
STATS_FILE = "stats.json"
CONTROL_CLASSIFIERS = ("majority", "stratified-random")
PROBE_EXTRACTORS = ("sex-only",)
FLAGS = ("LEAKY", "contaminated", "untrained")
SKIP_DIRS = ("permutations",)


# --------------------------------------------------------------------------------------------
# finding runs
# --------------------------------------------------------------------------------------------
def _is_run_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in RUN_FILES)


def find_run_dirs(paths) -> list[Path]:
    """Run directories given directly or found below folders (hidden folders are skipped).

    A folder that holds no run at any depth is an error naming it, as is an empty folder.
    """
    found: list[Path] = []
    seen: set = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise RunStoreError(f"{path} does not exist; pass run directories or folders that contain them.")
        if not path.is_dir():
            raise RunStoreError(f"{path} is a file; pass a run directory (predictions.parquet, metrics.json, "
                                "manifest.json) or a folder that contains run directories.")
        if _is_run_dir(path):
            hits = [path]
        else:
            hits = [d for d in _walk(path) if _is_run_dir(d)]
            if not hits:
                what = "is empty" if not any(path.iterdir()) else "holds no mebench run at any depth"
                raise RunStoreError(f"{path} {what}: a run directory holds predictions.parquet, metrics.json and "
                                    "manifest.json (written by `mebench run`).")
        for d in hits:
            key = d.resolve()
            if key not in seen:
                seen.add(key)
                found.append(d)
    return found


def _walk(root: Path):
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if child.name.startswith(".") or child.name in SKIP_DIRS:
            continue
        if _is_run_dir(child):
            yield child
        else:
            yield from _walk(child)


# --------------------------------------------------------------------------------------------
# loading one run
# --------------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(run_dir: Path, name: str, data: bytes) -> dict:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunStoreError(f"run {run_dir}: {name} is not valid JSON ({exc}); the run directory is damaged. "
                            "Restore it or re-run the pipeline.") from None
    if not isinstance(obj, dict):
        raise RunStoreError(f"run {run_dir}: {name} must hold a JSON object, not a {type(obj).__name__}.")
    return obj


@dataclass
class BoardRun:
    """One loaded run with the hashes of the bytes that were parsed."""

    dir: Path
    manifest: dict
    metrics: dict
    predictions: object          # pandas DataFrame
    files: dict                  # file name -> sha256 of the bytes read
    arrays: object = None        # mebench.stats.runs.RunArrays
    notes: list = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.metrics.get("run_id") or self.dir.name)

    @property
    def label(self) -> str:
        """The pipeline label used as the row name (the one ``mebench compare`` prints)."""
        return self.arrays.pipeline

    @property
    def classes(self) -> list:
        return list(self.arrays.classes)

    @property
    def role(self) -> str:
        return run_role(self.manifest)

    @property
    def flags(self) -> tuple[list, dict]:
        return run_flags(self.manifest)

    def as_store_run(self) -> dict:
        """The dict shape of ``mebench.store.load_run``."""
        return {"dir": self.dir, "predictions": self.predictions, "metrics": self.metrics, "manifest": self.manifest}


def read_run_files(run_dir: Path) -> dict[str, bytes]:
    """The bytes of the three run files; a missing one is an error naming the run."""
    if not run_dir.is_dir():
        raise RunStoreError(f"run directory {run_dir} does not exist.")
    missing = [n for n in RUN_FILES if not (run_dir / n).is_file()]
    if missing:
        if len(missing) == len(RUN_FILES):
            raise RunStoreError(f"{run_dir} is not a mebench run: it lacks {', '.join(RUN_FILES)}.")
        raise RunStoreError(f"run {run_dir} is incomplete: it lacks {', '.join(missing)} (a finished run writes "
                            "predictions.parquet, metrics.json and manifest.json). Re-run it or remove the folder.")
    return {n: (run_dir / n).read_bytes() for n in RUN_FILES}


def load_board_run(run_dir, check_hashes: bool = True) -> BoardRun:
    """Read and check one run: JSON, parquet, prediction columns, and ``manifest["files"]`` hashes.

    Every failure is a ``RunStoreError`` that names the run and the file.
    """
    import pandas as pd

    from ..stats.runs import run_arrays
    from ..store import PREDICTION_COLUMNS, check_manifest

    run_dir = Path(run_dir)
    blobs = read_run_files(run_dir)
    files = {n: sha256_bytes(b) for n, b in blobs.items()}
    manifest = _json(run_dir, "manifest.json", blobs["manifest.json"])
    metrics = _json(run_dir, "metrics.json", blobs["metrics.json"])
    check_manifest(manifest, run_dir / "manifest.json")  # the same checks as every other reader of a run
    recorded = manifest.get("files")
    if check_hashes and isinstance(recorded, dict):
        for name in recorded:
            if Path(str(name)).is_absolute() or ".." in Path(str(name)).parts:
                raise RunStoreError(f"run {run_dir}: manifest.json lists the file {name!r}, which is outside the run "
                                    "directory; the manifest is damaged or was tampered with.")
        for name, digest in sorted(recorded.items()):
            path = run_dir / name
            if name in files:
                now = files[name]
            elif path.is_file():
                now = sha256_bytes(path.read_bytes())
                files[name] = now
            else:
                raise RunStoreError(f"run {run_dir}: {name} is listed in manifest.json but missing; the run is "
                                    "incomplete or was tampered with.")
            if now != digest:
                raise RunStoreError(f"run {run_dir}: {name} was modified after the run was written (sha256 in "
                                    f"manifest.json {str(digest)[:12]}…, file now {now[:12]}…); the run is tampered "
                                    "or damaged. Restore the original file or re-run the pipeline.")
    try:
        predictions = pd.read_parquet(io.BytesIO(blobs["predictions.parquet"]))
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise RunStoreError(f"run {run_dir}: predictions.parquet cannot be read as a parquet file "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); the "
                            "file is damaged. Restore it or re-run the pipeline.") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing or not any(str(c).startswith("score_") for c in predictions.columns):
        raise RunStoreError(f"run {run_dir}: predictions.parquet lacks column(s) "
                            f"{', '.join(missing or ['score_<class>'])}; it is not a mebench predictions file.")
    if len(predictions) == 0:
        raise RunStoreError(f"run {run_dir}: predictions.parquet holds no predictions.")
    run = BoardRun(run_dir, manifest, metrics, predictions, files)
    try:
        run.arrays = run_arrays(run.as_store_run())
    except MebenchError as exc:  # already names the directory
        raise RunStoreError(str(exc)) from None
    scores = run.arrays.scores
    if not np.all(np.isfinite(scores)):
        bad = int(np.sum(~np.isfinite(scores).all(axis=1)))
        raise RunStoreError(f"run {run_dir}: predictions.parquet has {bad} row(s) with missing or non-finite scores.")
    return run


# --------------------------------------------------------------------------------------------
# roles, flags, columns
# --------------------------------------------------------------------------------------------
def _config(manifest: dict) -> dict:
    cfg = manifest.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _registry_attr(kind: str, name, attr: str) -> bool:
    """A class attribute of a registered component, False when it cannot be looked up."""
    if not name:
        return False
    try:
        from ..registry import REGISTRIES

        registry = REGISTRIES[kind]
        if name not in registry:
            return False
        return bool(getattr(registry.get(name), attr, False))
    except Exception:  # a plugin that is not installed here: no declared role
        return False


def run_role(manifest: dict) -> str:
    """``control``, ``probe`` or ``method``: from ``manifest["roles"]``, else from the component names."""
    roles = manifest.get("roles")
    cfg = _config(manifest)
    if isinstance(roles, dict) and ("control" in roles or "probe" in roles):
        if roles.get("control"):
            return "control"
        if roles.get("probe"):
            return "probe"
        return "method"
    classifier, features = cfg.get("classifier"), cfg.get("features") or manifest.get("features", {}).get("name")
    if classifier in CONTROL_CLASSIFIERS or _registry_attr("classifiers", classifier, "is_control"):
        return "control"
    if features in PROBE_EXTRACTORS or _registry_attr("extractors", features, "is_probe"):
        return "probe"
    return "method"


def run_flags(manifest: dict) -> tuple[list, dict]:
    """Sorted flags (LEAKY, contaminated, untrained) and a one-line reason for each.

    ``manifest["flags"]`` is used when present; the run's own audit is always read too (leakage
    warnings, shared subjects, ``features.trained_on``, ``weights=none``), so older runs are flagged.
    """
    reasons: dict = {}
    recorded = manifest.get("flags")
    recorded_reasons = manifest.get("flag_reasons") if isinstance(manifest.get("flag_reasons"), dict) else {}
    if isinstance(recorded, list):
        for f in recorded:
            reasons[str(f)] = str(recorded_reasons.get(f) or "recorded in manifest.json")
    protocol = manifest.get("protocol") if isinstance(manifest.get("protocol"), dict) else {}
    shared = protocol.get("shared_subjects") or {}
    if "LEAKY" not in reasons:
        if shared:
            reasons["LEAKY"] = (f"protocol {protocol.get('name')!r} shares subjects between train and test in "
                                f"{len(shared)} fold(s)")
        else:
            leak = [w for w in (manifest.get("warnings") or []) + (protocol.get("audit") or [])
                    if isinstance(w, str) and w.startswith("LEAKAGE")]
            if leak:
                reasons["LEAKY"] = leak[0].split(";")[0]
    ds = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    feats = manifest.get("features") if isinstance(manifest.get("features"), dict) else {}
    trained_on = [str(t) for t in (feats.get("trained_on") or [])]
    dataset = ds.get("dataset") or _config(manifest).get("dataset")
    if "contaminated" not in reasons and dataset and trained_on:
        parts = {str(dataset)} | set((ds.get("parts") or []))
        hit = sorted(parts & set(trained_on))
        if hit:
            reasons["contaminated"] = f"extractor {feats.get('name')!r} was trained on {', '.join(hit)}"
    weights = (_config(manifest).get("features_opts") or {}).get("weights")
    if "untrained" not in reasons and isinstance(weights, str) and weights.lower() == "none":
        reasons["untrained"] = f"extractor {feats.get('name')!r} ran with random weights (weights=none)"
    flags = sorted(reasons)
    return flags, {f: reasons[f] for f in flags}


def _defaults(kind: str, name) -> dict:
    """Keyword defaults of a registered factory (empty when it cannot be looked up)."""
    import inspect

    try:
        from ..registry import REGISTRIES

        registry = REGISTRIES[kind]
        if not name or name not in registry:
            return {}
        factory = registry.get(name)
        target = factory.__init__ if inspect.isclass(factory) else factory
        out = {}
        for p in inspect.signature(target).parameters.values():
            if p.name in ("self", "root") or p.default is inspect.Parameter.empty:
                continue
            if isinstance(p.default, (str, int, float, bool)) or p.default is None:
                out[p.name] = p.default
        return out
    except Exception:
        return {}


_SEED_KEYS = ("seed", "random_state")


def _normalised(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def column_identity(manifest: dict) -> dict:
    """What defines a leaderboard column: dataset, task, protocol and their options (defaults filled).

    Seeds are left out on purpose: runs with different seeds hold different samples or folds, and
    the column check refuses them with the hashes that differ.
    """
    cfg = _config(manifest)
    ds = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    protocol = manifest.get("protocol") if isinstance(manifest.get("protocol"), dict) else {}
    dataset = ds.get("dataset") or cfg.get("dataset")
    task = ds.get("task") or cfg.get("task")
    proto = protocol.get("name") or cfg.get("protocol")
    dopts = {**_defaults("datasets", dataset), **(cfg.get("dataset_opts") or {})}
    popts = {**_defaults("protocols", proto), **(cfg.get("protocol_opts") or {})}
    clean = lambda d: {str(k): _normalised(v) for k, v in sorted(d.items()) if k not in _SEED_KEYS}  # noqa: E731
    return {"dataset": dataset, "task": task, "protocol": proto, "dataset_opts": clean(dopts),
            "protocol_opts": clean(popts)}


def column_key(identity: dict) -> str:
    return json.dumps(identity, sort_keys=True, default=str)


def fingerprint(run: BoardRun) -> dict:
    """The hashes a column's runs must share: samples (after skips), annotation files, folds, labels."""
    ds = run.manifest.get("dataset") if isinstance(run.manifest.get("dataset"), dict) else {}
    protocol = run.manifest.get("protocol") if isinstance(run.manifest.get("protocol"), dict) else {}
    return {
        "dataset fingerprint": ds.get("sample_list_sha256_after_skips") or ds.get("sample_list_sha256"),
        "annotation files": sorted(str(v) for v in (ds.get("annotation_files") or {}).values()),
        "fold hash": protocol.get("fold_hash"),
        "label set": sorted(run.classes),
    }


def recompute_fold_hash(predictions) -> str:
    """The protocol fold hash from a predictions table (folds in order of first appearance).

    The runner stores predictions grouped by fold in the protocol's order, and the hash covers
    each fold's name and its sorted held-out sample ids (``mebench.protocols.fold_hash``).
    """
    import pandas as pd

    from ..protocols import Fold, fold_hash

    folds_col = predictions["fold"].astype(str).to_numpy()
    order = list(dict.fromkeys(folds_col))
    samples = pd.DataFrame({"sample_id": predictions["sample_id"].astype(str).to_numpy()})
    folds = [Fold(name, np.array([], int), np.flatnonzero(folds_col == name)) for name in order]
    return fold_hash(samples, folds)


def recompute_sample_hash(predictions) -> str:
    """The sample-list hash from a predictions table (valid when every sample was held out once)."""
    import pandas as pd

    from ..data.schema import sample_list_hash

    return sample_list_hash(pd.DataFrame({"sample_id": predictions["sample_id"].astype(str),
                                          "subject_id": predictions["subject_id"].astype(str),
                                          "label": predictions["y_true"].astype(str)}))


def short(value, n: int = 12) -> str:
    return str(value)[:n] if value else "none"


def finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


# --------------------------------------------------------------------------------------------
# stats.json (written by `mebench stats`)
# --------------------------------------------------------------------------------------------
def read_stats(run_dir: Path, files: dict) -> tuple[dict | None, list[str]]:
    """``stats.json`` if present and readable, with notes (missing, damaged, computed from other files)."""
    path = run_dir / STATS_FILE
    if not path.is_file():
        return None, [f"no {STATS_FILE}: run `mebench stats {run_dir}` for the permutation test against chance."]
    try:
        stats = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return None, [f"{STATS_FILE} cannot be read ({exc}); it is ignored."]
    notes = []
    inputs = stats.get("inputs") if isinstance(stats, dict) else None
    if isinstance(inputs, dict):
        changed = [n for n, h in inputs.items() if n in files and files[n] != h]
        if changed:
            notes.append(f"{STATS_FILE} was computed from other versions of {', '.join(sorted(changed))}; its "
                         "statistics do not describe these files.")
    return stats if isinstance(stats, dict) else None, notes


def stats_entries(stats: dict | None) -> dict:
    """{metric: {value, ci_low, ci_high, ci_method, p_value}} from either stats.json layout.

    ``mebench stats`` writes per-metric entries under ``metrics``; the newer layout keeps the
    intervals under ``ci`` ({estimate, low, high, method, ...}) and the p-values under
    ``permutation.metrics``. Both are read; missing parts stay None.
    """
    if not stats:
        return {}
    out: dict = {}
    perm = (stats.get("permutation") or {}).get("metrics") or {}
    for m, e in (stats.get("metrics") or {}).items():
        if isinstance(e, dict):
            out[m] = {"value": e.get("value"), "ci_low": e.get("ci_low"), "ci_high": e.get("ci_high"),
                      "ci_method": e.get("ci_method"), "p_value": e.get("p_value")}
    for m, e in (stats.get("ci") or {}).items():
        if isinstance(e, dict):
            entry = out.setdefault(m, {})
            entry.setdefault("value", e.get("estimate", e.get("value")))
            entry.setdefault("ci_low", e.get("low", e.get("ci_low")))
            entry.setdefault("ci_high", e.get("high", e.get("ci_high")))
            entry.setdefault("ci_method", e.get("method") if isinstance(e.get("method"), str) else None)
    for m, e in perm.items():
        if isinstance(e, dict):
            entry = out.setdefault(m, {})
            if entry.get("p_value") is None:
                entry["p_value"] = e.get("p_value")
    return out


def permutation_null(run_dir: Path, stats: dict, metric: str):
    """The permutation null values of ``metric``: from stats.json, else its checkpoint file."""
    perm = stats.get("permutation") or {}
    null = perm.get("null")
    if isinstance(null, dict) and metric in null:
        return np.asarray([np.nan if v is None else v for v in null[metric]], float)
    ckpt = perm.get("checkpoint")
    if not ckpt:
        return None
    path = run_dir / "permutations" / Path(ckpt).name  # this run's copy first, then the recorded path
    if not path.is_file():
        path = Path(ckpt)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        names = list(data["key"]["metrics"])
        j = names.index(metric)
        rows = sorted(zip(data["indices"], data["values"]))[: int(perm.get("n_permutations") or len(data["indices"]))]
        return np.asarray([np.nan if r[1][j] is None else r[1][j] for r in rows], float)
    except (OSError, ValueError, KeyError, IndexError, TypeError, json.JSONDecodeError):
        return None
