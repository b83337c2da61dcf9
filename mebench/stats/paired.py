"""Comparing two pipelines evaluated on the same samples and folds: the tests on stored predictions.

The default paired test refits both pipelines (:mod:`.studentised`). This module holds the tests
that need only the stored predictions, which ``mebench compare`` reports beside it:

* the **paired subject-level randomisation test** (subject swap): under H0 the two pipelines are
  exchangeable within every subject, so for each subject the predictions of A and B for all of
  that subject's samples may be swapped; ``p = (C + 1) / (N + 1)`` over random swaps (or the exact
  share when all 2^S patterns are enumerated). Between two *different* leave-one-subject-out
  pipelines the swap is not exchangeable under "equally good": every subject is training data for
  every other subject's model, so each pipeline's held-out predictions are dependent across
  subjects (Bengio & Grandvalet 2004) and the per-subject contributions to the difference are
  positively correlated, while the swap null treats them as independent. It rejects more often
  than alpha between unlike pipelines (measured: :func:`mebench.stats.calibration.test_calibration`
  with ``test="swap"``), so it is secondary and descriptive, quoted with its measured rate.

Secondary tests, each labelled "assumes independent samples" (clips of a subject are not):

* exact McNemar on the discordant correct/incorrect pairs (statsmodels);
* DeLong's test for two correlated ROC AUCs, with the fast algorithm of Sun & Xu (2014),
  "Fast implementation of DeLong's algorithm for comparing the areas under correlated receiver
  operating characteristic curves", IEEE Signal Processing Letters 21(11): the structural
  components come from mid-ranks within positives, within negatives and overall, so the
  covariance costs O(n log n) per score set instead of O(n_pos n_neg).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from ..errors import MebenchError
from ..metrics.batch import batch_metrics, from_confusion, metric_kind, resolve_metric
from .bootstrap import subject_codes

_SEED_TAG = 0x50414952  # "PAIR"
_TOL = 1e-10
INDEPENDENT = "assumes independent samples (ignores the clustering of clips within subjects)"


# ---- paired subject-level randomisation ----
@dataclass
class PairedResult:
    metric: str
    delta: float | None
    value_a: float | None
    value_b: float | None
    p_value: float | None
    n_permutations: int
    exact: bool
    count: int
    n_subjects: int
    n_undefined: int
    null: np.ndarray

    @property
    def smallest_p(self) -> float:
        """The smallest p-value the test can give: 2 / 2^S when exact (the identity pattern and its
        mirror always tie the observed |difference|), 1 / (N + 1) otherwise."""
        return 2 / self.n_permutations if self.exact else 1 / (self.n_permutations + 1)

    def describe(self) -> dict:
        how = (f"all {self.n_permutations} swap patterns of {self.n_subjects} subjects enumerated (exact); "
               f"p = C / {self.n_permutations}" if self.exact else
               f"{self.n_permutations} random swap patterns; p = (C + 1) / (N + 1)")
        return {"test": ("paired subject-level randomisation test of the difference in the pooled metric (A's and B's "
                         "predictions swapped for all samples of each swapped subject); two-sided"),
                "assumptions": ("under H0 the two pipelines' predictions are exchangeable within each subject "
                                "(all of a subject's predictions are swapped together); subjects independent; compares "
                                "these held-out predictions, not the learning algorithms over datasets"),
                "p_value_definition": f"{how}; C = {self.count} patterns with |difference| at least the observed",
                "n_permutations": self.n_permutations,
                "smallest_attainable_p": self.smallest_p,
                "n_undefined": self.n_undefined}


def _swap_patterns(n_subjects: int, n_permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """Swap patterns (P, S) of booleans; all 2^S when that is no more than ``n_permutations``."""
    if n_subjects <= 20 and 2 ** n_subjects <= n_permutations:
        codes = np.arange(2 ** n_subjects)[:, None]
        return ((codes >> np.arange(n_subjects)[None, :]) & 1).astype(bool), True
    rng = np.random.default_rng([int(seed), _SEED_TAG, n_subjects])
    return rng.random((n_permutations, n_subjects)) < 0.5, False


def paired_randomisation(y, a: tuple, b: tuple, subjects, classes, metrics, n_permutations: int = 10000,
                         seed: int = 0) -> dict[str, PairedResult]:
    """Paired subject-level randomisation test of metric(A) - metric(B) for each metric.

    ``a`` and ``b`` are ``(pred_codes, scores)`` aligned with ``y`` (class codes) and ``subjects``.

    A swap exchanges A's and B's predictions (labels and scores) for all samples of the swapped
    subjects; the pooled metric is recomputed for both and the difference is the statistic.
    """
    classes = list(classes)
    metrics = list(metrics)
    objs = [resolve_metric(m) for m in metrics]
    y = np.asarray(y)
    pa, sa = np.asarray(a[0]), np.asarray(a[1], float)
    pb, sb = np.asarray(b[0]), np.asarray(b[1], float)
    sc = subject_codes(subjects)
    n_subj = int(sc.max()) + 1
    va = batch_metrics(objs, classes, y[None], pa[None], sa[None])[0]
    vb = batch_metrics(objs, classes, y[None], pb[None], sb[None])[0]
    observed = va - vb
    flips, exact = _swap_patterns(n_subj, n_permutations, seed)
    P, n, k = len(flips), len(y), sa.shape[1]
    null = np.empty((P, len(objs)))
    by_confusion = [j for j, o in enumerate(objs) if metric_kind(o) in CONFUSION_KINDS]
    by_samples = [j for j in range(len(objs)) if j not in by_confusion]
    if by_confusion:
        null[:, by_confusion] = _swapped_confusion_null([metric_kind(objs[j]) for j in by_confusion], y, pa, pb,
                                                        sc, n_subj, len(classes), flips)
    if by_samples:
        sample_objs = [objs[j] for j in by_samples]
        step = max(1, int(2e6 // max(n * k, 1)))
        for i in range(0, P, step):
            mask = flips[i:i + step][:, sc]                       # (p, n): True = swapped
            m3 = mask[:, :, None]
            sa_ = np.where(m3, sb[None], sa[None])
            sb_ = np.where(m3, sa[None], sb[None])
            pa_ = np.where(mask, pb[None], pa[None])
            pb_ = np.where(mask, pa[None], pb[None])
            null[i:i + step, by_samples] = (batch_metrics(sample_objs, classes, y[None], pa_, sa_)
                                            - batch_metrics(sample_objs, classes, y[None], pb_, sb_))
    out = {}
    for j, name in enumerate(metrics):
        col = null[:, j]
        valid = col[np.isfinite(col)]
        obs = observed[j]
        if not np.isfinite(obs) or len(valid) == 0:
            p, c = None, 0
        else:
            tol = _TOL * max(1.0, abs(obs))
            c = int(np.sum(np.abs(valid) >= abs(obs) - tol))
            p = c / len(valid) if exact else (c + 1) / (len(valid) + 1)
        out[name] = PairedResult(name, _f(obs), _f(va[j]), _f(vb[j]), p, P, exact, c, n_subj,
                                 int(len(col) - len(valid)), col)
    return out


CONFUSION_KINDS = ("accuracy", "uar", "uf1")


def _swapped_confusion_null(kinds, y, pa, pb, subject_code, n_subjects: int, k: int, flips) -> np.ndarray:
    """Null differences of confusion-matrix metrics without rebuilding any swapped sample array.

    A swap pattern f (one 0/1 per subject) gives A the confusion counts C_A + f @ (C_B,s - C_A,s) and
    B the counts C_B - f @ (C_B,s - C_A,s), from the per-subject counts C_A,s and C_B,s: one small
    matrix product per batch of patterns. The counts are integers held exactly in float64, so the
    metrics equal those from the swapped samples (tested against them).
    """
    cells = k * k
    base = np.asarray(subject_code, np.int64) * cells + np.asarray(y, np.int64) * k
    per_a = np.bincount(base + np.asarray(pa, np.int64), minlength=n_subjects * cells).reshape(n_subjects, cells)
    per_b = np.bincount(base + np.asarray(pb, np.int64), minlength=n_subjects * cells).reshape(n_subjects, cells)
    diff = (per_b - per_a).astype(float)
    total_a, total_b = per_a.sum(axis=0).astype(float), per_b.sum(axis=0).astype(float)
    out = np.empty((len(flips), len(kinds)))
    step = max(1, int(2e6 // max(cells, n_subjects, 1)))
    for i in range(0, len(flips), step):
        shift = flips[i:i + step].astype(float) @ diff                       # (p, k*k)
        cm_a = (total_a + shift).reshape(-1, k, k)
        cm_b = (total_b - shift).reshape(-1, k, k)
        for j, kind in enumerate(kinds):
            out[i:i + step, j] = from_confusion(kind, cm_a) - from_confusion(kind, cm_b)
    return out


def _f(v):
    return None if v is None or not np.isfinite(v) else float(v)


# ---- McNemar ----
def mcnemar_exact(y, pred_a, pred_b) -> dict:
    """Exact McNemar test on correct/incorrect of A and B (statsmodels). Assumes independent samples."""
    from statsmodels.stats.contingency_tables import mcnemar

    y, pred_a, pred_b = np.asarray(y), np.asarray(pred_a), np.asarray(pred_b)
    ca, cb = pred_a == y, pred_b == y
    table = np.array([[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]])
    res = mcnemar(table, exact=True)
    discordant = int(table[0, 1] + table[1, 0])
    return {"test": "exact McNemar test (binomial on the discordant pairs; statsmodels), two-sided",
            "assumptions": INDEPENDENT,
            "p_value": float(res.pvalue),
            "table": table.tolist(),
            "a_only_correct": int(table[0, 1]),
            "b_only_correct": int(table[1, 0]),
            "n_discordant": discordant,
            "n": int(len(y))}


# ---- DeLong (Sun & Xu 2014) ----
def midranks(x) -> np.ndarray:
    """1-based ranks with ties given the mean of the ranks they span (Sun & Xu, Algorithm 1)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = len(x)
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])   # first sorted position of each tie group
    ends = np.r_[starts[1:], n]                                # one past the last
    group_rank = 0.5 * (starts + ends - 1) + 1                 # mean of ranks starts+1 .. ends
    out = np.empty(n)
    out[order] = np.repeat(group_rank, ends - starts)
    return out


def delong_components(positive, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs (r,), and the structural components V10 (r, m) and V01 (r, n) of r score sets.

    ``positive`` is a boolean (N,) and ``scores`` (r, N). Following Sun & Xu (2014):
    with T_z the mid-ranks over all N samples, T_x within the m positives and T_y within the
    n negatives, AUC = (sum_i T_z(x_i) - m(m+1)/2) / (m n), V10_i = (T_z(x_i) - T_x(x_i)) / n
    and V01_j = 1 - (T_z(y_j) - T_y(y_j)) / m.
    """
    positive = np.asarray(positive, bool)
    scores = np.atleast_2d(np.asarray(scores, float))
    m, n = int(positive.sum()), int((~positive).sum())
    if m == 0 or n == 0:
        raise MebenchError("DeLong's test needs both positive and negative samples.")
    aucs, v10, v01 = [], [], []
    for s in scores:
        x, yneg = s[positive], s[~positive]
        tz = midranks(np.concatenate([x, yneg]))
        tx, ty = midranks(x), midranks(yneg)
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    return np.array(aucs), np.array(v10), np.array(v01)


def delong_covariance(positive, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix S = S10/m + S01/n."""
    aucs, v10, v01 = delong_components(positive, scores)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(aucs), len(aucs)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(aucs), len(aucs)))
    return aucs, s10 / m + s01 / n


def delong_test(positive, score_a, score_b) -> dict:
    """DeLong's test of AUC(A) = AUC(B) on the same samples; two-sided. Assumes independent samples."""
    aucs, S = delong_covariance(positive, np.vstack([score_a, score_b]))
    var = float(S[0, 0] + S[1, 1] - 2 * S[0, 1])
    delta = float(aucs[0] - aucs[1])
    out = {"test": "DeLong's test for two correlated ROC AUCs (Sun & Xu 2014 fast algorithm), two-sided",
           "assumptions": INDEPENDENT,
           "auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "delta": delta,
           "variance": var, "covariance": S.tolist(),
           "n_positive": int(np.sum(positive)), "n_negative": int(np.sum(~np.asarray(positive, bool)))}
    if var <= 0:
        out.update(z=None, p_value=1.0 if delta == 0 else None,
                   note="the DeLong variance of the difference is zero"
                        + (" (identical rankings): p = 1" if delta == 0 else "; the test is undefined"))
    else:
        z = delta / np.sqrt(var)
        out.update(z=float(z), p_value=float(2 * norm.sf(abs(z))))
    return out


# ---- two aligned runs ----
def compare_predictions(y, a: tuple, b: tuple, subjects, classes, metrics, n_permutations: int = 10000,
                        n_resamples: int = 2000, seed: int = 0, level: float = 0.95, ci: str = "bca") -> dict:
    """Every test for one pair of pipelines; ``a``/``b`` are ``(pred_codes, scores)``.

    Returns ``{metric: {value_a, value_b, delta, ci_low, ci_high, p_value, tests: {...}}}`` where
    ``p_value`` is the primary (paired randomisation) test.
    """
    from .bootstrap import cluster_bootstrap_difference
    from .calibration import test_calibration

    classes = list(classes)
    y = np.asarray(y)
    primary = paired_randomisation(y, a, b, subjects, classes, metrics, n_permutations, seed)
    boot = cluster_bootstrap_difference(y, a, b, subjects, classes, metrics, n_resamples, seed, level, ci)
    out = {}
    for name in metrics:
        pr, iv = primary[name], boot[name]
        calib = test_calibration(name, "swap")
        tests = {"paired_randomisation": {"p_value": pr.p_value, **pr.describe(), "calibration": calib}}
        kind = metric_kind(resolve_metric(name))
        if kind == "accuracy":
            tests["mcnemar"] = mcnemar_exact(y, a[0], b[0])
        if kind == "auc":
            if len(classes) == 2 and len(np.unique(y)) == 2:
                tests["delong"] = delong_test(y == 1, np.asarray(a[1])[:, 1], np.asarray(b[1])[:, 1])
            else:
                tests["delong"] = {
                    "test": "DeLong's test for two correlated ROC AUCs", "p_value": None, "assumptions": INDEPENDENT,
                    "note": ("not applicable: DeLong compares binary ROC AUCs; this task has "
                             f"{len(classes)} classes (macro one-vs-rest AUC)") if len(classes) != 2 else
                            "not applicable: the pooled labels hold a single class, so the AUC is undefined"}
        entry = {"value_a": pr.value_a, "value_b": pr.value_b, "delta": pr.delta,
                 "ci_low": iv.ci_low, "ci_high": iv.ci_high, "ci_method": iv.method_label(),
                 "ci": iv.to_dict(), "p_value": pr.p_value, "p_value_calibration": calib, "tests": tests}
        if pr.delta is None:
            entry["note"] = (f"{name} is undefined for at least one pipeline on these predictions; "
                             + "; ".join(iv.notes))
        out[name] = entry
    return out
