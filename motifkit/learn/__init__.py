"""Deep learning on synthetic STEM data (AtomVision experiments in plain PyTorch).

``import motifkit.learn`` does not import torch; each name loads on first use and
raises :class:`motifkit.errors.MissingDependencyError` (install the ``ml`` extra) when
torch is absent.

Contents
    Data (NumPy only): :class:`BravaisDataConfig`, :func:`make_bravais_dataset`,
    :class:`BravaisDataset`, :func:`atom_disk_mask`, :data:`BRAVAIS_CLASS_NAMES`.
    Models: :class:`DenseNetClassifier`, :class:`UNet`.
    Training: :func:`train_classifier`, :func:`train_segmenter`, :func:`save_checkpoint`,
    :func:`load_checkpoint`, :func:`add_train_parser`.
    Inference: :func:`classify_bravais`, :func:`segment_atoms`, :func:`load_pretrained`,
    :func:`detect_blobs`, :func:`blob_statistics`.
    Graphs: :func:`image_to_graph`, :class:`ALIGNNClassifier` (edge-gated graph network on
    blob graphs with bond-angle line graphs), :func:`train_graph_classifier`.
    Generative: :class:`ConvAutoencoder`, :class:`SRGenerator` / :func:`super_resolve` (4x).
    Embeddings: :func:`bond_angle_histogram`, :func:`tsne_embedding`.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "BRAVAIS_CLASS_NAMES": "motifkit.learn.data",
    "BravaisDataConfig": "motifkit.learn.data",
    "BravaisDataset": "motifkit.learn.data",
    "make_bravais_dataset": "motifkit.learn.data",
    "atom_disk_mask": "motifkit.learn.data",
    "canonical_autocorrelation": "motifkit.learn.data",
    "DenseNetClassifier": "motifkit.learn.models",
    "UNet": "motifkit.learn.models",
    "train_classifier": "motifkit.learn.train",
    "train_segmenter": "motifkit.learn.train",
    "evaluate_classifier": "motifkit.learn.train",
    "evaluate_segmenter": "motifkit.learn.train",
    "save_checkpoint": "motifkit.learn.train",
    "load_checkpoint": "motifkit.learn.train",
    "add_train_parser": "motifkit.learn.cli",
    "classify_bravais": "motifkit.learn.predict",
    "segment_atoms": "motifkit.learn.predict",
    "load_pretrained": "motifkit.learn.predict",
    "PRETRAINED": "motifkit.learn.predict",
    "detect_blobs": "motifkit.learn.segment",
    "blob_statistics": "motifkit.learn.segment",
    "ImageGraph": "motifkit.learn.graph",
    "image_to_graph": "motifkit.learn.graph",
    "graphs_from_dataset": "motifkit.learn.graph",
    "collate_graphs": "motifkit.learn.graph",
    "GraphBatch": "motifkit.learn.graph",
    "ALIGNNClassifier": "motifkit.learn.graph",
    "train_graph_classifier": "motifkit.learn.graph",
    "evaluate_graph_classifier": "motifkit.learn.graph",
    "predict_graph_classes": "motifkit.learn.graph",
    "load_graph_classifier": "motifkit.learn.graph",
    "ConvAutoencoder": "motifkit.learn.autoencoder",
    "train_autoencoder": "motifkit.learn.autoencoder",
    "reconstruction_error": "motifkit.learn.autoencoder",
    "mean_image_baseline": "motifkit.learn.autoencoder",
    "SRGenerator": "motifkit.learn.srgan",
    "SRDiscriminator": "motifkit.learn.srgan",
    "train_srgan": "motifkit.learn.srgan",
    "super_resolve": "motifkit.learn.srgan",
    "load_sr_generator": "motifkit.learn.srgan",
    "psnr": "motifkit.learn.srgan",
    "bicubic_upsample": "motifkit.learn.srgan",
    "degrade": "motifkit.learn.srgan",
    "evaluate_super_resolution": "motifkit.learn.srgan",
    "bond_graph": "motifkit.learn.embedding",
    "bond_angle_histogram": "motifkit.learn.embedding",
    "dataset_angle_histograms": "motifkit.learn.embedding",
    "mask_positions": "motifkit.learn.embedding",
    "tsne_embedding": "motifkit.learn.embedding",
    "separation_score": "motifkit.learn.embedding",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'motifkit.learn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
