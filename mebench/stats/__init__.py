"""Statistics for stored runs: intervals, permutation tests, paired tests, multiple comparisons.

Modules (imported on use; none is imported by ``mebench --help``):

``batch``        pooled metrics over many resamples/permutations at once
``bootstrap``    subject-cluster bootstrap, percentile and BCa intervals
``permutation``  permutation test against chance with refit (exact linear path, generic path)
``paired``       paired subject-level randomisation test, exact McNemar, DeLong (Sun & Xu 2014)
``multiple``     Holm, Friedman, Wilcoxon signed-rank, critical-difference diagrams
``diagnostics``  per-subject diagnostics
``runs``         the above over run directories (``mebench stats`` / ``mebench compare``)
"""
