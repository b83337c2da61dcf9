"""Permutation test against chance, refitting the whole pipeline for every permutation.

For every permutation the labels are permuted under a *scheme* that respects how they were
assigned, the pipeline is refit fold by fold exactly as in the run (same folds, same estimator,
same seeds), and the pooled metric is recomputed on the held-out predictions against the
permuted labels. ``p = (C + 1) / (N + 1)`` where ``C`` counts the permutations whose metric is at
least the observed one (at most, for lower-is-better metrics) and ``N`` is the number of
permutations with a defined metric. The test is one-sided: "better than chance".

Schemes (``choose_scheme`` picks one; every result states which and why):

``subject``         each subject has a single label: the labels of whole subjects are permuted
                    (sklearn's ``permutation_test_score(groups=...)`` would permute within
                    subjects and return p = 1 here).
``within-subject``  labels vary within subjects: labels are permuted among the clips of each
                    subject. Every subject keeps its label counts, so every training fold of a
                    subject-wise protocol keeps its class balance.
``dataset``         labels are permuted across the whole dataset, folds fixed. Offered on request;
                    see ``choose_scheme`` for why it is not the automatic choice.

Two ways to compute the null distribution, identical to numerical precision (tested):

*exact linear path* for linear smoothers (classifier ``ridge`` on stateless features): in every
fold the held-out decision scores are ``H_f @ Y_train`` with ``H_f`` independent of the labels
(the within-fold standardisation depends on X only), so all folds are stacked into one ``n x n``
operator and every permutation costs one matrix product, followed by the classifier's own
softmax. Training folds that lack a class under a permutation are handled as the runner does.

*generic path* for any pipeline: ``runner.cross_predict(prepared, y=permuted)`` per permutation,
parallel over permutations (joblib/loky, BLAS pinned to one thread per worker), and resumable:
finished permutations are checkpointed atomically and reused when the same test is run again.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MebenchError
from .batch import batch_metrics, resolve_metric

SCHEMES = ("subject", "within-subject", "dataset")
BLOCK = 256            # permutations are generated in blocks of this many rows (stable across n)
_SEED_TAG = 0x5045524D  # "PERM": separates the permutation stream from other uses of the seed
_TOL = 1e-10           # a permuted statistic within this of the observed one counts as "at least"
CHECKPOINT_FORMAT = "mebench-permutations-1"
SCHEME_NULL = {
    "subject": "H0: subjects' labels are exchangeable across subjects (scheme 'subject')",
    "within-subject": ("H0: within each subject, labels are exchangeable among its clips, i.e. the clips carry no "
                       "label information beyond each subject's label counts (scheme 'within-subject')"),
    "dataset": "H0: labels are exchangeable across all clips of the dataset (scheme 'dataset')",
}


# --------------------------------------------------------------------------------------------
# schemes and permutations
# --------------------------------------------------------------------------------------------
def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    uniq, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return uniq, codes


def choose_scheme(y, subjects) -> tuple[str, str]:
    """The permutation scheme for labels ``y`` clustered by ``subjects``, and why it was chosen.

    One label per subject -> ``subject``. Labels varying within subjects -> ``within-subject``.

    Why not ``dataset`` (permuting across the whole dataset) when labels vary within subjects:
    under a subject-wise protocol a dataset-wide permutation changes the class balance of every
    training fold in a way that anti-correlates with its test subject's, so for models whose
    predictions lean on the training class balance the permuted pipelines score *below* chance
    and the test rejects far too often on null data whose labels were assigned within subjects
    (deception data balanced per subject). tests/test_stats_calibration.py shows it on null
    synthetic deception data with a strongly regularised ridge: the dataset-wide scheme rejects
    far more often than alpha allows while the within-subject scheme stays in the binomial band.
    Permuting within subjects is valid whenever labels are exchangeable within subjects, which the
    dataset-wide null implies too. Its null is "the clips carry no label information beyond each
    subject's label counts", which also keeps a between-subject shortcut (who the person is) from
    counting as evidence.
    """
    y = np.asarray(y)
    _, sc = _codes(subjects)
    n_labels = np.array([len(np.unique(y[sc == s])) for s in range(sc.max() + 1)])
    n_subjects = len(n_labels)
    if np.all(n_labels == 1):
        n_classes_subjects = len(np.unique([y[sc == s][0] for s in range(n_subjects)]))
        return "subject", (f"every one of the {n_subjects} subjects has a single label, so whole subjects' labels "
                           f"are permuted ({n_classes_subjects} label values over subjects)")
    mixed = int(np.sum(n_labels > 1))
    return "within-subject", (f"labels vary within {mixed} of {n_subjects} subjects, so labels are permuted among each "
                              "subject's clips (every subject and every training fold keeps its class counts)")


def permuted_codes(y, subjects, scheme: str, seed: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop-1`` of the permutation stream: an array (stop-start, n) of label codes.

    Row ``i`` depends only on (y, subjects, scheme, seed, i), never on how many rows are asked for
    or on which worker computes it, so the exact and generic paths and resumed runs agree.
    """
    if scheme not in SCHEMES:
        raise MebenchError(f"unknown permutation scheme {scheme!r}; choose one of {', '.join(SCHEMES)}.")
    y = np.asarray(y)
    _, sc = _codes(subjects)
    n = len(y)
    out = np.empty((max(stop - start, 0), n), dtype=y.dtype)
    if scheme == "subject":
        n_subj = int(sc.max()) + 1
        first = np.array([np.flatnonzero(sc == s)[0] for s in range(n_subj)])
        subject_labels = y[first]
        if np.any(subject_labels[sc] != y):
            raise MebenchError("the 'subject' permutation scheme needs one label per subject; labels vary within "
                               "subjects here. Use the within-subject or dataset scheme.")
    else:
        base = np.argsort(sc, kind="stable")
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1 if stop > start else 0):
        rng = np.random.default_rng([int(seed), _SEED_TAG, SCHEMES.index(scheme), block])
        lo, hi = block * BLOCK, (block + 1) * BLOCK
        if scheme == "subject":
            order = np.argsort(rng.random((BLOCK, n_subj)), axis=1)
            rows = subject_labels[order][:, sc]
        elif scheme == "dataset":
            rows = y[np.argsort(rng.random((BLOCK, n)), axis=1)]
        else:  # within-subject: sort by (subject, random key); fill each subject's slots in order
            order = np.argsort(sc[None, :] + rng.random((BLOCK, n)), axis=1)
            rows = np.empty((BLOCK, n), dtype=y.dtype)
            rows[:, base] = y[order]
        a, b = max(lo, start), min(hi, stop)
        out[a - start:b - start] = rows[a - lo:b - lo]
    return out


# --------------------------------------------------------------------------------------------
# exact path for linear smoothers
# --------------------------------------------------------------------------------------------
def linear_path_available(prepared) -> tuple[bool, str]:
    """Whether the exact linear path applies to this prepared run, and why (not)."""
    from ..classifiers.sklearn_family import RidgeScores

    est = prepared.estimator
    if type(est) is not RidgeScores:
        return False, (f"the exact linear path needs the 'ridge' classifier (a linear smoother); this run uses "
                       f"{type(est).__name__}")
    if not isinstance(prepared.X, np.ndarray):
        return False, "the exact linear path needs stateless features (a fixed feature matrix)"
    return True, "classifier 'ridge' on stateless features: held-out scores are a fixed linear map of the labels"


@dataclass
class LinearOperator:
    """Held-out decision scores of every sample as ``M @ onehot(y)``; one row block per fold."""

    M: np.ndarray            # (n, n); rows of training-only samples are zero (never scored)
    train_masks: np.ndarray  # (F, n) training membership per fold
    fold_of: np.ndarray      # (n,) index of the fold that predicts each sample (-1: training only)
    temperature: float
    seconds: float


def _standardise(Xtr: np.ndarray, Xte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise with the training rows' mean and scale exactly as ``StandardScaler`` does.

    The scale is the population standard deviation; features that sklearn deems constant
    (variance within rounding of zero, its ``_is_constant_feature`` rule) get scale 1.
    """
    n = Xtr.shape[0]
    mean = Xtr.mean(axis=0)
    Ztr = Xtr - mean
    var = np.einsum("ij,ij->j", Ztr, Ztr) / n
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant | (scale == 0)] = 1.0
    Ztr /= scale
    return Ztr, (Xte - mean) / scale


def ridge_operator(prepared) -> LinearOperator:
    """Precompute the stacked linear map of ``RidgeScores`` over the run's folds.

    ``RidgeScores`` standardises with the training fold's mean and standard deviation, then fits
    ridge on centred one-hot targets: decision = Z_te W (Y - 1 ybar) + 1 ybar with
    W = (Z'Z + aI)^-1 Z' = Z'(ZZ' + aI)^-1. Hence decision = H Y with
    H = A - (A 1) 1'/n_tr + 1 1'/n_tr and A = Z_te Z'(ZZ' + aI)^-1 (dual) or its primal form.
    None of it depends on the labels, so it is computed once per fold. Samples in no test fold
    (training only) keep zero rows; like the runner, the test never scores them.
    """
    from scipy import linalg
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    est = prepared.estimator
    alpha = float(est.alpha)
    X = np.asarray(prepared.X, dtype=np.float64)
    n = X.shape[0]
    folds = prepared.split.folds
    M = np.zeros((n, n))
    fold_of = np.full(n, -1)
    train_masks = np.zeros((len(folds), n))
    with threadpool_limits(1):
        for f, fold in enumerate(folds):
            tr, te = np.asarray(fold.train), np.asarray(fold.test)
            train_masks[f, tr] = 1.0
            Ztr, Zte = _standardise(X[tr], X[te])
            n_tr, d = Ztr.shape
            if d <= n_tr:  # primal: A = Z_te (Z'Z + aI)^-1 Z'
                G = Ztr.T @ Ztr
                G[np.diag_indices_from(G)] += alpha
                A = linalg.solve(G, Zte.T, assume_a="pos", check_finite=False).T @ Ztr.T
            else:          # dual: A = Z_te Z' (ZZ' + aI)^-1
                G = Ztr @ Ztr.T
                G[np.diag_indices_from(G)] += alpha
                A = linalg.solve(G, Ztr @ Zte.T, assume_a="pos", check_finite=False).T
            H = A - A.sum(axis=1, keepdims=True) / n_tr + 1.0 / n_tr
            M[np.ix_(te, tr)] = H
            fold_of[te] = f
    return LinearOperator(M, train_masks, fold_of, float(est.temperature), time.perf_counter() - t0)


def linear_scores(op: LinearOperator, Y: np.ndarray, k: int) -> np.ndarray:
    """Held-out class scores (P, n, k) for label-code rows ``Y`` (P, n), as the runner stores them.

    Computed in a (P, k, n) layout (one matrix product for all permutations) and returned as a
    transposed view.
    """
    P, n = Y.shape
    onehot = np.zeros((P, k, n))
    onehot[np.arange(P)[:, None], Y, np.arange(n)[None, :]] = 1.0
    flat = onehot.reshape(P * k, n)
    S = (flat @ op.M.T).reshape(P, k, n)                     # decision scores
    S /= op.temperature
    train_counts = (flat @ op.train_masks.T).reshape(P, k, -1)  # (P, k, F)
    if (train_counts > 0).all():
        S -= S.max(axis=1, keepdims=True)
        np.exp(S, out=S)
        S /= S.sum(axis=1, keepdims=True)
        return S.transpose(0, 2, 1)
    # Some training folds lack classes under these permutations: the refit classifier only knows
    # the classes it saw (softmax over them, 0 for the others), and a single-class training fold
    # predicts that class with score 1 (runner.fit_predict_fold).
    present = train_counts[:, :, op.fold_of] > 0               # (P, k, n)
    S = np.where(present, S, -np.inf)
    S -= S.max(axis=1, keepdims=True)
    np.exp(S, out=S)
    S /= S.sum(axis=1, keepdims=True)
    single = present.sum(axis=1) == 1                           # (P, n)
    if single.any():
        pi, ni = np.nonzero(single)
        S[pi, :, ni] = present[pi, :, ni].astype(float)
    return S.transpose(0, 2, 1)


# --------------------------------------------------------------------------------------------
# generic path
# --------------------------------------------------------------------------------------------
def _slim(prepared):
    """The prepared run without the dataset object (not needed to refit; cheaper to ship)."""
    return replace(prepared, dataset=None)


def _generic_chunk(prepared, start: int, Y: np.ndarray, metrics: list) -> tuple[int, np.ndarray]:
    from threadpoolctl import threadpool_limits

    from ..runner import cross_predict

    ev = prepared.evaluated  # training-only samples carry no held-out score
    out = np.empty((len(Y), len(metrics)))
    with threadpool_limits(1):
        for i, y in enumerate(Y):
            cv = cross_predict(prepared, y=y, jobs=1)
            out[i] = batch_metrics(metrics, prepared.classes, y[ev], cv.pred[ev], cv.scores[ev])[0]
    return start, out


def _checkpoint_key(prepared, scheme: str, seed: int, metric_names: list, y) -> dict:
    spec = prepared.spec
    return {
        "format": CHECKPOINT_FORMAT,
        "config": spec.config(),
        "fold_hash": prepared.split.fold_hash,
        "samples": hashlib.sha256("\n".join(prepared.samples["sample_id"].astype(str)).encode()).hexdigest(),
        "labels": hashlib.sha256(np.asarray(y, dtype=np.int64).tobytes()).hexdigest(),
        "classes": list(prepared.classes),
        "scheme": scheme,
        "seed": int(seed),
        "block": BLOCK,
        "metrics": list(metric_names),
    }


def checkpoint_path(directory, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Path(directory) / "permutations" / f"{key['scheme']}-seed{key['seed']}-{digest}.json"


def _load_checkpoint(path: Path, key: dict, n_metrics: int) -> dict[int, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # a damaged checkpoint is ignored and rewritten
    if data.get("key") != json.loads(json.dumps(key, default=str)):
        return {}
    done = {}
    for i, row in zip(data.get("indices", []), data.get("values", [])):
        if len(row) == n_metrics:
            done[int(i)] = np.array([np.nan if v is None else float(v) for v in row])
    return done


def _save_checkpoint(path: Path, key: dict, done: dict[int, np.ndarray]) -> None:
    from ..fsutil import write_json

    idx = sorted(done)
    write_json(path, {"key": key, "indices": idx, "values": [done[i].tolist() for i in idx],
                      "note": "null distribution of the permutation test; one row of metric values per permutation"})


# --------------------------------------------------------------------------------------------
# the test
# --------------------------------------------------------------------------------------------
@dataclass
class PermutationResult:
    scheme: str
    scheme_reason: str
    method: str
    method_reason: str
    n_permutations: int
    seed: int
    metrics: list
    observed: dict
    null: dict                       # metric -> (N,) array of permuted values
    p_values: dict
    n_undefined: dict
    counts: dict                     # metric -> C
    higher_is_better: dict
    seconds: float
    resumed: int = 0
    computed: int = 0
    jobs: int = 1
    checkpoint: str | None = None
    notes: list = field(default_factory=list)

    def describe(self, metric: str) -> dict:
        """Test, assumptions and counts for one metric's p-value."""
        direction = "at least" if self.higher_is_better[metric] else "at most"
        n_valid = self.n_permutations - self.n_undefined[metric]
        return {
            "test": (f"permutation test against chance with refit of the whole pipeline on every permutation "
                     f"({self.method} path); one-sided"),
            "assumptions": f"{SCHEME_NULL[self.scheme]} ({self.scheme_reason}); folds, features and seeds fixed",
            "p_value_definition": f"p = (C + 1) / (N + 1); C = {self.counts[metric]} of N = {n_valid} permutations "
                                  f"scored {direction} the observed value",
            "n_permutations": self.n_permutations,
            "n_undefined": self.n_undefined[metric],
        }

    def to_dict(self, include_null: bool = False) -> dict:
        out = {
            "scheme": self.scheme, "scheme_reason": self.scheme_reason, "method": self.method,
            "method_reason": self.method_reason, "n_permutations": self.n_permutations, "seed": self.seed,
            "seconds": round(self.seconds, 4), "jobs": self.jobs, "blas_threads_per_worker": 1,
            "resumed_from_checkpoint": self.resumed, "computed": self.computed, "checkpoint": self.checkpoint,
            "notes": list(self.notes),
            "metrics": {m: {"observed": self.observed[m], "p_value": self.p_values[m],
                            "null_mean": _nanmean(self.null[m]), "null_sd": _nansd(self.null[m]),
                            **self.describe(m)} for m in self.metrics},
        }
        if include_null:
            out["null"] = {m: self.null[m].tolist() for m in self.metrics}
        return out


def _nanmean(a) -> float | None:
    a = np.asarray(a, float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else None


def _nansd(a) -> float | None:
    a = np.asarray(a, float)
    return float(np.nanstd(a, ddof=1)) if np.isfinite(a).sum() > 1 else None


def p_value(observed: float, null: np.ndarray, higher_is_better: bool = True) -> tuple[float | None, int, int]:
    """``(p, C, n_undefined)`` with p = (C + 1) / (N + 1) over the defined permuted values."""
    null = np.asarray(null, float)
    valid = null[~np.isnan(null)]
    if observed is None or not np.isfinite(observed) or len(valid) == 0:
        return None, 0, int(np.isnan(null).sum())
    tol = _TOL * max(1.0, abs(observed))
    c = int(np.sum(valid >= observed - tol)) if higher_is_better else int(np.sum(valid <= observed + tol))
    return (c + 1) / (len(valid) + 1), c, int(len(null) - len(valid))


def permutation_test(prepared, n_permutations: int = 1000, metrics=None, seed: int = 0, jobs: int = 1,
                     method: str = "auto", scheme: str = "auto", checkpoint_dir=None,
                     progress: Callable | None = None, chunk_size: int | None = None) -> PermutationResult:
    """Permutation test of every metric against chance, refitting the pipeline per permutation.

    ``method``: ``auto`` (exact linear path when it applies, else generic), ``exact`` or
    ``generic``. ``scheme``: ``auto`` (see :func:`choose_scheme`) or one of ``SCHEMES``.
    ``checkpoint_dir``: where the generic path checkpoints finished permutations (resumable).
    ``progress(done, total)`` is called as permutations finish.
    """
    t0 = time.perf_counter()
    if n_permutations < 1:
        raise MebenchError(f"the permutation test needs at least one permutation, got {n_permutations}.")
    metric_names = list(metrics or prepared.spec.metrics)
    metric_objs = [resolve_metric(m) for m in metric_names]
    y = np.asarray(prepared.y)
    subjects = prepared.samples["subject_id"].astype(str).to_numpy()
    auto_scheme, auto_reason = choose_scheme(y, subjects)
    if scheme == "auto":
        scheme, scheme_reason = auto_scheme, auto_reason
    elif scheme not in SCHEMES:
        raise MebenchError(f"unknown permutation scheme {scheme!r}; choose auto or one of {', '.join(SCHEMES)}.")
    else:
        scheme_reason = f"chosen by the user (automatic choice: {auto_scheme}; {auto_reason})"
    notes = []
    if scheme == "dataset" and auto_scheme == "within-subject":
        notes.append("dataset-wide permutation with a subject-wise protocol changes every training fold's class "
                     "balance; on data whose labels were assigned within subjects it is anti-conservative "
                     "(see choose_scheme).")
    ok, why = linear_path_available(prepared)
    if method == "auto":
        method, method_reason = ("exact", why) if ok else ("generic", why + "; refitting per permutation")
    elif method == "exact":
        if not ok:
            raise MebenchError(f"--method exact is not possible: {why}. Use --method generic (or auto).")
        method_reason = why
    elif method == "generic":
        method_reason = "refit through runner.cross_predict for every permutation (requested)"
    else:
        raise MebenchError(f"unknown permutation method {method!r}; choose auto, exact or generic.")
    k = len(prepared.classes)
    m_count = len(metric_objs)
    null = np.full((n_permutations, m_count), np.nan)
    resumed = computed = 0
    ckpt = None
    if method == "exact":
        from threadpoolctl import threadpool_limits

        op = ridge_operator(prepared)
        ev = prepared.evaluated  # training-only samples carry no held-out score
        n = len(y)
        step = max(1, min(n_permutations, int(4e6 // max(n * k, 1))))  # ~32 MB of scores per chunk
        with threadpool_limits(1):
            obs_scores = linear_scores(op, y[None, :], k)[:, ev]
            obs = batch_metrics(metric_objs, prepared.classes, y[None, ev], obs_scores.argmax(axis=2), obs_scores)[0]
            observed = dict(zip(metric_names, obs.tolist()))
            for start in range(0, n_permutations, step):
                stop = min(n_permutations, start + step)
                Y = permuted_codes(y, subjects, scheme, seed, start, stop)
                S = linear_scores(op, Y, k)
                if not ev.all():
                    Y, S = Y[:, ev], S[:, ev]
                null[start:stop] = batch_metrics(metric_objs, prepared.classes, Y, S.argmax(axis=2), S)
                if progress:
                    progress(stop, n_permutations)
        computed = n_permutations
        if checkpoint_dir is not None:
            key = _checkpoint_key(prepared, scheme, seed, metric_names, y)
            ckpt = checkpoint_path(checkpoint_dir, key)
            _save_checkpoint(ckpt, key, {i: null[i] for i in range(n_permutations)})
    else:
        from joblib import Parallel, delayed

        slim = _slim(prepared)
        done: dict[int, np.ndarray] = {}
        stored: dict[int, np.ndarray] = {}
        key = None
        if checkpoint_dir is not None:
            key = _checkpoint_key(prepared, scheme, seed, metric_names, y)
            ckpt = checkpoint_path(checkpoint_dir, key)
            stored = _load_checkpoint(ckpt, key, m_count)   # may hold more permutations than asked for
            done = {i: v for i, v in stored.items() if i < n_permutations}
            resumed = len(done)
        todo = [i for i in range(n_permutations) if i not in done]
        # contiguous runs of missing permutations, cut into chunks (a chunk is checkpointed when it finishes)
        size = chunk_size or max(1, min(25, math.ceil(len(todo) / max(4 * jobs, 1))))
        chunks, run = [], []
        for i in todo:
            if run and (i != run[-1] + 1 or len(run) >= size):
                chunks.append(run)
                run = []
            run.append(i)
        if run:
            chunks.append(run)
        # the observed labels are one more task (start -1), so that the refits all run in parallel
        tasks = [(-1, y[None, :])] + [(c[0], permuted_codes(y, subjects, scheme, seed, c[0], c[-1] + 1))
                                      for c in chunks]
        finished = len(done)
        observed = {}
        if jobs > 1 and len(tasks) > 1:
            results = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(
                delayed(_generic_chunk)(slim, start, Y, metric_objs) for start, Y in tasks)
        else:
            results = (_generic_chunk(slim, start, Y, metric_objs) for start, Y in tasks)
        for start, values in results:
            if start < 0:
                observed = dict(zip(metric_names, values[0].tolist()))
                continue
            for i, row in enumerate(values):
                done[start + i] = row
            computed += len(values)
            finished += len(values)
            if ckpt is not None:
                _save_checkpoint(ckpt, key, {**stored, **done})
            if progress:
                progress(finished, n_permutations)
        for i, row in done.items():
            null[i] = row
    p_values, counts, undefined = {}, {}, {}
    hib = {}
    for j, (name, m) in enumerate(zip(metric_names, metric_objs)):
        hib[name] = bool(getattr(m, "higher_is_better", True))
        p_values[name], counts[name], undefined[name] = p_value(observed[name], null[:, j], hib[name])
        if undefined[name]:
            notes.append(f"{name}: undefined on {undefined[name]} of {n_permutations} permutations; the p-value uses "
                         f"the {n_permutations - undefined[name]} where it is defined.")
        if observed[name] is None or not np.isfinite(observed[name]):
            notes.append(f"{name}: undefined on the observed labels, so it has no p-value.")
    return PermutationResult(
        scheme=scheme, scheme_reason=scheme_reason, method=method, method_reason=method_reason,
        n_permutations=n_permutations, seed=int(seed), metrics=metric_names, observed=observed,
        null={name: null[:, j] for j, name in enumerate(metric_names)}, p_values=p_values,
        n_undefined=undefined, counts=counts, higher_is_better=hib, seconds=time.perf_counter() - t0,
        resumed=resumed, computed=computed, jobs=jobs, checkpoint=str(ckpt) if ckpt else None, notes=notes)


# --------------------------------------------------------------------------------------------
# building prepared runs
# --------------------------------------------------------------------------------------------
def prepared_from_arrays(X, labels, subjects, estimator=None, protocol: str = "loso", metrics=None,
                         seed: int = 0, sample_ids=None):
    """A :class:`mebench.runner.Prepared` over an in-memory feature matrix (tests, benchmarks).

    ``estimator`` defaults to the ``ridge`` classifier; ``protocol`` is a registered protocol name.
    """
    import pandas as pd

    from ..classifiers.sklearn_family import RidgeScores
    from ..registry import PROTOCOLS
    from ..runner import DEFAULT_METRICS, Prepared, RunSpec

    labels = np.asarray(labels).astype(str)
    subjects = np.asarray(subjects).astype(str)
    n = len(labels)
    ids = np.asarray(sample_ids).astype(str) if sample_ids is not None else np.array([f"s{i:05d}" for i in range(n)])
    samples = pd.DataFrame({"sample_id": ids, "dataset": "arrays", "subject_id": subjects, "label": labels})
    classes = sorted(set(labels))
    y = np.searchsorted(classes, labels)
    split = PROTOCOLS.create(protocol).run(samples)
    spec = RunSpec(dataset="arrays", classifier="ridge" if estimator is None else type(estimator).__name__,
                   protocol=protocol, metrics=tuple(metrics or DEFAULT_METRICS), seed=seed)
    est = RidgeScores() if estimator is None else estimator
    return Prepared(spec, None, samples, classes, y, split, np.asarray(X, dtype=np.float64), est, {"run": seed}, {})


def prepared_from_run(run: dict, plugins=(), use_cache: bool = True):
    """Rebuild a stored run's prepared pipeline from its manifest and check it matches the run.

    Returns ``(prepared, order)`` where ``order`` maps the prepared run's held-out samples (in
    sample order) to rows of the stored predictions. Raises a MebenchError naming what changed
    (samples, labels or folds).
    """
    from ..runner import RunSpec, prepare

    manifest = run["manifest"]
    config = dict(manifest["config"])
    config["metrics"] = tuple(config.get("metrics", ()))
    try:
        spec = RunSpec(**config, plugins=tuple(plugins), use_cache=use_cache)
    except TypeError as exc:
        raise MebenchError(f"run {manifest.get('run_id')}: its manifest config cannot be replayed ({exc}).") from None
    prepared = prepare(spec)
    fold_hash = manifest.get("protocol", {}).get("fold_hash")
    if prepared.split.fold_hash != fold_hash:
        raise MebenchError(
            f"refitting run {manifest.get('run_id')} gives different folds (fold hash {prepared.split.fold_hash[:12]} "
            f"instead of {str(fold_hash)[:12]}); the dataset or protocol changed since the run, so a permutation test "
            "would not test this run. Re-run the pipeline, or use --permutations 0 for bootstrap intervals only.")
    preds = run["predictions"]
    index = {sid: i for i, sid in enumerate(preds["sample_id"].astype(str))}
    ev = prepared.evaluated  # the stored predictions hold the held-out samples only
    ids = prepared.samples["sample_id"].astype(str).to_numpy()[ev].tolist()
    missing = [s for s in ids if s not in index]
    if missing or len(ids) != len(preds):
        raise MebenchError(
            f"refitting run {manifest.get('run_id')} yields {len(ids)} held-out samples, the stored predictions hold "
            f"{len(preds)}" + (f" (e.g. {missing[0]} is not among them)" if missing else "")
            + "; the dataset changed since the run.")
    order = np.array([index[s] for s in ids])
    stored_labels = preds["y_true"].astype(str).to_numpy()[order]
    if np.any(stored_labels != np.asarray(prepared.classes)[prepared.y[ev]]):
        raise MebenchError(f"refitting run {manifest.get('run_id')}: the labels differ from the stored predictions; "
                           "the annotations changed since the run.")
    return prepared, order
