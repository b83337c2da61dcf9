"""Cross-validation: the split into folds, one fit per fold on an executor, held-out scores.

Every fold loop goes through one interface, :class:`FoldExecutor`: :class:`SerialExecutor` in this
process, :class:`BackendExecutor` on the chosen joblib backend (loky, Ray, Dask), and
:class:`BatchedExecutor` for nets that train folds together. :class:`Checkpointed` wraps any of
them so that finished folds are reused from, and written to, a run's checkpoint.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import backends, crashwatch
from ..errors import DataError, MebenchError, PluginError
from ..registry import PROTOCOLS
from ..workers import usable_workers
from .build import classifier_of
from .failures import component_errors
from .spec import DEFAULT_METRICS, Loaded, Prepared, RunSpec


def split(loaded: Loaded, features) -> Prepared:
    """The split stage: the protocol's folds over the samples ``features`` kept, checked, and the label codes.

    Parameters
    ----------
    loaded, features : Loaded, mebench.run.extract.Features

    Returns
    -------
    Prepared
    """
    spec, dataset, samples = loaded.spec, loaded.dataset, features.samples
    if samples["subject_id"].nunique() < 2:
        raise MebenchError(
            f"dataset {spec.dataset!r} has {samples['subject_id'].nunique()} subject(s) left; subject-wise "
            "evaluation needs at least two. Add subjects (synthetic: --dataset-opt subjects=N)."
        )
    folds = loaded.protocol.run(samples, identities=getattr(dataset, "identities", True))
    times_tested = np.zeros(len(samples), int)
    for fold in folds.folds:
        times_tested[fold.test] += 1
    if (times_tested > 1).any():
        first = int(np.flatnonzero(times_tested > 1)[0])
        raise MebenchError(
            f"protocol {spec.protocol!r} puts sample {samples['sample_id'].iloc[first]!r} in the test set of "
            f"{times_tested[first]} folds; mebench keeps one held-out prediction per sample. Use test folds that "
            "partition the samples."
        )
    if (times_tested == 0).any():
        folds.warnings.append(f"{int((times_tested == 0).sum())} sample(s) are in no test fold: used for training "
                              "only, never evaluated")
    classes = sorted(samples["label"].astype(str).unique())
    if len(classes) < 2:
        raise MebenchError(f"dataset {spec.dataset!r} has a single class ({classes[0]!r}); nothing to classify.")
    y = np.searchsorted(classes, samples["label"].astype(str).to_numpy())
    return Prepared(spec, dataset, samples, classes, y, folds, features.X, features.estimator, loaded.seeds,
                    features.extraction, features.extractor, loaded.protocol, features.fit_targets)


def prepare_arrays(X, labels, subjects, estimator, protocol: str = "loso", metrics=None, seed: int = 0,
                   sample_ids=None, classifier: str | None = None) -> Prepared:
    """A :class:`Prepared` run over an in-memory feature matrix (statistics, tests, benchmarks).

    Parameters
    ----------
    X, labels, subjects, estimator
        The features, label and subject of every row; the classifier refitted per fold.
    protocol, metrics, seed, sample_ids, classifier
        Protocol and metric names, the seed, sample ids (default ``s00000``...), the classifier name
        recorded in the spec (default: the estimator's class name).

    Returns
    -------
    Prepared
        A run over the ``arrays`` dataset.
    """
    labels = np.asarray(labels).astype(str)
    subjects = np.asarray(subjects).astype(str)
    n = len(labels)
    ids = np.asarray(sample_ids).astype(str) if sample_ids is not None else np.array([f"s{i:05d}" for i in range(n)])
    samples = pd.DataFrame({"sample_id": ids, "dataset": "arrays", "subject_id": subjects, "label": labels})
    classes = sorted(set(labels))
    y = np.searchsorted(classes, labels)
    folds = PROTOCOLS.create(protocol).run(samples)
    spec = RunSpec(dataset="arrays", classifier=classifier or type(estimator).__name__, protocol=protocol,
                   metrics=tuple(metrics or DEFAULT_METRICS), seed=seed)
    return Prepared(spec=spec, dataset=None, samples=samples, classes=classes, y=y, split=folds,
                    X=np.asarray(X, dtype=np.float64), estimator=estimator, seeds={"run": seed}, extraction={})


@dataclass
class CrossPredictions:
    """Held-out predictions of every fold: scores (n, k) and predicted codes (n,), NaN / -1 where untested."""

    scores: np.ndarray
    pred: np.ndarray
    notes: list
    resumed: int = 0          # folds taken from a checkpoint instead of refitted
    parallel: bool = False    # whether the folds ran on parallel workers
    seconds: float = 0.0      # wall time of the cross-prediction (resumed folds cost nothing)


@dataclass(frozen=True)
class ArrayFile:
    """A feature matrix saved once as .npy; tasks open it memory-mapped instead of receiving a copy."""

    path: str

    def load(self):
        return np.load(self.path, mmap_mode="r")


def fit_params_for(estimator, **candidates) -> dict:
    """The keyword arguments among ``candidates`` that the estimator's fit takes (routed as
    ``step__name`` through pipelines, to their final step); ``None`` values are dropped."""
    import inspect

    prefix, final = "", estimator
    while hasattr(final, "steps"):
        name, final = final.steps[-1]
        prefix += f"{name}__"
    try:
        accepted = inspect.signature(final.fit).parameters
    except (TypeError, ValueError):
        return {}
    return {prefix + k: v for k, v in candidates.items() if v is not None and k in accepted}


def _single_class(code: int, n_test: int, n_classes: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A training fold with one class predicts it for every test sample, with score 1."""
    scores = np.zeros((n_test, n_classes))
    scores[:, code] = 1.0
    return (scores, np.full(n_test, code, dtype=np.int64),
            "training fold has a single class; predicted it for every test sample")


def _describe(estimator) -> str:
    steps = getattr(estimator, "named_steps", None)
    return " -> ".join(type(v).__name__ for v in steps.values()) if steps else type(estimator).__name__


@contextmanager
def _fold_errors(estimator, X):
    """A bug inside a fold's fit or predict becomes a clear error naming the pipeline; NaN or infinite values that a
    stateful extractor (fit in the fold) handed the classifier are named as that extractor's output."""
    steps = getattr(estimator, "named_steps", None) or {}
    try:
        with component_errors(f"pipeline {_describe(estimator)}", "while fitting or predicting a fold",
                              getattr(X, "hidden_columns", ())):
            yield
    except PluginError as exc:
        text = str(exc)
        if "features" in steps and ("NaN" in text or "infinity" in text) and "raised ValueError" in text:
            raise DataError(f"extractor {type(steps['features']).__name__} (fit in each fold) returned NaN or infinite "
                            f"features, which the classifier refused: {text.split(': ', 1)[-1].split('. This is')[0]}",
                            hint="Fix the extractor or its options; the classifier is not at fault.") from None
        raise


def fit_predict_fold(estimator, X, y, train, test, n_classes: int, annotation_targets=None, keep_model: bool = False,
                     groups=None, leaky: bool = False, progress: Callable | None = None, pin_blas: bool = True):
    """Fit a fresh clone on the training rows, predict the test rows.

    Scores sit on the full label set (a class absent from the training fold scores 0); a classifier
    with a ``classes`` parameter (the controls) is given that set instead. ``groups`` reaches fit as
    the training rows' subjects when fit takes it (subject-disjoint inner splits for nets); under a
    leaky protocol only, the test rows reach fit as ``eval_set`` (test-set epoch selection).

    Parameters
    ----------
    estimator, X, y, train, test, n_classes
        Cloned per fold; every sample's features (or label-free table, or ArrayFile) and label codes;
        the fold's rows; the size of the full label set.
    annotation_targets, keep_model, groups, leaky, progress, pin_blas
        A stateful extractor's targets (training rows reach fit as ``features__targets``); whether to
        return the model; every sample's subject; whether the protocol is leaky; ``progress(done,
        total)`` in epochs; pin BLAS to one thread here (False: the caller did).

    Returns
    -------
    tuple
        ``(scores (n_test, n_classes), predicted codes (n_test,), note or None, model or None)``.
    """
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    if isinstance(X, ArrayFile):
        X = X.load()
    Xtr = X.iloc[train] if isinstance(X, pd.DataFrame) else np.asarray(X[train])
    Xte = X.iloc[test] if isinstance(X, pd.DataFrame) else np.asarray(X[test])
    present = np.unique(y[train])
    model = clone(estimator)
    takes_classes = "classes" in model.get_params(deep=False)  # the controls: scores over the full label set
    if takes_classes:
        model.set_params(classes=np.arange(n_classes))
    elif len(present) == 1:
        return (*_single_class(present[0], len(test), n_classes), None)
    fit_params = fit_params_for(model, groups=None if groups is None else np.asarray(groups)[train],
                                eval_set=(Xte, y[test]) if leaky else None, progress=progress)
    if annotation_targets is not None:  # a stateful extractor's targets: training rows only
        fit_params["features__targets"] = annotation_targets.iloc[train]
    with _fold_errors(estimator, X):
        with threadpool_limits(1) if pin_blas else nullcontext():
            model.fit(Xtr, y[train], **fit_params)
            scores, pred = _held_out_scores(model, estimator, Xte, n_classes)
    notes = []
    if len(present) < n_classes and not takes_classes:
        notes.append(f"training fold lacks {n_classes - len(present)} class(es); their scores are 0")
    if leaky and not any(k.endswith("eval_set") for k in fit_params):
        notes.append("the leaky protocol had no effect: this classifier's fit takes no eval_set")
    return scores, pred, "; ".join(notes) or None, (model if keep_model else None)


def _held_out_scores(model, estimator, Xte, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores on the full label set, predicted codes) of a fitted fold model; a class it never saw scores 0."""
    pred = None
    if hasattr(model, "scores_and_predictions"):  # both from one pass (the SVMs' decision function)
        proba, pred = model.scores_and_predictions(Xte)
    elif hasattr(model, "predict_proba"):
        proba = model.predict_proba(Xte)
    else:
        from ..classifiers.sklearn_family import softmax_scores

        proba = softmax_scores(model.decision_function(Xte))
    proba = np.asarray(proba, dtype=np.float64)
    if not np.isfinite(proba).all():
        raise PluginError(f"pipeline {_describe(estimator)} returned non-finite class scores (NaN or infinity) "
                          f"for {int((~np.isfinite(proba)).any(axis=1).sum())} of {len(proba)} held-out "
                          "samples; check its parameters (e.g. a zero temperature or regularisation).")
    scores = np.zeros((proba.shape[0], n_classes))
    scores[:, np.asarray(model.classes_, dtype=np.int64)] = proba
    return scores, _checked_codes(model.predict(Xte) if pred is None else pred, estimator, len(proba), n_classes)


def _checked_codes(pred, estimator, n_test: int, n_classes: int) -> np.ndarray:
    """The predicted class codes, refused (naming the pipeline) unless one per held-out sample, each a code of the
    labels fit was given: a plugin's ``predict`` returning 99 or -1 must not reach the predictions table."""
    raw = np.asarray(pred).reshape(-1) if np.ndim(pred) else np.asarray([pred])
    if len(raw) != n_test:
        raise PluginError(f"pipeline {_describe(estimator)}: predict returned {len(raw)} values for {n_test} held-out "
                          "samples; it must return one label per row it is given.")
    try:
        codes = raw.astype(np.float64)
    except (TypeError, ValueError):
        codes = np.full(len(raw), np.nan)
    bad = ~np.isfinite(codes) | (codes != np.round(codes)) | (codes < 0) | (codes >= n_classes)
    if bad.any():
        shown = ", ".join(repr(v) for v in list(dict.fromkeys(raw[bad].tolist()))[:5])
        raise PluginError(f"pipeline {_describe(estimator)}: predict returned {shown} for {int(bad.sum())} of "
                          f"{n_test} held-out samples, which is not one of the labels fit was given (the codes "
                          f"0..{n_classes - 1} of the training labels, as in classes_). Its predict must return labels "
                          "taken from y.")
    return codes.astype(np.int64)


@dataclass
class FoldWork:
    """What every fold's fit shares: :func:`fit_predict_fold`'s arguments apart from the fold's rows."""

    estimator: Any
    X: Any
    y: np.ndarray
    folds: list
    n_classes: int
    annotation_targets: Any = None
    keep_model: bool = False
    groups: Any = None
    leaky: bool = False
    fit_progress: Callable | None = None    # fit_progress(fold index, done, total)

    def args(self, i: int, X) -> tuple:
        fold = self.folds[i]
        return (self.estimator, X, self.y, fold.train, fold.test, self.n_classes, self.annotation_targets,
                self.keep_model, self.groups, self.leaky)

    def fit(self, i: int):
        """Fold ``i`` fitted in this process, whose BLAS the executor pinned."""
        crashwatch.note(f"pipeline {_describe(self.estimator)} was fitting and predicting fold "
                        f"{self.folds[i].name!r} ({i + 1} of {len(self.folds)})")
        progress = None if self.fit_progress is None else partial(self.fit_progress, i)
        return fit_predict_fold(*self.args(i, self.X), progress, False)

    def task(self, i: int, X):
        """Fold ``i`` as a joblib task for a worker process, over ``X`` (the features, or their ArrayFile)."""
        from joblib import delayed

        return delayed(fit_predict_fold)(*self.args(i, X))


class FoldExecutor(ABC):
    """Runs the pending folds of a run; each result (as :func:`fit_predict_fold` returns it) goes to
    ``record(i, result)`` as soon as it is known. Results never depend on the executor."""

    parallel = False  # whether folds ran on parallel workers

    @abstractmethod
    def run(self, pending: list[int], work: FoldWork, record: Callable) -> None:
        """Fit the folds ``pending`` (indices into ``work.folds``) and record each."""


class SerialExecutor(FoldExecutor):
    """One fold after another in this process, BLAS pinned to one thread."""

    def run(self, pending, work, record):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            for i in pending:
                record(i, work.fit(i))


class BackendExecutor(FoldExecutor):
    """Folds on ``jobs`` workers of a joblib backend (loky with guarded workers, Ray, Dask).

    The first pending fold runs here and is timed; the rest go to workers only when the remaining
    work outweighs starting them (``backends.MIN_PARALLEL_WORK_S``), and to no more workers than the
    free CPUs (``workers.usable_workers``), so a small run or a busy machine stays in this process.
    A large feature matrix is shipped once, as a memory-mapped :class:`ArrayFile` in ``scratch``.
    """

    def __init__(self, jobs: int, backend: str = "loky", scratch: str | Path | None = None):
        self.jobs, self.backend, self.scratch = jobs, backend, scratch

    def run(self, pending, work, record):
        if not pending:
            return
        t0 = time.perf_counter()
        SerialExecutor().run(pending[:1], work, record)
        per_fold, rest = time.perf_counter() - t0, pending[1:]
        workers = min(usable_workers(self.jobs), len(rest))
        if workers > 1 and per_fold * len(rest) > backends.MIN_PARALLEL_WORK_S:
            self.parallel = True
            X = _shared_array(work.X, self.scratch)
            with backends.parallel_backend(self.backend, workers):
                tasks = (work.task(i, X) for i in rest)
                for i, result in zip(rest, backends.run_tasks(tasks, workers)):
                    record(i, result)
        else:
            SerialExecutor().run(rest, work, record)


class BatchedExecutor(FoldExecutor):
    """Folds trained together by the estimator itself, with ``jobs`` threads (the fused STSTNet).

    ``estimator.fit_folds(X, y, trains, groups, jobs, progress)`` returns one fitted clone per
    training set (each saw only its training rows); a training set of a single class predicts it.
    """

    def __init__(self, jobs: int):
        self.jobs = jobs

    def run(self, pending, work, record):
        from threadpoolctl import threadpool_limits

        if len(pending) < 2:
            return SerialExecutor().run(pending, work, record)
        folds, y, k = work.folds, work.y, work.n_classes
        trainable = []
        for i in pending:
            present = np.unique(y[folds[i].train])
            if len(present) == 1:
                record(i, (*_single_class(present[0], len(folds[i].test), k), None))
            else:
                trainable.append(i)
        progress = None if work.fit_progress is None else partial(work.fit_progress, -1)
        crashwatch.note(f"pipeline {_describe(work.estimator)} was training {len(trainable)} folds together")
        with threadpool_limits(1), _fold_errors(work.estimator, work.X):
            models = work.estimator.fit_folds(work.X, y, [folds[i].train for i in trainable], groups=work.groups,
                                              jobs=self.jobs, progress=progress)
            for i, model in zip(trainable, models):
                scores, pred = _held_out_scores(model, work.estimator, work.X[folds[i].test], k)
                missing = k - len(np.unique(y[folds[i].train]))
                note = f"training fold lacks {missing} class(es); their scores are 0" if missing else None
                record(i, (scores, pred, note, model))

    @staticmethod
    def suits(work: FoldWork) -> bool:
        """Whether the estimator trains folds together (``fit_folds``, ``thread_safe_training()``) on an array."""
        if work.leaky or not isinstance(work.X, np.ndarray) or work.annotation_targets is not None:
            return False
        check = getattr(work.estimator, "thread_safe_training", None)  # may resolve the engine: asked last
        return hasattr(work.estimator, "fit_folds") and callable(check) and bool(check())


class Checkpointed(FoldExecutor):
    """Any executor, resumable: folds finished in ``checkpoint`` (a :class:`mebench.checkpoint.RunCheckpoint`)
    are taken from it, and each newly finished fold is written to it at once (with its model, when
    the executor returns one)."""

    def __init__(self, executor: FoldExecutor, checkpoint, sample_ids: np.ndarray):
        self.executor, self.checkpoint, self.sample_ids = executor, checkpoint, sample_ids
        self.resumed = 0

    def run(self, pending, work, record):
        folds, ids = work.folds, self.sample_ids
        keys = {i: self.checkpoint.fold_key(folds[i].name, ids[folds[i].train], ids[folds[i].test]) for i in pending}
        todo = []
        for i in pending:
            hit = self.checkpoint.load_fold(i, keys[i], len(folds[i].test), work.n_classes)
            if hit is None:
                todo.append(i)
            else:
                self.resumed += 1
                record(i, (*hit, None))

        def save(i, result):
            scores, pred, note, model = result
            if model is not None and work.keep_model:  # folds trained together always return theirs
                self.checkpoint.save_model(folds[i].name, model)
            self.checkpoint.save_fold(i, keys[i], scores, pred, note)
            record(i, result)

        self.executor.run(todo, work, save)
        self.parallel = self.executor.parallel


def cross_predict(prepared: Prepared, y: np.ndarray | None = None, estimator=None, jobs: int = 1,
                  progress: Callable | None = None, backend: str | None = None, checkpoint=None,
                  scratch: str | Path | None = None, fit_progress: Callable | None = None) -> CrossPredictions:
    """Held-out predictions for every sample, one fit per fold, on an executor chosen by ``jobs`` and
    the classifier, checkpointed when a checkpoint is given; results do not depend on the executor.

    Parameters
    ----------
    prepared : Prepared
        The run; ``y`` (label codes, e.g. permuted) and ``estimator`` replace its own when given.
    jobs, backend, checkpoint, scratch
        Workers (threads, for folds trained together), the joblib backend (default loky), a
        RunCheckpoint to resume from and write to, where a large feature matrix is saved once.
    progress, fit_progress : callable, optional
        ``progress(done, total)`` in folds; ``fit_progress(fold index, done, total)`` in epochs
        (fold -1 for folds trained together).

    Returns
    -------
    CrossPredictions
    """
    started = time.perf_counter()
    y = prepared.y if y is None else np.asarray(y)
    estimator = prepared.estimator if estimator is None else estimator
    keep_model = checkpoint is not None and bool(getattr(classifier_of(estimator), "save_fold_models", False))
    k, folds, n = len(prepared.classes), prepared.split.folds, len(prepared.samples)
    out = CrossPredictions(np.full((n, k), np.nan), np.full(n, -1, np.int64), [None] * len(folds))
    work = FoldWork(estimator, prepared.X, y, folds, k, prepared.fit_targets, keep_model,
                    prepared.samples["subject_id"].astype(str).to_numpy(),
                    bool(getattr(prepared.protocol, "leaky", False)), fit_progress)
    if jobs > 1 and BatchedExecutor.suits(work):
        executor: FoldExecutor = BatchedExecutor(usable_workers(jobs))
    elif jobs > 1:
        executor = BackendExecutor(jobs, backend or "loky", scratch)
    else:
        executor = SerialExecutor()
    if checkpoint is not None:
        executor = Checkpointed(executor, checkpoint, prepared.samples["sample_id"].astype(str).to_numpy())
    done = 0
    if progress:
        progress(done, len(folds))

    def record(i, result):
        nonlocal done
        scores, pred, note, _ = result
        out.scores[folds[i].test], out.pred[folds[i].test], out.notes[i] = scores, pred, note
        done += 1
        if progress:
            progress(done, len(folds))

    executor.run(list(range(len(folds))), work, record)
    out.resumed, out.parallel = getattr(executor, "resumed", 0), executor.parallel
    out.seconds = time.perf_counter() - started
    return out


def _shared_array(X, scratch):
    """``X`` as an :class:`ArrayFile` in ``scratch`` when it is a large array (shipped once), else ``X``."""
    if scratch is None or not isinstance(X, np.ndarray) or X.nbytes < (1 << 20):
        return X
    import io

    from ..fsutil import atomic_write_bytes

    path = Path(scratch) / "features.npy"  # written afresh: never a copy left by an earlier process
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(X), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
    return ArrayFile(str(path))
