"""Time to draw and save (PNG and PDF) each figure kind for 10 long-named pipelines, per checkout.

    python benchmarks/bench_figures.py [--checkouts TREE ...] [--repeats 3]

Each checkout is timed in its own process (``PYTHONPATH=TREE``), alternating between checkouts in
every round; the table gives the median CPU seconds (``time.process_time``) per figure over the
rounds. Only the positional API common to all versions is used, so an older tree can be the
baseline: a tree with ``mebench.plotting`` gets keys ``P1``… and a key table, as the leaderboard
draws them; an older one gets the full names, as it drew them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from threadpoolctl import threadpool_limits
sys.path.insert(0, str(Path(sys.argv[1]) / "tests"))
from _figure_helpers import arrays, long_names, subjects
from mebench.leaderboard import figures as F
from mebench.stats import multiple

n, out = 10, Path(sys.argv[2])
names = long_names(n)
try:
    from mebench.plotting import pipeline_labels
    short, key = pipeline_labels(names)
    extra = lambda: (key,)
except ImportError:
    short, extra = {m: m for m in names}, lambda: ()
roles = ["method"] * (n - 2) + ["control", "probe"]
title = "synthetic/deception effect=0.25 · loso"
kinds = {
    "roc": lambda: F.roc_figure([(short[m], r, arrays(i)) for i, (m, r) in enumerate(zip(names, roles))], title,
                                *extra()),
    "subjects": lambda: F.strip_figure([(short[m], subjects(i)) for i, m in enumerate(names)], "uf1", title,
                                       {short[m]: 0.5 for m in names}, *extra()),
    "confusion": lambda: F.confusion_figure(arrays(1, ["happiness", "surprise", "disgust", "repression", "others"]),
                                            f"{names[0]} on {title}"),
    "null": lambda: F.null_figure(np.random.default_rng(0).normal(0.5, 0.05, 999), 0.74, "uf1",
                                  f"{names[0]} on {title}", 0.000999, 999),
}
times = {}
with threadpool_limits(1), F.style():
    kinds["roc"]()  # imports and font caches warm
    for kind, make in kinds.items():
        t = time.process_time()
        fig = make()
        for fmt in ("png", "pdf"):
            F.figure_bytes(fig, fmt)
        times[kind] = time.process_time() - t
    ranks = {m: 1 + i * 0.9 for i, m in enumerate(names)}
    t = time.process_time()
    for fmt in ("png", "pdf"):
        multiple.cd_diagram(ranks, [names[:5], names[4:]], out / f"cd.{fmt}")
    times["cd"] = time.process_time() - t
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", nargs="+", default=[str(Path(__file__).resolve().parents[1])])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    helpers = Path(__file__).resolve().parents[1]  # the figure fixtures of this tree, for every checkout
    results: dict = {c: [] for c in args.checkouts}
    for _ in range(args.repeats):
        for tree in args.checkouts:
            env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve()), "OMP_NUM_THREADS": "1"}
            out = subprocess.run([sys.executable, "-c", CHILD, str(helpers), "/tmp"], env=env, capture_output=True,
                                 text=True, check=True)
            results[tree].append(json.loads(out.stdout.strip().splitlines()[-1]))
    kinds = list(results[args.checkouts[0]][0])
    print("| figure (PNG + PDF) | " + " | ".join(args.checkouts) + " |")
    print("|---|" + "---|" * len(args.checkouts))
    for kind in kinds:
        cells = [f"{statistics.median(r[kind] for r in results[tree]):.2f}" for tree in args.checkouts]
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
