"""Run directories: predictions.parquet, metrics.json and manifest.json, written atomically.

The manifest, written last, lists every other file with its sha256; :func:`open_run` checks them, so
an edited file is reported instead of read. A finished run is never rewritten: statistics go to
their own ``stats.json``. :class:`StoredRun` is the one model of a run read back: stats, compare, the
leaderboard, the report and tracking take their flags, role, column identity, fingerprint, metric
names and pairwise alignment from it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import RunStoreError
from .fsutil import atomic_write_bytes, json_text
from .hashing import file_sha256

PREDICTION_COLUMNS = ("run_id", "dataset", "protocol", "pipeline", "fold", "subject_id", "sample_id", "y_true", "y_pred")
RUN_FILES = ("predictions.parquet", "metrics.json", "manifest.json")
# the manifest layout read here; manifests carry no version key yet, so a missing ``manifest_version`` is 1
MANIFEST_VERSION = 1
CONTROL_CLASSIFIERS = ("majority", "stratified-random")
PROBE_EXTRACTORS = ("sex-only",)
LEAK = "it uses the test subject before predicting"  # a leaky protocol's reason when it names no other
# manifest keys every consumer (stats, compare, leaderboard) relies on, with their JSON types
MANIFEST_KEYS = {"run_id": str, "config": dict, "pipeline": str, "dataset": dict, "protocol": dict}
OPTIONAL_MANIFEST_KEYS = {"seeds": dict, "versions": dict, "features": dict, "classifier": dict, "roles": dict,
                          "flags": list, "flag_reasons": dict, "warnings": list, "skipped": list, "n_skipped": int}


def predictions_bytes(predictions: pd.DataFrame) -> bytes:
    """The parquet bytes of a predictions table (deterministic for equal tables)."""
    import io

    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing or not any(c.startswith("score_") for c in predictions.columns):
        raise RunStoreError(f"predictions lack column(s) {missing or ['score_<class>']}")
    buf = io.BytesIO()
    predictions.to_parquet(buf, index=False)
    return buf.getvalue()


def write_predictions(path: str | Path, predictions: pd.DataFrame) -> None:
    atomic_write_bytes(path, predictions_bytes(predictions))


OWNER_FILE = ".mebench-owner"  # the pid of the process holding a run directory, removed when it lets go
_claims: dict[Path, "RunDirLock"] = {}


class RunDirLock:
    """One ``--out`` belongs to one run: an exclusive ``flock`` on the directory itself, held from the claim to
    the end of the run (released by the kernel when the process dies), and the holder's pid in
    :data:`OWNER_FILE` so that a refused process can name it."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def fileno(self) -> int:
        return self.fd

    def acquire(self, record: bool = True) -> bool:
        """Take the lock without waiting; False when another process holds it. ``record``: write this pid."""
        from .fsutil import lock_file

        self.fd = os.open(self.path, os.O_RDONLY)
        if not lock_file(self, wait=False):
            os.close(self.fd)
            self.fd = None
            return False
        if not record:
            return True
        try:
            (self.path / OWNER_FILE).write_text(f"{os.getpid()}\n")
        except OSError:
            pass  # a read-only or full disk: the run itself will say so when it writes
        return True

    def holder(self) -> str:
        """The pid recorded by the process holding the lock (it writes it right after taking it)."""
        import time

        for _ in range(20):
            try:
                pid = (self.path / OWNER_FILE).read_text().strip()
            except OSError:
                pid = ""
            if pid.isdigit():
                return f"pid {pid}"
            time.sleep(0.05)
        return "pid unknown"

    def release(self, recorded: bool = True) -> None:
        if self.fd is None:
            return
        try:
            if recorded:
                (self.path / OWNER_FILE).unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self.fd)  # closing the only descriptor releases the flock
        self.fd = None


def release_run_dir(out: Path | None) -> None:
    """Let go of a directory taken by :func:`claim_run_dir` (at the end of the run, finished or failed)."""
    lock = _claims.pop(Path(out), None) if out is not None else None
    if lock is not None:
        lock.release()


def _busy_error(out: Path, lock: RunDirLock) -> RunStoreError:
    return RunStoreError(f"--out {out} belongs to a mebench run in progress ({lock.holder()}); one directory holds "
                         "one run. Wait for that run to finish, or choose another --out.")


def _refuse_existing(out: Path) -> None:
    """An explicit ``--out`` must be new, empty, or hold an interrupted run (which is then resumed)."""
    if out.exists() and not out.is_dir():
        raise RunStoreError(f"--out {out} is a file; pass a directory for the run.")
    if out.is_dir() and (out / OWNER_FILE).exists() and out not in _claims:
        (out / OWNER_FILE).unlink(missing_ok=True)  # left by a killed run: only called with the lock free
    if not out.is_dir() or not any(p.name != OWNER_FILE for p in out.iterdir()):
        return
    existing = out / "manifest.json"
    if not existing.is_file() and (out / "checkpoint" / "state.json").is_file():
        return  # an interrupted run: resumed if the configuration matches (checked once the dataset is loaded)
    which = ""
    if existing.is_file() and (out / "checkpoint").is_dir() and not _locked(out):
        import shutil  # the run finished but was killed before it dropped its checkpoint

        shutil.rmtree(out / "checkpoint", ignore_errors=True)
    if existing.is_file():
        try:
            which = f" (run {json.loads(existing.read_text()).get('run_id')})"
        except (OSError, json.JSONDecodeError):
            pass
    raise RunStoreError(f"--out {out} already holds files{which}; mebench never overwrites a run. "
                        "Choose a new directory or remove the old one.")


def claim_run_dir(out: str | Path | None) -> Path | None:
    """Create an explicit ``--out`` before any work (it must be absent or empty); check ``runs/`` otherwise."""
    if out is None:
        base = Path("runs")
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"cannot create the runs folder {base.resolve()}: {exc}. Pass --out DIR.") from None
        if not os.access(base, os.W_OK | os.X_OK):
            raise RunStoreError(f"the runs folder {base.resolve()} is not writable. Pass --out DIR.")
        return None
    if not str(out).strip():
        raise RunStoreError("--out is empty; pass the directory to write the run into.")
    out = Path(out)
    _check_name_lengths(out)
    if out.is_dir():  # a run in progress holds it: refused at once, whatever the directory looks like
        probe = RunDirLock(out)
        if not probe.acquire(record=False):
            raise _busy_error(out, probe)
        probe.release(recorded=False)
    _refuse_existing(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunStoreError(f"cannot create --out {out}: {exc.strerror or exc}.") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise RunStoreError(f"--out {out} is not writable.")
    lock = RunDirLock(out)
    if not lock.acquire():  # another process claimed it between the checks and now
        raise _busy_error(out, lock)
    _claims[out] = lock
    try:
        _refuse_existing(out)  # checked again under the lock: a run that finished meanwhile is never reopened
    except RunStoreError:
        release_run_dir(out)
        raise
    return out


def _check_name_lengths(out: Path) -> None:
    """A path component longer than the filesystem allows (255 bytes on most) is named before anything is made."""
    limit = 255
    try:
        existing = next((p for p in [out, *out.parents] if p.exists()), Path("."))
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        pass
    for part in out.parts:
        if len(os.fsencode(part)) > limit:
            raise RunStoreError(f"--out {str(out)[:80]}...: the folder name {part[:40]}... is {len(os.fsencode(part))} "
                                f"bytes long, more than this filesystem allows ({limit}). Choose a shorter name.")


def new_run_dir(run_id: str) -> Path:
    """``runs/<run_id>`` for a new run: an interrupted run of the same id is resumed when nobody holds
    it; a finished one, or one being written by another process, gets ``runs/<run_id>-2`` and so on."""
    base = Path("runs") / run_id
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)  # atomic: two concurrent runs never share a directory
            return candidate
        except FileExistsError:
            if not (candidate / "manifest.json").exists() and (candidate / "checkpoint" / "state.json").is_file() \
                    and not _locked(candidate):
                return candidate
        n += 1
        candidate = base.with_name(f"{run_id}-{n}")


def _locked(run_dir: Path) -> bool:
    from .fsutil import lock_file, unlock_file

    try:
        with open(run_dir / "checkpoint" / "lock", "a+") as fh:
            if not lock_file(fh, wait=False):
                return True
            unlock_file(fh)
        return False
    except OSError:
        return False


def write_run(run_dir: str | Path, predictions: pd.DataFrame, metrics: dict, manifest: dict) -> dict:
    """Write the run's files, then the manifest listing each with its sha256; returns the manifest."""
    run_dir = Path(run_dir)
    blobs = {"predictions.parquet": predictions_bytes(predictions), "metrics.json": json_text(metrics).encode()}
    for name, data in blobs.items():
        atomic_write_bytes(run_dir / name, data)
    files = {name: hashlib.sha256(data).hexdigest() for name, data in blobs.items()}
    for path in sorted((run_dir / "models").glob("*")):  # the nets' fold models, saved as the folds finished
        if path.is_file() and not path.name.startswith("."):
            files[f"models/{path.name}"] = file_sha256(path)
    manifest = dict(manifest, files=files)
    atomic_write_bytes(run_dir / "manifest.json", json_text(manifest).encode())
    return manifest


def _json(run_dir: Path, name: str, data: bytes):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunStoreError(f"run {run_dir}: {name} is not valid JSON ({exc}); the run directory is damaged. "
                            "Restore it or re-run the pipeline.") from None


def _read_run_files(run_dir: Path) -> dict[str, bytes]:
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


def _verified_hashes(run_dir: Path, recorded: dict, files: dict) -> None:
    """Check every file ``manifest["files"]`` lists against its sha256; adds the extra files' digests to ``files``."""
    outside = [n for n in recorded if Path(str(n)).is_absolute() or ".." in Path(str(n)).parts]
    if outside:
        raise RunStoreError(f"run {run_dir}: manifest.json lists the file {outside[0]!r}, which is outside the run "
                            "directory; the manifest is damaged or was tampered with.")
    for name, digest in sorted(recorded.items()):
        if name not in files:
            if not (path := run_dir / name).is_file():
                raise RunStoreError(f"run {run_dir}: {name} is listed in manifest.json but missing; the run is "
                                    "incomplete or was tampered with.")
            files[name] = file_sha256(path)
        if files[name] != digest:
            raise RunStoreError(f"run {run_dir}: {name} has been modified since the run wrote it (sha256 in "
                                f"manifest.json {str(digest)[:12]}…, file now {files[name][:12]}…); the run is "
                                "tampered or damaged. Restore the original file or re-run the pipeline; never edit a "
                                "run's files.")


def open_run(run_dir: str | Path, verify: bool = True) -> StoredRun:
    """Read and check one run directory: the one reader of runs. Each file is read once: what is hashed is parsed.

    Parameters
    ----------
    run_dir : str or Path
    verify : bool
        Check every file ``manifest["files"]`` lists against its sha256.

    Returns
    -------
    StoredRun
        Else a RunStoreError naming the run and the file (missing, unparsable, modified, another
        manifest version, not one finite row per sample).
    """
    run_dir = Path(run_dir)
    blobs = _read_run_files(run_dir)
    files = {n: hashlib.sha256(b).hexdigest() for n, b in blobs.items()}
    manifest = RunManifest.from_dict(_json(run_dir, "manifest.json", blobs["manifest.json"]),
                                     run_dir / "manifest.json")
    if verify:
        _verified_hashes(run_dir, manifest.files, files)
    metrics = _json(run_dir, "metrics.json", blobs["metrics.json"])
    pooled = metrics.get("pooled", {}) if isinstance(metrics, dict) else None
    if not isinstance(pooled, dict) or not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                               for v in pooled.values()):
        raise RunStoreError(f"{run_dir}/metrics.json does not hold a mapping with 'pooled' metric values (numbers); "
                            "the run directory is damaged.")
    predictions = read_predictions(run_dir / "predictions.parquet", blobs["predictions.parquet"])
    classes = classes_of(predictions)
    codes = {c: i for i, c in enumerate(classes)}
    for col in ("y_true", "y_pred"):
        if unknown := sorted(set(predictions[col].astype(str)) - set(codes)):
            raise RunStoreError(f"{run_dir}: column {col} holds label(s) {unknown[:3]} without a score column; the "
                                "predictions file is inconsistent.")
    y, pred = (predictions[col].astype(str).map(codes).to_numpy(np.int64) for col in ("y_true", "y_pred"))
    return StoredRun(run_dir, manifest, metrics, predictions, files, classes, y, pred,
                     predictions[score_columns(predictions)].to_numpy(float),
                     predictions["subject_id"].astype(str).to_numpy(), predictions["sample_id"].astype(str).to_numpy())


def check_manifest(manifest, path: str | Path) -> None:
    """A RunStoreError unless ``manifest`` is a mapping of a known version with the keys every reader relies on."""
    if not isinstance(manifest, dict):
        raise RunStoreError(f"{path} holds no mapping (it holds {type(manifest).__name__}); the run directory is "
                            "damaged.")
    version = manifest.get("manifest_version", MANIFEST_VERSION)
    if version != MANIFEST_VERSION:
        raise RunStoreError(f"{path} has manifest version {version!r}; this mebench reads version {MANIFEST_VERSION} "
                            "only. Read the run with the mebench version that wrote it, or upgrade mebench.")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise RunStoreError(f"{path} lacks key(s) {', '.join(missing)}; it is not a mebench run manifest (or the run "
                            "was cut short). Re-run the pipeline.")
    wrong = [f"{k} ({type(manifest[k]).__name__}, expected {t.__name__})" for k, t in MANIFEST_KEYS.items()
             if not isinstance(manifest[k], t)]
    if wrong:
        raise RunStoreError(f"{path}: key(s) of the wrong type: {', '.join(wrong)}; the run directory is damaged.")
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise RunStoreError(f"{path}: 'files' must map file names to sha256 digests; the run directory is damaged.")
    config = manifest["config"]
    for key in ("dataset_opts", "features_opts", "classifier_opts", "protocol_opts"):
        if not isinstance(config.get(key, {}), dict):
            raise RunStoreError(f"{path}: config.{key} is not a mapping; the run directory is damaged.")
    metrics = config.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise RunStoreError(f"{path}: config.metrics is not a list of metric names; the run directory is damaged.")
    wrong = [f"{k} ({type(manifest[k]).__name__}, expected {t.__name__})" for k, t in OPTIONAL_MANIFEST_KEYS.items()
             if k in manifest and manifest[k] is not None and not isinstance(manifest[k], t)]
    if wrong:
        raise RunStoreError(f"{path}: key(s) of the wrong type: {', '.join(wrong)}; the run directory is damaged.")


def read_predictions(path: str | Path, data: bytes | None = None) -> pd.DataFrame:
    """Read a predictions.parquet (from ``data`` when given), checking that it is one: columns, types, rows."""
    import io

    path = Path(path)
    try:
        predictions = pd.read_parquet(path if data is None else io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise RunStoreError(f"{path} cannot be read as parquet ({type(exc).__name__}: {detail}); the file is truncated "
                            "or not a predictions file. Re-run the pipeline.") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing or not score_columns(predictions):
        raise RunStoreError(f"{path} lacks column(s) {', '.join(missing or ['score_<class>'])}; it is not a mebench "
                            "predictions file.")
    if len(predictions) == 0:
        raise RunStoreError(f"{path} holds no predictions (0 rows); the run directory is damaged.")
    for column in ("y_true", "y_pred", "subject_id", "sample_id"):
        if predictions[column].isna().any():
            row = int(predictions[column].isna().to_numpy().argmax())
            raise RunStoreError(f"{path}: column {column!r} is empty in row {row}; the predictions file is damaged.")
    scores = score_columns(predictions)
    not_numeric = [c for c in scores if not pd.api.types.is_numeric_dtype(predictions[c])
                   or pd.api.types.is_bool_dtype(predictions[c])]
    if not_numeric:
        raise RunStoreError(f"{path}: score column(s) {', '.join(not_numeric)} are not numeric; the predictions file "
                            "is damaged.")
    finite = np.isfinite(predictions[scores].to_numpy(np.float64))
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise RunStoreError(f"{path}: column {scores[col]!r} holds {predictions[scores[col]].iloc[row]} in row {row}; "
                            "every held-out sample needs finite scores. The predictions file is damaged.")
    duplicated = predictions["sample_id"].duplicated()
    if duplicated.any():
        row = int(duplicated.to_numpy().argmax())
        raise RunStoreError(f"{path}: sample {predictions['sample_id'].iloc[row]!r} is predicted more than once "
                            f"(row {row}); a run holds one held-out prediction per sample. The file is damaged.")
    return predictions


def score_columns(predictions: pd.DataFrame) -> list[str]:
    return [c for c in predictions.columns if c.startswith("score_")]


def classes_of(predictions: pd.DataFrame) -> list[str]:
    """Class labels in score-column order."""
    return [c[len("score_"):] for c in score_columns(predictions)]


# ---- the stored-run model ----
@dataclass(frozen=True)
class RunManifest:
    """A run's checked ``manifest.json``: typed accessors over the version-1 layout.

    ``raw`` keeps the manifest as written, for keys read by one consumer only (``resolved_params``).
    """

    raw: dict
    version: int = MANIFEST_VERSION

    @classmethod
    def from_dict(cls, data, path: str | Path = "manifest.json") -> "RunManifest":
        """The parsed manifest ``data`` after :func:`check_manifest` (a RunStoreError naming ``path`` otherwise)."""
        check_manifest(data, path)
        return cls(data, data.get("manifest_version", MANIFEST_VERSION))

    run_id = property(lambda self: self.raw["run_id"])
    pipeline = property(lambda self: self.raw["pipeline"])
    config = property(lambda self: self.raw["config"])
    dataset = property(lambda self: self.raw["dataset"])
    protocol = property(lambda self: self.raw["protocol"])
    features = property(lambda self: self.raw.get("features") or {})
    seeds = property(lambda self: self.raw.get("seeds") or {})
    warnings = property(lambda self: list(self.raw.get("warnings") or []))
    skipped = property(lambda self: list(self.raw.get("skipped") or []))
    n_skipped = property(lambda self: int(self.raw.get("n_skipped") or 0))
    files = property(lambda self: self.raw.get("files") or {})
    fold_hash = property(lambda self: self.protocol.get("fold_hash"))

    @property
    def dataset_name(self) -> str | None:
        return self.dataset.get("dataset") or self.config.get("dataset")

    @property
    def task(self) -> str | None:
        return self.dataset.get("task") or self.config.get("task")

    @property
    def protocol_name(self) -> str | None:
        return self.protocol.get("name") or self.config.get("protocol")

    @property
    def samples_sha256(self) -> str | None:
        """The sample-list hash after skips (what the predictions cover), else before them."""
        return self.dataset.get("sample_list_sha256_after_skips") or self.dataset.get("sample_list_sha256")

    @property
    def annotation_files(self) -> dict:
        return self.dataset.get("annotation_files") or {}

    @property
    def run_seed(self):
        return self.seeds.get("run", self.config.get("seed"))

    @property
    def versions(self) -> dict:
        """Package versions, with ``mebench`` from the older top-level ``mebench_version`` when missing."""
        v = self.raw.get("versions") or {}
        if not v.get("mebench") and self.raw.get("mebench_version"):
            v = {**v, "mebench": self.raw["mebench_version"]}
        return v


@dataclass(frozen=True, eq=False)
class StoredRun:
    """One run read back by :func:`open_run`: its files, and its predictions as class codes and arrays."""

    dir: Path
    manifest: RunManifest
    metrics: dict
    predictions: pd.DataFrame
    files: dict                  # file name -> sha256 of the bytes read
    classes: list                # class labels in score-column order
    y: np.ndarray                # true class codes
    pred: np.ndarray             # predicted class codes
    scores: np.ndarray           # (n, k)
    subjects: np.ndarray
    sample_ids: np.ndarray

    @property
    def run_id(self) -> str:
        return str(self.manifest.run_id or self.metrics.get("run_id") or self.dir.name)

    @property
    def label(self) -> str:
        """The pipeline with its explicit options: the row name of compare and of the leaderboard."""
        cfg = self.manifest.config
        opts = {**{f"f.{k}": v for k, v in (cfg.get("features_opts") or {}).items()},
                **{f"c.{k}": v for k, v in (cfg.get("classifier_opts") or {}).items()}}
        label = str(self.manifest.pipeline or self.run_id)
        return label + ("[" + ",".join(f"{k}={v}" for k, v in sorted(opts.items())) + "]" if opts else "")

    @property
    def role(self) -> str:
        return run_role(self.manifest.raw)

    @property
    def flags(self) -> tuple[list, dict]:
        return run_flags(self.manifest.raw)

    @property
    def column_identity(self) -> dict:
        return column_identity(self.manifest.raw)

    def fingerprint(self) -> dict:
        """What two runs must share to be compared pairwise: dataset, task, protocol, samples (after
        skips), annotation files, folds and label set."""
        m = self.manifest
        return {"dataset": m.dataset_name, "task": m.task, "protocol": m.protocol_name,
                "dataset fingerprint (sample_list_sha256_after_skips)": m.samples_sha256,
                "annotation files (sha256)": sorted(str(v) for v in m.annotation_files.values()),
                "fold hash (fold_hash)": m.fold_hash, "label set": sorted(self.classes)}

    def metric_names(self) -> list[str]:
        """The configured metrics that metrics.json holds (all configured ones when it holds none), else
        the ones it holds."""
        pooled = list(self.metrics.get("pooled") or {})
        configured = list(self.manifest.config.get("metrics") or [])
        return [m for m in configured if m in pooled or not pooled] or pooled

    def aligned_to(self, base: "StoredRun") -> tuple[np.ndarray, np.ndarray]:
        """This run's ``(pred, scores)`` in ``base``'s sample and class order; a RunStoreError when the runs
        hold other samples, class sets, labels or subjects."""
        pred, scores, y = self.pred, self.scores, self.y
        if list(self.classes) != list(base.classes):
            if sorted(self.classes) != sorted(base.classes):
                raise RunStoreError(f"runs {base.dir} and {self.dir} have different class sets ({base.classes} vs "
                                    f"{self.classes}); they cannot be compared pairwise.")
            to_base = np.array([list(base.classes).index(c) for c in self.classes])
            pred, y, scores = to_base[pred], to_base[y], scores[:, [list(self.classes).index(c) for c in base.classes]]
        index = {s: i for i, s in enumerate(self.sample_ids)}
        missing = [s for s in base.sample_ids if s not in index]
        if missing or len(self.sample_ids) != len(base.sample_ids):
            raise RunStoreError(f"runs {base.dir} and {self.dir} hold different samples (e.g. "
                                f"{missing[0] if missing else 'extra samples'}); they cannot be compared pairwise.")
        order = np.array([index[s] for s in base.sample_ids])
        if np.any(y[order] != base.y) or np.any(self.subjects[order] != base.subjects):
            raise RunStoreError(f"runs {base.dir} and {self.dir} disagree on the labels or subjects of the same "
                                "samples; they cannot be compared pairwise.")
        return pred[order], scores[order]


def _registered(kind: str, name):
    """The factory registered as ``name``; None when it cannot be looked up (a plugin not installed here)."""
    try:
        from .registry import REGISTRIES

        registry = REGISTRIES[kind]
        return registry.get(name) if name and name in registry else None
    except Exception:
        return None


def run_role(manifest: dict) -> str:
    """``control``, ``probe`` or ``method``: from ``manifest["roles"]``, else from the component names."""
    roles = manifest.get("roles")
    cfg = manifest.get("config") or {}
    if isinstance(roles, dict) and ("control" in roles or "probe" in roles):
        return "control" if roles.get("control") else "probe" if roles.get("probe") else "method"
    classifier, features = cfg.get("classifier"), cfg.get("features") or (manifest.get("features") or {}).get("name")
    if classifier in CONTROL_CLASSIFIERS or getattr(_registered("classifiers", classifier), "is_control", False):
        return "control"
    if features in PROBE_EXTRACTORS or getattr(_registered("extractors", features), "is_probe", False):
        return "probe"
    return "method"


def run_flags(manifest: dict) -> tuple[list, dict]:
    """``(sorted flags, {flag: reason})``: the honesty flags (LEAKY, contaminated, untrained) of a manifest.

    Recorded flags are kept and the runner's audit is applied too, so older runs are flagged and a draft
    gets the flags the runner records. A draft may add facts a manifest does not keep:
    ``protocol["leak"]``, ``dataset["evaluated"]`` (every dataset in the samples) and
    ``features["untrained"]`` (the extractor's own verdict).
    """
    reasons: dict = {}
    recorded_reasons = manifest.get("flag_reasons") or {}
    for f in manifest.get("flags") or []:
        reasons[str(f)] = str(recorded_reasons.get(f) or "recorded in manifest.json")
    protocol, ds, cfg = manifest.get("protocol") or {}, manifest.get("dataset") or {}, manifest.get("config") or {}
    feats, clf = manifest.get("features") or {}, manifest.get("classifier") or {}
    name = protocol.get("name") or cfg.get("protocol")
    leak = [w for w in (manifest.get("warnings") or []) + (protocol.get("audit") or [])
            if isinstance(w, str) and w.startswith(("LEAKAGE:", "LEAKAGE UNKNOWN"))]
    if protocol.get("leaky"):
        audit = f"protocol {name!r} reproduces a leaky practice ({protocol.get('leak', LEAK)})"
    elif protocol.get("shared_subjects"):
        audit = (f"protocol {name!r} is not subject-disjoint: subjects appear in both train and test in "
                 f"{len(protocol['shared_subjects'])} fold(s)")
    elif not ds.get("identities", True):
        audit = "the dataset has no speaker identities, so leakage between clips of one person is unknown"
    else:
        audit = leak[0].split(";")[0] if leak else None
    if audit:
        reasons.setdefault("LEAKY", audit)
    evaluated = {str(d).lower() for d in [cfg.get("dataset"), ds.get("dataset"), *(ds.get("parts") or []),
                                          *(ds.get("evaluated") or [])] if d}
    contaminated = []  # a net's starting weights count too; a net trained from scratch is not "untrained"
    for what, part in ((f"extractor {feats.get('name', cfg.get('features'))!r}", feats),
                       (f"classifier {clf.get('name', cfg.get('classifier'))!r}", clf)):
        overlap = sorted({str(d).lower() for d in (part.get("trained_on") or ())} & evaluated)
        if overlap:
            contaminated.append(f"{what} holds a model trained on {', '.join(overlap)}, the data this run evaluates on")
    if contaminated:
        reasons.setdefault("contaminated", "; ".join(contaminated))
    weights = (cfg.get("features_opts") or {}).get("weights")
    if feats.get("untrained", isinstance(weights, str) and weights.lower() == "none"):
        reasons.setdefault("untrained", f"extractor {feats.get('name', cfg.get('features'))!r} ran with randomly "
                                        "initialised weights (weights=none)")
    flags = sorted(reasons)
    return flags, {f: reasons[f] for f in flags}


def _defaults(kind: str, name) -> dict:
    """Scalar keyword defaults of a registered factory (empty when it cannot be looked up)."""
    import inspect

    factory = _registered(kind, name)
    if factory is None:
        return {}
    try:
        target = factory.__init__ if inspect.isclass(factory) else factory
        return {p.name: p.default for p in inspect.signature(target).parameters.values()
                if p.name not in ("self", "root") and p.default is not inspect.Parameter.empty
                and (isinstance(p.default, (str, int, float, bool)) or p.default is None)}
    except Exception:
        return {}


_SEED_KEYS = ("seed", "random_state")


def _normalised(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def column_identity(manifest: dict) -> dict:
    """What defines a leaderboard column: dataset, task, protocol and their options (defaults filled).

    Seeds are left out on purpose: runs with different seeds hold different samples or folds, and
    the column check refuses them with the hashes that differ.
    """
    cfg = manifest.get("config") or {}
    ds = manifest.get("dataset") or {}
    dataset = ds.get("dataset") or cfg.get("dataset")
    proto = (manifest.get("protocol") or {}).get("name") or cfg.get("protocol")
    dopts = {**_defaults("datasets", dataset), **(cfg.get("dataset_opts") or {})}
    popts = {**_defaults("protocols", proto), **(cfg.get("protocol_opts") or {})}
    clean = lambda d: {str(k): _normalised(v) for k, v in sorted(d.items()) if k not in _SEED_KEYS}  # noqa: E731
    return {"dataset": dataset, "task": ds.get("task") or cfg.get("task"), "protocol": proto,
            "dataset_opts": clean(dopts), "protocol_opts": clean(popts)}
