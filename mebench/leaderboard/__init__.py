"""Leaderboards, figures and reports recomputed from stored run directories.

Modules (imported on use; none is imported by ``mebench --help``):

``runs``     find and load run directories, check their file hashes, roles, flags and columns
``tables``   the leaderboard model (cells with CIs, marks, ranks, footnotes) and its renderers
``figures``  ROC curves, confusion matrices, CD diagrams, per-subject strips, permutation nulls
``verify``   recompute a stored leaderboard and compare it cell by cell
``report``   a self-contained HTML report of one run
``suites``   suite definitions, ``mebench bench``, ``leaderboard build`` and ``leaderboard add``
"""
