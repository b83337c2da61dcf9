"""The batched path for ``logreg``: every permuted label row refit at once, fold by fold, to the exact optimum.

``LogReg`` (:class:`mebench.classifiers.sklearn_family.LogReg`) standardises each training fold and
fits scikit-learn's L2 logistic regression: for a training fold with two classes the binary model
(one weight vector, loss ``log(1 + e^z) - y z``), with three or more the multinomial one (one weight
vector per class present, softmax loss), the intercepts unpenalised, each sample weighted by its
class weight (``'balanced'``: ``n / (K' n_c)`` over the K' classes of that training fold), and
``||W||^2 / (2C)`` added. The optimum is unique (in W and in the probabilities), so the refit does not
depend on the solver; this module reaches it to about 1e-10 instead of scikit-learn's ``tol=1e-4``.

Why it is fast: the optimal weights lie in the span of the training rows (representer theorem), so
each fold's problem is rewritten once, label-free, in an orthonormal basis of that span:
``Z = U diag(sqrt(lam)) Q'`` gives training features ``Phi = Z Q`` with ``Phi' Phi`` diagonal and test
features ``Z_te Q`` (``r <= min(n_train - 1, d)`` columns). All label rows of a fold are then solved
together by a truncated Newton method (preconditioned conjugate gradients; block-Jacobi in the
basis where ``Phi' Phi`` is diagonal; Armijo backtracking): every step is a few matrix products over
all rows. A row that does not converge (never seen in tests) is refit by scikit-learn itself.

A training fold that lacks classes under a permutation is fit on the classes it has (score 0 for
the others; binary when two are left), and a single-class training fold predicts that class with
score 1, as ``run.cross_predict`` does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

GRAD_TOL = 1e-12      # max |gradient| of the objective scaled as scikit-learn scales it (loss / sum of weights)
STALL_TOL = 1e-7      # a row stalled in floating point with a larger gradient goes to scikit-learn
MAX_NEWTON = 60       # Newton steps before a row is handed to scikit-learn
MAX_CG = 80           # conjugate-gradient steps per Newton step (a truncated step is still a descent step)


def logreg_path_available(prepared) -> tuple[bool, str]:
    """Whether the batched logistic-regression path applies to this prepared run, and why (not)."""
    from ...classifiers.sklearn_family import LogReg

    est = prepared.estimator
    if type(est) is not LogReg:
        return False, (f"the batched path needs the 'logreg' classifier; this run uses {type(est).__name__}")
    if not isinstance(prepared.X, np.ndarray):
        return False, "the batched path needs stateless features (a fixed feature matrix)"
    if est.class_weight not in (None, "balanced"):
        return False, "the batched path supports class_weight 'balanced' or None, not a per-class dict"
    try:
        c = float(est.C)
    except (TypeError, ValueError):
        return False, f"the batched path needs a numeric C, got {est.C!r}"
    if not (np.isfinite(c) and c > 0):
        return False, f"the batched path needs a finite positive C, got {est.C!r}"
    return True, ("classifier 'logreg' on stateless features: every permutation's fold refits solved together to "
                  "the unique optimum (batched Newton)")


@dataclass
class FoldBasis:
    """One fold's label-free rewrite: training rows ``train`` and test rows ``test`` in a basis of
    the standardised training rows' span."""

    train: np.ndarray        # (n_train,) sample indices
    test: np.ndarray         # (n_test,)
    phi: np.ndarray          # (n_train, r + 1): basis coordinates of the training rows, then a column of ones
    phi_test: np.ndarray     # (n_test, r + 1)
    phi_sq: np.ndarray       # phi ** 2 (for the preconditioner)


@dataclass
class LogRegBatch:
    """Everything label-independent that :func:`logreg_predict` needs."""

    folds: list              # FoldBasis per fold
    fold_of: np.ndarray      # (n,) index of the fold that predicts each sample (-1: training only)
    n: int
    C: float
    balanced: bool
    estimator: object        # the run's LogReg, for the (never expected) fallback refit
    X: np.ndarray
    jobs: int
    seconds: float
    fallbacks: int = 0       # (row, fold) problems handed to scikit-learn so far


def _fold_basis(X: np.ndarray, train: np.ndarray, test: np.ndarray) -> FoldBasis:
    """Standardise as the fold's StandardScaler does, then rotate into an orthonormal basis of the
    training rows' span (eigenvectors of the smaller Gram matrix); directions with no variance drop out."""
    from scipy.linalg import eigh
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X[train])
    Z, Zte = (X[train] - scaler.mean_) / scaler.scale_, (X[test] - scaler.mean_) / scaler.scale_  # its transform
    n_tr, d = Z.shape
    if d <= n_tr:   # primal: Z'Z = Q diag(lam) Q'
        lam, Q = eigh(Z.T @ Z)
        keep = lam > lam.max(initial=0.0) * max(n_tr, d) * np.finfo(float).eps * 10
        Q = Q[:, keep]
        phi, phi_te = Z @ Q, Zte @ Q
    else:           # dual: Z Z' = U diag(lam) U', Q = Z' U / sqrt(lam)
        lam, U = eigh(Z @ Z.T)
        keep = lam > lam.max(initial=0.0) * max(n_tr, d) * np.finfo(float).eps * 10
        U, root = U[:, keep], np.sqrt(lam[keep])
        phi = U * root
        phi_te = (Zte @ Z.T) @ (U / root)
    phi = np.ascontiguousarray(np.c_[phi, np.ones(n_tr)])
    phi_te = np.ascontiguousarray(np.c_[phi_te, np.ones(len(test))])
    return FoldBasis(np.asarray(train), np.asarray(test), phi, phi_te, phi * phi)


def logreg_operator(prepared, jobs: int = 1) -> LogRegBatch:
    """The label-independent precomputation for every fold (standardisation, basis of the training span).

    ``jobs`` > 1: folds on that many threads, here and in :func:`logreg_predict` (the caller pins BLAS).
    """
    t0 = time.perf_counter()
    est = prepared.estimator
    X = np.asarray(prepared.X, dtype=np.float64)
    folds = prepared.split.folds
    fold_of = np.full(X.shape[0], -1)
    for f, fold in enumerate(folds):
        fold_of[np.asarray(fold.test)] = f
    work = [(np.asarray(fold.train), np.asarray(fold.test)) for fold in folds]
    if jobs > 1 and len(work) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            bases = list(pool.map(lambda w: _fold_basis(X, *w), work))
    else:
        bases = [_fold_basis(X, *w) for w in work]
    return LogRegBatch(bases, fold_of, X.shape[0], float(est.C), est.class_weight == "balanced", est, X,
                       max(1, int(jobs)), time.perf_counter() - t0)


class _Problem:
    """All label rows of one fold that share the same classes present: K' = ``m`` classes (binary:
    one output), labels ``L`` (n_train, P) in 0..K'-1, weights scaled to sum 1 per row, as
    scikit-learn's ``loss / sum(weights) + ||w||^2 / (2 C sum(weights))``.

    Parameters are ``W`` (r + 1, outputs, P); the last basis row holds the intercepts (unpenalised).
    Arrays put the label rows last, so that every reduction over classes adds contiguous blocks.
    """

    def __init__(self, basis: FoldBasis, L: np.ndarray, m: int, C: float, balanced: bool):
        n_tr, P = L.shape
        self.phi, self.phi_t, self.phi_sq_t = basis.phi, basis.phi.T.copy(), basis.phi_sq.T.copy()
        self.r1 = self.phi.shape[1]
        self.binary = m == 2
        self.out = 1 if self.binary else m
        if balanced:
            counts = np.stack([(L == c).sum(axis=0) for c in range(m)])            # (m, P)
            s = (n_tr / (m * counts))[L, np.arange(P)]                            # (n_tr, P): n / (K' n_c)
        else:
            s = np.ones((n_tr, P))
        total = s.sum(axis=0)                                                     # n_tr in both cases
        self.s = s / total
        self.lam = 1.0 / (C * total)                                              # (P,)
        if self.binary:
            self.T = (L == 1).astype(float)[:, None, :]
        else:
            self.T = (L[:, None, :] == np.arange(m)[None, :, None]).astype(float)  # (n_tr, m, P)
        self._set_penalty()

    def _set_penalty(self):
        self.pen = np.repeat(self.lam[None, None, :], self.r1, axis=0)            # (r1, 1, P)
        self.pen[-1] = 0.0

    def subset(self, rows: np.ndarray) -> "_Problem":
        sub = object.__new__(_Problem)
        sub.__dict__.update(self.__dict__)
        sub.s, sub.lam, sub.T = self.s[:, rows], self.lam[rows], self.T[:, :, rows]
        sub._set_penalty()
        return sub

    def scores(self, W: np.ndarray) -> np.ndarray:
        """Decision values (n_train, outputs, P)."""
        r1, o, P = W.shape
        return (self.phi @ W.reshape(r1, o * P)).reshape(-1, o, P)

    def _back(self, G: np.ndarray) -> np.ndarray:
        n, o, P = G.shape
        return (self.phi_t @ G.reshape(n, o * P)).reshape(self.r1, o, P)

    def _loss(self, z: np.ndarray, want_p: bool):
        if self.binary:
            zb = z[:, 0]
            loss = (self.s * (np.logaddexp(0.0, zb) - self.T[:, 0] * zb)).sum(axis=0)
            return loss, (0.5 * (1.0 + np.tanh(0.5 * zb)))[:, None] if want_p else None
        top = z.max(axis=1, keepdims=True)
        e = np.exp(z - top)
        tot = e.sum(axis=1, keepdims=True)
        loss = (self.s * ((top + np.log(tot))[:, 0] - (z * self.T).sum(axis=1))).sum(axis=0)
        return loss, (e / tot if want_p else None)

    def objective(self, W: np.ndarray) -> np.ndarray:
        return self._loss(self.scores(W), False)[0] + 0.5 * (self.pen * W * W).sum(axis=(0, 1))

    def state(self, W: np.ndarray):
        """Objective (P,), gradient (like W) and the class probabilities of the training rows."""
        loss, p = self._loss(self.scores(W), True)
        f = loss + 0.5 * (self.pen * W * W).sum(axis=(0, 1))
        g = self._back(self.s[:, None, :] * (p - self.T)) + self.pen * W
        return f, g, p

    def curvature(self, p: np.ndarray):
        """The Hessian at probabilities ``p``: a function H(D), and a function applying the inverse of
        its block diagonal in the basis (exact when every sample has the same curvature): per basis
        direction a K' x K' block (1 x 1 when binary), factorised once, elementwise over rows."""
        sp = self.s[:, None, :] * p                                               # (n, o, P)
        if self.binary:
            spq = sp * (1.0 - p)

            def hess(D):
                return self._back(spq * self.scores(D)) + self.pen * D
            inv = 1.0 / ((self.phi_sq_t @ spq[:, 0])[:, None, :] + self.pen)
            return hess, (lambda R: R * inv)

        def hess(D):
            dz = self.scores(D)
            return self._back(sp * (dz - (p * dz).sum(axis=1, keepdims=True))) + self.pen * D

        o, pen = self.out, self.pen[:, 0]
        B = [[None] * o for _ in range(o)]
        diag = (self.phi_sq_t @ sp.reshape(len(sp), -1)).reshape(self.r1, o, -1)
        for a in range(o):
            for b in range(a + 1):
                B[a][b] = -(self.phi_sq_t @ (sp[:, a] * p[:, b]))
            B[a][a] = B[a][a] + diag[:, a] + pen
        # the intercepts' block is singular along (1, ..., 1) (a common shift changes nothing); adding
        # a multiple of 11' there keeps it invertible without changing it on the other directions
        shift = sum(B[a][a][-1] for a in range(o)) / (o * o)
        for a in range(o):
            for b in range(a + 1):
                B[a][b][-1] += shift
        Lf = [[None] * o for _ in range(o)]   # Cholesky factor, elementwise over (r1, P)
        for a in range(o):
            for b in range(a + 1):
                acc = B[a][b] - sum((Lf[a][c] * Lf[b][c] for c in range(b)), np.zeros_like(B[a][b]))
                Lf[a][b] = np.sqrt(acc) if a == b else acc / Lf[b][b]
        inv_diag = [1.0 / Lf[a][a] for a in range(o)]

        def solve(R):
            y = [None] * o
            for a in range(o):
                acc = R[:, a] - sum((Lf[a][c] * y[c] for c in range(a)), np.zeros_like(R[:, a]))
                y[a] = acc * inv_diag[a]
            x = [None] * o
            for a in reversed(range(o)):
                acc = y[a] - sum((Lf[c][a] * x[c] for c in range(a + 1, o)), np.zeros_like(y[a]))
                x[a] = acc * inv_diag[a]
            return np.stack(x, axis=1)
        return hess, solve


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("iop,iop->p", a, b)


def _newton_direction(prob: _Problem, g: np.ndarray, p: np.ndarray, forcing: np.ndarray) -> np.ndarray:
    """Preconditioned conjugate gradients on H d = -g for every row, each to residual <= forcing * |g|."""
    hess, apply_inv = prob.curvature(p)
    x = np.zeros_like(g)
    r = -g
    z = apply_inv(r)
    d = z.copy()
    rz = _row_dot(r, z)
    goal = (forcing * np.sqrt(_row_dot(g, g))) ** 2
    active = np.ones(g.shape[2], bool)
    for _ in range(MAX_CG):
        Hd = hess(d)
        dHd = _row_dot(d, Hd)
        alpha = np.where(active & (dHd > 0), rz / np.where(dHd > 0, dHd, 1.0), 0.0)
        x += alpha * d
        r -= alpha * Hd
        active &= _row_dot(r, r) > goal
        if not active.any():
            break
        z = apply_inv(r)
        rz_new = _row_dot(r, z)
        beta = np.where(active, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        d = z + beta * d
        rz = rz_new
    return x


def _forcing(g: np.ndarray, gmax: np.ndarray) -> np.ndarray:
    """Relative residual asked of each row's conjugate gradients: min(0.1, sqrt(|g|)) (superlinear
    convergence), but never below what brings the gradient under GRAD_TOL (the last step's CG
    stops there instead of going on to sqrt(|g|))."""
    return np.maximum(np.minimum(0.1, np.sqrt(gmax)), 0.5 * GRAD_TOL / np.sqrt(_row_dot(g, g)))


def _solve(prob: _Problem, P: int) -> tuple[np.ndarray, np.ndarray]:
    """The optimal parameters (r + 1, outputs, P) of every row, and which rows converged."""
    W = np.zeros((prob.r1, prob.out, P))
    converged = np.zeros(P, bool)
    rows = np.arange(P)
    sub = prob
    for _ in range(MAX_NEWTON):
        Wa = W[:, :, rows]
        f, g, p = sub.state(Wa)
        gmax = np.abs(g).max(axis=(0, 1))
        done = gmax <= GRAD_TOL
        if done.any():
            converged[rows[done]] = True
            keep = ~done
            rows, Wa, f, g, p, gmax = rows[keep], Wa[:, :, keep], f[keep], g[:, :, keep], p[:, :, keep], gmax[keep]
            sub = prob.subset(rows)
        if len(rows) == 0:
            break
        D = _newton_direction(sub, g, p, _forcing(g, gmax))
        slope = _row_dot(g, D)
        step = np.ones(len(rows))
        trial = Wa + D
        # a Newton decrement below the objective's floating-point resolution: the full step is taken
        ok = (sub.objective(trial) <= f + 1e-4 * slope) | (-slope <= 1e-13 * (1.0 + np.abs(f)))
        for _ in range(40):
            if ok.all():
                break
            bad = np.flatnonzero(~ok)
            step[bad] *= 0.5
            trial[:, :, bad] = Wa[:, :, bad] + step[bad] * D[:, :, bad]
            ok[bad] = prob.subset(rows[bad]).objective(trial[:, :, bad]) <= f[bad] + 1e-4 * step[bad] * slope[bad]
        # a row whose step no longer changes it in floating point sits at the optimum (when its gradient
        # is small; otherwise it is left unconverged, for scikit-learn)
        tiny = np.abs(step * D).max(axis=(0, 1)) <= 1e-15 * (1 + np.abs(Wa).max(axis=(0, 1)))
        stalled = ~ok | tiny
        trial[:, :, ~ok] = Wa[:, :, ~ok]
        W[:, :, rows] = trial
        if stalled.any():
            converged[rows[stalled & (gmax <= STALL_TOL)]] = True
            rows = rows[~stalled]
            sub = prob.subset(rows)
            if len(rows) == 0:
                break
    return W, converged


def _fold_predict(op: LogRegBatch, f: int, Y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Held-out scores (P, n_test, k) and codes (P, n_test) of fold ``f`` for the label rows Y (P, n)."""
    basis = op.folds[f]
    Ytr = Y[:, basis.train]
    P, n_te = len(Y), len(basis.test)
    scores = np.zeros((P, n_te, k))
    pred = np.zeros((P, n_te), dtype=np.int64)
    if n_te == 0:
        return scores, pred, 0
    present = np.stack([(Ytr == c).any(axis=1) for c in range(k)], axis=1)     # (P, k)
    patterns, group = np.unique(present, axis=0, return_inverse=True)
    fallbacks = 0
    for g, pattern in enumerate(patterns):
        rows = np.flatnonzero(group.ravel() == g)
        classes = np.flatnonzero(pattern)
        if len(classes) == 1:      # a single-class training fold predicts it with score 1 (run.cross_predict)
            scores[rows, :, classes[0]] = 1.0
            pred[rows] = classes[0]
            continue
        code = np.full(k, -1)
        code[classes] = np.arange(len(classes))
        L = code[Ytr[rows]].T                                                     # (n_train, rows)
        prob = _Problem(basis, L, len(classes), op.C, op.balanced)
        W, converged = _solve(prob, len(rows))
        r1, o, Pg = W.shape
        z = (basis.phi_test @ W.reshape(r1, o * Pg)).reshape(n_te, o, Pg).transpose(2, 0, 1)  # (rows, n_te, o)
        if prob.binary:
            p1 = 0.5 * (1.0 + np.tanh(0.5 * z[..., 0]))
            scores[rows[:, None], np.arange(n_te)[None, :], classes[1]] = p1
            scores[rows[:, None], np.arange(n_te)[None, :], classes[0]] = 1.0 - p1
            pred[rows] = np.where(z[..., 0] > 0, classes[1], classes[0])
        else:
            top = z.max(axis=2, keepdims=True)
            e = np.exp(z - top)
            proba = e / e.sum(axis=2, keepdims=True)
            scores[rows[:, None, None], np.arange(n_te)[None, :, None], classes[None, None, :]] = proba
            pred[rows] = classes[z.argmax(axis=2)]
        for i in rows[~converged]:  # never expected: scikit-learn itself refits this row's fold
            from ...run.crossval import fit_predict_fold

            s, pr, _, _ = fit_predict_fold(op.estimator, op.X, Y[i], basis.train, basis.test, k, pin_blas=False)
            scores[i], pred[i] = s, pr
            fallbacks += 1
    return scores, pred, fallbacks


def logreg_predict(op: LogRegBatch, Y: np.ndarray, k: int, with_scores: bool = True):
    """Held-out predicted codes (P, n) and class scores (P, n, k) for label-code rows ``Y`` (P, n), as
    ``LogReg`` refit fold by fold gives them (``predict`` and ``predict_proba`` at the exact optimum);
    scores are None unless ``with_scores``. Rows of samples in no test fold are arbitrary (zero)."""
    Y = np.asarray(Y)
    P = len(Y)
    pred = np.zeros((P, op.n), dtype=np.int64)
    scores = np.zeros((P, op.n, k)) if with_scores else None
    todo = [f for f, b in enumerate(op.folds) if len(b.test)]
    if op.jobs > 1 and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=op.jobs) as pool:
            results = list(pool.map(lambda f: _fold_predict(op, f, Y, k), todo))
    else:
        results = [_fold_predict(op, f, Y, k) for f in todo]
    for f, (s, pr, fb) in zip(todo, results):
        te = op.folds[f].test
        pred[:, te] = pr
        if with_scores:
            scores[:, te] = s
        op.fallbacks += fb
    return pred, scores
