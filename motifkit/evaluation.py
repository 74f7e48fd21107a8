"""Scoring detections and motif labels against ground truth or reference annotations.

Used by the tests, the benchmarks, the demo report and the notebooks, so that every
accuracy number motifkit reports is computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError

__all__ = [
    "PositionMatch",
    "match_positions",
    "nearest_neighbour_distance",
    "majority_mapping",
    "confusion_matrix",
    "macro_f1",
    "LabelComparison",
    "compare_with_reference",
]


def nearest_neighbour_distance(positions) -> float:
    """Median distance from each point to its nearest other point (pixels)."""
    from scipy.spatial import cKDTree

    positions = np.asarray(positions, dtype=float)
    if len(positions) < 2:
        raise ParameterError("Need at least two positions for a nearest-neighbour distance.")
    distances, _ = cKDTree(positions).query(positions, k=2)
    return float(np.median(distances[:, 1]))


@dataclass
class PositionMatch:
    """One-to-one matching of detected positions to reference positions.

    Attributes
    ----------
    detected_index, reference_index : ndarray of int, shape (M,)
        Matched pairs.
    distances : ndarray, shape (M,)
        Pair distances in pixels.
    n_detected, n_reference : int
    tolerance : float
        Largest accepted pair distance (pixels).
    """

    detected_index: np.ndarray
    reference_index: np.ndarray
    distances: np.ndarray
    n_detected: int
    n_reference: int
    tolerance: float

    @property
    def recall(self) -> float:
        return len(self.distances) / self.n_reference if self.n_reference else float("nan")

    @property
    def precision(self) -> float:
        return len(self.distances) / self.n_detected if self.n_detected else float("nan")

    @property
    def rmse(self) -> float:
        """Root-mean-square distance of matched pairs (pixels)."""
        return float(np.sqrt(np.mean(self.distances**2))) if len(self.distances) else float("nan")

    def __str__(self) -> str:
        return (
            f"recall {self.recall:.4f}, precision {self.precision:.4f}, RMSE {self.rmse:.3f} px "
            f"({len(self.distances)} matched of {self.n_reference} reference / {self.n_detected} detected, "
            f"tolerance {self.tolerance:.2f} px)"
        )


def match_positions(detected, reference, tolerance: float) -> PositionMatch:
    """Match detected to reference positions one to one within ``tolerance`` pixels.

    Optimal assignment (Hungarian) on the sparse graph of candidate pairs, so a detection
    is never counted twice.

    Parameters
    ----------
    detected, reference : ndarray, shape (N, 2), (M, 2)
        (x, y) positions in pixels.
    tolerance : float
        Largest accepted distance (pixels), e.g. 0.3 x the nearest-neighbour distance.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    detected = np.asarray(detected, dtype=float).reshape(-1, 2)
    reference = np.asarray(reference, dtype=float).reshape(-1, 2)
    empty = PositionMatch(np.zeros(0, int), np.zeros(0, int), np.zeros(0), len(detected), len(reference), tolerance)
    if not len(detected) or not len(reference):
        return empty
    pairs = cKDTree(detected).sparse_distance_matrix(cKDTree(reference), tolerance, output_type="coo_matrix")
    if pairs.nnz == 0:
        return empty
    n_det = len(detected)
    # Solve the assignment per connected component of the candidate graph (tiny blocks).
    graph = coo_matrix((np.ones(pairs.nnz), (pairs.row, pairs.col + n_det)), shape=(n_det + len(reference),) * 2)
    _, component = connected_components(graph, directed=False)
    det_idx, ref_idx = [], []
    order = np.argsort(component[pairs.row], kind="stable")
    rows, cols, dist = pairs.row[order], pairs.col[order], pairs.data[order]
    comp = component[rows]
    bounds = np.flatnonzero(np.diff(comp)) + 1
    for r, c, d in zip(np.split(rows, bounds), np.split(cols, bounds), np.split(dist, bounds)):
        if len(r) == 1:
            det_idx.append(r)
            ref_idx.append(c)
            continue
        ur, ri = np.unique(r, return_inverse=True)
        uc, ci = np.unique(c, return_inverse=True)
        cost = np.full((len(ur), len(uc)), 1e6)
        cost[ri, ci] = d
        a, b = linear_sum_assignment(cost)
        ok = cost[a, b] < 1e6
        det_idx.append(ur[a[ok]])
        ref_idx.append(uc[b[ok]])
    det_idx = np.concatenate(det_idx)
    ref_idx = np.concatenate(ref_idx)
    distances = np.linalg.norm(detected[det_idx] - reference[ref_idx], axis=1)
    return PositionMatch(det_idx, ref_idx, distances, len(detected), len(reference), float(tolerance))


def majority_mapping(predicted, reference) -> dict:
    """Map each predicted cluster to the reference class most of its members carry."""
    predicted = np.asarray(predicted)
    reference = np.asarray(reference)
    mapping = {}
    for cluster in np.unique(predicted):
        members = reference[predicted == cluster]
        values, counts = np.unique(members, return_counts=True)
        mapping[cluster.item()] = values[np.argmax(counts)].item()
    return mapping


def confusion_matrix(true, predicted, classes) -> np.ndarray:
    """Counts ``C[i, j]`` of items of class ``classes[i]`` predicted as ``classes[j]``."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(np.asarray(true).tolist(), np.asarray(predicted).tolist()):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix


def macro_f1(matrix: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 scores of a confusion matrix."""
    matrix = np.asarray(matrix, dtype=float)
    tp = np.diag(matrix)
    precision = np.divide(tp, matrix.sum(axis=0), out=np.zeros_like(tp), where=matrix.sum(axis=0) > 0)
    recall = np.divide(tp, matrix.sum(axis=1), out=np.zeros_like(tp), where=matrix.sum(axis=1) > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1.mean())


@dataclass
class LabelComparison:
    """Agreement of an analysis with reference positions and class labels."""

    match: PositionMatch
    classes: list
    class_names: dict
    confusion: np.ndarray
    macro_f1: float
    motif_to_class: dict
    extra: dict = field(default_factory=dict)

    def report(self) -> str:
        names = [str(self.class_names.get(c, c)) for c in self.classes]
        width = max(len(n) for n in names) + 2
        lines = [
            "comparison with the reference annotation",
            "-----------------------------------------",
            f"columns: {self.match}"
            + (f"; {self.extra['n_detected_outside_annotated_box']} detections outside the annotated box not judged"
               if self.extra.get("n_detected_outside_annotated_box") else ""),
            "motif -> reference class (majority): "
            + ", ".join(f"{m}->{self.class_names.get(c, c)}" for m, c in sorted(self.motif_to_class.items())),
            f"macro-F1 over {', '.join(names)}: {self.macro_f1:.3f}",
            "confusion matrix (rows: reference, columns: predicted):",
            " " * width + "".join(f"{n:>{width}}" for n in names),
        ]
        for name, row in zip(names, self.confusion):
            lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}d}" for v in row))
        return "\n".join(lines) + "\n"


def compare_with_reference(
    analysis,
    sample,
    *,
    tolerance_factor: float = 0.3,
    classes=(0, 1, 2),
) -> LabelComparison:
    """Compare an analysis with a sample's reference positions and labels.

    Columns are matched within ``tolerance_factor`` x the reference nearest-neighbour
    distance (precision counts only detections inside the annotated bounding box); each motif is mapped to the reference class most of its matched columns
    carry; the confusion matrix and macro-F1 are computed over ``classes``.

    Parameters
    ----------
    analysis : MotifAnalysis
    sample : object with ``positions`` (M, 2), ``labels`` (M,), ``label_names`` dict
        E.g. :func:`motifkit.data.wse2_ti`.
    """
    tolerance = tolerance_factor * nearest_neighbour_distance(sample.positions)
    positions = np.vstack([analysis.positions, analysis.border_positions]) if len(analysis.border_positions) else analysis.positions
    # Annotations often leave a border strip unlabelled: detections outside the annotated
    # box cannot be judged, so precision counts only detections inside it.
    low = np.asarray(sample.positions).min(axis=0) - tolerance
    high = np.asarray(sample.positions).max(axis=0) + tolerance
    inside = np.all((positions >= low) & (positions <= high), axis=1)
    inside_index = np.flatnonzero(inside)
    match = match_positions(positions[inside], sample.positions, tolerance)
    match.detected_index = inside_index[match.detected_index]
    extra = {"n_detected_outside_annotated_box": int((~inside).sum())}
    analysed = match.detected_index < len(analysis.positions)
    predicted_motif = analysis.labels[match.detected_index[analysed]]
    true_class = np.asarray(sample.labels)[match.reference_index[analysed]].astype(int)
    mapping = majority_mapping(predicted_motif, true_class)
    predicted_class = np.array([mapping[m] for m in predicted_motif.tolist()])
    matrix = confusion_matrix(true_class, predicted_class, list(classes))
    return LabelComparison(
        match=match,
        classes=list(classes),
        class_names=dict(getattr(sample, "label_names", {})),
        confusion=matrix,
        macro_f1=macro_f1(matrix),
        motif_to_class=mapping,
        extra=extra,
    )
