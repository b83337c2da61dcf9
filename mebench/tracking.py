"""Optional experiment tracking: a finished run directory logged to MLflow (``--mlflow [URI]``).

Logged: the resolved config as params, the pooled metrics (and the majority control and prior-shift
diagnostic when present), the bootstrap CIs of ``stats.json`` when it exists, tags naming the
mebench run id, dataset fingerprint, fold hash and honesty flags, and the run's files as artifacts.
The default store is local: MLflow 3 keeps its file-system backend in maintenance mode and refuses
it, so the default is a SQLite file ``mlflow.db`` with artifacts under ``mlartifacts/``, both in
the working directory. The run directory stays the unit of truth; MLflow is a view of it.
"""
from __future__ import annotations

from pathlib import Path

from .errors import ConfigError, RunStoreError

DEFAULT = "default"
EXPERIMENT = "mebench"


def tracking_uri(uri: str | None) -> str:
    if uri in (None, "", DEFAULT):
        return f"sqlite:///{Path('mlflow.db').resolve()}"
    return uri


def log_run(run_dir: str | Path, uri: str | None = None, experiment: str = EXPERIMENT) -> str:
    """Log one run directory to MLflow; returns the MLflow run id."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigError(f"--mlflow needs MLflow: pip install 'mebench[mlflow]' ({exc}).") from None
    from .store import open_run

    run = open_run(run_dir)
    man, metrics = run.manifest, run.metrics
    client = MlflowClient(tracking_uri=tracking_uri(uri))
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        artifacts = None if uri not in (None, "", DEFAULT) else Path("mlartifacts").resolve().as_uri()
        experiment_id = client.create_experiment(experiment, artifact_location=artifacts)
    tags = {"mebench.run_id": man.run_id, "mebench.pipeline": man.pipeline,
            "mebench.dataset": man.dataset.get("dataset", ""), "mebench.protocol": man.protocol.get("name", ""),
            "mebench.fold_hash": man.fold_hash or "",
            "mebench.sample_list_sha256": man.dataset.get("sample_list_sha256", ""),
            "mebench.flags": ",".join(run.flags[0]) or "none", "mlflow.runName": man.run_id}
    earlier = client.search_runs([experiment_id], filter_string=f"tags.`mebench.run_id` = '{tags['mebench.run_id']}'",
                                 max_results=1)
    if earlier:  # logged before (by `mebench run`): add what is new, e.g. the CIs of `mebench stats`
        rid = earlier[0].info.run_id
        logged = set(earlier[0].data.params)
    else:
        rid = client.create_run(experiment_id, tags=tags).info.run_id
        logged = set()
    for key, value in sorted(_flat(man.config).items()):
        if key not in logged:
            client.log_param(rid, key, str(value)[:6000])
    for key, value in sorted(_metric_values(metrics, run.dir).items()):
        client.log_metric(rid, key, value)
    for path in sorted(run.dir.iterdir()):
        if path.is_file():
            client.log_artifact(rid, str(path))
    client.set_terminated(rid)
    return rid


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def _metric_values(metrics: dict, run_dir) -> dict:
    import json
    import math

    values = {}

    def put(name, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            values[name] = float(value)

    for name, value in (metrics.get("pooled") or {}).items():
        put(name, value)
    for name, value in ((metrics.get("baselines") or {}).get("majority") or {}).items():
        put(f"majority.{name}", value)
    for name, value in ((metrics.get("prior_shift") or {}).get("pooled") or {}).items():
        put(f"prior_shift.{name}", value)
    stats = Path(run_dir) / "stats.json"
    if stats.is_file():
        try:
            data = json.loads(stats.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunStoreError(f"{stats} is damaged ({exc}); run `mebench stats` on the run again.") from None
        entries = data.get("metrics") if isinstance(data, dict) else None
        for name, entry in (entries if isinstance(entries, dict) else {}).items():
            if not isinstance(entry, dict):
                continue
            put(f"{name}.ci_low", entry.get("ci_low"))
            put(f"{name}.ci_high", entry.get("ci_high"))
            put(f"{name}.p_value", entry.get("p_value"))
    return values
