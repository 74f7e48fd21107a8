"""motifkit.learn: held-out accuracy of the shipped Bravais CNN and atom U-Net, and timings.

Reference numbers are the AtomVision paper's (Choudhary et al. 2022): DenseNet 83 % on five
Bravais classes, U-Net 93 % pixel accuracy (no IoU reported). Targets of issue 6: CNN >= 97 %,
U-Net pixel accuracy >= 97 % and IoU >= 0.85, blob count error <= 2 %.

Sets evaluated (synthetic, see ``motifkit.learn.data``):

1. the held-out test split of the training dataset (same seed and split as the training
   command in ``benchmarks/RESULTS_learn.md``);
2. a fresh dataset with another seed (no sample shared with training);
3. CNN only: the full ``classify_bravais`` pipeline on images simulated at other pixel
   sizes (resampling + tiling + symmetrisation): 128 px at 0.2 Å/px (2.6 nm, smaller than the
   3.8 nm training field of view: one tile) and 96 px at 0.45 Å/px (4.3 nm: tiles).

Usage: ``.venv/bin/python benchmarks/bench_learn.py [--cnn PATH] [--unet PATH] [--fresh 100]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import numpy as np


def _print_confusion(matrix, names):
    matrix = np.asarray(matrix)
    print("  true \\ predicted " + " ".join(f"{n[:6]:>7}" for n in names))
    for name, row in zip(names, matrix):
        print(f"  {name:<17} " + " ".join(f"{v:>7d}" for v in row))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnn", default="bravais_cnn", help="checkpoint path or pretrained name")
    parser.add_argument("--unet", default="atom_unet", help="checkpoint path or pretrained name")
    parser.add_argument("--cnn-data", default="1000,0", help="n_per_class,seed of the CNN training dataset")
    parser.add_argument("--unet-data", default="400,2", help="n_per_class,seed of the U-Net training dataset")
    parser.add_argument("--fresh", type=int, default=100, help="samples per class of the fresh sets")
    parser.add_argument("--only", choices=("cnn", "unet"), default=None, help="benchmark one model only")
    parser.add_argument("--cache-dir", default=os.path.join(os.path.expanduser("~"), ".cache", "motifkit", "learn"))
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    results = {}
    if args.only != "unet":
        results.update(_bench_cnn(args))
    if args.only != "cnn":
        results.update(_bench_unet(args))
    print(json.dumps(results, indent=1, default=float))


def _bench_cnn(args):
    from motifkit.learn import (
        BRAVAIS_CLASS_NAMES,
        classify_bravais,
        load_pretrained,
        make_bravais_dataset,
    )
    from motifkit.learn.data import BravaisDataConfig, simulate_bravais_sample
    from motifkit.learn.train import confusion_matrix, evaluate_classifier

    results = {}
    cnn = load_pretrained(args.cnn)
    config = cnn.data_config
    n, seed = (int(v) for v in args.cnn_data.split(","))
    test = make_bravais_dataset(n, config, random_state=seed, cache_dir=args.cache_dir).split((0.8, 0.1, 0.1), random_state=seed)[2]
    fresh = make_bravais_dataset(args.fresh, config, random_state=9001)
    for name, data in (("held-out test split", test), ("fresh set (seed 9001)", fresh)):
        t0 = time.perf_counter()
        metrics = evaluate_classifier(cnn, data, device="cpu")
        dt = (time.perf_counter() - t0) / len(data)
        print(f"CNN on {name}: accuracy {metrics['accuracy']:.4f} (n={len(data)}, paper 0.83), {1e3 * dt:.1f} ms/image")
        _print_confusion(metrics["confusion_matrix"], BRAVAIS_CLASS_NAMES)
        results[f"cnn {name}"] = metrics

    rng = np.random.default_rng(2024)
    for size, pixel_size in ((128, 0.2), (96, 0.45)):
        big = BravaisDataConfig(image_size=size, pixel_size=pixel_size, zoom_range=(1.0, 1.0))
        truth, predicted = [], []
        t0 = time.perf_counter()
        for label, name in enumerate(BRAVAIS_CLASS_NAMES):
            for _ in range(max(args.fresh // 5, 4)):
                sample = simulate_bravais_sample(name, big, random_state=rng)
                if sample is None:
                    continue
                truth.append(label)
                predicted.append(classify_bravais(sample["image"], pixel_size / 10.0, model=cnn)[0])
        dt = (time.perf_counter() - t0) / len(truth)
        accuracy = float(np.mean(np.array(truth) == np.array(predicted)))
        print(f"classify_bravais on {size} px at {pixel_size} A/px: accuracy {accuracy:.4f} (n={len(truth)}), "
              f"{1e3 * dt:.0f} ms/image incl. simulation")
        _print_confusion(confusion_matrix(truth, predicted), BRAVAIS_CLASS_NAMES)
        results[f"classify_bravais {size}px {pixel_size}A"] = {"accuracy": accuracy, "n": len(truth)}
    return results


def _bench_unet(args):
    from motifkit.learn import load_pretrained, make_bravais_dataset
    from motifkit.learn.train import evaluate_segmenter

    results = {}
    unet = load_pretrained(args.unet)
    n, seed = (int(v) for v in args.unet_data.split(","))
    test = make_bravais_dataset(n, unet.data_config, random_state=seed, cache_dir=args.cache_dir).split((0.8, 0.1, 0.1), random_state=seed)[2]
    fresh = make_bravais_dataset(args.fresh, unet.data_config, random_state=9002)
    for name, data in (("held-out test split", test), ("fresh set (seed 9002)", fresh)):
        t0 = time.perf_counter()
        metrics = evaluate_segmenter(unet, data, device="cpu", symmetrise=True)
        dt = (time.perf_counter() - t0) / len(data)
        print(f"U-Net (8-fold symmetrised) on {name} (n={len(data)}): pixel accuracy {metrics['pixel_accuracy']:.4f} (paper 0.93; "
              f"all-background {metrics['all_background_accuracy']:.4f}), IoU {metrics['iou']:.4f}, F1 {metrics['f1']:.4f}, "
              f"blob count error {100 * metrics['blob_count_relative_error']:.2f} % vs true interior columns "
              f"(missed {100 * metrics.get('missed_fraction', float('nan')):.2f} %, "
              f"false {100 * metrics.get('false_fraction', float('nan')):.2f} %), "
              f"unmatched centroid count {100 * metrics['column_count_relative_error']:.2f} % "
              f"(true masks themselves: {100 * metrics['column_count_relative_error_true_masks']:.2f} %), "
              f"{1e3 * dt:.1f} ms/image")
        results[f"unet {name}"] = metrics
    return results


if __name__ == "__main__":
    main()
