"""Holm, Friedman and Wilcoxon (vs statsmodels/scipy), cliques and critical-difference diagrams."""
import numpy as np
import pytest
from scipy import stats

from mebench.errors import MebenchError
from mebench.stats.multiple import cd_cliques, cd_diagram, friedman, friedman_wilcoxon, holm, wilcoxon


def test_holm_is_holm_not_holm_sidak():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2]
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.2])            # by hand: 4p, 3p, 2p (monotone), p
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())
    assert holm(p) != pytest.approx(multipletests(p)[1].tolist())         # statsmodels' default "hs"
    assert holm([0.01, None, 0.02]) == [0.02, None, 0.02]


@pytest.mark.parametrize("n", [5, 9, 16, 30])
def test_wilcoxon_matches_scipy(n):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=n), rng.normal(size=n) + 0.4
    assert wilcoxon(x, y, method="exact")["p_value"] == pytest.approx(stats.wilcoxon(x, y, method="exact").pvalue)
    assert wilcoxon(x, y, method="approx")["p_value"] == pytest.approx(stats.wilcoxon(x, y, method="approx").pvalue)
    xt, yt = np.round(x), np.round(y)     # ties and zero differences
    for corr in (False, True):
        ref = stats.wilcoxon(xt, yt, method="approx", correction=corr).pvalue
        assert wilcoxon(xt, yt, method="approx", correction=corr)["p_value"] == pytest.approx(ref)


def test_wilcoxon_exact_with_ties_is_a_permutation_test():
    d = np.array([1.0, 1.0, 2.0, -1.0, 3.0, 3.0])
    res = wilcoxon(d, method="exact")
    ranks = stats.rankdata(np.abs(d))
    obs = ranks[d > 0].sum()
    signs = np.array(np.meshgrid(*[[1, -1]] * 6)).reshape(6, -1).T
    t = ((signs > 0) * ranks).sum(axis=1)
    ref = min(1.0, 2 * min(np.mean(t <= obs), np.mean(t >= obs)))
    assert res["p_value"] == pytest.approx(ref)
    assert wilcoxon([0.0, 0.0], [0.0, 0.0])["p_value"] == 1.0


def test_friedman_matches_scipy():
    rng = np.random.default_rng(0)
    for table in (rng.normal(size=(8, 4)), np.round(rng.normal(size=(10, 5)))):
        ours = friedman(table)
        ref = stats.friedmanchisquare(*table.T)
        assert ours["statistic"] == pytest.approx(ref.statistic)
        assert ours["p_value"] == pytest.approx(ref.pvalue)
    with pytest.raises(MebenchError, match="at least 3"):
        friedman(rng.normal(size=(6, 2)))


def test_cliques_from_a_significance_matrix():
    ranks = [1.0, 2.0, 3.0, 4.0]
    sig = np.zeros((4, 4), bool)
    sig[0, 2] = sig[2, 0] = sig[0, 3] = sig[3, 0] = sig[1, 3] = sig[3, 1] = True
    assert cd_cliques(ranks, sig) == [[0, 1], [1, 2], [2, 3]]
    assert cd_cliques(ranks, np.zeros((4, 4), bool)) == [[0, 1, 2, 3]]
    assert cd_cliques(ranks, ~np.eye(4, dtype=bool)) == []


def test_friedman_wilcoxon_and_cd_diagram(tmp_path):
    rng = np.random.default_rng(1)
    table = rng.normal(0, 0.02, (12, 4)) + np.array([0.9, 0.8, 0.6, 0.59])
    res = friedman_wilcoxon(table, ["a", "b", "c", "d"])
    assert res["omnibus"]["p_value"] < 1e-4
    sig = {(r["a"], r["b"]): r["significant"] for r in res["pairwise"]}
    assert sig[("a", "c")] and not sig[("c", "d")]
    assert ["c", "d"] in res["cliques"]
    path = cd_diagram(res["mean_ranks"], res["cliques"], tmp_path / "cd.png")
    assert (tmp_path / "cd.png").stat().st_size > 1000 and path.endswith("cd.png")


def test_too_few_blocks_skip_the_omnibus_test_and_say_why():
    res = friedman_wilcoxon(np.random.default_rng(2).random((4, 3)), ["a", "b", "c"])
    assert res["omnibus"]["skipped"] and "only 4 block(s)" in res["omnibus"]["reason"]
    assert len(res["pairwise"]) == 3 and "descriptive" in res["omnibus"]["reason"]
    # descriptive means no pair is declared significant, even at a lenient alpha that raw p-values meet
    ordered = np.array([[0.9, 0.8, 0.7], [0.8, 0.7, 0.6], [0.95, 0.5, 0.4], [0.7, 0.6, 0.3]])
    res = friedman_wilcoxon(ordered, ["a", "b", "c"], alpha=0.5)
    assert min(r["p_holm"] for r in res["pairwise"]) <= 0.5
    assert not any(r["significant"] for r in res["pairwise"]) and res["cliques"] == [["a", "b", "c"]]


def test_omnibus_gate_blocks_pairwise_significance():
    rng = np.random.default_rng(3)
    table = rng.normal(size=(6, 3))
    res = friedman_wilcoxon(table, ["a", "b", "c"])
    assert res["omnibus"]["p_value"] > 0.05 and "no pairwise difference" in res["omnibus"]["note"]
    assert not any(r["significant"] for r in res["pairwise"])


@pytest.mark.parametrize("n_blocks,k", [(2, 3), (5, 2), (5, 3), (6, 2), (7, 3), (8, 4), (12, 5)])
def test_smallest_attainable_p_is_what_the_tests_give_at_their_extreme(n_blocks, k):
    """Every block ranks the pipelines identically, with distinct values: the most extreme data there is.
    The stated smallest p-values are those the tests then give, and 2/2^N for the exact Wilcoxon test."""
    from mebench.stats.multiple import MIN_BLOCKS, smallest_attainable

    reach = smallest_attainable(n_blocks, k)
    m = k * (k - 1) // 2
    assert reach["n_pairs"] == m and reach["wilcoxon_min_p"] == pytest.approx(2 / 2 ** n_blocks)
    assert reach["holm_min_p"] == pytest.approx(min(1.0, m * 2 / 2 ** n_blocks))
    extreme = np.arange(k, 0, -1)[None, :] * 0.1 + np.arange(n_blocks)[:, None] * 0.01  # a > b > c in every block
    res = friedman_wilcoxon(extreme, list("abcde"[:k]))
    assert min(r["p_value"] for r in res["pairwise"]) == pytest.approx(reach["wilcoxon_min_p"])
    assert min(r["p_holm"] for r in res["pairwise"]) == pytest.approx(reach["holm_min_p"])
    assert res["smallest_attainable"] == reach
    if k >= 3:
        assert reach["friedman_min_p"] == pytest.approx(stats.chi2.sf(n_blocks * (k - 1), k - 1))
        assert friedman(extreme)["p_value"] == pytest.approx(reach["friedman_min_p"])
    else:
        assert reach["friedman_min_p"] is None
    declared = any(r["significant"] for r in res["pairwise"])  # the extreme table: the best any data can do
    assert reach["can_declare_a_pair"] == declared == (n_blocks >= MIN_BLOCKS and reach["holm_min_p"] <= 0.05)
    if declared:
        assert "No pair can be declared" not in reach["note"]
    else:
        assert "No pair can be declared significant with this many blocks" in reach["note"]
        needed = reach["blocks_needed"]
        assert smallest_attainable(needed, k)["can_declare_a_pair"]
        assert not smallest_attainable(needed - 1, k)["can_declare_a_pair"]
        assert f"{k} pipelines need at least {needed} blocks" in reach["note"]


def test_smallest_attainable_p_text_for_the_common_small_case():
    from mebench.stats.multiple import smallest_attainable

    note = smallest_attainable(5, 3)["note"]
    assert "smallest attainable p is 0.0625 for a pairwise Wilcoxon test and 0.1875 after Holm over 3 pair(s)" in note
    assert "the smallest Holm-adjusted p (0.1875) exceeds alpha = 0.05" in note and "at least 7 blocks" in note
