"""Runs that scale: --jobs speed-up, warm runs, growth with the data, peak memory, resume overhead.

Usage: python benchmarks/bench_scale.py [--data DIR] [--scales 1 4 10] [--repeats 3]
       python benchmarks/bench_scale.py --warm-against OTHER_CHECKOUT [--repeats 10]

The set: CASME II-sized synthetic clips (255 clips of 26 subjects at 1x, 64 frames, 128x128 JPEG
crops in the CASME II ``Cropped`` layout with its coding sheet), written once per scale under
``--data``. Every measurement is a whole ``mebench run --dataset casme2 --features lbptop
--classifier svm-linear`` in a fresh child process (imports included):

* cold (empty feature cache) at ``--jobs 1`` and ``--jobs 2``, alternating in each round so both
  see the same machine load; the same rounds time plain 2-process BLAS work (a matrix product in
  one process, then in two at once) to show how much parallel speed the machine has left;
* warm (features cached) at ``--jobs 1``, three per round;
* the speed-up ceiling of each round's ``--jobs 1`` run if its extraction and its folds were
  perfectly halved (imports, loading, metrics and writing stay serial);
* wall time and peak RSS (the run's process and, separately, its largest worker) at every scale;
* the cost of checkpointing every fold, in process: ``cross_predict`` with and without a checkpoint
  on the same prepared run, as a share of the folds and of a warm run.

BLAS is pinned to one thread per worker by mebench itself; OpenCV keeps its default threads.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def build(root: Path, scale: int) -> Path:
    """A CASME II-shaped tree with ``scale`` x 255 clips (written once)."""
    from mebench.data.synthetic import SyntheticDataset, write_casme2_layout

    target = root / f"x{scale}"
    marker = target / "done.json"
    if not marker.is_file():
        t = time.perf_counter()
        samples = SyntheticDataset(subjects=26 * scale, clips_per_subject=10, frames=64, size=128, seed=0).load("emotion")
        samples = samples.iloc[:255 * scale].reset_index(drop=True)
        info = write_casme2_layout(samples, target, variant="cropped")
        marker.write_text(json.dumps(info))
        print(f"wrote {info['n_frames']} frames in {time.perf_counter() - t:.0f} s to {target}", file=sys.stderr)
    return target


def _tree_rss(pid: int) -> tuple[float, float]:
    """(RSS of pid, largest RSS among its descendants) in MB, now."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        p = int(status.parent.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(p)
        rss[p] = float(fields.get("VmRSS", "0 kB").split()[0]) / 1024.0
    worst, stack = 0.0, list(children.get(pid, []))
    while stack:
        p = stack.pop()
        worst = max(worst, rss.get(p, 0.0))
        stack.extend(children.get(p, []))
    return rss.get(pid, 0.0), worst


def run(root: Path, jobs: int, cache: Path, out: Path, checkout: str | None = None) -> dict:
    """One `mebench run` in a child process: wall seconds, peak RSS of it and of its largest worker.
    ``checkout``: another checkout's root, whose mebench the child imports instead of this one."""
    cmd = [sys.executable, "-m", "mebench.cli", "run", "--dataset", "casme2", "--root", str(Path(root).resolve()),
           "--dataset-opt", "variant=cropped", "--features", "lbptop", "--classifier", "svm-linear",
           "--jobs", str(jobs), "--json", "--out", str(out)]
    env = {**os.environ, "MEBENCH_CACHE": str(cache), **({"PYTHONPATH": checkout} if checkout else {})}
    t0 = time.perf_counter()
    # run from the output's folder: `python -m` puts the working directory first on the path
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=out.parent)
    peak = {"main": 0.0, "worker": 0.0}

    def watch():
        while proc.poll() is None:
            main, worker = _tree_rss(proc.pid)
            peak["main"], peak["worker"] = max(peak["main"], main), max(peak["worker"], worker)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    if proc.returncode:
        raise SystemExit(stderr[-3000:])
    manifest = json.loads((out / "manifest.json").read_text())
    return {"wall": wall, "rss": peak["main"], "worker_rss": peak["worker"], "n": manifest["dataset"]["n_samples"],
            "parallel": manifest["platform"].get("folds_on_parallel_workers"),
            "extraction": manifest["features"]["seconds"], "duration": manifest["duration_s"],
            "folds": manifest["platform"].get("folds_seconds", 0.0)}


def blas_speedup(products: int = 60) -> float:
    """Two equal single-threaded BLAS jobs: time one after the other / time both at once (2.0 is ideal)."""
    code = ("import numpy as np\nfrom threadpoolctl import threadpool_limits\n"
            "a = np.random.default_rng(0).normal(size=(700, 700))\n"
            f"with threadpool_limits(1):\n    for _ in range({products}):\n        a @ a\n")

    def timed(n):
        t = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
        for p in procs:
            p.wait()
        return time.perf_counter() - t

    return 2 * timed(1) / timed(2)


def checkpoint_overhead(root: Path) -> tuple[float, float, float]:
    """cross_predict without and with fold checkpoints on the same prepared run (in process, medians of
    9 alternations), and the seconds spent inside the checkpoint's own calls (keys, lookups, shard
    writes) during one checkpointed cross_predict: the direct cost, free of the machine's noise."""
    from mebench.checkpoint import RunCheckpoint
    from mebench.run import RunSpec, cross_predict, prepare

    class Timed(RunCheckpoint):
        spent = 0.0

    for name in ("fold_key", "load_fold", "save_fold", "save_model"):
        def timed(self, *args, _f=getattr(RunCheckpoint, name), **kwargs):
            t = time.perf_counter()
            try:
                return _f(self, *args, **kwargs)
            finally:
                Timed.spent += time.perf_counter() - t
        setattr(Timed, name, timed)

    spec = RunSpec(dataset="casme2", root=str(root), dataset_opts={"variant": "cropped"}, features="lbptop",
                   classifier="svm-linear")
    prepared = prepare(spec)
    plain, saved, direct = [], [], []
    for _ in range(9):  # alternating, medians compared
        t = time.perf_counter()
        cross_predict(prepared)
        plain.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Timed(tmp, {"run_id": "bench"}).open()
            Timed.spent = 0.0
            t = time.perf_counter()
            cross_predict(prepared, checkpoint=ckpt)
            saved.append(time.perf_counter() - t)
            direct.append(Timed.spent)
            ckpt.finish()
    return statistics.median(plain), statistics.median(saved), statistics.median(direct)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "mebench-bench-scale"))
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 10])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--growth-only", action="store_true", help="skip the 1x rounds and the checkpoint cost")
    parser.add_argument("--warm-against", metavar="CHECKOUT",
                        help="only time warm 1x runs of this checkout and of CHECKOUT (another checkout's root), "
                             "alternating, --repeats rounds")
    opts = parser.parse_args()
    data = Path(opts.data).resolve()
    work = Path(tempfile.mkdtemp(prefix="mebench-scale-")).resolve()
    roots = {s: build(data, s) for s in opts.scales}
    if opts.warm_against:
        return warm_against(roots[opts.scales[0]], work, opts.warm_against, opts.repeats)

    base = roots[opts.scales[0]]
    if not opts.growth_only:
        warm = one_x(base, work, opts.repeats)
    growth(roots, work, opts.scales)
    if not opts.growth_only:
        plain, saved, direct = checkpoint_overhead(base)
        print(f"\ncheckpointing every fold: cross_predict {plain:.3f} s without, {saved:.3f} s with (medians of 9 "
              f"alternations, {(saved / plain - 1) * 100:+.1f}%); inside the checkpoint's own calls "
              f"{direct * 1000:.1f} ms per run: {direct / plain * 100:.1f}% of the folds, {direct / warm * 100:.1f}% "
              f"of a warm run ({warm:.2f} s)")


def one_x(base: Path, work: Path, repeats: int) -> float:
    """The 1x rounds (printed); returns the median warm wall time."""
    rounds = []
    for r in range(repeats):
        one = run(base, 1, work / f"c1-{r}", work / f"o1-{r}")
        two = run(base, 2, work / f"c2-{r}", work / f"o2-{r}")
        warm = [run(base, 1, work / f"c1-{r}", work / f"w1-{r}-{w}")["wall"] for w in range(3)]
        rounds.append((one, two, warm, blas_speedup()))
    print(f"## 1x set: {rounds[0][0]['n']} clips, lbptop + svm-linear, LOSO; {os.cpu_count()} cores")
    print("| measure | median | min | max |\n|---|---|---|---|")
    rows = [("cold, --jobs 1 (s)", [r[0]["wall"] for r in rounds]),
            ("cold, --jobs 2 (s)", [r[1]["wall"] for r in rounds]),
            ("speed-up --jobs 2 / --jobs 1", [r[0]["wall"] / r[1]["wall"] for r in rounds]),
            ("plain 2-process BLAS speed-up, same rounds", [r[3] for r in rounds]),
            ("ceiling: --jobs 1 wall / (wall - (extraction + folds) / 2)",
             [r[0]["wall"] / (r[0]["wall"] - (r[0]["extraction"] + r[0]["folds"]) / 2) for r in rounds]),
            ("cold --jobs 1: extraction (s)", [r[0]["extraction"] for r in rounds]),
            ("cold --jobs 2: extraction (s)", [r[1]["extraction"] for r in rounds]),
            ("cold --jobs 1: folds (s)", [r[0]["folds"] for r in rounds]),
            ("cold --jobs 2: folds (s)", [r[1]["folds"] for r in rounds]),
            ("warm (features cached), --jobs 1 (s), 3 per round", [w for r in rounds for w in r[2]])]
    for label, values in rows:
        print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    return statistics.median(w for r in rounds for w in r[2])



def warm_against(base: Path, work: Path, checkout: str, repeats: int) -> None:
    """Warm runs (one shared feature cache, filled first) of this checkout and ``checkout``, alternating."""
    cache = work / "cache"
    run(base, 1, cache, work / "fill")
    times: dict[str, list[float]] = {"this": [], "other": []}
    for r in range(repeats):
        for key, checkout_root in (("other", checkout), ("this", None)):
            times[key].append(run(base, 1, cache, work / f"{key}-{r}", checkout_root)["wall"])
    print(f"## warm 1x runs, alternating; other = {checkout}")
    print("| checkout | median (s) | min (s) | max (s) |\n|---|---|---|---|")
    for key, values in times.items():
        print(f"| {key} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    print(f"median ratio this/other: {statistics.median(times['this']) / statistics.median(times['other']):.3f}")


def growth(roots: dict, work: Path, scales) -> None:
    """One cold run per scale and --jobs; extraction is the manifest's feature seconds, the rest is
    loading, the LOSO folds (one per subject, each on all other subjects) and the metrics."""
    print("\n## growth with the data (one cold run each)")
    print("| scale | clips | jobs | wall (s) | per clip | extraction (s) | extraction per clip | rest (s) "
          "| peak RSS main (MB) | largest worker (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in scales:
        for jobs in (1, 2):
            res = run(roots[s], jobs, work / f"g{s}-{jobs}", work / f"go{s}-{jobs}")
            n = res["n"]
            print(f"| {s}x | {n} | {jobs} | {res['wall']:.1f} | {res['wall'] / n * 1000:.1f} ms | "
                  f"{res['extraction']:.1f} | {res['extraction'] / n * 1000:.1f} ms | "
                  f"{res['wall'] - res['extraction']:.1f} | {res['rss']:.0f} | {res['worker_rss']:.0f} |")


if __name__ == "__main__":
    main()
