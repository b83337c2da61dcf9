"""Feature-extraction speed and memory on a CASME II-sized synthetic set.

Usage: python benchmarks/bench_features.py [--data DIR] [--clips 255] [--ref-clips 8] [--jobs 2]

The set: 255 clips (26 subjects), 64 frames each, 128x128 JPEG face crops written once in the
CASME II "Cropped" layout (reused from --data when present). Measured in one run, on the same
frames (this machine is shared and noisy, so compare the ratios):

* ``lbptop`` cold: the extractor on every clip, frames decoded from JPEG, ``n_jobs`` threads;
  and the same split into decoding alone and LBP-TOP alone (frames preloaded);
* the reference: LBP-TOP by scikit-image's ``local_binary_pattern`` on every XY, XT and YT
  slice (``mebench.features.lbptop.reference_lbptop_histograms``), same parameters, one thread,
  on ``--ref-clips`` clips, per clip, extrapolated to the whole set; plus the check that the two
  agree (up to exact ties, see tests/test_features_lbptop.py);
* peak RSS of feature extraction (``lbptop`` and ``hoof``) over the whole set, each in a fresh
  child process (``ru_maxrss``).

BLAS is pinned to 1 thread (threadpoolctl); ``--jobs`` threads run clips in parallel.
Targets (issue 5): lbptop <= 5 s cold on 2 cores and >= 20x the reference; peak RSS <= 500 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_set(root: Path, clips: int) -> list[dict]:
    """Write (once) and return the samples: one frame folder of 64 JPEGs per clip."""
    from mebench.data.synthetic import SyntheticDataset, write_casme2_layout

    samples = SyntheticDataset(subjects=26, clips_per_subject=10, frames=64, size=128, seed=0).load("emotion")
    samples = samples.iloc[:clips].reset_index(drop=True)
    marker = root / f"done-{clips}.json"
    if not marker.is_file():
        t = time.perf_counter()
        info = write_casme2_layout(samples, root, variant="cropped")
        marker.write_text(json.dumps(info))
        print(f"wrote {info['n_frames']} frames in {time.perf_counter() - t:.1f} s to {root}", file=sys.stderr)
    rows = []
    for row in samples.to_dict("records"):
        subject = row["subject_id"].split("/", 1)[1]
        row["frames"] = str(root / "Cropped" / subject / row["sample_id"].rsplit("/", 1)[1])
        rows.append(row)
    return rows


def child_rss(code: str) -> tuple[float, float]:
    """Run ``code`` in a fresh interpreter; return (its wall seconds, its peak RSS in MB).

    Peak RSS is the child's ``VmHWM`` (/proc/self/status): on Linux ``ru_maxrss`` of a child
    started by fork+exec also counts the parent's resident set at the fork.
    """
    wrapper = ("import time; t=time.perf_counter()\n" + code +
               "\nprint('WALL', time.perf_counter()-t)\n"
               "print('RSS', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, check=True,
                         env={**os.environ, "MEBENCH_CACHE": tempfile.mkdtemp(prefix="mebench-bench-cache-")})
    values = dict(line.split() for line in out.stdout.splitlines() if line.startswith(("WALL", "RSS")))
    return float(values["WALL"]), float(values["RSS"]) / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "mebench-bench-casme2"))
    parser.add_argument("--clips", type=int, default=255)
    parser.add_argument("--ref-clips", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()

    import pandas as pd
    from threadpoolctl import threadpool_limits

    from mebench.features._util import read_volume, thread_map
    from mebench.features.lbptop import LBPTOP, lbptop_histograms, reference_lbptop_histograms
    from mebench.io import open_clip

    root = Path(opts.data)
    root.mkdir(parents=True, exist_ok=True)
    rows = build_set(root, opts.clips)
    samples = pd.DataFrame(rows)
    n = len(samples)
    print(f"set: {n} clips x 64 frames, 128x128 JPEG; {os.cpu_count()} cores, jobs={opts.jobs}, BLAS 1 thread")

    def read_all(jobs):
        return thread_map(lambda r: read_volume(open_clip(r["frames"]), open_clip(r["frames"]).indices, None, None),
                          rows, jobs)

    results = {}
    with threadpool_limits(limits=1, user_api="blas"):
        ex = LBPTOP(segment="all", n_jobs=opts.jobs)
        cold, decode, compute, compute1 = [], [], [], []
        for _ in range(opts.repeats):
            t = time.perf_counter()
            X = ex.transform(samples)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            volumes = read_all(opts.jobs)
            decode.append(time.perf_counter() - t)
            t = time.perf_counter()
            thread_map(lbptop_histograms, volumes, opts.jobs)
            compute.append(time.perf_counter() - t)
            t = time.perf_counter()
            for v in volumes[:opts.ref_clips * 4]:
                lbptop_histograms(v)
            compute1.append((time.perf_counter() - t) / min(n, opts.ref_clips * 4))
        assert X.shape == (n, 4425) and np.isfinite(X).all()
        ref_times, worst = [], 0.0
        for k in range(min(opts.ref_clips, n)):
            t = time.perf_counter()
            ref = reference_lbptop_histograms(volumes[k], normalise=False)
            ref_times.append(time.perf_counter() - t)
            ours = lbptop_histograms(volumes[k], normalise=False)
            worst = max(worst, float(np.abs(ours - ref).sum() / ref.sum()))
    med = float(np.median(cold))
    ref_clip = float(np.median(ref_times))
    results["lbptop cold, decode + LBP-TOP, jobs threads (s)"] = (med, min(cold), max(cold))
    results["  decoding alone, jobs threads (s)"] = (float(np.median(decode)), min(decode), max(decode))
    results["  LBP-TOP alone, jobs threads (s)"] = (float(np.median(compute)), min(compute), max(compute))
    results["  LBP-TOP alone, 1 thread, per clip (ms)"] = tuple(1000 * x for x in
                                                               (float(np.median(compute1)), min(compute1), max(compute1)))
    results["reference (scikit-image per plane), 1 thread, per clip (ms)"] = tuple(
        1000 * x for x in (ref_clip, min(ref_times), max(ref_times)))
    print("| measure | median | min | max |\n|---|---|---|---|")
    for label, (a, b, c) in results.items():
        print(f"| {label} | {a:.3f} | {b:.3f} | {c:.3f} |")
    ref_total = ref_clip * n
    print(f"\nreference extrapolated to {n} clips (1 thread, frames preloaded): {ref_total:.1f} s")
    print(f"ratio reference / lbptop cold (decode included, {opts.jobs} threads): {ref_total / med:.1f}x")
    print(f"ratio reference / lbptop compute, 1 thread vs 1 thread: {ref_clip / float(np.median(compute1)):.1f}x")
    print(f"largest relative histogram difference to the reference (exact ties): {worst:.2e}")

    code = ("import pandas as pd, json; from threadpoolctl import threadpool_limits\n"
            f"rows = json.loads({json.dumps(json.dumps(rows, default=int))}); samples = pd.DataFrame(rows)\n"
            "from mebench.registry import EXTRACTORS\n"
            "with threadpool_limits(limits=1, user_api='blas'):\n"
            "    X = EXTRACTORS.create(NAME, **OPTS).transform(samples)\n"
            "assert len(X) == len(samples)")
    del volumes
    print("\n| extractor (fresh process, whole set) | wall (s) | peak RSS (MB) |\n|---|---|---|")
    for name, options in (("lbptop", {"segment": "all", "n_jobs": opts.jobs}), ("hoof", {}),
                          ("biwoof", {"n_jobs": opts.jobs})):
        wall, rss = child_rss(code.replace("NAME", repr(name)).replace("OPTS", repr(options)))
        print(f"| {name} {options or ''} | {wall:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
