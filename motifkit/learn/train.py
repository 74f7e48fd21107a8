"""Training loops, metrics, checkpoints and the ``train`` command line.

Run ``python -m motifkit.learn.train cnn --help`` (or ``motifkit train cnn`` once wired).
Checkpoints are plain dicts (model class name, constructor config, state dict, data
config, metrics) saved with :func:`torch.save` and read back with ``weights_only=True``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from dataclasses import asdict

import numpy as np

from .._utils import check_random_state, progress
from ..errors import FileFormatError, ParameterError, require
from .cli import add_train_arguments
from .data import (
    BRAVAIS_CLASS_NAMES,
    BravaisDataConfig,
    BravaisDataset,
    make_bravais_dataset,
)

torch = require("torch", "ml", "training motifkit.learn models")

from .models import (
    MODEL_TYPES,
    DenseNetClassifier,
    UNet,
    classifier_inputs,
    label_preserving_symmetries,
)


def default_device(device=None):
    """``torch.device``: the given one, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------
def save_checkpoint(path, model, *, data_config: BravaisDataConfig | None = None, metrics=None) -> None:
    """Save ``model`` as a plain dict loadable with ``torch.load(..., weights_only=True)``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "model": type(model).__name__,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in model.config.items()},
        "state_dict": state,
        "data_config": None if data_config is None else json.dumps(asdict(data_config), default=list),
        "metrics": json.dumps(metrics or {}),
    }
    tmp = os.fspath(path) + ".tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


#: Model classes defined outside models.py -> the module that registers them.
_MODEL_MODULES = {
    "ALIGNNClassifier": "motifkit.learn.graph",
    "SRGenerator": "motifkit.learn.srgan",
    "SRDiscriminator": "motifkit.learn.srgan",
    "ConvAutoencoder": "motifkit.learn.autoencoder",
}


def load_checkpoint(path, device=None):
    """Load a checkpoint written by :func:`save_checkpoint`.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on ``device`` (CPU by default).
    data_config : BravaisDataConfig or None
    metrics : dict
    """
    if not os.path.exists(path):
        raise FileFormatError(f"checkpoint {path} does not exist; train one with `motifkit train`.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload["model"] in _MODEL_MODULES:  # registers its classes in MODEL_TYPES on import
            importlib.import_module(_MODEL_MODULES[payload["model"]])
        cls = MODEL_TYPES[payload["model"]]
    except (KeyError, RuntimeError, EOFError, TypeError) as exc:
        raise FileFormatError(f"{path} is not a motifkit.learn checkpoint ({exc}); retrain or re-download it.") from exc
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()}
    model = cls(**config)
    model.load_state_dict(payload["state_dict"])
    model.eval().to(torch.device(device) if device is not None else "cpu")
    data_config = None
    if payload.get("data_config"):
        raw = json.loads(payload["data_config"])
        data_config = BravaisDataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    return model, data_config, json.loads(payload.get("metrics") or "{}")


# --------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------
def confusion_matrix(true, predicted, n_classes: int = len(BRAVAIS_CLASS_NAMES)) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as ``j``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def segmentation_metrics(true_mask, predicted_mask) -> dict:
    """Pixel accuracy, IoU and F1 of the atom (foreground) class, plus the all-background accuracy."""
    t = np.asarray(true_mask).astype(bool)
    p = np.asarray(predicted_mask).astype(bool)
    tp = float(np.sum(t & p))
    fp = float(np.sum(~t & p))
    fn = float(np.sum(t & ~p))
    return {
        "pixel_accuracy": float(np.mean(t == p)),
        "iou": tp / max(tp + fp + fn, 1.0),
        "f1": 2 * tp / max(2 * tp + fp + fn, 1.0),
        "all_background_accuracy": float(np.mean(~t)),
    }


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
def _batches(n, batch_size, rng, shuffle=True):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def _dihedral(x, k: int):
    """One of the 8 square symmetries (exact, no interpolation) of a (N, C, H, W) tensor."""
    x = torch.rot90(x, k % 4, dims=(2, 3))
    return torch.flip(x, dims=(3,)) if k >= 4 else x


def predict_classes(model, inputs: np.ndarray, device=None, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities (N, n_classes) for classifier inputs (N, C, S, S)."""
    device = default_device(device) if device is None else torch.device(device)
    model.eval().to(device)
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size])).to(device)
            out.append(torch.softmax(model(x), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config["n_classes"]), dtype=np.float32)


def train_classifier(
    train: BravaisDataset,
    val: BravaisDataset,
    *,
    model=None,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    checkpoint: str | None = None,
    device=None,
    random_state=0,
    verbose: bool = True,
):
    """Train the DenseNet Bravais classifier; keep the state with the best validation accuracy.

    Parameters
    ----------
    train, val : BravaisDataset
    model : DenseNetClassifier, optional
    epochs, batch_size, lr, weight_decay
        AdamW with a one-cycle cosine schedule; random dihedral (rot90/flip) augmentation.
    checkpoint : str, optional
        Where to save the best model (state-dict checkpoint).
    device : str, optional
        Defaults to CUDA when available.
    random_state : int

    Returns
    -------
    model : DenseNetClassifier
        With the best validation weights, in eval mode.
    history : list of dict
        Per epoch: ``loss``, ``train_accuracy``, ``val_accuracy``.
    """
    if len(train) == 0 or len(val) == 0:
        raise ParameterError("train and val datasets must be non-empty; generate more samples.")
    rng = check_random_state(random_state)
    torch.manual_seed(int(rng.integers(2**31)))
    device = default_device(device)
    model = (model or DenseNetClassifier()).to(device)
    transform = model.config.get("input_transform", "image_autocorrelation")
    symmetries = label_preserving_symmetries(transform)
    x_train = classifier_inputs(train.images, transform)
    x_val = classifier_inputs(val.images, transform)
    y_train = torch.from_numpy(train.labels)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(len(train) / batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=max(steps, 1))
    best, best_state, history = -1.0, None, []
    for epoch in range(epochs):
        model.train()
        total_loss, correct = 0.0, 0
        batches = list(_batches(len(train), batch_size, rng))
        for idx in progress(batches, verbose=verbose, desc=f"epoch {epoch + 1}/{epochs}"):
            x = torch.from_numpy(x_train[idx]).to(device)
            x = _dihedral(x, int(symmetries[rng.integers(len(symmetries))]))
            y = y_train[idx].to(device)
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
        val_accuracy = float(np.mean(predict_classes(model, x_val, device).argmax(1) == val.labels))
        history.append({"epoch": epoch + 1, "loss": total_loss / len(train), "train_accuracy": correct / len(train),
                        "val_accuracy": val_accuracy})
        if verbose:
            print(f"epoch {epoch + 1}: loss {history[-1]['loss']:.4f} train {history[-1]['train_accuracy']:.3f} val {val_accuracy:.3f}")
        if val_accuracy > best:
            best = val_accuracy
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint:
                save_checkpoint(checkpoint, model, data_config=train.config, metrics={"val_accuracy": best, "epoch": epoch + 1})
    model.load_state_dict(best_state)
    return model.eval(), history


def evaluate_classifier(model, test: BravaisDataset, device=None) -> dict:
    """Accuracy and confusion matrix (rows true, columns predicted) on a test set."""
    transform = model.config.get("input_transform", "image_autocorrelation")
    probabilities = predict_classes(model, classifier_inputs(test.images, transform), device)
    predicted = probabilities.argmax(1)
    matrix = confusion_matrix(test.labels, predicted)
    return {"accuracy": float(np.mean(predicted == test.labels)), "confusion_matrix": matrix.tolist(),
            "classes": list(BRAVAIS_CLASS_NAMES), "n_test": len(test)}


def _undo_dihedral(x, k: int):
    """Inverse of :func:`_dihedral`."""
    if k >= 4:
        x = torch.flip(x, dims=(3,))
    return torch.rot90(x, -(k % 4), dims=(2, 3))


def predict_masks(model, images: np.ndarray, device=None, batch_size: int = 64, symmetrise: bool = False) -> np.ndarray:
    """Atom probability maps (N, H, W) from a U-Net for standardised images (N, H, W).

    With ``symmetrise`` the probabilities are averaged over the 8 rotations/flips of each
    image (mapped back), which smooths the disk boundaries (test-time augmentation, 8x cost).
    """
    device = default_device(device) if device is None else torch.device(device)
    model.eval().to(device)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size], dtype=np.float32))[:, None].to(device)
            if symmetrise:
                p = sum(_undo_dihedral(torch.sigmoid(model(_dihedral(x, k))), k) for k in range(8)) / 8.0
            else:
                p = torch.sigmoid(model(x))
            out.append(p[:, 0].cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,) + tuple(images.shape[1:]), dtype=np.float32)


def train_segmenter(
    train: BravaisDataset,
    val: BravaisDataset,
    *,
    model=None,
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 3e-3,
    checkpoint: str | None = None,
    device=None,
    random_state=0,
    verbose: bool = True,
):
    """Train the U-Net on atom-disk masks (BCE + soft Dice); keep the best validation IoU.

    Returns
    -------
    model : UNet
    history : list of dict
        Per epoch: ``loss`` and the validation ``pixel_accuracy``, ``iou``, ``f1``.
    """
    if len(train) == 0 or len(val) == 0:
        raise ParameterError("train and val datasets must be non-empty; generate more samples.")
    rng = check_random_state(random_state)
    torch.manual_seed(int(rng.integers(2**31)))
    device = default_device(device)
    model = (model or UNet()).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(train) / batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=max(steps, 1))
    best, best_state, history = -1.0, None, []
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for idx in progress(list(_batches(len(train), batch_size, rng)), verbose=verbose, desc=f"epoch {epoch + 1}/{epochs}"):
            k = int(rng.integers(8))
            x = _dihedral(torch.from_numpy(train.images[idx])[:, None].to(device), k)
            y = _dihedral(torch.from_numpy(train.masks[idx].astype(np.float32))[:, None].to(device), k)
            logits = model(x)
            p = torch.sigmoid(logits)
            dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + dice
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += loss.item() * len(idx)
        metrics = segmentation_metrics(val.masks, predict_masks(model, val.images, device) > 0.5)
        history.append({"epoch": epoch + 1, "loss": total / len(train), **metrics})
        if verbose:
            print(f"epoch {epoch + 1}: loss {history[-1]['loss']:.4f} val IoU {metrics['iou']:.3f} acc {metrics['pixel_accuracy']:.4f}")
        if metrics["iou"] > best:
            best = metrics["iou"]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint:
                save_checkpoint(checkpoint, model, data_config=train.config, metrics={"val_iou": best, "epoch": epoch + 1})
    model.load_state_dict(best_state)
    return model.eval(), history


def blob_min_distance(pixel_size: float) -> int:
    """Watershed seed separation (pixels) for atom blobs: 60 % of the closest column spacing."""
    from .data import MIN_COLUMN_SEPARATION

    return max(1, int(0.6 * MIN_COLUMN_SEPARATION / float(pixel_size)))


def evaluate_segmenter(model, test: BravaisDataset, device=None, threshold: float = 0.5, min_distance: int | None = None,
                       symmetrise: bool = False) -> dict:
    """Pixel metrics and blob-count error of the U-Net + blob detection on a test set.

    The blob count error is ``sum |detected - true| / sum true`` over images, counting
    blobs and true columns at least :data:`~motifkit.learn.data.COUNT_BORDER_PX` inside the
    border; a blob matched to a column (within half the closest column spacing) counts
    where the column is (:func:`~motifkit.learn.data.matched_interior_counts`). Misses and
    false blobs are reported separately (``missed_fraction``, ``false_fraction``).
    ``symmetrise``: average the U-Net over the 8 rotations/flips (as :func:`segment_atoms` does).
    """
    from .data import MIN_COLUMN_SEPARATION, count_interior, matched_interior_counts
    from .segment import detect_blobs

    probabilities = predict_masks(model, test.images, device, symmetrise=symmetrise)
    metrics = segmentation_metrics(test.masks, probabilities > threshold)
    metrics["symmetrised"] = bool(symmetrise)
    nominal_px = float(test.config.pixel_size)
    min_distance = blob_min_distance(nominal_px * min(test.config.zoom_range)) if min_distance is None else int(min_distance)

    def blobs(maps):
        return [detect_blobs(m, threshold=threshold, min_distance=min_distance).centroids for m in maps]

    predicted_blobs, ideal_blobs = blobs(probabilities), blobs(test.masks)
    predicted = np.array([count_interior(c, m.shape) for c, m in zip(predicted_blobs, probabilities)])
    ideal = np.array([count_interior(c, m.shape) for c, m in zip(ideal_blobs, test.masks)])
    if test.positions is not None:
        counts = [matched_interior_counts(c, t, m.shape, match_distance=0.5 * MIN_COLUMN_SEPARATION / px)
                  for c, t, m, px in zip(predicted_blobs, test.positions, probabilities, test.pixel_sizes)]
        n_true = max(sum(c["n_true"] for c in counts), 1)
        metrics["blob_count_relative_error"] = float(sum(abs(c["n_detected"] - c["n_true"]) for c in counts) / n_true)
        metrics["missed_fraction"] = float(sum(c["n_missed"] for c in counts) / n_true)
        metrics["false_fraction"] = float(sum(c["n_false"] for c in counts) / n_true)
    else:  # caches without positions: against blobs of the true masks (same operator, same border effects)
        metrics["blob_count_relative_error"] = float(np.abs(predicted - ideal).sum() / max(ideal.sum(), 1))
    # plain counts of centroids inside the border against the column centres; the floor of
    # the latter (true masks) comes from centroids jittering across the counting border
    metrics["column_count_relative_error"] = float(np.abs(predicted - test.n_columns).sum() / max(test.n_columns.sum(), 1))
    metrics["column_count_relative_error_true_masks"] = float(np.abs(ideal - test.n_columns).sum() / max(test.n_columns.sum(), 1))
    metrics["blob_min_distance_px"] = int(min_distance)
    metrics["n_test"] = len(test)
    return metrics


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
def report_metrics(metrics: dict, path=None) -> int:
    """Print a training command's test metrics as JSON (and write them to ``path``); returns 0."""
    text = json.dumps(metrics, indent=1)
    print(text)
    if path:
        with open(path, "w") as fh:
            fh.write(text)
    return 0


def finish_training(out, model, data_config, metrics: dict, history: list, metrics_path=None) -> int:
    """End of every training command: save the checkpoint (metrics without the per-epoch
    history), then print and optionally write the metrics with it; returns 0."""
    save_checkpoint(out, model, data_config=data_config, metrics=metrics)
    return report_metrics({**metrics, "history": history}, metrics_path)


def task_main(prog: str, description: str, add_arguments, run, argv=None) -> int:
    """``python -m motifkit.learn.<module>``: parse one task's options and run it."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run_train(args) -> int:
    """Generate/load the dataset, train, evaluate on the held-out test split, save.

    ``args`` as parsed by ``motifkit train cnn|unet`` (see :mod:`motifkit.learn.cli`).
    """
    if args.threads:
        torch.set_num_threads(args.threads)
    task = args.task
    config_kwargs = {"image_size": args.image_size, "pixel_size": args.pixel_size}
    if task == "unet" and getattr(args, "mask_radius", None) is not None:
        config_kwargs["mask_radius"] = args.mask_radius
    config = BravaisDataConfig(**config_kwargs)
    verbose = not args.quiet
    data = make_bravais_dataset(args.n_per_class, config, random_state=args.seed, cache_dir=args.cache_dir, verbose=verbose)
    train, val, test = data.split((0.8, 0.1, 0.1), random_state=args.seed)
    out = args.out or f"{task}.pt"
    if getattr(args, "init", None):
        model = load_checkpoint(args.init)[0]
        expected = DenseNetClassifier if task == "cnn" else UNet
        if not isinstance(model, expected):
            raise ParameterError(f"--init {args.init} holds a {type(model).__name__}, not a {expected.__name__}.")
    elif task == "cnn":
        transform = getattr(args, "input", "image_autocorrelation")
        try:
            block_layers = tuple(int(v) for v in str(getattr(args, "block_layers", "3,3,3")).split(","))
        except ValueError as exc:
            raise ParameterError(f"--block-layers must be comma-separated integers such as 3,3,3, got {args.block_layers!r}.") from exc
        from .models import INPUT_TRANSFORMS

        model = DenseNetClassifier(in_channels=INPUT_TRANSFORMS[transform], growth=getattr(args, "growth", 8),
                                   block_layers=block_layers, stem_channels=getattr(args, "stem_channels", 16),
                                   input_transform=transform)
    else:
        model = UNet(base_channels=getattr(args, "base_channels", 12), depth=getattr(args, "depth", 3))
    if task == "cnn":
        model, history = train_classifier(train, val, model=model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                          checkpoint=out, device=args.device, random_state=args.seed, verbose=verbose)
        metrics = evaluate_classifier(model, test, args.device)
    else:
        model, history = train_segmenter(train, val, model=model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                         checkpoint=out, device=args.device, random_state=args.seed, verbose=verbose)
        metrics = evaluate_segmenter(model, test, args.device, symmetrise=True)
    metrics["n_rejected_draws"] = data.n_rejected
    metrics["command"] = getattr(args, "command_line", None)
    return finish_training(out, model, config, metrics, history, args.metrics)


def main(argv=None) -> int:
    """``python -m motifkit.learn.train <task> ...`` (same tasks and options as ``motifkit train``)."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m motifkit.learn.train", description="train a motifkit.learn model")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    args.command_line = "python -m motifkit.learn.train " + " ".join(sys.argv[1:] if argv is None else list(argv))
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
