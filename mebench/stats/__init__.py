"""Statistics for stored runs: intervals, permutation tests, paired tests, multiple comparisons.

Modules (imported on use; none is imported by ``mebench --help``). The vectorised metric engine
and the per-subject diagnostics live on the metrics floor (:mod:`mebench.metrics.batch`,
:mod:`mebench.metrics.diagnostics`), so that the runner can use them without importing ``stats``.

``bootstrap``    subject-cluster bootstrap, percentile and BCa intervals
``permutation``  permutation test against chance with refit: ``schemes``, the exact ``linear``
                 path, the ``generic`` refit path, ``checkpoint``s, ``prepared`` runs
``paired``       paired subject-level randomisation test, exact McNemar, DeLong (Sun & Xu 2014)
``multiple``     Holm, Friedman, Wilcoxon signed-rank, critical-difference diagrams
``runs``         the above over run directories (``mebench stats`` / ``mebench compare``)
"""
