"""Training speed of the nets: the wrapper against a bare PyTorch loop, fold-batched LOSO of STSTNet, recipes.

Usage: python benchmarks/bench_nets.py [--part all|wrapper|loso|recipes] [--rounds 3] [--threads 1]
                                      [--epochs 3] [--jobs 2] [--check-folds 4] [--vmap 8,68] [--json]

Part 1, wrapper vs bare loop (per net): the same module (built by the net's ``build_module`` right
after seeding), the same data, batch size, optimiser (Adam) and torch threads (``--threads``);
the bare loop is the module build, then ``randperm`` → slices → ``zero_grad`` / forward /
cross-entropy / ``backward`` / ``step``; the wrapper is ``fit`` with ``selection=fixed`` (input
checks, seeding, the module build and the RNG fork included; one untimed warm-up fit per variant
first, so one-time imports are not counted). Rounds alternate bare and wrapper so both see the same machine
load; throughput is samples per second over all epochs, median over rounds.

Part 2, the full 68-fold LOSO of STSTNet on a MEGC 2019-sized set: 442 samples of 68 subjects (2 to
13 samples each), 3 classes (250 / 109 / 83), 28×28 (u, v, strain) images with a class signal,
the default recipe (batch 256, Adam, lr 5e-5, dropout 0.5) for ``--epochs`` epochs of every fold
(not 500: the per-epoch throughput is extrapolated). Each variant runs in a fresh process, all 68
folds, and rounds alternate the variants so they see the same machine load:

* plain loop: the project's ``STSTNetModule`` in a bare PyTorch loop, one fold after another, with
  1 and with 2 torch threads (the faster is the baseline);
* fold-batched: ``STSTNet(epochs=E).fit_folds(X, y, trains, groups, jobs=--jobs)`` (what
  ``mebench run --jobs 2`` does): one fold per call, folds spread over ``--jobs`` threads of 1
  torch thread each;
* vmapped: the same with ``fold_batch`` from ``--vmap`` (default 8 and 68) (``torch.func.vmap`` over stacked
  fold parameters), 1 torch thread and ``--jobs`` threads; first round only (slow on a CPU);
* identity: ``--check-folds`` folds refit one by one (``clone(net).fit`` on the fold's training rows,
  same seed) against the fold-batched models: largest probability difference, labels that differ.

Part 3, recipes: every net's default recipe on a MEGC-sized LOSO, extrapolated from the per-epoch
throughput of ``fit_folds(jobs=2)`` on 4 folds × 2 epochs (``resnet-e2e``: 2 folds × 1 epoch of
(6, 112, 112) inputs, resnet18 backbones with random weights, the same cost as ImageNet ones); the
full budget of epochs is counted (early stopping can only shorten it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it does not inherit the parent's)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- data
def megc_like(seed: int = 0):
    """442 samples, 68 subjects (2-13 samples each), 3 classes (250 / 109 / 83), 28x28x3 images with a class signal."""
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(442 - 68 * 2, np.full(68, 1 / 68)) + 2
    subjects = np.repeat(np.arange(68), sizes)
    y = rng.permutation(np.repeat([0, 1, 2], [250, 109, 83]))
    pattern = rng.normal(0, 1, (3, 3, 28, 28)).astype(np.float32)
    X = rng.normal(0, 1, (442, 3, 28, 28)).astype(np.float32) + 0.35 * pattern[y]
    return X, y, subjects


def problems():
    rng = np.random.default_rng(1)
    X, y, _ = megc_like()
    out = {
        "mlp": (rng.normal(0, 1, (1024, 512)).astype(np.float32), rng.integers(0, 3, 1024), 64, {"hidden": 256}),
        "ststnet": (X[:435], y[:435], 256, {}),
        "off-apexnet": (X[:435], y[:435], 64, {}),
        "resnet-e2e": (rng.uniform(0, 1, (64, 6, 64, 64)).astype(np.float32), rng.integers(0, 3, 64), 16,
                       {"weights": "none", "backbone": "resnet18"}),
    }
    return out


# ---------------------------------------------------------------------- part 1
def bare_loop(net, X, y, batch: int, epochs: int, seed: int = 0, threads: int = 1) -> float:
    """Seconds of a bare PyTorch loop training ``net.build_module`` like the wrapper would."""
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    net._fit_inputs(X)
    Xt = net._transform_inputs(X)  # what the wrapper feeds the module (e.g. standardised, u and v only)
    torch.manual_seed(seed)
    module = net.build_module(tuple(Xt.shape[1:]), len(np.unique(y)))
    opt = torch.optim.Adam(module.parameters(), lr=float(net.lr), weight_decay=float(net.weight_decay))
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(Xt), torch.as_tensor(y, dtype=torch.long)
    n = len(yt)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            if len(idx) < 2:
                continue
            opt.zero_grad(set_to_none=True)
            loss_fn(module(xt[idx]), yt[idx]).backward()
            opt.step()
    return time.perf_counter() - t0


def wrapper_fit(net, X, y, epochs: int) -> float:
    from sklearn.base import clone

    model = clone(net).set_params(epochs=epochs, selection="fixed")
    t0 = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - t0


def part_wrapper(rounds: int, threads: int) -> dict:
    from mebench.registry import CLASSIFIERS

    epochs = {"mlp": 60, "ststnet": 6, "off-apexnet": 4, "resnet-e2e": 3}
    results = {}
    for name, (X, y, batch, extra) in problems().items():
        net = CLASSIFIERS.create(name, batch_size=batch, threads=threads, **extra)
        variants = {"wrapper": net}
        e = epochs[name]
        for variant in variants.values():  # one-time process costs (imports, deterministic mode) not timed
            wrapper_fit(variant, X[:32], y[:32], 1)
        times = {"bare": []} | {k: [] for k in variants}
        for _ in range(rounds):
            times["bare"].append(bare_loop(net, X, y, batch, e, threads=threads))
            for key, variant in variants.items():
                times[key].append(wrapper_fit(variant, X, y, e))
        n = len(y) * e
        entry = {"samples_per_epoch": len(y), "epochs": e, "batch": batch}
        for key, values in times.items():
            entry[key] = {"samples_per_s": n / statistics.median(values), "seconds": values}
        for key in variants:
            entry[key]["ratio_vs_bare"] = entry[key]["samples_per_s"] / entry["bare"]["samples_per_s"]
        results[name] = entry
        rates = ", ".join(f"{k} {v['samples_per_s']:.0f}/s" for k, v in entry.items() if isinstance(v, dict))
        print(f"{name}: {rates}"
              + "; ratios " + ", ".join(f"{k} {entry[k]['ratio_vs_bare']:.1%}" for k in variants), flush=True)
    return results


def clone_with(net, **params):
    from sklearn.base import clone

    return clone(net).set_params(**params)


# ---------------------------------------------------------------------- part 2
def loso_folds():
    X, y, subjects = megc_like()
    return X, y, subjects, [np.flatnonzero(subjects != s) for s in range(68)]


def plain_loop_child(epochs: int, threads: int) -> dict:
    """All 68 folds, one after another: build (seeded), then randperm → slices → Adam steps."""
    import torch

    from mebench.classifiers.nets.models import STSTNetModule

    torch.set_num_threads(threads)
    X, y, _, trains = loso_folds()
    samples, t0, c0 = 0, time.perf_counter(), time.process_time()
    for s, train in enumerate(trains):
        torch.manual_seed(s)
        net = STSTNetModule(3)
        opt = torch.optim.Adam(net.parameters(), lr=5e-5)
        xt, yt = torch.as_tensor(X[train]), torch.as_tensor(y[train], dtype=torch.long)
        gen = torch.Generator().manual_seed(s)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(train), generator=gen)
            for start in range(0, len(train), 256):
                idx = order[start:start + 256]
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                opt.step()
        samples += len(train) * epochs
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"samples": samples, "seconds": seconds, "cpu_s": cpu, "samples_per_s": samples / seconds,
            "samples_per_cpu_s": samples / cpu, "threads": threads,
            "peak_rss_mb": peak_rss_mb()}


def batched_child(epochs: int, jobs: int, fold_batch, check_folds: int) -> dict:
    from sklearn.base import clone

    from mebench.classifiers.nets.models import STSTNet

    X, y, subjects, trains = loso_folds()
    net = STSTNet(epochs=epochs, fold_batch=fold_batch)
    net.fit(X[:64], y[:64])  # warm-up: one-time imports (deterministic mode) not timed
    t0, c0 = time.perf_counter(), time.process_time()
    models = net.fit_folds(X, y, trains, groups=subjects, jobs=jobs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    samples = int(sum(len(t) for t in trains)) * epochs
    out = {"samples": samples, "seconds": wall, "cpu_s": cpu, "samples_per_s": samples / wall,
           "samples_per_cpu_s": samples / cpu,
           "peak_rss_mb": peak_rss_mb(), "fold_batch": fold_batch, "jobs": jobs}
    if check_folds:
        rng = np.random.default_rng(7)
        checked = sorted(rng.choice(68, size=check_folds, replace=False).tolist())
        diffs, labels = [], 0
        for s in checked:
            alone = clone(net).fit(X[trains[s]], y[trains[s]], groups=subjects[trains[s]])
            a, b = alone.predict_proba(X[subjects == s]), models[s].predict_proba(X[subjects == s])
            diffs.append(float(np.abs(a - b).max()))
            labels += int((a.argmax(axis=1) != b.argmax(axis=1)).sum())
        out["check"] = {"folds": checked, "max_abs_prob_diff": max(diffs), "labels_differ": labels}
    return out


def child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def part_loso(epochs: int, jobs: int, rounds: int, check_folds: int, vmaps: list[int]) -> dict:
    variants = {
        "plain loop, 1 thread": ["--child", "plain", "--threads", "1"],
        "plain loop, 2 threads": ["--child", "plain", "--threads", "2"],
        f"fit_folds, one fold per call, {jobs} threads": ["--child", "batched", "--fold-batch", "1"],
    }
    for k in vmaps:
        variants[f"fit_folds, vmap {k} folds per call, {jobs} threads"] = ["--child", "batched", "--fold-batch", str(k)]
    runs: dict = {k: [] for k in variants}
    for r in range(rounds):
        for key, args in variants.items():
            if r and "vmap" in key:
                continue  # the vmapped variants are slow on a CPU: measured once, in the first round
            check = str(check_folds if (r == 0 and "batched" in args) else 0)
            res = child(args + ["--epochs", str(epochs), "--jobs", str(jobs), "--check-folds", check])
            runs[key].append(res)
            print(f"round {r + 1} {key}: {res['samples_per_s']:.0f} samples/s, "
                  f"{res['samples_per_cpu_s']:.0f} per CPU-second, load {os.getloadavg()[0]:.1f}"
                  + (f"; identity {res['check']}" if "check" in res else ""), flush=True)
    rate = {k: statistics.median(r["samples_per_s"] for r in v) for k, v in runs.items()}
    plain = max(rate[k] for k in rate if k.startswith("plain"))
    full = 29_614 * 500
    out = {"runs": runs, "samples_per_s": rate, "baseline_samples_per_s": plain,
           "ratio_vs_best_plain": {k: v / plain for k, v in rate.items()},
           "full_run_min": {k: full / v / 60 for k, v in rate.items()}}
    for k, v in rate.items():
        print(f"{k}: {v:.0f} samples/s, {v / plain:.2f}x the faster plain loop; full 500-epoch run "
              f"{full / v / 60:.1f} min (extrapolated)", flush=True)
    return out


# ---------------------------------------------------------------------- part 3
def recipes_child(jobs: int) -> dict:
    from mebench.registry import CLASSIFIERS

    X, y, subjects = megc_like()
    rng = np.random.default_rng(2)
    inputs = {"mlp": (rng.normal(0, 1, (442, 512)).astype(np.float32), {}),
              "ststnet": (X, {}), "off-apexnet": (X, {}),
              "resnet-e2e": (rng.uniform(0, 1, (442, 6, 112, 112)).astype(np.float32),
                             {"weights": "none", "backbone": "resnet18"})}
    out = {}
    for name, (data, extra) in inputs.items():
        folds = [np.flatnonzero(subjects != s) for s in range(2 if name == "resnet-e2e" else 4)]
        default = CLASSIFIERS.create(name, **extra)
        epochs = 1 if name == "resnet-e2e" else 2
        net = CLASSIFIERS.create(name, epochs=epochs, selection="fixed", **extra)
        net.fit(data[:32], y[:32])  # warm-up
        t0 = time.perf_counter()
        net.fit_folds(data, y, folds, groups=subjects, jobs=jobs)
        seconds = time.perf_counter() - t0
        samples = sum(len(f) for f in folds) * epochs
        full = 29_614 * int(default.epochs) * int(default.seeds)
        out[name] = {"samples_per_s": samples / seconds, "default_epochs": int(default.epochs),
                     "selection": default.selection, "full_run_h": full / (samples / seconds) / 3600}
        print(f"{name}: {samples / seconds:.1f} samples/s → default recipe ({default.epochs} epochs, "
              f"{default.selection}) {out[name]['full_run_h']:.2f} h for a 68-fold LOSO (extrapolated)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "wrapper", "loso", "recipes"], default="all")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--check-folds", type=int, default=4)
    ap.add_argument("--fold-batch", default="1")
    ap.add_argument("--vmap", default="8,68", help="fold_batch values of the vmapped variants (comma list)")
    ap.add_argument("--child", choices=["plain", "batched", "recipes"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.child == "plain":
        print(json.dumps(plain_loop_child(args.epochs, args.threads)))
        return
    if args.child == "batched":
        fb = args.fold_batch if args.fold_batch == "auto" else int(args.fold_batch)
        print(json.dumps(batched_child(args.epochs, args.jobs, fb, args.check_folds)))
        return
    if args.child == "recipes":
        print(json.dumps(recipes_child(args.jobs)))
        return
    report = {"platform": platform.platform(), "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if args.part in ("all", "wrapper"):
        report["wrapper"] = part_wrapper(args.rounds, args.threads)
    if args.part in ("all", "loso"):
        vmaps = [int(v) for v in args.vmap.split(",") if v.strip()]
        report["loso"] = part_loso(args.epochs, args.jobs, args.rounds, args.check_folds, vmaps)
    if args.part in ("all", "recipes"):
        report["recipes"] = child(["--child", "recipes", "--jobs", str(args.jobs)])
        for name, r in report["recipes"].items():
            print(f"{name}: {r['samples_per_s']:.1f} samples/s → default recipe ({r['default_epochs']} epochs, "
                  f"{r['selection']}) {r['full_run_h']:.2f} h for a 68-fold LOSO (extrapolated)", flush=True)
    report["load_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
