"""Blob graphs of micrographs and an ALIGNN-style edge-gated graph classifier (plain PyTorch).

An image becomes an atom graph as in AtomVision: every atom blob (from a segmentation map
or from known column positions) is a node with features ``[max, min, mean intensity,
size]`` (standardised within the graph); two blobs closer than ``cutoff`` Å are joined by a
bond (both directions), whose feature is its length. The line graph has one node per
directed bond and joins bond ``i -> j`` to bond ``j -> k`` (``k != i``); its feature is the
cosine of the bond angle at the shared atom ``j``. Lengths and cosines are expanded on
Gaussian radial basis functions inside the model.

``cutoff="auto"`` replaces the fixed 4 Å by 1.05 times the longer of the two shortest
independent lattice translations found among the nodes (:func:`lattice_translations`): at
4 Å the longer lattice vector of most rectangular and oblique lattices is not a bond, so the
angle between the lattice vectors, the only thing separating those two classes, is missing
from the line graph. ``ALIGNNClassifier(normalise_lengths=True)`` divides bond lengths by the
shortest lattice translation, which makes the model blind to the lattice scale.

Batching concatenates graphs with index offsets and aggregates with ``index_add_``
(no torch_scatter or DGL). Positions are ``(x, y) = (column, row)`` pixels; lengths in Å.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._utils import check_random_state, progress
from ..errors import NotEnoughDataError, ParameterError, require
from ..micrograph import Micrograph, unit_to_nm, validate_image
from .data import BRAVAIS_CLASS_NAMES, BravaisDataConfig, BravaisDataset
from .embedding import bond_graph, mask_positions
from .segment import Blobs, blob_statistics, detect_blobs

torch = require("torch", "ml", "motifkit.learn graph networks")
nn = torch.nn
F = torch.nn.functional

from .models import MODEL_TYPES
from .cli import add_common_arguments
from .train import confusion_matrix, default_device, finish_training, load_checkpoint, save_checkpoint, task_main

#: Radius in Å of the disk whose pixels give a node's statistics when positions are given.
POSITION_DISK_RADIUS = 0.6


# --------------------------------------------------------------------------------------
# graphs
# --------------------------------------------------------------------------------------
@dataclass
class ImageGraph:
    """Atom graph of one image with its line graph.

    Attributes
    ----------
    positions : ndarray, shape (N, 2)
        Node (blob) centres ``(x, y) = (column, row)`` in pixels.
    node_features : ndarray of float32, shape (N, 4)
        Max, min, mean intensity and size of each blob, each standardised within the graph.
    edge_index : ndarray of int64, shape (2, E)
        Directed bonds ``source -> target`` (every bond appears in both directions).
    edge_lengths : ndarray of float32, shape (E,)
        Bond lengths in Å.
    angle_index : ndarray of int64, shape (2, T)
        Line-graph edges: bond ``i -> j`` (row 0) to bond ``j -> k`` (row 1), ``k != i``.
    angle_cosines : ndarray of float32, shape (T,)
        Cosine of the angle at ``j`` between ``r_i - r_j`` and ``r_k - r_j``.
    pixel_size : float
        Å per pixel.
    label : int
        Class index, -1 when unknown.
    n_skipped : int
        Given positions dropped because their disk lies outside the image.
    length_scale : float
        Å; the shortest lattice translation found among the positions
        (:func:`lattice_translations`), else the median nearest-neighbour distance. Models
        built with ``normalise_lengths=True`` divide bond lengths by it (scale invariance).
    cutoff : float
        The bond cutoff in Å that was used (resolved when ``cutoff="auto"``).
    """

    positions: np.ndarray
    node_features: np.ndarray
    edge_index: np.ndarray
    edge_lengths: np.ndarray
    angle_index: np.ndarray
    angle_cosines: np.ndarray
    pixel_size: float
    label: int = -1
    n_skipped: int = 0
    length_scale: float = 1.0
    cutoff: float = 4.0

    @property
    def n_nodes(self) -> int:
        return len(self.positions)

    @property
    def n_edges(self) -> int:
        return self.edge_index.shape[1]


def _pixel_size_angstrom(image, pixel_size):
    if pixel_size is None and isinstance(image, Micrograph) and image.pixel_size is not None:
        return float(image.pixel_size) * unit_to_nm(image.unit) * 10.0
    if pixel_size is None:
        raise ParameterError("pixel_size (Å per pixel) is required: the bond cutoff is physical (4 Å).")
    pixel_size = float(pixel_size)
    if not (np.isfinite(pixel_size) and pixel_size > 0):
        raise ParameterError(f"pixel_size must be a positive number of Å per pixel, got {pixel_size}.")
    return pixel_size


def _disk_labels(positions, shape, radius_px):
    """Label map: pixels within ``radius_px`` of position ``i`` (the nearest one) get ``i + 1``."""
    from scipy.spatial import cKDTree

    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w]
    pixels = np.column_stack([cols.ravel(), rows.ravel()]).astype(float)
    dist, nearest = cKDTree(positions).query(pixels, k=1)
    labels = np.where(dist <= radius_px, nearest + 1, 0).astype(np.int32)
    return labels.reshape(h, w)


#: ``cutoff="auto"``: bonds reach this factor times the longer of the two shortest
#: independent lattice translations, so both lattice vectors (and the angle between them)
#: are in the graph.
AUTO_CUTOFF_FACTOR = 1.05

#: ``cutoff="auto"`` without a detectable lattice: this many median nearest-neighbour distances.
AUTO_FALLBACK_NN_FACTOR = 2.5


def lattice_translations(positions_angstrom, *, tolerance: float | None = None, min_score: float = 0.8):
    """The two shortest independent lattice translations of a periodic point set.

    A candidate vector ``t`` (a difference of two positions) is a lattice translation when
    ``p + t`` lands on another position (within ``tolerance``) for at least ``min_score`` of
    the positions ``p`` whose ``p + t`` stays inside the points' bounding box. Differences
    within the basis fail this test, so the result is the primitive cell, whatever the basis.

    Parameters
    ----------
    positions_angstrom : array_like, shape (N, 2)
        ``(x, y)`` positions in Å (pixels times the pixel size).
    tolerance : float, optional
        Match radius in Å (default: a quarter of the median nearest-neighbour distance).
    min_score : float
        Smallest fraction of matched positions.

    Returns
    -------
    ndarray, shape (2, 2) or None
        Rows ``a``, ``b`` (Å) with ``|a| <= |b|``, or None when fewer than two independent
        translations are found (too few points, no periodicity).

    Examples
    --------
    >>> g = np.array([[i * 3.0 + j * 1.0, j * 4.0] for i in range(6) for j in range(6)])
    >>> np.round(np.abs(lattice_translations(g)), 3).tolist()
    [[3.0, 0.0], [1.0, 4.0]]
    """
    from scipy.spatial import cKDTree

    p = np.asarray(positions_angstrom, dtype=float).reshape(-1, 2)
    if len(p) < 6:
        return None
    tree = cKDTree(p)
    nn = tree.query(p, k=2)[0][:, 1]
    tol = 0.25 * float(np.median(nn)) if tolerance is None else float(tolerance)
    lo, hi = p.min(axis=0) - tol, p.max(axis=0) + tol
    reach = 0.5 * float(np.min(hi - lo))
    # positions near the edge of the field (partly visible columns) are the least precise:
    # test translations only between positions at least this far inside
    margin = 0.5 * float(np.median(nn))
    core_lo, core_hi = lo + tol + margin, hi - tol - margin
    core = np.all((p >= core_lo) & (p <= core_hi), axis=1)
    centre = p[np.argsort(np.linalg.norm(p - p.mean(axis=0), axis=1))[:3]]
    cand = np.concatenate([p[tree.query_ball_point(c, reach)] - c for c in centre])
    cand = cand[np.linalg.norm(cand, axis=1) > tol]
    if len(cand) == 0:
        return None
    # one of each +-t pair, near-duplicates merged (they come from the 3 centre atoms)
    cand = np.where((cand[:, 1] < -1e-9) | ((np.abs(cand[:, 1]) <= 1e-9) & (cand[:, 0] < 0)), -1, 1)[:, None] * cand
    cand = cand[np.argsort(np.linalg.norm(cand, axis=1))]
    keep = []
    for t in cand:
        if all(np.linalg.norm(t - k) > tol for k in keep):
            keep.append(t)
    found = []
    for t in keep:
        shifted = p + t
        inside = core & np.all((shifted >= core_lo) & (shifted <= core_hi), axis=1)
        if inside.sum() < 3:
            continue
        dist = tree.query(shifted[inside], k=1)[0]
        if np.mean(dist <= tol) >= min_score:
            found.append(t)
            if len(found) >= 1:
                a = found[0]
                for b in found[1:]:
                    if abs(a[0] * b[1] - a[1] * b[0]) > 0.2 * np.linalg.norm(a) * np.linalg.norm(b):
                        return np.array([a, b])
    return None


def resolve_cutoff(positions_angstrom, cutoff):
    """Bond cutoff (Å) and length scale (Å) of a graph; see :func:`image_to_graph`.

    Returns ``(cutoff, length_scale)``: for ``cutoff="auto"``,
    :data:`AUTO_CUTOFF_FACTOR` times ``|b|`` of :func:`lattice_translations` (fallback:
    :data:`AUTO_FALLBACK_NN_FACTOR` median nearest-neighbour distances); a number is used
    as given. ``length_scale`` is ``|a|`` (fallback: the median nearest-neighbour distance).
    """
    from scipy.spatial import cKDTree

    p = np.asarray(positions_angstrom, dtype=float).reshape(-1, 2)
    if isinstance(cutoff, str):
        if cutoff != "auto":
            raise ParameterError(f"cutoff must be a positive number of Å or 'auto', got {cutoff!r}.")
    elif not (np.isfinite(float(cutoff)) and float(cutoff) > 0):
        raise ParameterError(f"cutoff must be > 0 Å or 'auto', got {cutoff}.")
    nn_median = float(np.median(cKDTree(p).query(p, k=2)[0][:, 1])) if len(p) >= 2 else 1.0
    cell = lattice_translations(p)
    scale = float(np.linalg.norm(cell[0])) if cell is not None else nn_median
    if cutoff == "auto":
        if cell is not None:
            return AUTO_CUTOFF_FACTOR * float(np.linalg.norm(cell[1])), scale
        return AUTO_FALLBACK_NN_FACTOR * nn_median, scale
    return float(cutoff), scale


def _standardise_columns(x):
    x = np.asarray(x, dtype=float)
    std = x.std(axis=0)
    return ((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


def image_to_graph(image, pixel_size=None, *, positions=None, segmentation=None, cutoff: float | str = 4.0,
                   threshold: float = 0.5, label: int = -1) -> ImageGraph:
    """Atom blob graph (with line graph) of a micrograph.

    Nodes come from, in order of preference: ``positions`` (a disk of
    :data:`POSITION_DISK_RADIUS` Å around each gives its statistics), ``segmentation`` (an
    atom probability map or binary mask, split into blobs by
    :func:`motifkit.learn.segment.detect_blobs`), else the shipped U-Net
    (:func:`motifkit.learn.predict.segment_atoms`).

    Parameters
    ----------
    image : ndarray or Micrograph, shape (H, W)
    pixel_size : float, optional
        Å per pixel (taken from a calibrated Micrograph when omitted).
    positions : array_like, shape (M, 2), optional
        Column centres ``(x, y) = (column, row)`` in pixels.
    segmentation : ndarray, shape (H, W), optional
        Atom probability in [0, 1] or a 0/1 mask.
    cutoff : float or "auto"
        Bond cutoff in Å (AtomVision: 4 Å). ``"auto"``: :data:`AUTO_CUTOFF_FACTOR` times the
        longer of the two shortest independent lattice translations found among the nodes
        (:func:`lattice_translations`), so that both lattice vectors are bonds; with no
        detectable lattice :data:`AUTO_FALLBACK_NN_FACTOR` median nearest-neighbour distances.
    threshold : float
        Foreground threshold of ``segmentation``.
    label : int
        Class index stored with the graph (-1: unknown).

    Returns
    -------
    ImageGraph

    Raises
    ------
    ParameterError
        Missing/invalid pixel size or mismatched shapes.
    NotEnoughDataError
        No blob found.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((32, 32))
    >>> g = image_to_graph(img, 0.3, positions=[[5, 5], [10, 5], [5, 12]])
    >>> g.n_nodes, g.n_edges
    (3, 6)
    """
    pixel_size = _pixel_size_angstrom(image, pixel_size)
    data = validate_image(image.data if isinstance(image, Micrograph) else image, name="image", allow_constant=True)
    if isinstance(cutoff, str) and cutoff != "auto":
        raise ParameterError(f"cutoff must be a positive number of Å or 'auto', got {cutoff!r}.")
    if not isinstance(cutoff, str) and not float(cutoff) > 0:
        raise ParameterError(f"cutoff must be > 0 Å or 'auto', got {cutoff}.")
    n_skipped = 0
    if positions is not None:
        pos = np.asarray(positions, dtype=float).reshape(-1, 2)
        h, w = data.shape
        inside = (pos[:, 0] > -0.5) & (pos[:, 0] < w - 0.5) & (pos[:, 1] > -0.5) & (pos[:, 1] < h - 0.5)
        n_skipped = int(np.sum(~inside))
        pos = pos[inside]
        if len(pos) == 0:
            raise NotEnoughDataError("no positions lie inside the image; check they are (x, y) pixels of this image.")
        radius_px = max(POSITION_DISK_RADIUS / pixel_size, 0.75)
        blobs = Blobs(_disk_labels(pos, data.shape, radius_px), pos)
        sizes = np.bincount(blobs.labels.ravel(), minlength=len(pos) + 1)[1:]
        if np.any(sizes == 0):  # a position whose pixels all went to a closer neighbour
            keep = sizes > 0
            n_skipped += int(np.sum(~keep))
            pos = pos[keep]
            blobs = Blobs(_disk_labels(pos, data.shape, radius_px), pos)
    else:
        if segmentation is None:
            from .predict import segment_atoms

            segmentation = segment_atoms(data, pixel_size / 10.0).probability
        seg = np.asarray(segmentation, dtype=np.float32)
        if seg.shape != data.shape:
            raise ParameterError(f"segmentation shape {seg.shape} differs from the image shape {data.shape}.")
        blobs = detect_blobs(seg, threshold=threshold, min_distance=max(1, int(round(1.0 / pixel_size))))
        if len(blobs) == 0:
            raise NotEnoughDataError(
                "no atom blobs found in the segmentation; check the map is an atom probability/mask "
                f"and lower threshold (now {threshold})."
            )
        pos = blobs.centroids
    features = _standardise_columns(blob_statistics(data, blobs))
    cutoff, length_scale = resolve_cutoff(pos * pixel_size, cutoff)
    edge_index, lengths, angle_index, cosines = bond_graph(pos, pixel_size, cutoff)
    return ImageGraph(pos, features, edge_index, lengths.astype(np.float32), angle_index,
                      cosines.astype(np.float32), pixel_size, int(label), n_skipped, length_scale, cutoff)


def graphs_from_dataset(dataset: BravaisDataset, *, cutoff: float | str = 4.0, source: str = "masks",
                        verbose: bool = False) -> list:
    """Graphs of every image of a Bravais dataset.

    Parameters
    ----------
    dataset : BravaisDataset
    cutoff : float or "auto"
        Bond cutoff in Å (see :func:`image_to_graph`).
    source : {"masks", "unet"}
        ``"masks"``: the connected atom disks of the true masks (ground-truth columns;
        statistics from a disk of :data:`POSITION_DISK_RADIUS` around each centre);
        ``"unet"``: blobs of the shipped U-Net's segmentation.
    verbose : bool

    Returns
    -------
    list of ImageGraph
        Labels set from the dataset.
    """
    if source not in ("masks", "unet"):
        raise ParameterError(f"source must be 'masks' or 'unet', got {source!r}.")
    graphs = []
    for i in progress(range(len(dataset)), verbose=verbose, desc="building graphs", total=len(dataset)):
        # the true disks never touch (columns >= 1.5 Å apart, disks 0.6 Å): each connected
        # component is one column (no watershed needed)
        kwargs = {"positions": mask_positions(dataset.masks[i])} if source == "masks" else {}
        graphs.append(image_to_graph(dataset.images[i], float(dataset.pixel_sizes[i]), cutoff=cutoff,
                                     label=int(dataset.labels[i]), **kwargs))
    return graphs


@dataclass
class GraphBatch:
    """Several :class:`ImageGraph` joined into one disconnected graph (torch tensors).

    Attributes
    ----------
    node_features : (N, 4) float32
    edge_index : (2, E) int64, offset by the node counts of the graphs before
    edge_lengths : (E,) float32
    angle_index : (2, T) int64, offset by the edge counts of the graphs before
    angle_cosines : (T,) float32
    node_graph : (N,) int64, graph index of each node
    n_graphs : int
    labels : (G,) int64
    edge_scales : (E,) float32
        ``length_scale`` (Å) of each bond's graph.
    """

    node_features: torch.Tensor
    edge_index: torch.Tensor
    edge_lengths: torch.Tensor
    angle_index: torch.Tensor
    angle_cosines: torch.Tensor
    node_graph: torch.Tensor
    n_graphs: int
    labels: torch.Tensor
    edge_scales: torch.Tensor | None = None

    def to(self, device) -> GraphBatch:
        return GraphBatch(*(t.to(device) if isinstance(t, torch.Tensor) else t for t in (
            self.node_features, self.edge_index, self.edge_lengths, self.angle_index, self.angle_cosines,
            self.node_graph, self.n_graphs, self.labels, self.edge_scales)))


def collate_graphs(graphs) -> GraphBatch:
    """Join graphs into a :class:`GraphBatch` (node and edge indices shifted by offsets).

    Examples
    --------
    >>> g = image_to_graph(np.random.default_rng(0).random((16, 16)), 1.0, positions=[[2, 2], [5, 2]])
    >>> collate_graphs([g, g]).edge_index.tolist()
    [[0, 1, 2, 3], [1, 0, 3, 2]]
    """
    graphs = list(graphs)
    if not graphs:
        raise ParameterError("collate_graphs needs at least one graph.")
    node_counts = np.array([g.n_nodes for g in graphs])
    edge_counts = np.array([g.n_edges for g in graphs])
    node_offsets = np.cumsum(node_counts) - node_counts
    edge_offsets = np.cumsum(edge_counts) - edge_counts
    return GraphBatch(
        node_features=torch.from_numpy(np.concatenate([g.node_features for g in graphs]).astype(np.float32)),
        edge_index=torch.from_numpy(np.concatenate([g.edge_index + o for g, o in zip(graphs, node_offsets)], axis=1)),
        edge_lengths=torch.from_numpy(np.concatenate([g.edge_lengths for g in graphs]).astype(np.float32)),
        angle_index=torch.from_numpy(np.concatenate([g.angle_index + o for g, o in zip(graphs, edge_offsets)], axis=1)),
        angle_cosines=torch.from_numpy(np.concatenate([g.angle_cosines for g in graphs]).astype(np.float32)),
        node_graph=torch.from_numpy(np.repeat(np.arange(len(graphs)), node_counts)),
        n_graphs=len(graphs),
        labels=torch.tensor([g.label for g in graphs], dtype=torch.int64),
        edge_scales=torch.from_numpy(np.repeat([float(getattr(g, "length_scale", 1.0)) for g in graphs],
                                               edge_counts).astype(np.float32)),
    )


# --------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------
def scatter_sum(values, index, size: int):
    """Sum rows of ``values`` (M, ...) into ``size`` bins given by ``index`` (M,) (``index_add_``)."""
    out = values.new_zeros((size,) + tuple(values.shape[1:]))
    return out.index_add_(0, index, values)


def scatter_mean(values, index, size: int):
    """Mean of the rows of ``values`` in each of ``size`` bins (empty bins give 0)."""
    total = scatter_sum(values, index, size)
    count = scatter_sum(torch.ones_like(values[:, :1]), index, size)
    return total / count.clamp(min=1.0)


class RBFExpansion(nn.Module):
    """Gaussian radial basis expansion of scalars on ``bins`` centres evenly in [vmin, vmax]."""

    def __init__(self, vmin: float, vmax: float, bins: int):
        super().__init__()
        self.register_buffer("centres", torch.linspace(float(vmin), float(vmax), int(bins)))
        spacing = (float(vmax) - float(vmin)) / max(int(bins) - 1, 1)
        self.gamma = 1.0 / spacing**2

    def forward(self, x):
        return torch.exp(-self.gamma * (x[:, None] - self.centres) ** 2)


class EdgeGatedGraphConv(nn.Module):
    """Edge-gated graph convolution (Bresson & Laurent; Dwivedi et al.), as in ALIGNN.

    For an edge ``i -> j``: ``e'_ij = A h_i + B h_j + C e_ij``, gate ``s_ij = sigmoid(e'_ij)``;
    ``h'_j = U h_j + sum_i s_ij * V h_i / (sum_i s_ij + eps)``. Both node and edge features are
    updated residually through LayerNorm + SiLU (LayerNorm rather than ALIGNN's BatchNorm so
    a graph's output does not depend on the other graphs of its batch).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.src_gate = nn.Linear(channels, channels)
        self.dst_gate = nn.Linear(channels, channels)
        self.edge_gate = nn.Linear(channels, channels)
        self.self_update = nn.Linear(channels, channels)
        self.neighbour_update = nn.Linear(channels, channels)
        self.node_norm = nn.LayerNorm(channels)
        self.edge_norm = nn.LayerNorm(channels)

    def forward(self, h, edge_index, e):
        src, dst = edge_index[0], edge_index[1]
        e_new = self.src_gate(h)[src] + self.dst_gate(h)[dst] + self.edge_gate(e)
        gate = torch.sigmoid(e_new)
        messages = scatter_sum(gate * self.neighbour_update(h)[src], dst, h.shape[0])
        norm = scatter_sum(gate, dst, h.shape[0])
        h_new = self.self_update(h) + messages / (norm + 1e-6)
        return h + F.silu(self.node_norm(h_new)), e + F.silu(self.edge_norm(e_new))


class ALIGNNLayer(nn.Module):
    """One ALIGNN update: edge-gated conv on the line graph (bonds, angles), then on the atom graph."""

    def __init__(self, channels: int):
        super().__init__()
        self.line_conv = EdgeGatedGraphConv(channels)
        self.atom_conv = EdgeGatedGraphConv(channels)

    def forward(self, h, e, t, edge_index, angle_index):
        e, t = self.line_conv(e, angle_index, t)
        h, e = self.atom_conv(h, edge_index, e)
        return h, e, t


def _mlp(n_in, channels):
    return nn.Sequential(nn.Linear(n_in, channels), nn.LayerNorm(channels), nn.SiLU(), nn.Linear(channels, channels))


class ALIGNNClassifier(nn.Module):
    """ALIGNN-style graph classifier of blob graphs (AtomVision's graph network).

    Embeds atoms (blob statistics), bonds (RBF of lengths) and angles (RBF of cosines),
    applies ALIGNN layers (line graph then atom graph) and atom-graph layers, then
    mean-pools atoms, bonds and angles of each graph (ALIGNN pools atoms only) into an MLP.

    Parameters
    ----------
    n_node_features : int
        Node feature size (4: blob max, min, mean intensity, size).
    n_classes : int
    channels : int
        Hidden size of atom, bond and angle features.
    alignn_layers : int
        Layers updating angle, bond and atom features alternately.
    gcn_layers : int
        Further edge-gated layers on the atom graph only.
    cutoff : float
        Bond cutoff in Å (range of the length RBF when lengths are not normalised).
    edge_bins, angle_bins : int
        RBF sizes of bond lengths in [0, cutoff] and angle cosines in [-1, 1].
    normalise_lengths : bool
        Divide every bond length by its graph's ``length_scale`` (the shortest lattice
        translation) before the RBF, whose range is then [0, ``max_relative_length``]: the
        model becomes blind to the lattice scale, which does not define the class.
    max_relative_length : float
        Range of the normalised length RBF.

    Examples
    --------
    >>> g = image_to_graph(np.random.default_rng(0).random((16, 16)), 1.0, positions=[[2, 2], [5, 2], [3, 5]])
    >>> ALIGNNClassifier(channels=8)(collate_graphs([g])).shape
    torch.Size([1, 5])
    """

    def __init__(self, n_node_features: int = 4, n_classes: int = 5, channels: int = 64, alignn_layers: int = 3,
                 gcn_layers: int = 2, cutoff: float = 4.0, edge_bins: int = 40, angle_bins: int = 40,
                 normalise_lengths: bool = False, max_relative_length: float = 3.0):
        super().__init__()
        self.config = dict(n_node_features=n_node_features, n_classes=n_classes, channels=channels,
                           alignn_layers=alignn_layers, gcn_layers=gcn_layers, cutoff=float(cutoff),
                           edge_bins=edge_bins, angle_bins=angle_bins, normalise_lengths=bool(normalise_lengths),
                           max_relative_length=float(max_relative_length))
        self.normalise_lengths = bool(normalise_lengths)
        self.atom_embedding = _mlp(n_node_features, channels)
        self.edge_rbf = RBFExpansion(0.0, max_relative_length if normalise_lengths else cutoff, edge_bins)
        self.edge_embedding = _mlp(edge_bins, channels)
        self.angle_rbf = RBFExpansion(-1.0, 1.0, angle_bins)
        self.angle_embedding = _mlp(angle_bins, channels)
        self.alignn = nn.ModuleList([ALIGNNLayer(channels) for _ in range(alignn_layers)])
        self.gcn = nn.ModuleList([EdgeGatedGraphConv(channels) for _ in range(gcn_layers)])
        # readout of atoms, bonds and angles: the mean angle embedding is a learned, smoothed
        # bond-angle histogram, the most direct carrier of the lattice class
        self.head = nn.Sequential(nn.Linear(3 * channels, channels), nn.SiLU(), nn.Linear(channels, n_classes))

    def forward(self, batch: GraphBatch):
        h = self.atom_embedding(batch.node_features)
        lengths = batch.edge_lengths
        if self.normalise_lengths:
            if batch.edge_scales is None:
                raise ParameterError("normalise_lengths=True needs GraphBatch.edge_scales (use collate_graphs).")
            lengths = lengths / batch.edge_scales
        e = self.edge_embedding(self.edge_rbf(lengths))
        t = self.angle_embedding(self.angle_rbf(batch.angle_cosines))
        for layer in self.alignn:
            h, e, t = layer(h, e, t, batch.edge_index, batch.angle_index)
        for layer in self.gcn:
            h, e = layer(h, batch.edge_index, e)
        edge_graph = batch.node_graph[batch.edge_index[0]]
        angle_graph = edge_graph[batch.angle_index[0]]
        pooled = [scatter_mean(h, batch.node_graph, batch.n_graphs), scatter_mean(e, edge_graph, batch.n_graphs),
                  scatter_mean(t, angle_graph, batch.n_graphs)]
        return self.head(torch.cat(pooled, dim=1))


MODEL_TYPES.setdefault("ALIGNNClassifier", ALIGNNClassifier)


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
def predict_graph_classes(model, graphs, device=None, batch_size: int = 128) -> np.ndarray:
    """Softmax probabilities (G, n_classes) of a list of graphs."""
    device = default_device(device)
    model.eval().to(device)
    out = []
    with torch.no_grad():
        for start in range(0, len(graphs), batch_size):
            batch = collate_graphs(graphs[start : start + batch_size]).to(device)
            out.append(torch.softmax(model(batch), dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config["n_classes"]), dtype=np.float32)


def evaluate_graph_classifier(model, graphs, device=None) -> dict:
    """Accuracy and confusion matrix (rows true, columns predicted) on labelled graphs."""
    labels = np.array([g.label for g in graphs])
    predicted = predict_graph_classes(model, graphs, device).argmax(1)
    return {"accuracy": float(np.mean(predicted == labels)), "confusion_matrix": confusion_matrix(labels, predicted).tolist(),
            "classes": list(BRAVAIS_CLASS_NAMES), "n_test": len(graphs)}


def train_graph_classifier(train_graphs, val_graphs, *, model=None, epochs: int = 30, batch_size: int = 32,
                           lr: float = 2e-3, weight_decay: float = 1e-5, checkpoint: str | None = None,
                           data_config: BravaisDataConfig | None = None, device=None, random_state=0,
                           verbose: bool = True):
    """Train an :class:`ALIGNNClassifier`; keep the state with the best validation accuracy.

    Parameters
    ----------
    train_graphs, val_graphs : list of ImageGraph
        With labels.
    model : ALIGNNClassifier, optional
    epochs, batch_size, lr, weight_decay
        AdamW with a one-cycle schedule. No augmentation: the graph features are already
        invariant to rotation and translation.
    checkpoint : str, optional
        Path of the best model (state-dict checkpoint, :func:`motifkit.learn.train.save_checkpoint`).
    data_config : BravaisDataConfig, optional
        Stored in the checkpoint.
    device : str, optional
        CUDA when available by default.
    random_state : int

    Returns
    -------
    model : ALIGNNClassifier
        Best validation weights, eval mode.
    history : list of dict
        Per epoch ``loss``, ``train_accuracy``, ``val_accuracy``.
    """
    if len(train_graphs) == 0 or len(val_graphs) == 0:
        raise ParameterError("train and validation graph lists must be non-empty.")
    if any(g.label < 0 for g in train_graphs):
        raise ParameterError("every training graph needs a label >= 0.")
    rng = check_random_state(random_state)
    torch.manual_seed(int(rng.integers(2**31)))
    device = default_device(device)
    model = (model or ALIGNNClassifier()).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n_batches = int(np.ceil(len(train_graphs) / batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=max(epochs * n_batches, 1))
    val_labels = np.array([g.label for g in val_graphs])
    best, best_state, history = -1.0, None, []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train_graphs))
        total_loss, correct = 0.0, 0
        for b in progress(range(n_batches), verbose=verbose, desc=f"epoch {epoch + 1}/{epochs}"):
            batch = collate_graphs([train_graphs[i] for i in order[b * batch_size : (b + 1) * batch_size]]).to(device)
            logits = model(batch)
            loss = F.cross_entropy(logits, batch.labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            total_loss += loss.item() * batch.n_graphs
            correct += int((logits.argmax(1) == batch.labels).sum())
        val_accuracy = float(np.mean(predict_graph_classes(model, val_graphs, device).argmax(1) == val_labels))
        history.append({"epoch": epoch + 1, "loss": total_loss / len(train_graphs),
                        "train_accuracy": correct / len(train_graphs), "val_accuracy": val_accuracy})
        if verbose:
            print(f"epoch {epoch + 1}: loss {history[-1]['loss']:.4f} train {history[-1]['train_accuracy']:.3f} "
                  f"val {val_accuracy:.3f}", flush=True)
        if val_accuracy > best:
            best = val_accuracy
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if checkpoint:
                save_checkpoint(checkpoint, model, data_config=data_config, metrics={"val_accuracy": best, "epoch": epoch + 1})
    model.load_state_dict(best_state)
    return model.eval(), history


def load_graph_classifier(path, device=None):
    """Load an :class:`ALIGNNClassifier` checkpoint (``weights_only=True``); returns ``(model, data_config, metrics)``.

    Checkpoints written by :func:`run_train` record in ``metrics["cutoff"]`` (a number of Å
    or ``"auto"``) how the graphs they were trained on were built; pass the same ``cutoff``
    to :func:`image_to_graph`.
    """
    return load_checkpoint(path, device)


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
def _cutoff_argument(text):
    return "auto" if text == "auto" else float(text)


def add_train_arguments(parser) -> None:
    """Arguments of ``motifkit train gnn``."""
    add_common_arguments(parser, epochs=30, batch_size=32, lr=0.002, n_per_class=1000, out="gnn.pt", init=False)
    parser.add_argument("--image-size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--pixel-size", type=float, default=0.3, help="training pixel size in Å (default 0.3)")
    parser.add_argument("--cutoff", type=_cutoff_argument, default=4.0,
                        help="bond cutoff in Å (default 4, as AtomVision) or 'auto' (both lattice vectors are bonds)")
    parser.add_argument("--normalise-lengths", action="store_true",
                        help="divide bond lengths by the shortest lattice translation of each graph")
    parser.add_argument("--source", choices=("masks", "unet"), default="masks",
                        help="blobs from the true atom masks or from the shipped U-Net")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--alignn-layers", type=int, default=3)
    parser.add_argument("--gcn-layers", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=None,
                        help="train on at most this many (randomly chosen) graphs of the training split")

def run_train(args) -> int:
    """Dataset -> graphs -> train ALIGNN -> held-out test accuracy and confusion matrix."""
    from .data import make_bravais_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    verbose = not args.quiet
    config = BravaisDataConfig(image_size=args.image_size, pixel_size=args.pixel_size)
    data = make_bravais_dataset(args.n_per_class, config, random_state=args.seed, cache_dir=args.cache_dir, verbose=verbose)
    parts = list(data.split((0.8, 0.1, 0.1), random_state=args.seed))
    if args.train_limit is not None and args.train_limit < len(parts[0]):
        keep = np.sort(check_random_state(args.seed).permutation(len(parts[0]))[: args.train_limit])
        parts[0] = parts[0].subset(keep)
    train, val, test = (graphs_from_dataset(p, cutoff=args.cutoff, source=args.source, verbose=verbose) for p in parts)
    out = args.out or "gnn.pt"
    # with cutoff="auto" the (unnormalised) length RBF spans the longest cutoff of the training graphs
    rbf_cutoff = args.cutoff if args.cutoff != "auto" else float(max(g.cutoff for g in train))
    model = ALIGNNClassifier(channels=args.channels, alignn_layers=args.alignn_layers, gcn_layers=args.gcn_layers,
                             cutoff=rbf_cutoff, normalise_lengths=getattr(args, "normalise_lengths", False))
    model, history = train_graph_classifier(train, val, model=model, epochs=args.epochs, batch_size=args.batch_size,
                                            lr=args.lr, checkpoint=out, data_config=config, device=args.device,
                                            random_state=args.seed, verbose=verbose)
    metrics = evaluate_graph_classifier(model, test, args.device)
    metrics.update(n_train=len(train), cutoff=args.cutoff, normalise_lengths=bool(getattr(args, "normalise_lengths", False)), source=args.source, mean_nodes=float(np.mean([g.n_nodes for g in test])),
                   mean_edges=float(np.mean([g.n_edges for g in test])))
    return finish_training(out, model, config, metrics, history, args.metrics)


def main(argv=None) -> int:
    return task_main("python -m motifkit.learn.graph", "train the ALIGNN graph classifier", add_train_arguments, run_train, argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
