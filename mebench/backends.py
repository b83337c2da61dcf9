"""Where parallel work runs: joblib's ``loky`` (default), Ray or Dask.

Every parallel loop of a run (feature chunks, folds, permutations) is a joblib ``Parallel`` call
made inside :func:`parallel_backend`, so the engine is a run option (``--backend`` or
``MEBENCH_BACKEND``), not a code change. Ray and Dask reuse a running instance when there is one
(``ray.init(address=...)`` done by the caller, ``MEBENCH_RAY_ADDRESS``, or a current
``dask.distributed.Client`` / ``MEBENCH_DASK_SCHEDULER``) and otherwise start a local one with
``jobs`` single-threaded workers for the duration of the call. Tasks pin BLAS to one thread
themselves, whatever the engine.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from .errors import ConfigError

BACKENDS = ("loky", "ray", "dask")
# Below this much estimated serial work (seconds), parallel workers cost more than they save
# (starting a worker and importing the scientific stack takes ~0.8 s here).
MIN_PARALLEL_WORK_S = 2.5


def resolve_backend(name: str | None = None) -> str:
    """``name``, else ``$MEBENCH_BACKEND``, else ``loky``; unknown names are a ConfigError."""
    value = (name or os.environ.get("MEBENCH_BACKEND") or "loky").strip().lower()
    if value not in BACKENDS:
        raise ConfigError(f"unknown backend {value!r}; choose one of {', '.join(BACKENDS)} "
                          "(--backend or MEBENCH_BACKEND).")
    return value


_BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def parallel_backend(backend: str, jobs: int):
    """A joblib context running ``Parallel`` calls on ``backend`` with ``jobs`` workers."""
    from joblib import parallel_config

    backend = resolve_backend(backend)
    if backend == "loky":
        from .workers import worker_pool

        with worker_pool(n_jobs=jobs):  # one BLAS thread per worker; workers die with this process
            yield
    elif backend == "ray":
        with _ray(jobs):
            with parallel_config(backend="ray", n_jobs=jobs):
                yield
    else:
        with _dask(jobs):
            with parallel_config(backend="dask", n_jobs=jobs):
                yield


@contextmanager
def _ray(jobs: int):
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError as exc:
        raise ConfigError(f"--backend ray needs Ray: pip install 'mebench[ray]' ({exc}).") from None
    from .registry import pickle_plugins_by_value

    register_ray()
    started = False
    if not ray.is_initialized():
        address = os.environ.get("MEBENCH_RAY_ADDRESS")
        kwargs = {"address": address} if address else {"num_cpus": jobs, "include_dashboard": False}
        try:
            ray.init(log_to_driver=False, configure_logging=False, runtime_env={"env_vars": dict(_BLAS_ENV)},
                     **kwargs)
        except (ConnectionError, TimeoutError, OSError, RuntimeError) as exc:
            where = f"the Ray cluster at {address} (MEBENCH_RAY_ADDRESS)" if address else "a local Ray instance"
            raise ConfigError(f"--backend ray could not start or reach {where}: {exc}") from None
        started = True
    pickle_plugins_by_value("ray.cloudpickle")
    try:
        yield
    finally:
        if started:
            ray.shutdown()


@contextmanager
def _dask(jobs: int):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(f"--backend dask needs Dask: pip install 'mebench[dask]' ({exc}).") from None
    try:
        Client.current()
        client = cluster = None
    except ValueError:  # no client yet: connect to $MEBENCH_DASK_SCHEDULER or start a local cluster
        address = os.environ.get("MEBENCH_DASK_SCHEDULER")
        if address:
            try:
                cluster, client = None, Client(address, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"--backend dask could not reach the scheduler at {address} "
                                  f"(MEBENCH_DASK_SCHEDULER): {exc}") from None
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                                   env=dict(_BLAS_ENV))
            client = Client(cluster)
    try:
        yield
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def run_tasks(tasks, jobs: int):
    """Yield the results of joblib ``delayed`` tasks in order, each as soon as it (and those before it)
    finished, under the active backend; engines without result streaming (Ray) go in batches."""
    from joblib import Parallel
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    if getattr(backend, "supports_return_generator", False):
        yield from Parallel(return_as="generator")(tasks)
        return
    batch: list = []
    for task in tasks:
        batch.append(task)
        if len(batch) == 2 * jobs:
            yield from Parallel()(batch)
            batch = []
    if batch:
        yield from Parallel()(batch)
