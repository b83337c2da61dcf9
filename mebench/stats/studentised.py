"""The default paired test: a refit, studentised, paired permutation test of metric(A) - metric(B).

Why: under leave-one-subject-out every fold model is trained on every other subject, so each
pipeline's held-out predictions are dependent across subjects and a test that only rearranges the
stored predictions (the subject swap of :mod:`.paired`) rejects too often between unlike pipelines.
Refitting restores exchangeability: for permutation row i of the label stream that ``mebench stats``
uses (same scheme, rows fixed by labels, subjects, scheme, seed and i), BOTH pipelines are refit on
the same folds and the statistic is recomputed. The statistic is studentised,
T = delta / SE with SE from the per-subject influence sums (:mod:`.influence`), so that the test also
holds when both pipelines are informative and equally good, not only under the global null
(Janssen 1997; Chung & Romano 2013). p = (1 + #{|T*_i| >= |T|}) / (P + 1), two-sided, or the
sequential rule of Besag & Clifford (1991) when it stops early.

Rows come from the runs' stores (written by ``mebench stats`` or by an earlier comparison) and are
computed only when missing (see :func:`mebench.stats.runs.refit_rows_for`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .influence import studentised

TEST = "refit studentised paired permutation test"
_TOL = 1e-10


@dataclass
class PipelineRows:
    """One pipeline's observed values and sums (from its stored predictions) and its permutation rows."""

    metrics: list
    observed_values: np.ndarray   # (M,)
    observed_sums: np.ndarray     # (S, M)
    values: np.ndarray            # (L, M)
    sums: np.ndarray              # (L, S, M)
    scheme: str
    seed: int

    def column(self, metric: str) -> int:
        return self.metrics.index(metric)


@dataclass
class StudentisedResult:
    metric: str
    delta: float | None
    se: float | None
    t: float | None
    p_value: float | None
    count: int
    n_rows: int            # rows used (defined T*)
    n_permutations: int    # rows asked for
    stopped: bool
    early_stop: int
    scheme: str
    seed: int
    n_undefined: int
    n_available: int = 0   # rows both pipelines hold (at most n_permutations are used)

    @property
    def smallest_p(self) -> float:
        return 1 / (min(self.n_permutations, self.n_available or self.n_permutations) + 1)

    def describe(self) -> dict:
        rule = (f"sequential Monte Carlo (Besag & Clifford 1991): stopped at the {self.count}th row with |T*| >= "
                f"|T|, row L = {self.n_rows}; p = h / L" if self.stopped else
                f"p = (1 + C) / (P + 1); C = {self.count} of P = {self.n_rows} permutation rows with |T*| >= |T|")
        return {"test": (f"{TEST}: both pipelines refit on every permutation row (scheme '{self.scheme}', seed "
                         f"{self.seed}); T = delta / SE with SE from per-subject influence sums; two-sided"),
                "assumptions": ("under H0 the labels are exchangeable under the scheme (exact); studentising keeps the "
                                "test valid when both pipelines are informative and equally good (measured: "
                                "see calibration)"),
                "p_value_definition": rule, "statistic": self.t, "se": self.se,
                "n_permutations": self.n_permutations, "n_rows_available": self.n_available,
                "n_rows_used": self.n_rows, "early_stop": self.early_stop,
                "smallest_attainable_p": self.smallest_p, "n_undefined": self.n_undefined}


def pair_statistics(a: PipelineRows, b: PipelineRows, metric: str) -> tuple[tuple, np.ndarray]:
    """``((delta, se, T) observed, T* over the rows both hold)`` for one metric."""
    ja, jb = a.column(metric), b.column(metric)
    obs = studentised(a.observed_values[ja], a.observed_sums[:, ja], b.observed_values[jb], b.observed_sums[:, jb])
    n = min(len(a.values), len(b.values))
    _, _, t_rows = studentised(a.values[:n, ja], a.sums[:n, :, ja], b.values[:n, jb], b.sums[:n, :, jb])
    return tuple(float(v) for v in obs), t_rows


def studentised_test(a: PipelineRows, b: PipelineRows, metric: str, n_permutations: int,
                     early_stop: int = 0) -> StudentisedResult:
    """The refit studentised paired test of ``metric`` between two pipelines' rows."""
    from .permutation import sequential_p

    (delta, se, t), t_rows = pair_statistics(a, b, metric)
    t_rows = t_rows[:n_permutations]
    undefined = int(np.isnan(t_rows).sum())
    if not np.isfinite(delta) or np.isnan(t):
        return StudentisedResult(metric, None, None, None, None, 0, 0, n_permutations, False, early_stop, a.scheme,
                                 a.seed, undefined, len(t_rows))
    threshold = abs(t) - _TOL * max(1.0, abs(t)) if np.isfinite(t) else np.inf  # |T| = inf: only |T*| = inf ties
    exceed = np.where(np.isnan(t_rows), np.nan, (np.abs(t_rows) >= threshold).astype(float))
    p, c, used, stopped = sequential_p(exceed, early_stop)
    return StudentisedResult(metric, delta, se, t, p, c, used, n_permutations, stopped, early_stop, a.scheme, a.seed,
                             undefined, len(t_rows))


def widened_interval(value: float, sums: np.ndarray, row_values: np.ndarray, row_sums: np.ndarray,
                     level: float = 0.95, bounds: tuple = (0.0, 1.0)) -> dict:
    """The influence t interval widened by the permutation rows: a calibrated interval under LOSO.

    The influence SE treats subjects as independent, but under leave-one-subject-out the held-out
    predictions of different subjects share training data, so the estimate varies more than it says.
    The permutation rows are refits of the whole procedure: the ratio of their variance to their mean
    influence variance measures that excess, and the interval is value +- t_{S-1} SE sqrt(ratio)
    (never narrower than the t interval), clipped to ``bounds`` (the metric's range; (-1, 1) for a
    difference, which cannot lower its coverage). ``sums`` (S,) and ``row_sums`` (L, S) are per-subject
    influence sums (of a difference: A's minus B's). Measured coverage: :mod:`.calibration`.
    """
    from scipy.stats import t as student_t

    n_subjects = len(sums)
    k = n_subjects / max(n_subjects - 1, 1)
    se = float(np.sqrt(k * np.sum(np.asarray(sums, float) ** 2)))
    row_var = k * np.sum(np.asarray(row_sums, float) ** 2, axis=-1)
    ok = np.isfinite(row_values) & np.isfinite(row_var)
    if not np.isfinite(value) or ok.sum() < 3 or np.mean(row_var[ok]) <= 0:
        return {"low": None, "high": None, "ratio": None, "se": se, "n_rows": int(ok.sum())}
    ratio = float(np.var(np.asarray(row_values)[ok], ddof=1) / np.mean(row_var[ok]))
    half = float(student_t.ppf(0.5 + level / 2, n_subjects - 1)) * se * np.sqrt(max(ratio, 1.0))
    return {"low": float(max(value - half, bounds[0])), "high": float(min(value + half, bounds[1])), "ratio": ratio,
            "se": se, "n_rows": int(ok.sum())}


def pair_interval(a: PipelineRows, b: PipelineRows, metric: str, level: float = 0.95) -> dict:
    """:func:`widened_interval` of metric(A) - metric(B) from both pipelines' rows."""
    ja, jb = a.column(metric), b.column(metric)
    n = min(len(a.values), len(b.values))
    value = a.observed_values[ja] - b.observed_values[jb]
    sums = a.observed_sums[:, ja] - b.observed_sums[:, jb]
    return widened_interval(value, sums, a.values[:n, ja] - b.values[:n, jb], a.sums[:n, :, ja] - b.sums[:n, :, jb],
                            level, bounds=(-1.0, 1.0))


def decided(a: PipelineRows, b: PipelineRows, metric: str, n_permutations: int, early_stop: int) -> bool:
    """Whether the rows at hand settle the test: all rows are there, or the sequential rule has stopped."""
    if min(len(a.values), len(b.values)) >= n_permutations:
        return True
    res = studentised_test(a, b, metric, n_permutations, early_stop)
    return res.p_value is None or res.stopped
