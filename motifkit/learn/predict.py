"""Inference with trained models on micrographs of any pixel size and field of view.

Images are resampled to the model's training pixel size (linear interpolation), then
classified tile by tile (the probabilities are averaged) or segmented whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import FileFormatError, ImageError, ParameterError, require
from ..micrograph import Micrograph, as_micrograph, unit_to_nm
from .data import standardise
from .segment import Blobs, blob_statistics, detect_blobs

torch = require("torch", "ml", "motifkit.learn inference")

from .models import classifier_inputs, label_preserving_symmetries
from .train import _dihedral, blob_min_distance, load_checkpoint, predict_masks

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), "weights")

#: Smallest field of view, in training pixels, accepted by canonical-autocorrelation classifiers.
MIN_CANONICAL_FOV_PX = 48

#: Shipped checkpoints: name -> (file in ``weights/``, command that trains it; the full
#: command history, e.g. the ``--init`` chain of the U-Net, is in benchmarks/RESULTS_learn.md).
PRETRAINED = {
    "bravais_cnn": ("bravais_cnn.pt", ("motifkit train cnn --n-per-class 1000 --epochs 12 --threads 1 "
                                       "--out motifkit/learn/weights/bravais_cnn.pt")),
    # second of two runs; the first: motifkit train unet --n-per-class 1000 --epochs 16 --lr 3e-3
    # --seed 3 --base-channels 24 --threads 1 --out unet_w24.pt
    "atom_unet": ("atom_unet.pt", ("motifkit train unet --init unet_w24.pt --n-per-class 2000 --epochs 6 "
                                   "--lr 7e-4 --seed 4 --threads 1 --out motifkit/learn/weights/atom_unet.pt")),
    "sr_generator": ("sr_generator.pt", ("motifkit train srgan --n-per-class 400 --train-limit 800 --channels 16 "
                                         "--blocks 4 --pretrain-epochs 4 --epochs 1 --batch-size 16 --lr 2e-3 "
                                         "--threads 1 --out motifkit/learn/weights/sr_generator.pt")),
    # graphs for this model must be built with image_to_graph(..., cutoff="auto")
    "bravais_gnn": ("bravais_gnn.pt", ("motifkit train gnn --n-per-class 1000 --train-limit 2000 --channels 32 "
                                       "--alignn-layers 1 --gcn-layers 1 --epochs 6 --batch-size 32 --lr 3e-3 "
                                       "--cutoff auto --normalise-lengths --threads 1 "
                                       "--out motifkit/learn/weights/bravais_gnn.pt")),
}


@lru_cache(maxsize=8)
def _load(path: str):
    return load_checkpoint(path)


def load_pretrained(name: str):
    """A shipped model (CPU, eval mode) with its ``data_config`` and ``metrics`` attached.

    Parameters
    ----------
    name : str
        A key of :data:`PRETRAINED` (``"bravais_cnn"``, ``"atom_unet"``, ``"sr_generator"``, ``"bravais_gnn"``) or
        a checkpoint path.

    Returns
    -------
    torch.nn.Module
        With attributes ``data_config`` (:class:`BravaisDataConfig`: training pixel size
        and image size) and ``metrics`` (dict of held-out test metrics).
    """
    if name in PRETRAINED:
        path = os.path.join(WEIGHTS_DIR, PRETRAINED[name][0])
        if not os.path.exists(path):
            raise FileFormatError(
                f"pretrained weights {name!r} are not shipped in this install ({path} missing); "
                f"train them with `{PRETRAINED[name][1]}`."
            )
    elif os.path.exists(os.fspath(name)):
        path = os.fspath(name)
    else:
        raise ParameterError(f"unknown pretrained model {name!r}; use one of {sorted(PRETRAINED)} or a checkpoint path.")
    model, data_config, metrics = _load(os.path.abspath(path))
    if data_config is None:
        raise FileFormatError(f"{path} has no data_config (training pixel size); retrain it with `motifkit train`.")
    model.data_config = data_config
    model.metrics = metrics
    return model


def _resolve_model(model, default_name: str):
    if model is None:
        return load_pretrained(default_name)
    if isinstance(model, (str, os.PathLike)):
        return load_pretrained(os.fspath(model))
    if getattr(model, "data_config", None) is None:
        raise ParameterError("model must come from load_pretrained/load_checkpoint (it needs .data_config).")
    return model


def resample_to_pixel_size(image, pixel_size_nm: float, target_angstrom: float) -> np.ndarray:
    """Resample an image from ``pixel_size_nm`` (nm/px) to ``target_angstrom`` (Å/px).

    Linear interpolation, with a Gaussian pre-filter when shrinking (anti-aliasing).

    Returns
    -------
    ndarray of float32
    """
    from scipy import ndimage

    if not (pixel_size_nm and np.isfinite(pixel_size_nm) and pixel_size_nm > 0):
        raise ParameterError(f"pixel_size must be a positive number of nm per pixel, got {pixel_size_nm}.")
    image = np.asarray(image, dtype=np.float32)
    factor = pixel_size_nm * 10.0 / target_angstrom  # output pixels per input pixel
    if abs(factor - 1) < 1e-6:
        return image.copy()
    if factor < 1:
        image = ndimage.gaussian_filter(image, sigma=(1 / factor - 1) / 2, mode="reflect")  # as skimage's anti-aliasing
    return ndimage.zoom(image, factor, order=1, mode="reflect", grid_mode=True).astype(np.float32)


def _as_calibrated(image, pixel_size):
    if isinstance(image, Micrograph):
        mg = as_micrograph(image, pixel_size=pixel_size, unit="nm")
        if mg.pixel_size is None:
            raise ParameterError("the micrograph has no pixel size; pass pixel_size in nm.")
        return mg.data, mg.pixel_size * unit_to_nm(mg.unit)
    if pixel_size is None:
        raise ParameterError("pass pixel_size (nm per pixel): the models need a physical scale.")
    return as_micrograph(image, pixel_size=pixel_size).data, float(pixel_size)


def _tiles(image: np.ndarray, size: int, max_tiles: int) -> np.ndarray:
    h, w = image.shape
    n_r = min(int(np.ceil((h - size) / (size / 2))) + 1, int(np.sqrt(max_tiles))) if h > size else 1
    n_c = min(int(np.ceil((w - size) / (size / 2))) + 1, int(np.sqrt(max_tiles))) if w > size else 1
    rows = np.linspace(0, h - size, n_r).round().astype(int)
    cols = np.linspace(0, w - size, n_c).round().astype(int)
    return np.stack([standardise(image[r : r + size, c : c + size]) for r in rows for c in cols])


def classify_bravais(image, pixel_size=None, *, model=None, max_tiles: int = 16, symmetrise: bool = True):
    """Bravais class of the lattice in a micrograph.

    Parameters
    ----------
    image : Micrograph or ndarray, shape (H, W)
        Any size and pixel size; it is resampled to the model's training pixel size. Models
        on the canonical autocorrelation (the shipped one) accept any field of view of at
        least :data:`MIN_CANONICAL_FOV_PX` training pixels (0.3 Å each: about 1.4 nm, 3-5
        lattice periods; more periods give sharper angles) and split larger images into
        tiles of the training image size; the others need at least the training field of view.
    pixel_size : float, optional
        nm per pixel (taken from a calibrated Micrograph when omitted).
    model : torch.nn.Module or str, optional
        Default: ``load_pretrained("bravais_cnn")``.
    max_tiles : int
        Largest number of (half-overlapping) tiles whose probabilities are averaged.
    symmetrise : bool
        Also average over the label-preserving flips/rotations of each tile input.

    Returns
    -------
    class_index : int
        0 hexagonal, 1 square, 2 rectangular, 3 centred rectangular, 4 oblique.
    probabilities : ndarray, shape (5,)

    Examples
    --------
    >>> from motifkit.data import graphene  # doctest: +SKIP
    >>> classify_bravais(graphene().image)[0]  # doctest: +SKIP
    0
    """
    model = _resolve_model(model, "bravais_cnn")
    data, px_nm = _as_calibrated(image, pixel_size)
    config = model.data_config
    resampled = resample_to_pixel_size(data, px_nm, config.pixel_size)
    size = int(config.image_size)
    transform = model.config.get("input_transform", "image_autocorrelation")
    # the canonical input is scale-normalised, so a smaller (single) tile works too
    smallest = min(size, MIN_CANONICAL_FOV_PX) if transform.startswith("canonical") else size
    if min(resampled.shape) < smallest:
        need = smallest * config.pixel_size / 10.0
        raise ImageError(
            f"field of view {data.shape[0] * px_nm:.2f} x {data.shape[1] * px_nm:.2f} nm is smaller than the "
            f"classifier's {need:.2f} nm; use a larger image (or check pixel_size, in nm)."
        )
    if max_tiles < 1:
        raise ParameterError(f"max_tiles must be >= 1, got {max_tiles}.")
    size = min(size, *resampled.shape)
    inputs = torch.from_numpy(classifier_inputs(_tiles(resampled, size, max_tiles), transform))
    device = next(model.parameters()).device
    symmetries = label_preserving_symmetries(transform) if symmetrise else (0,)
    with torch.no_grad():
        probs = [torch.softmax(model(_dihedral(inputs, k).to(device)), dim=1) for k in symmetries]
    probabilities = torch.stack(probs).mean(dim=(0, 1)).cpu().numpy().astype(float)
    return int(np.argmax(probabilities)), probabilities


@dataclass
class AtomSegmentation:
    """U-Net segmentation of a micrograph, in the input image's pixels.

    Attributes
    ----------
    probability : ndarray of float32, shape (H, W)
        Atom probability.
    blobs : Blobs
        Blobs of ``probability > threshold`` (labels in the input's pixel grid).
    positions : ndarray, shape (B, 2)
        Blob centres ``(x, y) = (column, row)`` in input pixels.
    statistics : ndarray, shape (B, 4)
        Max, min, mean intensity of the input image and size (input pixels) of each blob.
    """

    probability: np.ndarray
    blobs: Blobs
    positions: np.ndarray
    statistics: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)


def segment_atoms(image, pixel_size=None, *, model=None, threshold: float = 0.5, symmetrise: bool = True) -> AtomSegmentation:
    """Atom vs background segmentation with the U-Net, then blobs and per-blob statistics.

    Parameters
    ----------
    image : Micrograph or ndarray, shape (H, W)
    pixel_size : float, optional
        nm per pixel (taken from a calibrated Micrograph when omitted).
    model : torch.nn.Module or str, optional
        Default: ``load_pretrained("atom_unet")``.
    threshold : float
        Probability above which a pixel is an atom.
    symmetrise : bool
        Average the U-Net over the 8 rotations/flips of the image (as in the benchmark).

    Returns
    -------
    AtomSegmentation
    """
    from scipy import ndimage

    model = _resolve_model(model, "atom_unet")
    data, px_nm = _as_calibrated(image, pixel_size)
    resampled = standardise(resample_to_pixel_size(data, px_nm, model.data_config.pixel_size))
    if min(resampled.shape) < 8:
        raise ImageError(f"image is only {resampled.shape} px at the model's pixel size; use a larger field of view.")
    device = next(model.parameters()).device
    p = predict_masks(model, resampled[None], device, symmetrise=symmetrise)[0]
    if p.shape != data.shape:
        zoom = (data.shape[0] / p.shape[0], data.shape[1] / p.shape[1])
        p = np.clip(ndimage.zoom(p, zoom, order=1, mode="nearest", grid_mode=True), 0, 1)[: data.shape[0], : data.shape[1]]
    p = p.astype(np.float32)
    blobs = detect_blobs(p, threshold=threshold, min_distance=blob_min_distance(px_nm * 10.0))
    return AtomSegmentation(p, blobs, blobs.centroids, blob_statistics(data, blobs))
