"""Many pipelines: Holm-corrected comparisons, Friedman + pairwise Wilcoxon, critical-difference diagrams.

* Within one dataset every pipeline is compared with the best one (paired subject-level
  randomisation test, :mod:`mebench.stats.paired`) and the p-values are Holm-corrected with
  statsmodels ``multipletests(method="holm")`` (its default ``"hs"`` is Holm-Sidak, not Holm).
* Across datasets (blocks = dataset x protocol) the pipelines' pooled metric values form a
  blocks x pipelines table: the Friedman test first (skipped, with the reason, for fewer than
  ``MIN_BLOCKS`` blocks), then pairwise Wilcoxon signed-rank tests with Holm correction
  (Benavoli, Corani & Mangili 2016, JMLR 17), and a critical-difference diagram drawn from that
  significance matrix: pipelines at their average rank, joined by a bar when no pair among them
  differs significantly.

The Friedman and Wilcoxon statistics are computed here (checked against scipy in the tests):
Friedman with the tie correction; Wilcoxon by the exact permutation distribution of the signed
(mid-)ranks for up to ``EXACT_MAX`` non-zero differences, else the normal approximation with the
tie correction. Zero differences are dropped (Wilcoxon's convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2, norm

from ..errors import MebenchError

MIN_BLOCKS = 5
EXACT_MAX = 50


def holm(p_values) -> list[float | None]:
    """Holm step-down adjusted p-values (statsmodels ``multipletests(method="holm")``); None kept."""
    from statsmodels.stats.multitest import multipletests

    p = [None if v is None or not np.isfinite(v) else float(v) for v in p_values]
    idx = [i for i, v in enumerate(p) if v is not None]
    out: list[float | None] = [None] * len(p)
    if idx:
        adj = multipletests([p[i] for i in idx], method="holm")[1]
        for i, v in zip(idx, adj):
            out[i] = float(v)
    return out


# ---- Friedman ----
def _rank_rows(table: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Mid-ranks within each block (row); rank 1 is the best pipeline."""
    from .paired import midranks

    t = -table if higher_is_better else table
    return np.vstack([midranks(row) for row in t])


def friedman(table, higher_is_better: bool = True) -> dict:
    """Friedman test on a blocks x pipelines table, with the tie correction.

    Q = 12 N / (k (k + 1)) sum_j (R_j - (k + 1) / 2)^2, divided by
    1 - sum over blocks of sum(t^3 - t) / (N k (k^2 - 1)) for tie groups of size t; chi^2, k-1 df.
    """
    table = np.asarray(table, float)
    N, k = table.shape
    if k < 3:
        raise MebenchError(f"the Friedman test needs at least 3 pipelines; got {k}.")
    ranks = _rank_rows(table, higher_is_better)
    mean_ranks = ranks.mean(axis=0)
    q = 12.0 * N / (k * (k + 1)) * np.sum((mean_ranks - (k + 1) / 2.0) ** 2)
    ties = 0.0
    for row in table:
        _, counts = np.unique(row, return_counts=True)
        ties += np.sum(counts ** 3 - counts)
    c = 1.0 - ties / (N * k * (k * k - 1))
    stat = q / c if c > 0 else np.nan
    p = float(chi2.sf(stat, k - 1)) if np.isfinite(stat) else 1.0
    return {"statistic": float(stat) if np.isfinite(stat) else None, "df": k - 1, "p_value": p,
            "mean_ranks": mean_ranks.tolist(), "n_blocks": N, "n_pipelines": k,
            "test": "Friedman test (chi-squared approximation, tie-corrected)",
            "assumptions": "blocks (dataset x protocol) independent; within a block the pipelines are ranked"}


# ---- Wilcoxon signed-rank ----
def _exact_signed_rank_distribution(doubled_ranks: np.ndarray) -> np.ndarray:
    """P(T+ = t) over t = 0..sum for integer (doubled) ranks, every sign equally likely."""
    total = int(doubled_ranks.sum())
    counts = np.zeros(total + 1)
    counts[0] = 1.0
    for r in doubled_ranks.astype(int):
        shifted = np.zeros_like(counts)
        shifted[r:] = counts[:total + 1 - r]
        counts = counts + shifted
    return counts / counts.sum()


def wilcoxon(x, y=None, method: str = "auto", correction: bool = False) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired samples (or of ``x`` as differences).

    ``method``: ``exact`` (permutation distribution of the signed mid-ranks, valid with ties),
    ``approx`` (normal with tie correction, optional continuity ``correction``), or ``auto``
    (exact for at most ``EXACT_MAX`` non-zero differences). The statistic is T+ (sum of ranks of
    positive differences); zero differences are dropped.
    """
    d = np.asarray(x, float) - (0.0 if y is None else np.asarray(y, float))
    d = d[d != 0]
    n = len(d)
    base = {"test": "Wilcoxon signed-rank test, two-sided (zero differences dropped)",
            "assumptions": "paired differences symmetric about 0 under H0; pairs (blocks) independent", "n": n}
    if n == 0:
        return {**base, "statistic": 0.0, "p_value": 1.0, "method": "none",
                "note": "all differences are zero: no evidence of a difference (p = 1)"}
    from .paired import midranks

    ranks = midranks(np.abs(d))
    t_plus = float(ranks[d > 0].sum())
    if method == "auto":
        method = "exact" if n <= EXACT_MAX else "approx"
    if method == "exact":
        doubled = np.round(2 * ranks).astype(int)  # mid-ranks are multiples of 1/2
        dist = _exact_signed_rank_distribution(doubled)
        t2 = int(round(2 * t_plus))
        lower, upper = dist[:t2 + 1].sum(), dist[t2:].sum()
        p = float(min(1.0, 2 * min(lower, upper)))
    elif method == "approx":
        mean = n * (n + 1) / 4.0
        _, counts = np.unique(np.abs(d), return_counts=True)
        var = n * (n + 1) * (2 * n + 1) / 24.0 - np.sum(counts ** 3 - counts) / 48.0
        diff = t_plus - mean
        if correction:
            diff = np.sign(diff) * max(abs(diff) - 0.5, 0.0)
        z = diff / np.sqrt(var) if var > 0 else 0.0
        p = float(2 * norm.sf(abs(z)))
        base["z"] = float(z)
    else:
        raise MebenchError(f"unknown Wilcoxon method {method!r}; choose auto, exact or approx.")
    return {**base, "statistic": t_plus, "p_value": p, "method": method}


# ---- across datasets ----
def smallest_attainable(n_blocks: int, n_pipelines: int, alpha: float = 0.05) -> dict:
    """The smallest p-values the across-datasets tests can give with this many blocks, and whether any pair
    can be declared significant at all.

    * Wilcoxon, two-sided: all N blocks favour one pipeline, no ties or zero differences; the exact
      test gives 2/2^N (the normal approximation, above ``EXACT_MAX`` blocks, its own value there).
    * Holm over m = k(k-1)/2 pairs: its smallest adjusted p is m times the smallest raw p (capped at 1).
    * Friedman (k >= 3): every block ranks the pipelines identically, so Q = N(k-1); the p-value of
      the chi-squared approximation at that Q.

    A pair is declared only when the smallest Holm p is at most ``alpha`` and the Friedman test can
    run (``MIN_BLOCKS`` blocks) and reject; ``blocks_needed`` is the fewest blocks for which that holds.
    """
    from ..formatting import fmt_p

    N, k = int(n_blocks), int(n_pipelines)
    m = k * (k - 1) // 2

    def wilcoxon_min(n: int) -> float:
        return wilcoxon(np.arange(1.0, n + 1))["p_value"] if n > 0 else 1.0  # every block favours one side

    def friedman_min(n: int) -> float | None:
        return float(chi2.sf(n * (k - 1), k - 1)) if k >= 3 and n > 0 else None

    def can_declare(n: int) -> bool:
        f = friedman_min(n)
        return n >= MIN_BLOCKS and min(1.0, m * wilcoxon_min(n)) <= alpha and (f is None or f <= alpha)

    w = wilcoxon_min(N)
    holm_min = min(1.0, m * w) if m else None
    needed = next((n for n in range(1, 200) if can_declare(n)), None) if m else None
    out = {"n_blocks": N, "n_pipelines": k, "n_pairs": m, "alpha": alpha,
           "wilcoxon_min_p": w,
           "wilcoxon_rule": ("2/2^N: exact two-sided Wilcoxon signed-rank test, every block favouring one pipeline, "
                             "no ties or zero differences" if N <= EXACT_MAX else
                             "normal approximation of the two-sided Wilcoxon test, every block favouring one "
                             "pipeline"),
           "holm_min_p": holm_min, "holm_rule": f"min(1, m x smallest Wilcoxon p) for Holm over m = {m} pairs",
           "friedman_min_p": friedman_min(N),
           "friedman_rule": ("chi-squared with k-1 df at Q = N(k-1): every block ranks the pipelines identically"
                             if k >= 3 else "no Friedman test with fewer than 3 pipelines"),
           "can_declare_a_pair": bool(m) and can_declare(N), "blocks_needed": needed}
    f = out["friedman_min_p"]
    text = (f"with {N} block(s) the smallest attainable p is {fmt_p(w)} for a pairwise Wilcoxon test"
            + (f" and {fmt_p(holm_min)} after Holm over {m} pair(s)" if m else "")
            + (f"; {fmt_p(f)} for the Friedman test" if f is not None else ""))
    if m and not out["can_declare_a_pair"]:
        why = []
        if holm_min > alpha:
            why.append(f"the smallest Holm-adjusted p ({fmt_p(holm_min)}) exceeds alpha = {alpha}")
        if N < MIN_BLOCKS:
            why.append(f"the Friedman test is not run below {MIN_BLOCKS} blocks")
        elif f is not None and f > alpha:
            why.append(f"the smallest Friedman p ({fmt_p(f)}) exceeds alpha = {alpha}")
        text += (f". No pair can be declared significant with this many blocks: {' and '.join(why)}"
                 + (f"; {k} pipelines need at least {needed} blocks" if needed else ""))
    out["note"] = text + "."
    return out


def friedman_wilcoxon(table, pipelines, blocks=None, higher_is_better: bool = True, alpha: float = 0.05) -> dict:
    """Friedman, then pairwise Wilcoxon with Holm, over a blocks x pipelines table of a metric.

    With fewer than ``MIN_BLOCKS`` blocks the omnibus test is skipped and the result says why;
    the pairwise tests are still listed, descriptive only (no pair is marked significant). When
    the omnibus test runs and does not reject at ``alpha``, no pair is marked significant either.
    """
    table = np.asarray(table, float)
    pipelines = list(pipelines)
    N, k = table.shape
    if k != len(pipelines):
        raise MebenchError("the table needs one column per pipeline.")
    if not np.all(np.isfinite(table)):
        raise MebenchError("the metric is undefined (NaN) for some pipeline in some block; ranks need every value.")
    ranks = _rank_rows(table, higher_is_better)
    out = {"pipelines": pipelines, "blocks": list(blocks) if blocks is not None else list(range(N)),
           "n_blocks": N, "mean_ranks": dict(zip(pipelines, ranks.mean(axis=0).tolist())), "alpha": alpha}
    gate_open = True
    if N < MIN_BLOCKS:
        gate_open = False  # descriptive only: no pair is declared significant
        out["omnibus"] = {"skipped": True, "reason": (
            f"only {N} block(s) (dataset x protocol); the Friedman test is skipped below {MIN_BLOCKS} blocks "
            "because its chi-squared approximation is unreliable and it has almost no power there. "
            "Pairwise results below are descriptive.")}
    elif k < 3:
        out["omnibus"] = {"skipped": True, "reason": "the Friedman test needs at least 3 pipelines; "
                                                     "with 2 the pairwise Wilcoxon test is the test."}
    else:
        out["omnibus"] = friedman(table, higher_is_better)
        gate_open = out["omnibus"]["p_value"] <= alpha
        if not gate_open:
            out["omnibus"]["note"] = (f"not significant at alpha = {alpha}: no pairwise difference is declared "
                                      "(pairwise p-values listed for reference)")
    pairs, raw = [], []
    for i in range(k):
        for j in range(i + 1, k):
            w = wilcoxon(table[:, i], table[:, j])
            pairs.append((i, j, w))
            raw.append(w["p_value"])
    adjusted = holm(raw)
    sig = np.zeros((k, k), bool)
    rows = []
    for (i, j, w), p_adj in zip(pairs, adjusted):
        significant = bool(gate_open and p_adj is not None and p_adj <= alpha)
        sig[i, j] = sig[j, i] = significant
        rows.append({"a": pipelines[i], "b": pipelines[j], "p_value": w["p_value"], "p_holm": p_adj,
                     "significant": significant, "statistic": w["statistic"], "method": w["method"],
                     "n": w["n"], "test": w["test"], "assumptions": w["assumptions"]})
    out["pairwise"] = rows
    out["pairwise_correction"] = f"Holm over the {len(rows)} pairwise tests (statsmodels multipletests, method='holm')"
    out["smallest_attainable"] = smallest_attainable(N, k, alpha)
    out["significance"] = sig.tolist()
    out["cliques"] = [[pipelines[i] for i in c] for c in cd_cliques(ranks.mean(axis=0), sig)]
    return out


def cd_cliques(mean_ranks, significant) -> list[list[int]]:
    """Maximal runs (index lists, length >= 2) of pipelines ordered by mean rank with no significant pair among them."""
    mean_ranks = np.asarray(mean_ranks, float)
    sig = np.asarray(significant, bool)
    order = list(np.argsort(mean_ranks, kind="stable"))
    k = len(order)
    runs = []
    for start in range(k):
        end = start
        while end + 1 < k and not any(sig[order[end + 1], order[m]] for m in range(start, end + 1)):
            end += 1
        if end > start:
            runs.append((start, end))
    maximal = [r for r in runs if not any(o != r and o[0] <= r[0] and r[1] <= o[1] for o in runs)]
    return [[int(order[m]) for m in range(s, e + 1)] for s, e in maximal]


def cd_figure(mean_ranks: dict, cliques: list, title: str | None = None, labels: dict | None = None,
              key: list | None = None, width="two"):
    """The critical-difference diagram as a matplotlib figure (call inside :func:`mebench.plotting.style`).

    Pipelines sit at their mean rank on a labelled rank axis, the better half named on the left and
    the rest on the right, by short label (``labels``: full name -> label; by default generated keys
    ``P1``, ``P2``, … in rank order) with a key table below mapping each key to the full name.
    Bars join pipelines no pair of which differs significantly.
    """
    from ..formatting import fmt_number
    from ..plotting import draw_key, key_height, new_figure, pipeline_labels, wrapped

    names = list(mean_ranks)
    ranks = np.array([mean_ranks[n] for n in names], float)
    k = len(names)
    order = [int(i) for i in np.argsort(ranks, kind="stable")]
    if labels is None:
        labels, key = pipeline_labels([names[i] for i in order])
    key = key or []
    lo, hi = 1, max(k, 2)
    half = (k + 1) // 2
    row, bar = 1.0, 0.45  # data units: one label row, one clique bar
    base = bar * (len(cliques) + 1)
    depth_max = base + row * (half - 1) + row * 0.6
    title = title or "Critical-difference diagram: mean rank; bars join pipelines not significantly different"
    title = wrapped(title, width)
    n_title = title.count("\n") + 1
    plot_h = 0.5 + 0.14 * n_title + 0.17 * depth_max
    fig = new_figure(width, plot_h, key_height(key, width))
    ax = fig.subplots()
    ax.set_xlim(lo - 0.1, hi + 0.1)
    ax.set_ylim(-depth_max, 0)
    for side in ("left", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xticks(range(lo, hi + 1))
    ax.set_yticks([])
    ax.set_xlabel("mean rank (1 = best)")
    for pos, idx in enumerate(order):
        x = ranks[idx]
        left = pos < half
        depth = -(base + (pos if left else k - 1 - pos) * row)
        edge = lo - 0.1 if left else hi + 0.1
        ax.plot([x, x, edge], [0, depth, depth], color="black", lw=0.7, clip_on=False)
        ax.annotate(f"{labels.get(names[idx], names[idx])} ({fmt_number(x, 2)})", (edge, depth),
                    xytext=(-3 if left else 3, 0), textcoords="offset points", ha="right" if left else "left",
                    va="center", annotation_clip=False)
    for c_i, clique in enumerate(cliques):
        xs = [mean_ranks[n] for n in clique]
        y = -bar * (c_i + 1)
        ax.hlines(y, min(xs) - 0.03, max(xs) + 0.03, color="black", lw=2.5)
    fig.suptitle(title)
    draw_key(fig, key)
    return fig


def cd_diagram(mean_ranks: dict, cliques: list, path, title: str | None = None, labels: dict | None = None,
               key: list | None = None, width="two") -> str:
    """Draw a critical-difference diagram (:func:`cd_figure`) and save it to ``path`` (format from the suffix,
    fixed metadata); returns the path."""
    from ..plotting import save_as, style

    with style():
        fig = cd_figure(mean_ranks, cliques, title, labels=labels, key=key, width=width)
        return save_as(fig, path)


def best_index(values, higher_is_better: bool, ids) -> int | None:
    """Index of the best finite value; ties go to the smallest id (e.g. run id), so the choice never
    depends on the order runs were given in. None when no value is finite."""
    finite = [i for i, v in enumerate(values) if v is not None and np.isfinite(v)]
    if not finite:
        return None
    top = (max if higher_is_better else min)(values[i] for i in finite)
    return min((i for i in finite if values[i] == top), key=lambda i: str(ids[i]))


# ---- best versus rest, within one dataset ----
@dataclass
class PairComparison:
    """One paired test of a best-versus-rest family: runs ``a`` and ``b`` (indices), as tested."""

    metric: str
    a: int
    b: int
    p_value: float | None
    smallest_p: float                # the smallest p-value the test can give
    p_holm: float | None = None      # None outside the Holm family
    detail: dict | None = None       # mebench.stats.paired.compare_predictions' entry, when intervals were asked for
    test: str = "studentised"        # "studentised" (refit, the default) or "swap" (stored predictions only)
    calibration: dict | None = None  # mebench.stats.calibration.test_calibration(metric, test)

    def other(self, best: int | None) -> int:  # the run of the pair that is not the best
        return self.a if self.b == best else self.b

    @property
    def in_family(self) -> bool:
        return bool(self.calibration and self.calibration["in_holm_family"])


@dataclass
class BestVersusRest:
    """Every run against the best one per metric, Holm-corrected over the calibrated tests."""

    values: dict                     # metric -> value per run
    best: dict                       # metric -> index of the best run (None when no value is finite)
    comparisons: dict                # metric -> [PairComparison]
    n_family: int                    # tests in the Holm family

    def in_holm_family(self, metric: str) -> bool:
        return any(c.in_family for c in self.comparisons[metric])

    def smallest_holm_p(self, metric: str) -> float | None:
        """The smallest Holm-adjusted p the family can give (None outside it): its size times the smallest p."""
        family = [c for c in self.comparisons[metric] if c.in_family]
        if not family:
            return None
        return min(1.0, self.n_family * min(c.smallest_p for c in family))


def best_versus_rest(y, aligned: list, subjects, classes, metrics, ids, n_permutations: int = 10000, seed: int = 0,
                     intervals: dict | None = None, rows: list | None = None, n_rows: int = 999,
                     early_stop: int = 0, progress=None, unsettled=()) -> BestVersusRest:
    """Each run against the best one, per metric: the procedure of ``mebench compare`` and the leaderboard.

    Two runs are compared with each other; more are each compared with the best run of the metric
    (ties go to the smallest id). The primary test is the refit studentised paired permutation test
    (:mod:`mebench.stats.studentised`) when both runs have permutation rows, else the subject swap
    (:mod:`mebench.stats.paired`), which is descriptive. The p-values of the tests whose measured
    false-positive rate is in band (:func:`mebench.stats.calibration.test_calibration`) form one Holm
    family; the others carry their measured rate and no Holm value.

    Parameters
    ----------
    y, aligned : array of int, list of (pred_codes, scores)
        True class codes shared by the runs; each run's predictions in the order of ``y``.
    subjects, classes, metrics, ids
        Subject of each sample; class labels in code order; metric names; run ids (they break ties for the best).
    n_permutations, seed : int
        Swap patterns of the subject swap and the seed of both tests.
    intervals : dict or None
        ``{"n_resamples", "level", "ci"}`` adds bootstrap intervals and the secondary tests
        (:func:`mebench.stats.paired.compare_predictions`); None runs the primary test alone.
    rows, n_rows, early_stop, unsettled
        Each run's :class:`mebench.stats.studentised.PipelineRows` (None where a run has none), the
        permutation rows asked for, h of the sequential rule (0: none), and the ``(i, j, metric)`` tests
        the rows at hand cannot settle (they get the descriptive swap).
    progress : callable, optional
        ``progress(done, total)`` after each comparison (pairs x metrics).

    Returns
    -------
    BestVersusRest
    """
    from ..metrics.batch import batch_metrics
    from ..registry import METRICS
    from .calibration import test_calibration
    from .influence import has_influence
    from .paired import compare_predictions, paired_randomisation
    from .studentised import studentised_test

    y = np.asarray(y)
    out = BestVersusRest({}, {}, {}, 0)
    n_tests = len(metrics) * max(1, len(aligned) - 1)
    if progress:
        progress(0, n_tests)
    for name in metrics:
        hib = bool(getattr(METRICS.get(name), "higher_is_better", True))
        values = [batch_metrics([name], classes, y[None], p[None], s[None])[0, 0] for p, s in aligned]
        best = best_index(values, hib, ids)
        if best is None and len(aligned) > 2:
            raise MebenchError(f"{name} is undefined for every run; nothing to compare.")
        comps = []
        for i, j in pair_indices(len(aligned), best):
            refit = (rows is not None and rows[i] is not None and rows[j] is not None and has_influence(name)
                     and (i, j, name) not in unsettled)
            stud = studentised_test(rows[i], rows[j], name, n_rows, early_stop) if refit else None
            if intervals is None and stud is not None:
                comp = PairComparison(name, i, j, stud.p_value, stud.smallest_p, detail={"tests": {
                    "studentised_refit": {"p_value": stud.p_value, **stud.describe()}}})
            elif intervals is None:
                res = paired_randomisation(y, aligned[i], aligned[j], subjects, classes, [name], n_permutations,
                                           seed)[name]
                comp = PairComparison(name, i, j, res.p_value, res.smallest_p, test="swap")
            else:
                res = compare_predictions(y, aligned[i], aligned[j], subjects, classes, [name], n_permutations,
                                          seed=seed, **intervals)[name]
                if stud is not None:
                    res["tests"] = {"studentised_refit": {"p_value": stud.p_value, **stud.describe()}, **res["tests"]}
                    res["p_value"] = stud.p_value
                    _rows_interval(res, rows[i], rows[j], name, intervals["level"])
                    comp = PairComparison(name, i, j, stud.p_value, stud.smallest_p, detail=res)
                else:
                    comp = PairComparison(name, i, j, res["p_value"],
                                          res["tests"]["paired_randomisation"]["smallest_attainable_p"], detail=res,
                                          test="swap")
            comp.calibration = test_calibration(name, comp.test)
            if comp.detail is not None:
                comp.detail["p_value_calibration"] = comp.calibration
                comp.detail["primary_test"] = comp.calibration["test"]
            comps.append(comp)
            if progress:
                progress(sum(map(len, out.comparisons.values())) + len(comps), n_tests)
        out.values[name], out.best[name], out.comparisons[name] = values, best, comps
    family = [c for name in metrics for c in out.comparisons[name] if c.in_family]
    out.n_family = len(family)
    for c, p in zip(family, holm([c.p_value for c in family])):
        c.p_holm = p
    return out


def _rows_interval(entry: dict, a, b, metric: str, level: float) -> None:
    """Make the permutation-widened interval of the difference the reported one (the bootstrap stays in ``ci``)."""
    from .calibration import interval_coverage
    from .studentised import pair_interval

    wide = pair_interval(a, b, metric, level)
    if wide["low"] is None:
        return
    coverage = interval_coverage(metric, "perm", "difference")
    entry["ci_bca"] = [entry["ci_low"], entry["ci_high"]]
    entry["ci_low"], entry["ci_high"] = wide["low"], wide["high"]
    entry["ci_method"] = (f"influence t interval widened by the permutation rows ({wide['n_rows']} rows, variance "
                          "ratio "
                          f"{wide['ratio']:.2f}), {level:.0%}; measured coverage of the 95% interval "
                          f"{coverage['coverage'] or 'not measured'}")
    entry["ci_rows"] = {**wide, "coverage": coverage}


def pair_indices(n_runs: int, best: int | None) -> list[tuple[int, int]]:
    """The tested pairs: the two runs, or every run against the best."""
    return [(0, 1)] if n_runs == 2 else [(i, best) for i in range(n_runs) if i != best]