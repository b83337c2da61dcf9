"""Leaderboards, figures and reports recomputed from stored run directories.

Modules (imported on use; none is imported by ``mebench --help``):

``runs``     find run directories (opened by ``mebench.store.open_run``), recompute hashes, read stats.json
``tables``   the leaderboard model (cells with CIs, marks, ranks, footnotes)
``notes``    the footnote prose of a board
``render``   a board as Markdown, LaTeX, CSV, HTML or JSON
``figures``  ROC curves, confusion matrices, CD diagrams, per-subject strips, permutation nulls
``verify``   recompute a stored leaderboard and compare it cell by cell
``report``   a self-contained HTML report of one run
``suites``   suite definitions, ``mebench bench``, ``leaderboard build`` and ``leaderboard add``
"""
