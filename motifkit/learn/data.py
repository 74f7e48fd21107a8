"""Synthetic Bravais-lattice STEM dataset (AtomVision-style), with segmentation targets.

Every sample is a random 2-D lattice with a decorated basis
(:func:`motifkit.simulate.random_bravais`, which keeps the cell a few percent away from
every class boundary), imaged with :func:`motifkit.simulate.simulate_stem` after random
rotation, shift, zoom (pixel-size jitter), probe size and electron dose. The label is
computed from the *reduced* cell with a tolerance (:func:`motifkit.cells.classify_bravais`),
never from the stored cell parameters; a sample whose label disagrees with the class it
was drawn for is rejected and counted (``BravaisDataset.n_rejected``).

The classifier's input, :func:`canonical_autocorrelation`, is also here: the unbiased
autocorrelation rotated so the shortest lattice vector lies along +x and scaled to a fixed
length, which removes image rotation, translation and lattice scale and leaves the
geometry that defines the classes. :func:`matched_interior_counts` is the border-consistent
column count used for the U-Net's blob count error.

This module needs only NumPy/SciPy/scikit-image (no torch). Lengths are in ångström;
positions are ``(x, y) = (column, row)`` pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from .._utils import check_random_state, progress
from ..cells import BRAVAIS_TYPES, classify_bravais
from ..errors import FileFormatError, ParameterError

#: Class names in label order: 0 hexagonal, 1 square, 2 rectangular,
#: 3 centred rectangular, 4 oblique.
BRAVAIS_CLASS_NAMES = tuple(BRAVAIS_TYPES)

#: Cache format version; bump when the sample recipe changes.
_CACHE_VERSION = 2

#: Columns (and blobs) are counted only this many pixels or more inside the image border,
#: where a partly visible atom disk cannot be miscounted.
COUNT_BORDER_PX = 2.0

#: Smallest distance in Å between two columns of the generated lattices
#: (``min_separation`` of :func:`motifkit.simulate.random_bravais`).
MIN_COLUMN_SEPARATION = 1.5


@dataclass
class BravaisDataConfig:
    """Recipe of the synthetic Bravais dataset.

    Parameters
    ----------
    image_size : int
        Side of the square images in pixels.
    pixel_size : float
        Nominal Å per pixel of the training images.
    zoom_range : (float, float)
        Relative pixel-size jitter (zoom augmentation); the stored ``pixel_sizes`` are exact.
    probe_sigma_range : (float, float)
        Gaussian probe sigma in Å.
    dose_range : (float, float)
        Electron dose in e/Å^2, drawn log-uniformly.
    noise_free_fraction : float
        Fraction of samples without dose noise.
    length_range : (float, float)
        Shorter lattice vector length in Å.
    max_basis : int
        Largest number of basis columns.
    boundary_margin : float
        Relative distance from class boundaries (passed to ``random_bravais``).
    label_tolerance : float
        Metric tolerance of :func:`motifkit.cells.classify_bravais` (0.02 is ~1 % on lengths).
    mask_radius : float
        Radius in Å of the atom disks in the segmentation masks.
    """

    image_size: int = 64
    pixel_size: float = 0.3
    zoom_range: tuple = (0.85, 1.15)
    probe_sigma_range: tuple = (0.4, 0.65)
    dose_range: tuple = (2e3, 1e5)
    noise_free_fraction: float = 0.1
    length_range: tuple = (2.8, 4.5)
    max_basis: int = 3
    boundary_margin: float = 0.05
    label_tolerance: float = 0.02
    mask_radius: float = 0.6

    def validate(self) -> BravaisDataConfig:
        if int(self.image_size) < 16:
            raise ParameterError(f"image_size must be >= 16 px, got {self.image_size}.")
        if not self.pixel_size > 0:
            raise ParameterError(f"pixel_size must be > 0 Å/px, got {self.pixel_size}.")
        for name in ("zoom_range", "probe_sigma_range", "dose_range", "length_range"):
            lo, hi = getattr(self, name)
            if not (0 < lo <= hi):
                raise ParameterError(f"{name} must be (min, max) with 0 < min <= max, got {(lo, hi)}.")
        if not 0 <= self.noise_free_fraction <= 1:
            raise ParameterError(f"noise_free_fraction must be in [0, 1], got {self.noise_free_fraction}.")
        if self.mask_radius <= 0:
            raise ParameterError(f"mask_radius must be > 0 Å, got {self.mask_radius}.")
        return self

    def key(self) -> str:
        """Short hash identifying the recipe (used in cache file names)."""
        text = json.dumps({**asdict(self), "version": _CACHE_VERSION}, sort_keys=True, default=list)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class BravaisDataset:
    """Images, labels and segmentation masks of the synthetic Bravais dataset.

    Attributes
    ----------
    images : ndarray of float32, shape (N, S, S)
        Standardised images (zero mean, unit standard deviation).
    labels : ndarray of int64, shape (N,)
        Class index into :data:`BRAVAIS_CLASS_NAMES`.
    masks : ndarray of uint8, shape (N, S, S)
        1 inside a disk of ``mask_radius`` Å around every column, else 0.
    n_columns : ndarray of int64, shape (N,)
        Number of column centres at least :data:`COUNT_BORDER_PX` inside each image's border
        (see :func:`count_interior`).
    cells : ndarray of float, shape (N, 2, 2)
        Reduced lattice vectors in Å (structure frame).
    pixel_sizes : ndarray of float, shape (N,)
        Å per pixel of each image (after the zoom jitter).
    config : BravaisDataConfig
    n_rejected : int
        Draws rejected because the reduced-cell label disagreed with the drawn class.
    positions : list of ndarray (M_i, 2) or None
        Column centres ``(x, y)`` in pixels of every image (all columns, also those near the
        border); None for caches written before positions were stored.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    n_columns: np.ndarray
    cells: np.ndarray
    pixel_sizes: np.ndarray
    config: BravaisDataConfig = field(default_factory=BravaisDataConfig)
    n_rejected: int = 0
    positions: list | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> BravaisDataset:
        """Rows ``index`` (int array or slice) as a new dataset."""
        positions = None
        if self.positions is not None:
            rows = np.arange(len(self.labels))[index]
            positions = [self.positions[int(i)] for i in np.atleast_1d(rows)]
        return BravaisDataset(
            self.images[index], self.labels[index], self.masks[index], self.n_columns[index],
            self.cells[index], self.pixel_sizes[index], self.config, self.n_rejected, positions,
        )

    def split(self, fractions=(0.8, 0.1, 0.1), random_state=0):
        """Seeded stratified train / validation / test split.

        Parameters
        ----------
        fractions : (float, float, float)
            Fractions of each class in train, validation and test (must sum to 1).
        random_state : int, Generator or None

        Returns
        -------
        (BravaisDataset, BravaisDataset, BravaisDataset)
        """
        fractions = np.asarray(fractions, dtype=float)
        if fractions.shape != (3,) or np.any(fractions < 0) or abs(fractions.sum() - 1) > 1e-6:
            raise ParameterError(f"fractions must be three non-negative numbers summing to 1, got {fractions}.")
        rng = check_random_state(random_state)
        parts = [[], [], []]
        for label in np.unique(self.labels):
            idx = rng.permutation(np.flatnonzero(self.labels == label))
            n_train = round(fractions[0] * len(idx))
            n_val = round(fractions[1] * len(idx))
            parts[0].append(idx[:n_train])
            parts[1].append(idx[n_train : n_train + n_val])
            parts[2].append(idx[n_train + n_val :])
        return tuple(self.subset(np.sort(np.concatenate(p)).astype(np.int64)) for p in parts)

    def save(self, path) -> None:
        """Write the dataset to a compressed ``.npz`` file."""
        extra = {}
        if self.positions is not None:
            extra["column_positions"] = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in self.positions] or [np.zeros((0, 2))])
            extra["column_offsets"] = np.cumsum([0] + [len(p) for p in self.positions]).astype(np.int64)
        np.savez_compressed(
            path, images=self.images, labels=self.labels, masks=self.masks, n_columns=self.n_columns,
            cells=self.cells, pixel_sizes=self.pixel_sizes, n_rejected=np.int64(self.n_rejected),
            config=np.array(json.dumps(asdict(self.config), default=list)), **extra,
        )

    @classmethod
    def load(cls, path) -> BravaisDataset:
        """Read a dataset written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as f:
                config = BravaisDataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(str(f["config"])).items()})
                positions = None
                if "column_positions" in f.files:
                    flat, offsets = f["column_positions"], f["column_offsets"]
                    positions = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
                return cls(
                    f["images"], f["labels"], f["masks"], f["n_columns"], f["cells"], f["pixel_sizes"],
                    config, int(f["n_rejected"]), positions,
                )
        except (KeyError, ValueError, OSError) as exc:
            raise FileFormatError(
                f"{path} is not a Bravais dataset cache ({exc}); delete it and regenerate with make_bravais_dataset."
            ) from exc


def atom_disk_mask(positions, shape, radius_px: float) -> np.ndarray:
    """Binary mask with a disk of ``radius_px`` around every position.

    Parameters
    ----------
    positions : array_like, shape (M, 2)
        Column centres ``(x, y) = (column, row)`` in pixels.
    shape : (int, int)
        Mask shape (H, W).
    radius_px : float
        Disk radius in pixels.

    Returns
    -------
    ndarray of uint8, shape (H, W)

    Examples
    --------
    >>> int(atom_disk_mask([[2.0, 2.0]], (5, 5), 1.0).sum())
    5
    """
    from scipy.spatial import cKDTree

    h, w = int(shape[0]), int(shape[1])
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    mask = np.zeros((h, w), dtype=np.uint8)
    if len(positions) == 0:
        return mask
    rows, cols = np.mgrid[0:h, 0:w]
    pixels = np.column_stack([cols.ravel(), rows.ravel()]).astype(float)
    dist, _ = cKDTree(positions).query(pixels, k=1, distance_upper_bound=float(radius_px) + 1e-9)
    mask.ravel()[dist <= radius_px] = 1
    return mask


def count_interior(positions, shape, border: float = COUNT_BORDER_PX) -> int:
    """Number of positions ``(x, y)`` (pixels) at least ``border`` pixels inside an image of ``shape``."""
    p = np.asarray(positions, dtype=float).reshape(-1, 2)
    h, w = shape
    inside = (p[:, 0] >= border) & (p[:, 0] <= w - 1 - border) & (p[:, 1] >= border) & (p[:, 1] <= h - 1 - border)
    return int(inside.sum())


def matched_interior_counts(detected, truth, shape, *, match_distance: float, border: float = COUNT_BORDER_PX):
    """Detections and true columns counted in the interior of an image, border-consistently.

    A detection within ``match_distance`` pixels of a true column (one-to-one, nearest
    first) is counted where that column lies, so a correct detection whose centre jitters
    across the counting border is not miscounted; unmatched detections count where they are.

    Parameters
    ----------
    detected, truth : array_like, shape (K, 2) and (M, 2)
        Blob centres and column centres ``(x, y)`` in pixels (all of them, border included).
    shape : (int, int)
    match_distance : float
        Pixels; half the smallest column separation is a natural choice.
    border : float

    Returns
    -------
    dict
        ``n_detected`` and ``n_true`` (interior counts), ``n_missed`` (interior true columns
        without a detection), ``n_false`` (interior detections without a column).

    Examples
    --------
    >>> matched_interior_counts([[10.2, 10.0]], [[10.0, 10.0], [20.0, 20.0]], (32, 32), match_distance=2)
    {'n_detected': 1, 'n_true': 2, 'n_missed': 1, 'n_false': 0}
    """
    from scipy.spatial import cKDTree

    det = np.asarray(detected, dtype=float).reshape(-1, 2)
    tru = np.asarray(truth, dtype=float).reshape(-1, 2)
    h, w = shape

    def inside(p):
        return (p[:, 0] >= border) & (p[:, 0] <= w - 1 - border) & (p[:, 1] >= border) & (p[:, 1] <= h - 1 - border)

    det_in, tru_in = inside(det), inside(tru)
    det_match = np.full(len(det), -1)
    if len(det) and len(tru):
        dist, idx = cKDTree(tru).query(det, k=1, distance_upper_bound=match_distance)
        taken = np.zeros(len(tru), dtype=bool)
        for d in np.argsort(dist):
            if np.isfinite(dist[d]) and not taken[idx[d]]:
                taken[idx[d]] = True
                det_match[d] = idx[d]
    matched = det_match >= 0
    region = np.where(matched, tru_in[np.clip(det_match, 0, None)] if len(tru) else False, det_in)
    found = np.zeros(len(tru), dtype=bool)
    found[det_match[matched]] = True
    return {
        "n_detected": int(region.sum()),
        "n_true": int(tru_in.sum()),
        "n_missed": int((tru_in & ~found).sum()),
        "n_false": int((~matched & det_in).sum()),
    }


def standardise(image: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-variance copy of an image (float32)."""
    image = np.asarray(image, dtype=np.float32)
    std = float(image.std())
    return ((image - image.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def simulate_bravais_sample(bravais: str, config: BravaisDataConfig, random_state=None):
    """One augmented STEM image of a random lattice of class ``bravais``.

    Parameters
    ----------
    bravais : str
        One of :data:`BRAVAIS_CLASS_NAMES`.
    config : BravaisDataConfig
    random_state : int, Generator or None

    Returns
    -------
    dict or None
        ``image`` (S, S) float32 standardised, ``label`` int (from the reduced cell),
        ``mask`` (S, S) uint8, ``n_columns``, ``positions`` (M, 2) column centres ``(x, y)`` px,
        ``cell`` (2, 2) reduced Å, ``pixel_size`` Å/px;
        None when the reduced-cell label disagrees with ``bravais`` (rejected draw).
    """
    from ..cells import reduce_basis
    from ..simulate import Probe, random_bravais, simulate_stem

    rng = check_random_state(random_state)
    structure = random_bravais(
        bravais, length_range=config.length_range, max_basis=config.max_basis,
        min_separation=MIN_COLUMN_SEPARATION, margin=config.boundary_margin, random_state=rng,
    )
    cell = reduce_basis(structure.cell[:2, :2])
    label_name = classify_bravais(cell, tolerance=config.label_tolerance)
    if label_name != bravais:
        return None
    pixel_size = config.pixel_size * rng.uniform(*config.zoom_range)
    size = int(config.image_size)
    rotation = rng.uniform(0.0, 360.0)
    shift = tuple(rng.uniform(-5.0, 5.0, size=2))
    sigma = rng.uniform(*config.probe_sigma_range)
    dose = None
    if rng.random() >= config.noise_free_fraction:
        dose = float(np.exp(rng.uniform(np.log(config.dose_range[0]), np.log(config.dose_range[1]))))
    sim = simulate_stem(
        structure, (size, size), pixel_size, rotation=rotation, shift=shift, probe=Probe(sigma=sigma),
        dose=dose, random_state=rng,
    )
    positions = sim.truth.positions
    mask = atom_disk_mask(positions, (size, size), config.mask_radius / pixel_size)
    return {
        "image": standardise(sim.image.data),
        "label": BRAVAIS_CLASS_NAMES.index(label_name),
        "mask": mask,
        "n_columns": count_interior(positions, (size, size)),
        "positions": np.asarray(positions, dtype=float).reshape(-1, 2),
        "cell": cell,
        "pixel_size": float(pixel_size),
    }


def make_bravais_dataset(
    n_per_class: int,
    config: BravaisDataConfig | None = None,
    *,
    random_state=0,
    cache_dir=None,
    verbose: bool = False,
) -> BravaisDataset:
    """Generate (or load from cache) a balanced synthetic Bravais dataset.

    Parameters
    ----------
    n_per_class : int
        Samples of each of the five classes.
    config : BravaisDataConfig, optional
    random_state : int
        Seed; the same seed and config give the same dataset. Must be an int when
        ``cache_dir`` is given (it is part of the cache key).
    cache_dir : str or Path, optional
        Folder for an ``.npz`` cache keyed by the config, size and seed.
    verbose : bool
        Progress bar.

    Returns
    -------
    BravaisDataset

    Examples
    --------
    >>> ds = make_bravais_dataset(2, BravaisDataConfig(image_size=32), random_state=0)
    >>> ds.images.shape, sorted(set(ds.labels.tolist()))
    ((10, 32, 32), [0, 1, 2, 3, 4])
    """
    config = (config or BravaisDataConfig()).validate()
    n_per_class = int(n_per_class)
    if n_per_class < 1:
        raise ParameterError(f"n_per_class must be >= 1, got {n_per_class}.")
    path = None
    if cache_dir is not None:
        if not isinstance(random_state, (int, np.integer)):
            raise ParameterError("random_state must be an int seed when cache_dir is used (it keys the cache).")
        os.makedirs(cache_dir, exist_ok=True)
        path = os.path.join(os.fspath(cache_dir), f"bravais_{config.key()}_n{n_per_class}_seed{int(random_state)}.npz")
        if os.path.exists(path):
            return BravaisDataset.load(path)
    rng = check_random_state(random_state)
    samples, rejected = [], 0
    order = np.repeat(np.arange(len(BRAVAIS_CLASS_NAMES)), n_per_class)
    for label in progress(order, verbose=verbose, desc="simulating lattices", total=len(order)):
        for _attempt in range(100):
            sample = simulate_bravais_sample(BRAVAIS_CLASS_NAMES[label], config, random_state=rng)
            if sample is not None:
                break
            rejected += 1
        else:  # pragma: no cover - random_bravais already enforces the margin
            raise ParameterError("100 draws in a row were rejected; raise boundary_margin or label_tolerance.")
        samples.append(sample)
    dataset = BravaisDataset(
        images=np.stack([s["image"] for s in samples]),
        labels=np.array([s["label"] for s in samples], dtype=np.int64),
        masks=np.stack([s["mask"] for s in samples]),
        n_columns=np.array([s["n_columns"] for s in samples], dtype=np.int64),
        cells=np.stack([s["cell"] for s in samples]),
        pixel_sizes=np.array([s["pixel_size"] for s in samples]),
        config=config,
        n_rejected=rejected,
        positions=[s["positions"] for s in samples],
    )
    if path is not None:
        tmp = path + ".tmp.npz"
        dataset.save(tmp)
        os.replace(tmp, path)
    return dataset


# --------------------------------------------------------------------------------------
# scale- and rotation-normalised autocorrelation (the Bravais classifier's input)
# --------------------------------------------------------------------------------------
#: Side (pixels) of the canonical autocorrelation fed to the classifier.
CANONICAL_SIZE = 64
#: Length (pixels) of the shortest lattice vector in the canonical autocorrelation.
CANONICAL_PERIOD_PX = 10.0


def unbiased_autocorrelation(image) -> np.ndarray:
    """Linear (zero-padded) autocorrelation divided by the pixel overlap of each lag.

    Dividing by the overlap makes every lattice translation a peak of (nearly) the same
    height as the origin, whatever its length; translations within the basis give lower
    peaks, which is what lets :func:`lattice_vector_from_autocorrelation` tell them apart.

    Parameters
    ----------
    image : ndarray, shape (H, W)

    Returns
    -------
    ndarray of float64, shape (H + 1 - H % 2, W + 1 - W % 2)
        Lags ``-(H // 2) .. H // 2`` (rows) and ``-(W // 2) .. W // 2`` (columns); the zero lag
        is the centre pixel. Normalised so the zero lag is 1.

    Examples
    --------
    >>> ac = unbiased_autocorrelation(np.cos(np.arange(32) * 2 * np.pi / 8)[None, :] * np.ones((32, 1)))
    >>> ac.shape, round(float(ac[16, 16 + 8]), 2)
    ((33, 33), 1.0)
    """
    x = np.asarray(image, dtype=np.float64)
    x = x - x.mean()
    h, w = x.shape
    spectrum = np.fft.rfft2(x, s=(2 * h, 2 * w))
    ac = np.fft.fftshift(np.fft.irfft2(np.abs(spectrum) ** 2, s=(2 * h, 2 * w)))
    ry, rx = h // 2, w // 2
    ac = ac[h - ry : h + ry + 1, w - rx : w + rx + 1]
    overlap = np.outer(h - np.abs(np.arange(-ry, ry + 1)), w - np.abs(np.arange(-rx, rx + 1))).astype(float)
    ac = ac / overlap
    return ac / (ac[ry, rx] if ac[ry, rx] > 0 else 1.0)


def _refine_peak(ac: np.ndarray, row: int, col: int):
    """Sub-pixel peak position (row, col) from a separable parabola through the 3x3 neighbourhood."""
    h, w = ac.shape
    if not (0 < row < h - 1 and 0 < col < w - 1):
        return float(row), float(col)
    offsets = []
    for lo, mid, hi in ((ac[row - 1, col], ac[row, col], ac[row + 1, col]), (ac[row, col - 1], ac[row, col], ac[row, col + 1])):
        denom = lo - 2 * mid + hi
        offsets.append(float(np.clip(0.5 * (lo - hi) / denom, -0.5, 0.5)) if denom < 0 else 0.0)
    return row + offsets[0], col + offsets[1]


def lattice_vector_from_autocorrelation(ac: np.ndarray, *, min_lag: float = 3.0, relative_height: float = 0.75):
    """Shortest lattice translation ``(x, y)`` (pixels) read from an unbiased autocorrelation.

    Lattice translations are the highest off-origin peaks (every column maps onto an
    identical column), so the shortest vector among peaks at least ``relative_height`` of
    the highest one is taken, then refined from its multiples (2a, 3a, ...) when visible,
    which sharpens its direction.

    Parameters
    ----------
    ac : ndarray, shape (2 ry + 1, 2 rx + 1)
        Output of :func:`unbiased_autocorrelation` (zero lag in the centre).
    min_lag : float
        Peaks closer than this to the origin (pixels) are ignored.
    relative_height : float

    Returns
    -------
    ndarray, shape (2,) or None
        ``(x, y)`` in pixels, or None when no off-origin peak exists (no lattice visible).

    Examples
    --------
    >>> y, x = np.mgrid[0:48, 0:48]
    >>> ac = unbiased_autocorrelation(np.cos(2 * np.pi * x / 6) + np.cos(2 * np.pi * y / 9))
    >>> np.round(np.abs(lattice_vector_from_autocorrelation(ac)), 1).tolist()  # sign is arbitrary
    [6.0, 0.0]
    """
    from skimage.feature import peak_local_max

    h, w = ac.shape
    cy, cx = h // 2, w // 2
    # only lags up to a third of the field of view: the unbiased estimate gets noisy beyond
    limit = min(h, w) / 3.0
    peaks = peak_local_max(ac, min_distance=2, threshold_abs=None, exclude_border=1)
    if len(peaks) == 0:
        return None
    d = np.hypot(peaks[:, 0] - cy, peaks[:, 1] - cx)
    keep = (d >= min_lag) & (d <= limit)
    peaks, d = peaks[keep], d[keep]
    if len(peaks) == 0:
        return None
    heights = ac[peaks[:, 0], peaks[:, 1]]
    if not heights.max() > 0:  # no positive correlation away from the origin: no lattice
        return None
    strong = heights >= relative_height * heights.max()
    first = np.flatnonzero(strong)[np.argmin(d[strong])]
    r, c = _refine_peak(ac, *peaks[first])
    vector = np.array([c - cx, r - cy])
    # refine the direction with the farthest visible multiple n * a
    strong_peaks = peaks[heights >= 0.5 * heights.max()]
    for n in range(2, 8):
        target = vector * n
        if np.hypot(*target) > limit:
            break
        dist = np.hypot(strong_peaks[:, 1] - cx - target[0], strong_peaks[:, 0] - cy - target[1])
        if len(dist) == 0 or dist.min() > 1.5:
            break
        r, c = _refine_peak(ac, *strong_peaks[np.argmin(dist)])
        vector = np.array([c - cx, r - cy]) / n
    return vector


def canonical_autocorrelation(image, *, size: int = CANONICAL_SIZE, period_px: float = CANONICAL_PERIOD_PX) -> np.ndarray:
    """Autocorrelation rotated so the shortest lattice vector points along +x, scaled to ``period_px``.

    The five Bravais classes differ only by the geometry of the lattice (length ratio, angle,
    centring); this representation is translation invariant, removes the image rotation and
    the lattice scale, and keeps the rest (the remaining freedom, mirror and 180 degree
    rotation, maps each class onto itself, so flips are label-preserving augmentations).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        A micrograph at the classifier's pixel size (several lattice periods wide).
    size : int
        Output side in pixels (lags ``-size/2 .. size/2`` in canonical pixels).
    period_px : float
        Canonical length of the shortest lattice vector.

    Returns
    -------
    ndarray of float32, shape (size, size)
        Standardised (zero mean, unit std). When no lattice peak is found the plain
        autocorrelation (unrotated, unscaled) is returned.

    Examples
    --------
    >>> y, x = np.mgrid[0:64, 0:64]
    >>> square = np.cos(2 * np.pi * x / 8) + np.cos(2 * np.pi * y / 8)  # period 8 px
    >>> can = canonical_autocorrelation(square)  # shortest vector -> (10, 0) canonical px
    >>> can.shape, bool(can[31, 41] > can[31, 36])
    ((64, 64), True)
    """
    from scipy import ndimage

    ac = unbiased_autocorrelation(image)
    vector = lattice_vector_from_autocorrelation(ac)
    h, w = ac.shape
    cy, cx = h // 2, w // 2
    if vector is None or not np.hypot(*vector) > 0:
        u_hat, v_hat, scale = np.array([1.0, 0.0]), np.array([0.0, 1.0]), 1.0
    else:
        length = float(np.hypot(*vector))
        u_hat = vector / length
        v_hat = np.array([-u_hat[1], u_hat[0]])
        scale = length / float(period_px)
    grid = (np.arange(size) - (size - 1) / 2.0) * scale
    uu, vv = np.meshgrid(grid, grid)  # uu varies along columns, vv along rows
    xs = cx + uu * u_hat[0] + vv * v_hat[0]
    ys = cy + uu * u_hat[1] + vv * v_hat[1]
    out = ndimage.map_coordinates(ac, [ys, xs], order=1, mode="constant", cval=0.0)
    return standardise(out)


def canonical_autocorrelations(images, *, size: int = CANONICAL_SIZE, period_px: float = CANONICAL_PERIOD_PX) -> np.ndarray:
    """:func:`canonical_autocorrelation` of each image: (N, H, W) -> (N, size, size) float32."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2:
        images = images[None]
    return np.stack([canonical_autocorrelation(im, size=size, period_px=period_px) for im in images]) if len(images) else np.zeros((0, size, size), np.float32)
