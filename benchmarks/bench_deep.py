"""Deep feature-extraction throughput: each backbone through mebench vs the bare forward pass.

Usage: python benchmarks/bench_deep.py [--images 96] [--size 224] [--batch 32] [--threads 2]
                                       [--rounds 3] [--device cpu|cuda] [--backbones resnet18,...]

The set: ``--images`` aligned face crops (``--size`` px JPEGs rendered from the synthetic photo
faces, written once to a temporary folder), one image per sample, as a ``manifest`` of single-image
samples would give them.

* **mebench**: ``mebench.run.extract_features`` (the run's own path: chunks of 32 samples,
  BLAS pinned to 1 thread per chunk, no feature cache) with ``resnet-fpf`` (``pool=global``,
  ``align=None``, ``input_size=--size``, ``batch_size=--batch``, ``n_jobs=--threads``): it decodes
  each JPEG, resizes, normalises, runs the backbone and pools the map;
* **bare**: the same backbone module on the same images, already decoded and normalised in one
  tensor, ``torch.inference_mode()``, ``torch.set_num_threads(--threads)``, the same batch size:
  the forward pass alone.

Throughput is images per second, the best round of each; the ratio is the median over rounds of
(mebench / bare) measured back to back in the same round, so slow drifts of a shared machine cancel.
The CPU ratio is the same with images per second of this process's CPU time (``time.process_time``),
which other jobs on a shared machine do not inflate (with one thread it counts work alone; with
more it also counts the threads' spin-waits).
Weights: ``weights=none`` for the ResNets (no ImageNet file ships offline; the speed does not
depend on the values), the shipped ImageNet file for efficientnet-lite0.
Target (issue 11): mebench >= 90% of the bare forward pass.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def build_images(folder: Path, n: int, size: int):
    """Write ``n`` face crops as JPEGs (once) and return the samples table."""
    import cv2
    import pandas as pd

    from mebench.data.synthetic_photo import photo_params, render_photo_frame

    rows = []
    for k in range(n):
        path = folder / f"crop{k:04d}.jpg"
        if not path.is_file():
            params = photo_params(subject_seed=k % 12, size=size, n_frames=8, onset=1, apex=4, offset=7,
                                  aus={"AU12": 0.8}, noise=1.5, clip_seed=k, variation=0.5)
            frame = render_photo_frame(params, 4)
            cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        rows.append({"sample_id": f"bench/{k}", "dataset": "bench", "subject_id": f"bench/p{k % 12}",
                     "label": "x", "frames": str(path), "frames_kind": "image"})
    return pd.DataFrame(rows)


def measure(backbone: str, samples, size: int, batch: int, threads: int, rounds: int, device: str) -> dict:
    import cv2
    import torch

    from mebench.features.deep.extractors import ResNetFPF
    from mebench.run import extract_features

    weights = "imagenet" if backbone == "efficientnet-lite0" else "none"
    extractor = ResNetFPF(backbone=backbone, weights=weights, input_size=size, align=None, pool="global",
                          batch_size=batch, n_jobs=threads, device=device)
    model = extractor.backbone_model()
    images = np.stack([cv2.resize(cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB), (size, size),
                                  interpolation=cv2.INTER_AREA) for p in samples["frames"]])
    x = model.preprocess(images)
    n = len(samples)

    def bare() -> tuple[float, float]:
        torch.set_num_threads(threads)
        t, c = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            for start in range(0, n, batch):
                out = model(x[start:start + batch])
            if device.startswith("cuda"):
                torch.cuda.synchronize()
        assert out.shape[-1] == size // 16
        return n / (time.perf_counter() - t), n / (time.process_time() - c)

    def through_mebench() -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        X, skipped, _ = extract_features(extractor, samples, use_cache=False, jobs=1, on_error="raise")
        assert X.shape == (n, model.out_channels) and not skipped
        return n / (time.perf_counter() - t), n / (time.process_time() - c)

    bare(), through_mebench()  # warm-up: first-call allocations, thread pools, page cache
    pairs = [(bare(), through_mebench()) for _ in range(rounds)]
    return {"backbone": backbone, "channels": model.out_channels, "bare": max(b[0] for b, _ in pairs),
            "mebench": max(m[0] for _, m in pairs), "ratio": float(np.median([m[0] / b[0] for b, m in pairs])),
            "ratios": [m[0] / b[0] for b, m in pairs],
            "cpu_ratio": float(np.median([m[1] / b[1] for b, m in pairs]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbones", default="resnet18,resnet34,resnet50,efficientnet-lite0")
    parser.add_argument("--data", default=None, help="folder for the JPEGs (default: a temporary folder)")
    args = parser.parse_args()
    import torch

    folder = Path(args.data or tempfile.mkdtemp(prefix="mebench-bench-deep-"))
    folder.mkdir(parents=True, exist_ok=True)
    samples = build_images(folder, args.images, args.size)
    print(f"{args.images} images {args.size}x{args.size}, batch {args.batch}, torch threads {args.threads}, "
          f"device {args.device}, torch {torch.__version__}, cores {os.cpu_count()}", file=sys.stderr)
    print("| backbone | channels | bare forward (img/s) | through mebench (img/s) | ratio, median (target >= 90%) "
          "| per-round ratios | CPU-time ratio, median |")
    print("|---|---|---|---|---|---|---|")
    for backbone in args.backbones.split(","):
        r = measure(backbone, samples, args.size, args.batch, args.threads, args.rounds, args.device)
        rounds = ", ".join(f"{100 * x:.0f}%" for x in r["ratios"])
        print(f"| {r['backbone']} | {r['channels']} | {r['bare']:.1f} | {r['mebench']:.1f} | {100 * r['ratio']:.1f}% "
              f"| {rounds} | {100 * r['cpu_ratio']:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
