"""The exact linear path: held-out ridge scores as one fixed linear map of the labels.

For the classifier ``ridge`` (:class:`mebench.classifiers.sklearn_family.RidgeScores`) on stateless
features, every fold's held-out decision scores are ``H_f @ onehot(y_train)`` with ``H_f``
independent of the labels (the within-fold standardisation depends on X only). All folds are
stacked into one ``n x n`` operator, so every permutation costs one matrix product, followed by the
classifier's own argmax (predictions) and softmax (scores). Training folds that lack a class under
a permutation behave as a refit does: the classifier knows only the classes it saw, and a
single-class training fold predicts that class with score 1.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np


def linear_path_available(prepared) -> tuple[bool, str]:
    """Whether the exact linear path applies to this prepared run, and why (not)."""
    from ...classifiers.sklearn_family import RidgeScores

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
    row_sums: np.ndarray     # (n,) M @ 1: the scores of all classes sum to it
    train_masks: np.ndarray  # (F, n) training membership per fold
    fold_of: np.ndarray      # (n,) index of the fold that predicts each sample (-1: training only)
    temperature: float
    seconds: float


_BLAS = {}


def one_blas_thread():
    """A context limiting BLAS and OpenMP to one thread, for the exact path: threadpoolctl's scan of
    the loaded libraries (~2.5 ms) is done once per process, after NumPy's and SciPy's BLAS, the
    only ones this path calls, are loaded (a race on the first call only scans twice)."""
    if "controller" not in _BLAS:
        from scipy.linalg import blas  # noqa: F401 - loaded before the scan
        from threadpoolctl import ThreadpoolController

        _BLAS["controller"] = ThreadpoolController()
    return _BLAS["controller"].limit(limits=1)  # BLAS and OpenMP, as threadpool_limits(1)


def ridge_operator(prepared, jobs: int = 1, pin_blas: bool = True) -> LinearOperator:
    """Precompute the stacked linear map of ``RidgeScores`` over the run's folds.

    ``RidgeScores`` standardises with the training fold's mean and standard deviation, then fits
    ridge on centred one-hot targets: decision = Z_te W (Y - 1 ybar) + 1 ybar with
    W = (Z'Z + aI)^-1 Z' = Z'(ZZ' + aI)^-1. Hence decision = H Y with
    H = A - (A 1) 1'/n_tr + 1 1'/n_tr and A = Z_te Z'(ZZ' + aI)^-1 (dual) or its primal form.

    The per-fold standardisation is ``StandardScaler``'s: population standard deviation, scale 1 for
    features it deems constant (its ``_is_constant_feature`` rule). Means and variances of each
    training fold come from whole-data sums minus the other rows, on globally centred features; in
    the dual form one symmetric product over the [training; test] rows gives both the training Gram
    matrix and the training-test block. Samples in no test fold (training only) keep zero rows.
    ``jobs`` > 1 computes folds on that many threads (BLAS, one thread each, releases the GIL);
    ``pin_blas=False``: the caller has already limited BLAS to one thread.
    """
    t0 = time.perf_counter()
    alpha = float(prepared.estimator.alpha)
    X = np.asarray(prepared.X, dtype=np.float64)
    n = X.shape[0]
    folds = prepared.split.folds
    M = np.zeros((n, n))
    fold_of = np.full(n, -1)
    train_masks = np.zeros((len(folds), n))
    with one_blas_thread() if pin_blas else nullcontext():
        centre = X.mean(axis=0)
        Xc = X - centre
        sums = (centre, Xc, Xc.sum(axis=0), np.einsum("ij,ij->j", Xc, Xc))
        for f, fold in enumerate(folds):
            train_masks[f, np.asarray(fold.train)] = 1.0
            fold_of[np.asarray(fold.test)] = f
        if jobs > 1 and len(folds) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=jobs) as pool:
                blocks = list(pool.map(lambda fold: _fold_map(fold, sums, alpha), folds))
        else:
            blocks = [_fold_map(fold, sums, alpha) for fold in folds]
    for fold, H in zip(folds, blocks):
        M[np.ix_(np.asarray(fold.test), np.asarray(fold.train))] = H
    return LinearOperator(M, M.sum(axis=1), train_masks, fold_of, float(prepared.estimator.temperature),
                          time.perf_counter() - t0)


def _fold_map(fold, sums, alpha: float) -> np.ndarray:
    """One fold's block H (n_test, n_train) of the operator."""
    from scipy.linalg import blas, lapack

    centre, Xc, col_sum, col_sq = sums
    n, d = Xc.shape
    tr, te = np.asarray(fold.train), np.asarray(fold.test)
    n_tr = len(tr)
    outside = np.ones(n, bool)
    outside[tr] = False
    if outside.any():
        rest = Xc[outside]
        delta = (col_sum - rest.sum(axis=0)) / n_tr
        sq = col_sq - np.einsum("ij,ij->j", rest, rest)
    else:
        delta, sq = col_sum / n_tr, col_sq
    var = np.maximum(sq / n_tr - delta * delta, 0.0)
    mean = centre + delta
    eps = np.finfo(np.float64).eps
    constant = var <= n_tr * eps * var + (n_tr * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant | (scale == 0)] = 1.0
    inv = 1.0 / scale
    if d <= n_tr:  # primal: A = Z_te (Z'Z + aI)^-1 Z'
        u = delta * inv
        Ztr = Xc[tr] * inv - u
        Zte = Xc[te] * inv - u
        G = blas.dsyrk(1.0, Ztr.T, lower=0)  # Z'Z, upper triangle
        G[np.diag_indices_from(G)] += alpha
        _, sol, info = lapack.dposv(G, Zte.T)
        A = sol.T @ Ztr.T
    else:          # dual: A = Z_te Z' (ZZ' + aI)^-1, from one Gram matrix over [train; test] rows
        B = Xc[np.concatenate([tr, te])]
        B -= delta  # the rows minus the training mean, then scaled: Z
        B *= inv
        K = blas.dsyrk(1.0, B.T, trans=1, lower=0)  # Z Z', upper triangle (Fortran order)
        G, C = K[:n_tr, :n_tr], K[:n_tr, n_tr:]       # train x train (upper), train x test
        G[np.diag_indices_from(G)] += alpha
        _, sol, info = lapack.dposv(G, C)
        A = sol.T
    if info != 0:  # pragma: no cover - G is positive definite for alpha > 0
        raise np.linalg.LinAlgError(f"ridge system of fold {fold.name} is not positive definite")
    return A - A.sum(axis=1, keepdims=True) / n_tr + 1.0 / n_tr


def _argmax_classes(S: np.ndarray) -> np.ndarray:
    """argmax over axis 0 of (k, P, n) (first class wins ties), one contiguous (P, n) pass per class."""
    best = S[0].copy()
    idx = np.zeros(best.shape, dtype=np.int16 if len(S) < 2 ** 15 else np.int64)
    better = np.empty(best.shape, dtype=bool)
    for c in range(1, len(S)):
        np.greater(S[c], best, out=better)
        np.maximum(best, S[c], out=best)
        idx += (c - idx) * better  # idx becomes c where this class is strictly better (3x faster than copyto)
    return idx.astype(np.int64)


def _softmax_classes(S: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax over axis 0 of (k, P, n) decisions at ``temperature``, in place; -inf scores 0."""
    top = S.max(axis=0)
    total = np.zeros(top.shape)
    for col in S:
        col -= top
        col /= temperature
        np.exp(col, out=col)
        total += col
    for col in S:
        col /= total
    return S


def _classes_surely_in_every_fold(op: LinearOperator, onehot: np.ndarray) -> bool:
    """True when every class has, in every label row, more samples than any fold leaves out of its
    training set, so no training fold can lack a class (no per-fold counting needed).
    ``onehot`` is (k - 1, P, n): the indicators of all classes but the last."""
    left_out = int((op.train_masks < 0.5).sum(axis=1).max()) if len(op.train_masks) else 0
    per_class = onehot.sum(axis=2)                                   # (k - 1, P)
    last = onehot.shape[2] - per_class.sum(axis=0)                   # the last class, (P,)
    if last.size == 0:  # no label rows
        return True
    return bool((per_class.size == 0 or per_class.min() > left_out) and last.min() > left_out)


def linear_predict(op: LinearOperator, Y: np.ndarray, k: int, with_scores: bool = True):
    """Held-out predicted codes (P, n) and class scores (P, n, k) for label-code rows ``Y`` (P, n),
    as ``RidgeScores`` refit fold by fold gives them; scores are None unless ``with_scores``.

    Decisions are computed class-major, (k, P, n), with one matrix product for the first k - 1
    classes written in place (the last is the row sum minus the others); scores are returned as a
    transposed view.
    """
    P, n = Y.shape
    onehot = np.empty((k - 1, P, n))
    for c in range(k - 1):
        np.equal(Y, c, out=onehot[c])
    S = np.empty((k, P, n))
    np.matmul(onehot.reshape((k - 1) * P, n), op.M.T, out=S[:k - 1].reshape((k - 1) * P, n))
    np.subtract(op.row_sums, S[:k - 1].sum(axis=0), out=S[k - 1])
    counts = None
    if not _classes_surely_in_every_fold(op, onehot):
        counts = np.empty((k, P, len(op.train_masks)))
        counts[:k - 1] = (onehot.reshape((k - 1) * P, n) @ op.train_masks.T).reshape(k - 1, P, -1)
        counts[k - 1] = op.train_masks.sum(axis=1) - counts[:k - 1].sum(axis=0)
    if counts is None or (counts > 0.5).all():
        pred = _argmax_classes(S)
        return (pred, _softmax_classes(S, op.temperature).transpose(1, 2, 0)) if with_scores else (pred, None)
    # Some training folds lack classes under these permutations: the refit classifier only knows
    # the classes it saw (argmax and softmax over them, score 0 for the others), and a single-class
    # training fold predicts that class with score 1 (as run.cross_predict does).
    present = counts[:, :, op.fold_of] > 0.5                   # (k, P, n)
    S = np.where(present, S, -np.inf)
    pred = _argmax_classes(S)
    if not with_scores:
        return pred, None
    S = _softmax_classes(S, op.temperature)
    single = present.sum(axis=0) == 1                           # (P, n)
    if single.any():
        pi, ni = np.nonzero(single)
        S[:, pi, ni] = present[:, pi, ni].astype(float)
    return pred, S.transpose(1, 2, 0)


def linear_scores(op: LinearOperator, Y: np.ndarray, k: int) -> np.ndarray:
    """Held-out class scores (P, n, k) for label-code rows ``Y`` (P, n), as the runner stores them."""
    return linear_predict(op, Y, k)[1]
