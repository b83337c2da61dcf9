"""Subject-cluster bootstrap confidence intervals for pooled metrics.

A resample draws as many subjects as the data has, with replacement, keeps every held-out
prediction of each drawn subject (a subject drawn twice contributes its predictions twice) and
recomputes the pooled metric. Samples of one subject are correlated, so resampling subjects, not
clips, is what matches the data's independence structure.

Intervals (both are always reported; ``ci_low``/``ci_high`` follow the chosen ``method``):

* **percentile**: the alpha/2 and 1 - alpha/2 quantiles of the resampled metric.
* **BCa** (Efron 1987; Efron & Tibshirani 1993, ch. 14): percentile levels corrected for bias,
  ``z0 = Phi^-1(share of resamples below the estimate, ties counted one half)``, and acceleration
  from the leave-one-subject-out jackknife, ``a = sum(d^3) / (6 sum(d^2)^1.5)`` with
  ``d = mean(jackknife) - jackknife``; levels ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))``.
  When BCa is undefined (every resample on one side of the estimate, a degenerate jackknife) the
  interval falls back to the percentile interval and says why.

Resamples on which the metric is undefined (e.g. AUC when a resample holds one class) are counted
and reported; the intervals use the resamples where it is defined.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from ..metrics.batch import batch_metrics, resolve_metric
from .permutation.schemes import subject_codes

_SEED_TAG = 0x424F4F54  # "BOOT"
DEFAULT_RESAMPLES = 2000
METHODS = ("bca", "percentile")


def resample_counts(n_subjects: int, n_resamples: int, seed: int, start: int = 0) -> np.ndarray:
    """(n_resamples, n_subjects) draw counts; resample ``i`` depends only on (seed, i)."""
    rng = np.random.default_rng([int(seed), _SEED_TAG, n_subjects])
    counts = rng.multinomial(n_subjects, np.full(n_subjects, 1.0 / n_subjects), size=start + n_resamples)
    return counts[start:]


@dataclass
class Interval:
    """A bootstrap interval for one statistic."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    level: float
    n_resamples: int
    n_undefined: int
    percentile: tuple = (None, None)
    bca: tuple = (None, None)
    se: float | None = None
    z0: float | None = None
    acceleration: float | None = None
    n_subjects: int = 0
    seed: int = 0
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"value": _f(self.value), "ci_low": _f(self.ci_low), "ci_high": _f(self.ci_high),
                "ci_method": self.method_label(), "method": self.method, "level": self.level,
                "percentile": [_f(v) for v in self.percentile], "bca": [_f(v) for v in self.bca],
                "bootstrap_se": _f(self.se), "bias_z0": _f(self.z0), "acceleration": _f(self.acceleration),
                "n_resamples": self.n_resamples, "n_undefined": self.n_undefined,
                "n_subjects": self.n_subjects, "seed": self.seed, "notes": list(self.notes)}

    def method_label(self) -> str:
        name = {"bca": "BCa", "percentile": "percentile"}.get(self.method, self.method)
        return (f"subject-cluster bootstrap, {name}, {self.level:.0%} "
                f"({self.n_resamples} resamples of {self.n_subjects} subjects)")


def _f(v):
    if v is None:
        return None
    v = float(v)
    return None if not np.isfinite(v) else v


def bootstrap_distribution(stat, subject_code: np.ndarray, n_resamples: int, seed: int,
                           chunk_cells: int = 4_000_000) -> np.ndarray:
    """Apply ``stat(weights (R, n)) -> (R, m)`` to every resample; returns (n_resamples, m)."""
    n_subjects = int(subject_code.max()) + 1
    counts = resample_counts(n_subjects, n_resamples, seed)
    n = len(subject_code)
    step = max(1, chunk_cells // max(n, 1))
    parts = [stat(counts[i:i + step][:, subject_code].astype(float)) for i in range(0, n_resamples, step)]
    return np.vstack(parts)


def jackknife(stat, subject_code: np.ndarray) -> np.ndarray:
    """Leave-one-subject-out values of the statistic: (n_subjects, m)."""
    n_subjects = int(subject_code.max()) + 1
    w = np.ones((n_subjects, len(subject_code)))
    w[subject_code, np.arange(len(subject_code))] = 0.0
    return stat(w)


def interval(value: float, boot: np.ndarray, jack: np.ndarray | None, level: float = 0.95,
             method: str = "bca") -> dict:
    """Percentile and BCa intervals from a bootstrap distribution (NaNs = undefined resamples)."""
    alpha = 1.0 - level
    boot = np.asarray(boot, float)
    valid = boot[np.isfinite(boot)]
    out = {"percentile": (None, None), "bca": (None, None), "se": None, "z0": None, "acceleration": None,
           "n_undefined": int(len(boot) - len(valid)), "notes": [], "method": method}
    if value is None or not np.isfinite(value):
        out["notes"].append("the statistic is undefined on the observed data, so it has no interval")
        return out
    if len(valid) == 0:
        out["notes"].append("the statistic is undefined on every resample")
        return out
    out["se"] = float(np.std(valid, ddof=1)) if len(valid) > 1 else 0.0
    lo, hi = np.quantile(valid, [alpha / 2, 1 - alpha / 2])
    out["percentile"] = (float(lo), float(hi))
    if np.ptp(valid) == 0:
        out["notes"].append("the bootstrap distribution is degenerate: every resample gives the same value "
                            f"({valid[0]:.6g}), so the interval has zero width")
    # BCa
    below = np.mean(valid < value) + 0.5 * np.mean(valid == value)
    why = None
    if below <= 0.0 or below >= 1.0:
        why = ("every resample lies on one side of the estimate" if np.ptp(valid) > 0
               else "the bootstrap distribution is degenerate (every resample gives the same value)")
    a = 0.0
    if why is None and jack is not None:
        jack = np.asarray(jack, float)
        jv = jack[np.isfinite(jack)]
        if len(jv) < len(jack):
            out["notes"].append(f"the statistic is undefined when leaving out {len(jack) - len(jv)} of {len(jack)} "
                                "subjects; the acceleration uses the others")
        if len(jv) >= 3:
            d = jv.mean() - jv
            ss = np.sum(d ** 2)
            a = float(np.sum(d ** 3) / (6.0 * ss ** 1.5)) if ss > 0 else 0.0
        else:
            why = "too few subjects for the jackknife acceleration"
    if why is None:
        z0 = float(norm.ppf(below))
        z = norm.ppf([alpha / 2, 1 - alpha / 2])
        adj = z0 + (z0 + z) / (1 - a * (z0 + z))
        levels = norm.cdf(adj)
        if not np.all(np.isfinite(levels)) or np.any(1 - a * (z0 + z) <= 0):
            why = "the BCa adjustment is unstable for these data (|acceleration| too large)"
        else:
            blo, bhi = np.quantile(valid, levels)
            out["bca"] = (float(blo), float(bhi))
            out["z0"], out["acceleration"] = z0, a
    if why is not None:
        out["notes"].append(f"BCa undefined: {why}")
        if method == "bca":
            out["method"] = "percentile"
            out["notes"].append("falling back to the percentile interval")
    return out


def undefined_reason(metric_name: str, y_codes, classes) -> str:
    """A plain-language reason why a metric is undefined on the pooled predictions."""
    present = sorted({classes[int(c)] for c in np.unique(y_codes)}) if len(y_codes) else []
    if len(y_codes) == 0:
        return f"{metric_name} is undefined: there are no held-out predictions"
    if metric_name == "auc" and len(present) < 2:
        return (f"ROC AUC is undefined: it needs at least two classes among the held-out labels, and the pooled set "
                f"holds only {present[0]!r} ({len(y_codes)} predictions)")
    return f"{metric_name} is undefined (NaN) on the pooled held-out predictions"


def cluster_bootstrap(y, pred, scores, subjects, classes, metrics, n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = 0, level: float = 0.95, method: str = "bca") -> dict[str, Interval]:
    """Subject-cluster bootstrap interval for each pooled metric.

    ``y``/``pred`` are class codes (n,), ``scores`` (n, k), ``subjects`` (n,) subject ids.
    """
    if method not in METHODS:
        from ..errors import MebenchError

        raise MebenchError(f"unknown interval method {method!r}; choose {' or '.join(METHODS)}.")
    classes = list(classes)
    metrics = list(metrics)
    objs = [resolve_metric(m) for m in metrics]
    y = np.asarray(y)
    pred = np.asarray(pred)
    scores = np.asarray(scores, float)
    sc = subject_codes(subjects)

    def stat(w):
        return batch_metrics(objs, classes, y, pred, scores, weights=w)

    def undefined_note(name, n_undefined):
        return (f"{name} is undefined on {n_undefined} of {n_resamples} resamples "
                f"({n_undefined / n_resamples:.1%}; e.g. a resample without one of the classes); "
                "the interval uses the resamples where it is defined")

    return _intervals(stat, metrics, y, classes, sc, n_resamples, seed, level, method, undefined_note)


def _intervals(stat, metrics, y, classes, sc, n_resamples, seed, level, method, undefined_note) -> dict:
    """Observed value, bootstrap and jackknife of ``stat`` turned into one Interval per metric."""
    observed = stat(np.ones((1, len(y))))[0]
    boot = bootstrap_distribution(stat, sc, n_resamples, seed)
    jack = jackknife(stat, sc)
    out = {}
    for j, name in enumerate(metrics):
        iv = interval(observed[j], boot[:, j], jack[:, j], level, method)
        notes = list(iv["notes"])
        if not np.isfinite(observed[j]):
            notes.insert(0, undefined_reason(name, y, classes))
        elif iv["n_undefined"]:
            notes.insert(0, undefined_note(name, iv["n_undefined"]))
        out[name] = _make_interval(observed[j], iv, level, n_resamples, int(sc.max()) + 1, seed, notes)
    return out


def _make_interval(value, iv: dict, level, n_resamples, n_subjects, seed, notes) -> Interval:
    chosen = iv["bca"] if iv["method"] == "bca" else iv["percentile"]
    return Interval(value=_f(value), ci_low=_f(chosen[0]), ci_high=_f(chosen[1]), method=iv["method"], level=level,
                    n_resamples=n_resamples, n_undefined=iv["n_undefined"], percentile=iv["percentile"],
                    bca=iv["bca"], se=iv["se"], z0=iv["z0"], acceleration=iv["acceleration"],
                    n_subjects=n_subjects, seed=seed, notes=notes)


def cluster_bootstrap_difference(y, a: tuple, b: tuple, subjects, classes, metrics,
                                 n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, level: float = 0.95,
                                 method: str = "bca") -> dict[str, Interval]:
    """Interval for metric(A) - metric(B) on the same samples: both are evaluated on every resample.

    ``a`` and ``b`` are ``(pred, scores)`` pairs aligned with ``y``.
    """
    classes = list(classes)
    metrics = list(metrics)
    objs = [resolve_metric(m) for m in metrics]
    y = np.asarray(y)
    (pa, sa), (pb, sb) = a, b
    sc = subject_codes(subjects)

    def stat(w):
        return (batch_metrics(objs, classes, y, pa, sa, weights=w)
                - batch_metrics(objs, classes, y, pb, sb, weights=w))

    def undefined_note(name, n_undefined):
        return f"the difference in {name} is undefined on {n_undefined} of {n_resamples} resamples; the interval uses the others"

    return _intervals(stat, metrics, y, classes, sc, n_resamples, seed, level, method, undefined_note)
