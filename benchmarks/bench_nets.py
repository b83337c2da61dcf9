"""Training speed of the nets: the wrapper against a bare PyTorch loop, and a full LOSO run of STSTNet.

Usage: python benchmarks/bench_nets.py [--part all|wrapper|loso] [--rounds 3] [--threads 1]
                                      [--epochs 500] [--plain-folds 3] [--plain-epochs 40]
                                      [--check-folds 4] [--jobs 2] [--json]

Part 1, wrapper vs bare loop (per net): the same module (built by the net's ``build_module`` right
after seeding), the same data, batch size, optimiser (Adam) and torch threads (``--threads``);
the bare loop is the module build, then ``randperm`` → slices → ``zero_grad`` / forward /
cross-entropy / ``backward`` / ``step``; the wrapper is ``fit`` with ``selection=fixed`` (input
checks, seeding, the module build and the RNG fork included; one untimed warm-up fit per variant
first, so one-time imports are not counted). Rounds alternate bare and wrapper so both see the same machine
load; throughput is samples per second over all epochs, median over rounds. STSTNet goes through
the wrapper twice: with ``engine=torch`` (the same autograd loop) and ``engine=fused``.

Part 2, the full LOSO run of STSTNet on a MEGC 2019-sized set: 442 samples of 68 subjects (2 to
13 samples each), 3 classes (250 / 109 / 83), 28×28 (u, v, strain) images with a class
signal, 500 epochs, batch 256, Adam (lr 5e-5), one model per fold:

* fused: ``STSTNet().fit_folds(X, y, trains, groups, jobs=--jobs)`` over the 68 folds (what
  ``mebench run --jobs 2`` does), in a fresh process: wall and CPU time, peak RSS;
* plain loop: the published three-stream STSTNet in a bare PyTorch loop, one fold after another,
  with 2 and with 1 torch thread, on ``--plain-folds`` folds × ``--plain-epochs`` epochs, each in a
  fresh process; the faster one's samples/s extrapolated to the 29,614 training samples × 500
  epochs of the full run;
* identity: ``--check-folds`` folds refit one by one (``clone(net).fit`` on the fold's training
  rows, same seed) and compared with the models ``fit_folds`` returned: the largest absolute
  probability difference over the held-out samples and the number of labels that differ.
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
        if name == "ststnet":
            variants = {"wrapper (engine=torch)": clone_with(net, engine="torch"),
                        "wrapper (engine=fused)": clone_with(net, engine="fused")}
        e = epochs[name]
        for variant in variants.values():  # one-time process costs (imports, the compiled kernel) not timed
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
class PublishedSTSTNet:
    """The three-stream STSTNet as the published PyTorch re-runs write it (3 convs, 3 batch norms)."""

    @staticmethod
    def build(k: int = 3):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.convs = nn.ModuleList(nn.Conv2d(3, c, 3, padding=2) for c in (3, 5, 8))
                self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in (3, 5, 8))
                self.pool, self.avg = nn.MaxPool2d(3, 3, 1), nn.AvgPool2d(2, 2)
                self.drop, self.fc = nn.Dropout(0.5), nn.Linear(400, k)

            def forward(self, x):
                parts = [self.drop(self.pool(bn(torch.relu(conv(x))))) for conv, bn in zip(self.convs, self.bns)]
                return self.fc(self.avg(torch.cat(parts, 1)).flatten(1))

        return Net()


def plain_loop_child(folds: int, epochs: int, threads: int = 2) -> dict:
    import torch

    torch.set_num_threads(threads)
    X, y, subjects = megc_like()
    samples, seconds = 0, 0.0
    for s in range(folds):
        train = np.flatnonzero(subjects != s)
        torch.manual_seed(s)
        net = PublishedSTSTNet.build()
        opt = torch.optim.Adam(net.parameters(), lr=5e-5)
        xt, yt = torch.as_tensor(X[train]), torch.as_tensor(y[train], dtype=torch.long)
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(len(train))
            for start in range(0, len(train), 256):
                idx = order[start:start + 256]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                opt.step()
        seconds += time.perf_counter() - t0
        samples += len(train) * epochs
    return {"samples": samples, "seconds": seconds, "samples_per_s": samples / seconds,
            "peak_rss_mb": peak_rss_mb()}


def fused_child(epochs: int, jobs: int, check_folds: int) -> dict:
    from sklearn.base import clone

    from mebench.classifiers.nets.fused import kernel_status
    from mebench.classifiers.nets.models import STSTNet

    X, y, subjects = megc_like()
    trains = [np.flatnonzero(subjects != s) for s in range(68)]
    net = STSTNet(epochs=epochs, engine="fused")
    rss0 = peak_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    models = net.fit_folds(X, y, trains, groups=subjects, jobs=jobs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_mb()
    proba = np.zeros((442, 3))
    for s, model in enumerate(models):
        proba[subjects == s] = model.predict_proba(X[subjects == s])
    from mebench.metrics import uf1

    classes = ["0", "1", "2"]
    pred = np.array(classes)[proba.argmax(axis=1)]
    score = uf1(np.array(classes)[y], pred, proba, classes)
    rng = np.random.default_rng(7)
    checked = sorted(rng.choice(68, size=check_folds, replace=False).tolist())
    diffs, labels = [], 0
    t1 = time.perf_counter()
    for s in checked:
        alone = clone(net).fit(X[trains[s]], y[trains[s]], groups=subjects[trains[s]])
        a, b = alone.predict_proba(X[subjects == s]), models[s].predict_proba(X[subjects == s])
        diffs.append(float(np.abs(a - b).max()))
        labels += int((a.argmax(axis=1) != b.argmax(axis=1)).sum())
    return {"wall_s": wall, "cpu_s": cpu, "samples": int(sum(len(t) for t in trains)) * epochs,
            "peak_rss_mb": peak, "rss_before_mb": rss0, "uf1": score, "kernel": kernel_status(),
            "check": {"folds": checked, "max_abs_prob_diff": max(diffs), "labels_differ": labels,
                      "seconds": time.perf_counter() - t1}}


def child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def part_loso(epochs: int, jobs: int, plain_folds: int, plain_epochs: int, check_folds: int) -> dict:
    plains = {t: child(["--child", "plain", "--plain-folds", str(plain_folds), "--plain-epochs", str(plain_epochs),
                        "--threads", str(t)]) for t in (2, 1)}
    for t, p in plains.items():
        print(f"plain loop (published STSTNet, {t} thread(s)): {p['samples_per_s']:.0f} samples/s", flush=True)
    plain = max(plains.values(), key=lambda p: p["samples_per_s"])  # the faster setting: a conservative ratio
    fused = child(["--child", "fused", "--epochs", str(epochs), "--jobs", str(jobs), "--check-folds",
                   str(check_folds)])
    full_samples = fused["samples"] / epochs * 500
    plain_full = full_samples / plain["samples_per_s"]
    fused_full = fused["wall_s"] * 500 / epochs
    out = {"plain": plain, "plain_by_threads": plains, "fused": fused, "full_run_samples": full_samples,
           "plain_full_run_s_extrapolated": plain_full, "fused_full_run_s": fused_full,
           "speedup": plain_full / fused_full, "fused_samples_per_s": fused["samples"] / fused["wall_s"]}
    print(f"fused fit_folds ({jobs} threads): {fused['wall_s']:.1f} s wall, {fused['cpu_s']:.1f} s CPU for "
          f"{fused['samples']} samples ({out['fused_samples_per_s']:.0f}/s); peak RSS {fused['peak_rss_mb']:.0f} MB "
          f"({fused['rss_before_mb']:.0f} MB before training); UF1 {fused['uf1']:.3f}", flush=True)
    print(f"full run (500 epochs): plain loop {plain_full / 60:.1f} min (extrapolated), fused {fused_full / 60:.1f} "
          f"min; ratio {out['speedup']:.1f}x", flush=True)
    print(f"identity on folds {fused['check']['folds']}: max |p diff| {fused['check']['max_abs_prob_diff']:.3g}, "
          f"labels differing {fused['check']['labels_differ']}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "wrapper", "loso"], default="all")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--plain-folds", type=int, default=3)
    ap.add_argument("--plain-epochs", type=int, default=40)
    ap.add_argument("--check-folds", type=int, default=4)
    ap.add_argument("--child", choices=["plain", "fused"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.child == "plain":
        print(json.dumps(plain_loop_child(args.plain_folds, args.plain_epochs, args.threads)))
        return
    if args.child == "fused":
        print(json.dumps(fused_child(args.epochs, args.jobs, args.check_folds)))
        return
    report = {"platform": platform.platform(), "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if args.part in ("all", "wrapper"):
        report["wrapper"] = part_wrapper(args.rounds, args.threads)
    if args.part in ("all", "loso"):
        report["loso"] = part_loso(args.epochs, args.jobs, args.plain_folds, args.plain_epochs, args.check_folds)
    report["load_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
