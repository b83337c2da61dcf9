"""Frame decoding through mebench, and `mebench data check --frames all`, against bare ``cv2.imread``.

Usage: python benchmarks/bench_data_check.py [--data DIR] [--clips 255] [--chunk 15] [--repeats 3]

The set: a CASME II-sized synthetic copy (255 clips of 26 subjects, 64 frames each, 16,320 JPEG
files of 128x128 face crops in the CASME II "Cropped" layout, with its coding sheet), written once
into ``--data`` and reused. On the same frames, in one run, every round walks the clips in chunks of
``--chunk`` clips and, per chunk, times each contender in turn (who goes first rotates from chunk to
chunk, since the first pass over a chunk's files is the slowest), so all see the same machine load:

* ``bare``        ``cv2.imread(path)`` of every frame file (colour, one thread);
* ``bare grey``   ``cv2.imread(path, IMREAD_GRAYSCALE)``;
* ``read``        ``open_clip(folder)`` then ``Clip.read(i)`` of every frame (RGB, one thread), the
                  path every extractor reads frames through (``mebench.io.clips``);
* ``read grey``   ``Clip.read(i, grey=True)``;
* ``check 1``     ``check_frames(samples, "all", jobs=1)``: what ``mebench data check --frames all``
                  does per frame (stat, decode, JPEG end marker, size check), one thread;
* ``check``       the same with ``jobs=--jobs`` threads (the command's default is every core).

Then, once, the whole command in-process (``check_dataset("casme2", --frames all)``: the sheet
read, its label sets re-read, the frame folders listed, every frame decoded) against bare imread
timed just before and after it. Ratios are mebench time / bare time (lower is better). BLAS is
pinned to 1 thread (threadpoolctl); OpenCV's own thread pool plays no part in decoding a JPEG.
Targets: issue 10 item 6, read / bare <= 1.2; issue 9 item 6, check --frames all / bare <= 3.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def build_set(root: Path, clips: int) -> list[dict]:
    """Write (once) and return the samples: one frame folder of 64 JPEGs per clip, and the sheet."""
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "mebench-bench-casme2"))
    parser.add_argument("--clips", type=int, default=255)
    parser.add_argument("--chunk", type=int, default=15, help="clips per alternation chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="threads of the multi-threaded check")
    opts = parser.parse_args()

    import cv2
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from mebench.commands.data_check import check_dataset, check_frames
    from mebench.io import open_clip

    root = Path(opts.data)
    rows = build_set(root, opts.clips)
    files = {r["frames"]: [str(p) for p in open_clip(r["frames"]).files.values()] for r in rows}
    n_frames = sum(len(v) for v in files.values())
    chunks = [rows[i:i + opts.chunk] for i in range(0, len(rows), opts.chunk)]
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

    def bare(chunk, flag=cv2.IMREAD_COLOR):
        for r in chunk:
            for path in files[r["frames"]]:
                if cv2.imread(path, flag) is None:
                    raise SystemExit(f"cannot decode {path}")

    def bare_grey(chunk):
        bare(chunk, cv2.IMREAD_GRAYSCALE)

    def read(chunk, grey=False):
        for r in chunk:
            clip = open_clip(r["frames"])
            for i in clip.indices:
                clip.read(i, grey=grey)

    def read_grey(chunk):
        read(chunk, grey=True)

    def check(jobs):
        def run(chunk):
            out = check_frames(pd.DataFrame(chunk), "all", jobs=jobs)
            if out["problems"] or out["n_decoded"] != sum(len(files[r["frames"]]) for r in chunk):
                raise SystemExit(f"unexpected check result: {out['problems'][:3]}")
        return run

    contenders = {"bare": bare, "bare grey": bare_grey, "read": read, "read grey": read_grey,
                  "check 1": check(1), f"check {opts.jobs}": check(opts.jobs)}
    rounds = {name: [] for name in contenders}
    with threadpool_limits(1):
        bare(rows)  # warm the page cache and OpenCV
        for _ in range(opts.repeats):
            totals = dict.fromkeys(contenders, 0.0)
            names = list(contenders)
            for k, chunk in enumerate(chunks):
                # rotate who goes first: the first pass over a chunk's files is the slowest
                for name in names[k % len(names):] + names[:k % len(names)]:
                    t = time.perf_counter()
                    contenders[name](chunk)
                    totals[name] += time.perf_counter() - t
            for name, value in totals.items():
                rounds[name].append(value)
        t = time.perf_counter()
        bare(rows)
        bare_before = time.perf_counter() - t
        t = time.perf_counter()
        summary = check_dataset("casme2", root, {"variant": "cropped"}, "emotion", frames="all", jobs=opts.jobs)
        command = time.perf_counter() - t
        t = time.perf_counter()
        bare(rows)
        bare_after = time.perf_counter() - t
    if not summary["ok"] or summary["frames_decoded"] != n_frames:
        raise SystemExit(f"data check did not pass cleanly: {summary['errors'][:3]}")

    print(f"{len(rows)} clips, {n_frames} frames of 128x128 JPEG, {opts.repeats} rounds of {len(chunks)} "
          f"alternating chunks; cv2 {cv2.__version__}")
    print("| contender | seconds per pass (median) | min | max | ratio to bare (median of per-round ratios) |")
    print("|---|---|---|---|---|")
    for name, values in rounds.items():
        base = rounds["bare grey" if "grey" in name else "bare"]
        ratios = sorted(v / b for v, b in zip(values, base))
        print(f"| {name} | {sorted(values)[len(values) // 2]:.2f} | {min(values):.2f} | {max(values):.2f} | "
              f"{ratios[len(ratios) // 2]:.2f} |")
    bare_mean = (bare_before + bare_after) / 2
    print(f"\nwhole `check_dataset(casme2, frames='all', jobs={opts.jobs})`: {command:.2f} s; bare imread of the same "
          f"frames just before/after: {bare_before:.2f} / {bare_after:.2f} s; ratio {command / bare_mean:.2f}")


if __name__ == "__main__":
    main()
