"""What a run records about itself: environment, identity, resolved parameters and honesty flags."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .. import __version__
from .build import classifier_of
from .spec import Prepared, RunSpec

KEY_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "statsmodels", "torch", "torchvision", "timm",
                "opencv-contrib-python", "mediapipe", "joblib", "threadpoolctl")


def _git_hash() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict:
    """``{name: version}`` of mebench, Python and the packages that can change a result (None: not installed)."""
    versions = {"mebench": __version__, "python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def code_identity(plugins) -> dict:
    """What must not change between a kill and a resume: mebench's version and commit, and the
    content of the plugin files (fold shards computed by other code are never mixed in)."""
    from ..hashing import file_sha256

    return {"mebench_version": __version__, "git_hash": _git_hash(),
            "plugins_sha256": {str(Path(p).resolve()): file_sha256(p) if Path(p).is_file() else None
                               for p in plugins}}


def run_identity(spec: RunSpec, fingerprint: dict) -> str:
    """Run id from the resolved config and the dataset as loaded (known before any extraction):
    ``dataset-task-features-classifier-protocol-<10 hex digits>``."""
    blob = json.dumps({"config": spec.config(), "fingerprint": fingerprint}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
    task = spec.task or "default"
    return f"{spec.dataset}-{task}-{spec.features}-{spec.classifier}-{spec.protocol}-{digest}"


def run_flags(prepared: Prepared, manifest: dict) -> tuple[list[str], dict[str, str]]:
    """The honesty flags by the one rule every reader applies (:func:`mebench.store.run_flags`), given
    the facts a manifest does not keep: how a leaky protocol leaks, every dataset in the samples, the
    extractor's own untrained verdict and the classifier's training data."""
    from ..store import run_flags as stored_run_flags

    protocol, classifier = prepared.protocol, classifier_of(prepared.estimator)
    leak = {"leak": protocol.leak} if hasattr(protocol, "leak") else {}
    return stored_run_flags({
        **manifest, "protocol": {**manifest["protocol"], **leak},
        "dataset": {**manifest["dataset"], "evaluated": sorted(prepared.samples["dataset"].astype(str).unique())},
        "features": {**manifest["features"], "untrained": bool(getattr(prepared.extractor, "untrained", False))},
        "classifier": {**manifest["classifier"], "trained_on": sorted(getattr(classifier, "trained_on", ()) or ())}})


def _classifier_provenance(spec: RunSpec, prepared: Prepared) -> dict:
    """The classifier's name, and for a net that starts from weights, their files and training data."""
    clf = classifier_of(prepared.estimator)
    out: dict = {"name": spec.classifier}
    if callable(getattr(clf, "model_files", None)):
        out.update(model_files=clf.model_files(), trained_on=sorted(getattr(clf, "trained_on", ()) or ()),
                   from_scratch=bool(getattr(clf, "untrained", False)))
    return out


def _plain_params(estimator) -> dict:
    params = estimator.get_params(deep=True) if hasattr(estimator, "get_params") else {}
    return {k: v for k, v in sorted(params.items()) if isinstance(v, (int, float, str, bool, type(None)))}


def _resolved_params(prepared: Prepared) -> dict:
    """Every scalar parameter of the extractor and classifier actually used, defaults included."""
    extractor = prepared.extractor
    features = ({name: _plain_params(part) for name, part in extractor.parts} if hasattr(extractor, "parts")
                else _plain_params(extractor))
    return {"features": features, "classifier": _plain_params(classifier_of(prepared.estimator))}


def build_manifest(prepared: Prepared, cv, run_id: str, t0: float, started: str, first_started: str) -> dict:
    """The manifest of a run whose folds are all done (``write_run`` adds the file hashes); ``t0`` and
    ``started``: when this session started, ``first_started``: when the run did (earlier if resumed)."""
    from ..data.schema import sample_list_hash
    from ..model_files import fetch_log

    spec, dataset, extractor = prepared.spec, prepared.dataset, prepared.extractor
    warnings = list(getattr(dataset, "warnings", [])) + list(prepared.split.warnings)
    for fold, note in zip(prepared.split.folds, cv.notes):
        if note:
            warnings.append(f"fold {fold.name}: {note}")
    if prepared.extraction.get("cache_warning"):
        warnings.append(prepared.extraction["cache_warning"])
    fingerprint = dataset.fingerprint()
    fingerprint["sample_list_sha256_after_skips"] = sample_list_hash(prepared.samples)
    skipped = list(getattr(dataset, "skipped", [])) + prepared.extraction.get("skipped", [])
    extraction = {k: v for k, v in prepared.extraction.items() if k != "skipped"}
    manifest = {
        "run_id": run_id,
        "mebench_version": __version__,
        "versions": package_versions(),
        "git_hash": _git_hash(),
        "config": spec.config(),
        "pipeline": spec.pipeline,
        "resolved_params": _resolved_params(prepared),
        "seeds": prepared.seeds,
        "dataset": {**fingerprint, "task": spec.task or dataset.tasks[0],
                    "identities": getattr(dataset, "identities", True),
                    "counts": dict(getattr(dataset, "counts", {})),
                    "info": type(dataset).info()},
        "protocol": {"name": spec.protocol, "n_folds": len(prepared.split.folds),
                     "fold_hash": prepared.split.fold_hash,
                     "subject_wise": getattr(prepared.protocol, "subject_wise", None),
                     "leaky": bool(getattr(prepared.protocol, "leaky", False)),
                     "shared_subjects": prepared.split.shared_subjects,
                     "audit": list(prepared.split.warnings)},
        "classifier": _classifier_provenance(spec, prepared),
        "features": {"name": spec.features, **extraction,
                     "trained_on": sorted(getattr(extractor, "trained_on", ()) or ()),
                     "provenance": extractor.provenance() if hasattr(extractor, "provenance") else {}},
        "roles": {"control": bool(getattr(classifier_of(prepared.estimator), "is_control", False)),
                  "probe": bool(getattr(extractor, "is_probe", False))},
        "model_fetches": fetch_log(since=t0),  # network access during this run (mebench.model_files)
        "skipped": skipped,
        "n_skipped": len(skipped),
        "warnings": warnings,
        "started": started,
        "duration_s": round(time.time() - t0, 3),
        "platform": {"system": platform.platform(), "python": sys.version.split()[0],
                     "jobs": spec.jobs, "backend": spec.backend, "folds_on_parallel_workers": cv.parallel,
                     "folds_seconds": round(cv.seconds, 3), "blas_threads_per_worker": 1},
        "resume": {"folds_resumed": cv.resumed, "folds_computed": len(prepared.split.folds) - cv.resumed,
                   "features_from_cache": prepared.extraction.get("cache_hits", 0),
                   "first_started": first_started},  # started / duration_s: this session
    }
    flags, reasons = run_flags(prepared, manifest)  # from the draft: warnings hold no flag lines yet
    warnings.extend(f"{flag}: {reasons[flag]}" for flag in flags)
    return {**manifest, "flags": flags, "flag_reasons": reasons}
