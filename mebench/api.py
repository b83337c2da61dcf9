"""The Python entry point for notebooks: :func:`evaluate` a pipeline, :func:`load_run` a stored one.

Both stand on the command line's own code path: the arguments become a validated
:class:`~mebench.config.Config` (the checks and messages of ``--config`` files), then a
:class:`~mebench.run.RunSpec` that :func:`mebench.run.check_spec` resolves before any data is read
and :func:`mebench.run.execute` runs into a run directory, exactly as ``mebench run`` does. The
returned :class:`Run` reads that directory back with :func:`mebench.store.open_run`; its
statistics, comparisons and report are those of ``mebench stats``, ``mebench compare`` and
``mebench report`` (:func:`mebench.stats.runs.run_stats`, :func:`~mebench.stats.runs.compare_runs`,
:func:`mebench.leaderboard.report.render_report`). The run directory stays the unit of truth.
"""
from __future__ import annotations

from pathlib import Path

from .config import CONFIG_KEYS, Config, merge
from .errors import RunStoreError, UsageError, did_you_mean

API_SOURCE = "mebench.evaluate()"
EXECUTION_KEYS = ("out", "jobs", "backend", "plugins", "use_cache", "on_error", "progress")


class Run:
    """A run directory opened for reading: metrics, predictions, statistics, comparisons and its report.

    Attributes
    ----------
    dir : Path
        The run directory.
    run_id : str
    metrics : dict
        Pooled metrics, ``{metric: value}`` (``metrics.json``'s ``pooled`` block).
    predictions : pandas.DataFrame
        One row per held-out sample (the stored ``predictions.parquet``).
    manifest : dict
        ``manifest.json`` as written.
    """

    def __init__(self, stored):
        self._stored = stored

    @property
    def dir(self) -> Path:
        return self._stored.dir

    @property
    def run_id(self) -> str:
        return self._stored.run_id

    @property
    def pipeline(self) -> str:
        """The pipeline with its explicit options (the row name of ``compare`` and the leaderboard)."""
        return self._stored.label

    @property
    def metrics(self) -> dict:
        return dict(self._stored.metrics.get("pooled") or {})

    @property
    def details(self) -> dict:
        """All of ``metrics.json``: per fold, per subject, per dataset, baselines and the prior-shift diagnostic."""
        return self._stored.metrics

    @property
    def predictions(self):
        return self._stored.predictions.copy()

    @property
    def manifest(self) -> dict:
        return self._stored.manifest.raw

    @property
    def flags(self) -> list:
        """LEAKY, contaminated, untrained: what makes the run's numbers unfit for ranking (reasons in the manifest)."""
        return list(self._stored.flags[0])

    def stats(self, permutations: int | None = None, bootstrap: int = 2000, seed: int = 0, jobs: int = 1,
              method: str = "auto", scheme: str = "auto", ci: str = "bca", level: float = 0.95, metrics=None,
              plugins=(), progress: bool = True, early_stop: int | None = None) -> dict:
        """Bootstrap CIs and the permutation test against chance, as ``mebench stats``; written to ``stats.json``.

        ``permutations`` None is the default (1000; a net's refits must be asked for), 0 skips the test;
        ``early_stop`` is h of the sequential rule (None: the default, 20; 0: keep every row, a fixed design
        that any later comparison can use). Returns the ``stats.json`` content.
        """
        from .progress import Progress
        from .stats.runs import run_stats
        from .workers import resolve_jobs

        with Progress(enabled=progress) as display:
            task = display.task("permutations", unit="permutations")
            return run_stats(self.dir, permutations, bootstrap, resolve_jobs(jobs), seed, method, scheme, ci, level,
                             list(metrics) if metrics else None, tuple(plugins), task.callback(),
                             early_stop=early_stop)

    def compare(self, other, *more, metrics=None, permutations: int = 999, bootstrap: int = 2000, seed: int = 0,
                ci: str = "bca", level: float = 0.95, progress: bool = True, refit: bool = True,
                early_stop: int | None = None, swaps: int = 10000) -> dict:
        """Paired comparison with ``other`` (and ``more``), as ``mebench compare``: the same samples and folds
        are required; ``permutations`` rows of the refit studentised test (stored rows reused, missing ones
        refit unless ``refit=False``); returns the JSON result of ``mebench compare --json``."""
        from .progress import Progress
        from .stats.runs import compare_runs

        dirs = [self.dir] + [_run_dir(r) for r in (other, *more)]
        if len({Path(d).resolve() for d in dirs}) < len(dirs):
            raise UsageError("compare needs different runs; the same run is given twice.")
        with Progress(enabled=progress) as display:
            task = display.task("compare", unit="comparisons")
            return compare_runs(dirs, list(metrics) if metrics else None, permutations, bootstrap, seed, ci, level,
                                n_swaps=swaps, refit=refit, early_stop=early_stop, progress=task.callback())

    def report(self, out=None, bootstrap: int = 2000, seed: int = 0, overwrite: bool = False,
               progress: bool = True):
        """The self-contained HTML report of ``mebench report``: the page as a string, or written to ``out``
        (an existing file only with ``overwrite=True``) and its path returned."""
        from .fsutil import atomic_write_bytes
        from .leaderboard.report import render_report
        from .progress import Progress

        if out is not None and Path(out).exists() and not overwrite:
            raise RunStoreError(f"{out} exists; pass another path or overwrite=True.")
        with Progress(enabled=progress) as display:
            text = render_report(self.dir, n_resamples=bootstrap, seed=seed,
                                 progress=display.task("report", unit="steps").callback())
        if out is None:
            return text
        atomic_write_bytes(out, text.encode("utf-8"))
        return Path(out)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in self.metrics.items())
        flags = f" [{', '.join(self.flags)}]" if self.flags else ""
        return f"<mebench Run {self.run_id}{flags}: {self.pipeline}; {shown}; in {self.dir}>"


def _run_dir(run) -> Path:
    return run.dir if isinstance(run, Run) else Path(run)


def load_run(path) -> Run:
    """Open a stored run directory (file hashes and predictions checked, as every mebench command does)."""
    from .store import open_run

    return Run(open_run(path))


def evaluate(dataset: str = "synthetic", features: str = "hoof", classifier: str = "logreg", protocol: str = "loso",
             **opts) -> Run:
    """Evaluate a pipeline under a protocol, as ``mebench run``; returns the finished :class:`Run`.

    Parameters
    ----------
    dataset, features, classifier, protocol : str
        Registered names (``mebench list``).
    **opts
        Any key of a run config: ``task``, ``root``, ``seed``, ``metrics`` and the option mappings
        ``dataset_opts``, ``features_opts``, ``classifier_opts``, ``protocol_opts``; and the execution
        knobs ``out`` (default ``runs/<run_id>``), ``jobs``, ``backend``, ``plugins``, ``use_cache``,
        ``on_error`` and ``progress`` (False shows nothing).

    Returns
    -------
    Run
    """
    from .progress import Progress, RunProgress
    from .run import RunSpec, check_spec, execute
    from .workers import resolve_jobs

    unknown = [k for k in opts if k not in CONFIG_KEYS and k not in EXECUTION_KEYS]
    if unknown:
        known = sorted(set(CONFIG_KEYS) | set(EXECUTION_KEYS))
        raise UsageError(f"{API_SOURCE}: unknown argument {unknown[0]!r}.{did_you_mean(unknown[0], known)} It takes "
                         f"{', '.join(known)}.")
    execution = {k: opts.pop(k) for k in EXECUTION_KEYS if k in opts}
    show = execution.pop("progress", True)
    values = {"dataset": dataset, "features": features, "classifier": classifier, "protocol": protocol, **opts}
    config = merge(Config({k: v for k, v in values.items() if v is not None}, API_SOURCE).validate())
    spec = RunSpec(**config.spec_kwargs(), jobs=resolve_jobs(execution.get("jobs", 1)),
                   backend=execution.get("backend", "loky"), out=execution.get("out"),
                   plugins=tuple(str(p) for p in execution.get("plugins", ())),
                   use_cache=execution.get("use_cache", True), on_error=execution.get("on_error", "raise"))
    if spec.out is not None:
        spec.out = str(spec.out)
    check_spec(spec)
    with Progress(enabled=show) as display:
        steps = RunProgress(display, f"{spec.pipeline} · {spec.protocol}")
        result = execute(spec, progress=steps.folds, fit_progress=steps.epochs, extract_progress=steps.samples)
    return load_run(result.run_dir)
