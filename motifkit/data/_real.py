"""The bundled real micrograph: Ti-doped monolayer WSe2 with the authors' column labels."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field

import numpy as np

from ..errors import CorruptFileError
from ..micrograph import Micrograph

__all__ = ["RealSample", "wse2_ti", "WSE2_TI_LABEL_NAMES", "WSE2_TI_FILES"]

#: Meaning of the integer labels of :func:`wse2_ti`.
WSE2_TI_LABEL_NAMES: dict[int, str] = {0: "Se2", 1: "V_Se", 2: "W", 3: "Ti"}

#: Files of the sample inside ``motifkit/data/wse2_ti/``.
WSE2_TI_FILES = {
    "image": "WSe2_Ti_1028_ADF1_2.dm4",
    "positions": "WSe2_Ti_1028_ADF1_2_points_xy.npy",
    "labels": "WSe2_Ti_1028_ADF1_2_labels.npy",
}

_FOLDER = "wse2_ti"
_REPOSITORY = "https://github.com/jiadongdan/random-defect-model"
_CITATION = (
    "HAADF-STEM image of Ti-doped monolayer WSe2 (80 kV) with column positions and labels "
    "from the repository jiadongdan/random-defect-model "
    f"({_REPOSITORY}), folder 'process/combine pts and lbs/'."
)
_LICENSE = "MIT License, Copyright (c) 2024 jiadongdan (full text: motifkit/data/wse2_ti/LICENSE)"


@dataclass(repr=False)
class RealSample:
    """A real micrograph with reference column positions and labels.

    Attributes
    ----------
    micrograph : Micrograph
        The image, calibrated (pixel size in nm).
    positions : ndarray of float, shape (N, 2)
        Column positions as (x, y) = (column, row) in pixels. For :func:`wse2_ti` they are
        the authors' integer-pixel detections, a reference rather than ground truth.
    labels : ndarray of int, shape (N,)
        Class of each column; see ``label_names``.
    label_names : dict of int to str
        Meaning of each label value.
    citation : str
        Where the data comes from.
    license : str
        Licence of the data.
    """

    micrograph: Micrograph
    positions: np.ndarray
    labels: np.ndarray
    label_names: dict = field(default_factory=dict)
    citation: str = ""
    license: str = ""

    @property
    def label_counts(self) -> dict[str, int]:
        """Number of columns per class name, e.g. ``{"Se2": 3711, ...}``."""
        values, counts = np.unique(self.labels, return_counts=True)
        found = dict(zip(values.tolist(), counts.tolist()))
        return {name: int(found.get(value, 0)) for value, name in self.label_names.items()}

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}: {count}" for name, count in self.label_counts.items())
        return f"RealSample({self.micrograph!r}, {len(self.positions)} columns ({counts}))"


def wse2_ti() -> RealSample:
    """Load the bundled HAADF-STEM micrograph of Ti-doped monolayer WSe2.

    512 x 512 px, 0.03987935 nm/px, 80 kV, raw detector counts, with contamination
    patches, Se vacancies and Ti dopants; plus the authors' 7708 column positions and
    labels (0 = Se2 column, 1 = Se-site vacancy, 2 = W, 3 = Ti). MIT licence,
    (c) 2024 jiadongdan, repository jiadongdan/random-defect-model.

    Returns
    -------
    RealSample
        ``micrograph`` (:class:`~motifkit.micrograph.Micrograph`), ``positions``
        (7708, 2) float (x, y) pixels, ``labels`` (7708,) int, ``label_names``,
        ``citation``, ``license``.

    Examples
    --------
    >>> from motifkit.data import wse2_ti
    >>> sample = wse2_ti()
    >>> sample.micrograph.shape, round(sample.micrograph.pixel_size, 4)
    ((512, 512), 0.0399)
    >>> sample.label_counts
    {'Se2': 3711, 'V_Se': 141, 'W': 3851, 'Ti': 5}
    """
    from ..io import read

    folder = importlib.resources.files(__package__) / _FOLDER
    # as_file gives a real path even when motifkit is imported from a zip.
    with importlib.resources.as_file(folder / WSE2_TI_FILES["image"]) as image_path:
        micrograph = read(image_path)
    with (folder / WSE2_TI_FILES["positions"]).open("rb") as fh:
        positions = np.load(fh, allow_pickle=False)
    with (folder / WSE2_TI_FILES["labels"]).open("rb") as fh:
        raw_labels = np.load(fh, allow_pickle=False)
    labels = raw_labels.astype(np.int64)
    height, width = micrograph.shape
    if (
        positions.shape != (len(labels), 2)
        or not np.array_equal(labels, raw_labels)
        or not set(np.unique(labels).tolist()) <= set(WSE2_TI_LABEL_NAMES)
        or positions.min() < 0
        or positions[:, 0].max() >= width
        or positions[:, 1].max() >= height
    ):
        raise CorruptFileError(
            "The bundled WSe2 sample files are damaged (positions and labels do not match "
            "the image); reinstall motifkit."
        )
    micrograph.metadata["sample"] = "wse2_ti"
    micrograph.source = str(folder / WSE2_TI_FILES["image"])  # not the temporary copy
    return RealSample(
        micrograph=micrograph,
        positions=positions.astype(np.float64),
        labels=labels,
        label_names=dict(WSE2_TI_LABEL_NAMES),
        citation=_CITATION,
        license=_LICENSE,
    )
