"""Tests of motifkit.hierarchy: motif-cells, de-duplication under symmetry, containment."""

import json
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from motifkit.cells import LatticeError, LatticeWarning, voronoi_cells
from motifkit.errors import NotEnoughDataError, ParameterError
from motifkit.hierarchy import (
    MotifHierarchy,
    _shape_contains,
    build_hierarchy,
    configurational_entropy,
)


def _rotation(degrees):
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _grid(n):
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.column_stack([i.ravel(), j.ravel()])


def _index_operations(cell, rotations, mirror):
    """Integer index matrices (row convention n' = n @ T) of Cartesian rotations/mirrors."""
    ops = []
    for degrees in rotations:
        for flip in ([False, True] if mirror else [False]):
            Q = _rotation(degrees) @ (np.diag([1.0, -1.0]) if flip else np.eye(2))
            T = cell @ Q.T @ np.linalg.inv(cell)
            assert np.allclose(T, np.round(T), atol=1e-9)
            ops.append(np.round(T).astype(int))
    return ops


def _plant(cell, n, shapes, rng, margin=4, spacing=3, noise=0.2, basis=None):
    """Monoatomic lattice with label 1 on planted clusters of cells; returns positions, labels."""
    ij = _grid(n)
    lookup = {(int(i), int(j)): k for k, (i, j) in enumerate(ij)}
    labels = np.zeros(len(ij), dtype=int)
    blocked = np.zeros((n, n), dtype=bool)
    for cells in shapes:
        cells = np.asarray(cells)
        for _ in range(5000):
            origin = rng.integers(margin, n - margin, size=2)
            placed = cells - cells.min(axis=0) + origin
            if placed.max() >= n - margin:
                continue
            lo = placed.min(axis=0) - spacing
            hi = placed.max(axis=0) + spacing + 1
            if blocked[max(lo[0], 0):hi[0], max(lo[1], 0):hi[1]].any():
                continue
            blocked[max(lo[0], 0):hi[0], max(lo[1], 0):hi[1]] = True
            labels[[lookup[(int(i), int(j))] for i, j in placed]] = 1
            break
        else:
            raise RuntimeError("no room for a cluster")
    xy = ij @ cell + 100.0 + rng.normal(0.0, noise, (len(ij), 2))
    return xy, labels


# --------------------------------------------------------------------------------------
# Fig. 2 / S15 analogue: planted vacancy clusters on a TMD-like lattice of labelled columns
# --------------------------------------------------------------------------------------
# Se-sublattice offsets in the basis a = (1, 0), b = (-1/2, sqrt(3)/2): first-shell
# directions are (1, 0), (0, 1) and (1, 1); every orientation allowed by the crystal (3m).
TMD_SHAPES = {
    "single": [[(0, 0)]],
    "pair": [[(0, 0), d] for d in [(1, 0), (0, 1), (1, 1)]],
    "triangle_up": [[(0, 0), (1, 0), (1, 1)]],
    "triangle_down": [[(0, 0), (0, 1), (1, 1)]],
    "line": [[(0, 0), d, (2 * d[0], 2 * d[1])] for d in [(1, 0), (0, 1), (1, 1)]],
}
TMD_COUNTS = {"single": 11, "pair": 9, "triangle_up": 6, "triangle_down": 5, "line": 7}


def _planted_tmd(n=60, rotation=17.0, noise=0.3, seed=0, remove=False, halo=False):
    rng = np.random.default_rng(seed)
    cell = 12.0 * np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2]]) @ _rotation(rotation).T
    ij = _grid(n)
    se_labels = np.full(len(ij), "Se2", dtype=object)
    mo_labels = np.full(len(ij), "Mo", dtype=object)
    blocked = np.zeros((n, n), dtype=bool)
    truth, orientations = Counter(), set()
    for name, count in TMD_COUNTS.items():
        for _ in range(count):
            for _attempt in range(5000):
                which = int(rng.integers(len(TMD_SHAPES[name])))
                variant = TMD_SHAPES[name][which]
                placed = np.array(variant) + rng.integers(5, n - 8, size=2)
                lo, hi = placed.min(axis=0) - 2, placed.max(axis=0) + 3
                if blocked[lo[0]:hi[0], lo[1]:hi[1]].any():
                    continue
                blocked[lo[0]:hi[0], lo[1]:hi[1]] = True
                for i, j in placed:
                    se_labels[i * n + j] = "V_Se"
                    if halo:  # the three metal neighbours of the chalcogen site change label too
                        for di, dj in [(0, 0), (1, 1), (0, 1)]:
                            mo_labels[(i + di) * n + (j + dj)] = "Mo_nextto_V"
                truth[name] += 1
                orientations.add((name, which))
                break
            else:
                raise RuntimeError("no room for a cluster")
    xy = np.vstack([ij @ cell, (ij + [1 / 3, 2 / 3]) @ cell]) + 200.0
    xy = xy + rng.normal(0.0, noise, xy.shape)
    labels = np.concatenate([mo_labels, se_labels])
    if remove:
        keep = labels != "V_Se"
        xy, labels = xy[keep], labels[keep]
    truth.orientations = orientations
    return xy, labels, truth


def _shape_kind(h, shape):
    """Name a canonical shape by its vacancies: single, pair, line or triangle."""
    shape = np.asarray(shape)
    names = [h.content_names[int(c)] for c in shape[:, 3]]
    vacancies = shape[np.isin(names, ["V_Se", "missing"])]
    if len(vacancies) < 3:
        return {1: "single", 2: "pair"}[len(vacancies)]
    cart = vacancies[:, :2] @ h.lattice.vectors
    span = max(np.linalg.norm(p - q) for p in cart for q in cart)
    return "line" if span > 1.5 * np.linalg.norm(h.lattice.vectors[0]) else "triangle"


def _check_planted(h, truth):
    assert h.mode == "lattice" and h.lattice.bravais == "hexagonal"
    assert len(h) == 5
    kinds = {n: _shape_kind(h, d["shape"]) for n, d in h.graph.nodes(data=True)}
    counts = {}
    for n, d in h.graph.nodes(data=True):
        counts.setdefault(kinds[n], []).append(d["count"])
    assert counts["single"] == [truth["single"]] and counts["pair"] == [truth["pair"]]
    assert counts["line"] == [truth["line"]]
    # the two triangle orientations are distinct (not related by the crystal's 3m symmetry)
    assert sorted(counts["triangle"]) == sorted([truth["triangle_up"], truth["triangle_down"]])
    edges = sorted((kinds[a], kinds[b]) for a, b in h.graph.edges)
    assert edges == [("line", "pair"), ("pair", "single"), ("triangle", "pair"), ("triangle", "pair")]
    for _, d in h.graph.nodes(data=True):
        assert len(d["cells"]) == len(d["columns"]) == d["count"]
        assert d["n_at_border"] == 0


@pytest.mark.parametrize("remove", [False, True], ids=["labelled_vacancy", "missing_column"])
def test_planted_tmd_clusters_each_recovered_as_one_node_with_exact_count_and_edges(remove):
    xy, labels, truth = _planted_tmd(remove=remove)
    h = build_hierarchy(positions=xy, labels=labels)
    _check_planted(h, truth)
    levels = {d["level"] for _, d in h.graph.nodes(data=True)}
    assert levels == {1, 2, 3}


def test_planted_clusters_with_labelled_neighbours_keep_counts_and_edges():
    xy, labels, truth = _planted_tmd(halo=True, seed=2)
    h = build_hierarchy(positions=xy, labels=labels)
    assert len(h) == 5
    counts = sorted(d["count"] for _, d in h.graph.nodes(data=True))
    assert counts == sorted(truth.values())
    # a vacancy and its three metal neighbours span three cells
    single = [d for _, d in h.graph.nodes(data=True) if d["count"] == truth["single"]][0]
    assert single["level"] == 3
    assert h.graph.number_of_edges() == 4


def test_translation_only_keeps_each_orientation_apart():
    xy, labels, truth = _planted_tmd(seed=3)
    assert len(build_hierarchy(positions=xy, labels=labels)) == 5
    h = build_hierarchy(positions=xy, labels=labels, symmetry="translation")
    assert len(h) == len(truth.orientations) > 5
    assert sum(d["count"] for _, d in h.graph.nodes(data=True)) == sum(truth.values())


def test_simulated_mose2_with_planted_clusters_end_to_end():
    simulate = pytest.importorskip("motifkit.simulate")
    rng = np.random.default_rng(4)
    rotation, pixel_size, shape = 12.0, 0.3, (640, 640)
    geometry = simulate.ImageGeometry(shape, pixel_size, rotation)
    big = simulate.tmd_monolayer("MoSe2").tile_for_view(geometry)
    se = np.flatnonzero(big.column_site == "Se2")
    lookup = {(int(i), int(j)): int(c) for c, (i, j) in zip(se, big.column_cell[se])}
    px = geometry.to_pixels(big.column_xy)
    inner = se[np.all(np.abs(px[se] - np.array(shape) / 2) < np.array(shape) / 2 - 40, axis=1)]
    # the simulator's basis is at 60 degrees: first-shell directions (1, 0), (0, 1), (1, -1)
    shapes = {
        "single": [[(0, 0)]],
        "pair": [[(0, 0), d] for d in [(1, 0), (0, 1), (1, -1)]],
        "tri_a": [[(0, 0), (1, 0), (0, 1)]],
        "tri_b": [[(1, 0), (0, 1), (1, 1)]],
        "line": [[(0, 0), d, (2 * d[0], 2 * d[1])] for d in [(1, 0), (0, 1), (1, -1)]],
    }
    counts = {"single": 8, "pair": 7, "tri_a": 5, "tri_b": 4, "line": 6}
    taken, chosen = set(), []
    for name, count in counts.items():
        for _ in range(count):
            for _attempt in range(5000):
                variant = shapes[name][rng.integers(len(shapes[name]))]
                start = big.column_cell[inner[rng.integers(len(inner))]]
                cells = [(int(start[0] + di), int(start[1] + dj)) for di, dj in variant]
                halo = {(i + p, j + q) for i, j in cells for p in range(-2, 3) for q in range(-2, 3)}
                if any(c not in lookup for c in cells) or halo & taken:
                    continue
                taken |= halo
                chosen += [lookup[c] for c in cells]
                break
            else:
                raise RuntimeError("no room for a cluster")
    big = simulate.add_vacancies(big, "Se", sites=chosen, double_fraction=1.0, random_state=rng)
    sim = simulate.simulate_stem(big, shape, pixel_size, rotation=rotation, random_state=rng)
    truth = sim.truth
    for labels, first_level in [(truth.column_types, 1), (truth.context_types, 3)]:
        h = build_hierarchy(positions=truth.positions, labels=labels)
        assert h.mode == "lattice" and len(h) == 5
        assert sorted(d["count"] for _, d in h.graph.nodes(data=True)) == sorted(counts.values())
        singles = [n for n, d in h.graph.nodes(data=True) if d["count"] == counts["single"]]
        assert h.graph.nodes[singles[0]]["level"] == first_level
        pairs = [n for n, d in h.graph.nodes(data=True) if d["count"] == counts["pair"]]
        assert set(h.graph.edges) == {(pairs[0], singles[0])} | {
            (n, pairs[0]) for n in h.graph.nodes if n not in (pairs[0], singles[0])
        }


def test_preset_with_random_vacancies_matches_an_independent_cluster_count():
    data = pytest.importorskip("motifkit.data")
    sim = data.mose2_with_vacancies(shape=(384, 384), pixel_size=0.25, vacancy_density=0.05, random_state=1)
    truth = sim.truth
    h = build_hierarchy(positions=truth.positions, labels=truth.column_types, drop_border=False)
    defect = np.isin(truth.column_types, ["Se1", "V_Se2"]) & (h.cells.column_cell >= 0)
    # independent: clusters of defective chalcogen columns closer than 1.1 lattice constants
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    points = truth.positions[defect]
    a = np.linalg.norm(truth.lattice_vectors[0])
    pairs = cKDTree(points).query_pairs(1.1 * a, output_type="ndarray")
    from scipy.sparse import coo_matrix

    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(points), len(points)))
    _, component = connected_components(graph, directed=False)
    independent = Counter(Counter(component.tolist()).values())
    found = Counter()
    for _, d in h.graph.nodes(data=True):
        found[len(d["shape"])] += d["count"]
    assert found == independent
    assert sum(len(d["columns_flat"]) for _, d in h.graph.nodes(data=True)) >= defect.sum()
    # by default clusters touching the edge of the analysed region are left out, and counted
    clean = build_hierarchy(positions=truth.positions, labels=truth.column_types)
    dropped = clean.summary["n_border_components_dropped"]
    assert dropped == sum(d["n_at_border"] for _, d in h.graph.nodes(data=True)) > 0
    assert clean.summary["n_occurrences"] == h.summary["n_occurrences"] - dropped


# --------------------------------------------------------------------------------------
# canonical forms: rotated / mirrored copies
# --------------------------------------------------------------------------------------
CHIRAL = np.array([[0, 0], [1, 0], [2, 0], [2, 1]])


def test_rotated_and_mirrored_copies_merge_on_a_hexagonal_lattice():
    cell = 10.0 * np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2]])
    ops = _index_operations(cell, rotations=range(0, 360, 60), mirror=True)
    assert len(ops) == 12
    rng = np.random.default_rng(5)
    shapes = [CHIRAL @ T for T in ops] + [CHIRAL @ ops[3]] * 2
    xy, labels = _plant(cell, 50, shapes, rng)
    h = build_hierarchy(positions=xy, labels=labels)
    assert h.lattice.bravais == "hexagonal"
    assert [(d["level"], d["count"]) for _, d in h.graph.nodes(data=True)] == [(4, 14)]


def test_rotations_the_lattice_does_not_have_stay_distinct():
    rng = np.random.default_rng(6)
    rot90 = np.array([[0, 1], [-1, 0]])  # (i, j) -> (-j, i)
    mirror = np.array([[-1, 0], [0, 1]])
    shapes = [CHIRAL] * 3 + [CHIRAL @ -np.eye(2, dtype=int)] * 2 + [CHIRAL @ mirror] * 2 + [CHIRAL @ rot90] * 4
    # rectangular: 180 degrees and the mirrors are symmetries, 90 degrees is not
    rect = np.array([[9.0, 0.0], [0.0, 13.0]])
    xy, labels = _plant(rect, 44, shapes, rng)
    h = build_hierarchy(positions=xy, labels=labels)
    assert h.lattice.bravais == "rectangular"
    assert sorted(d["count"] for _, d in h.graph.nodes(data=True)) == [4, 7]
    # square: the 90-degree copies merge too
    square = np.array([[10.0, 0.0], [0.0, 10.0]])
    xy, labels = _plant(square, 44, shapes, np.random.default_rng(6))
    h = build_hierarchy(positions=xy, labels=labels)
    assert h.lattice.bravais == "square"
    assert [d["count"] for _, d in h.graph.nodes(data=True)] == [11]
    # translation only: 4 orientations
    h = build_hierarchy(positions=xy, labels=labels, symmetry="translation")
    assert sorted(d["count"] for _, d in h.graph.nodes(data=True)) == [2, 2, 3, 4]


def test_hexagonal_neighbourhood_connects_all_six_directions():
    cell = 10.0 * np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2]])
    pairs = [np.array([[0, 0], d]) for d in [(1, 0), (0, 1), (1, 1)]] * 3
    xy, labels = _plant(cell, 40, pairs, np.random.default_rng(7))
    h = build_hierarchy(positions=xy, labels=labels)
    assert [(d["level"], d["count"]) for _, d in h.graph.nodes(data=True)] == [(2, 9)]
    # the paper's von Neumann neighbourhood splits the (1, 1) pairs into singles
    h = build_hierarchy(positions=xy, labels=labels, neighbourhood="von_neumann")
    assert sorted((d["level"], d["count"]) for _, d in h.graph.nodes(data=True)) == [(1, 6), (2, 6)]


# --------------------------------------------------------------------------------------
# containment, level gap, entropy
# --------------------------------------------------------------------------------------
def test_level_gap_and_transitive_reduction():
    square = np.array([[10.0, 0.0], [0.0, 10.0]])
    plus = np.array([[1, 0], [0, 1], [1, 1], [2, 1], [1, 2]])
    line = np.array([[0, 0], [1, 0], [2, 0]])
    single = np.array([[0, 0]])
    shapes = [plus] * 3 + [line] * 4 + [single] * 5
    xy, labels = _plant(square, 44, shapes, np.random.default_rng(8))
    by_level = {}
    for gap in (1, 2, None):
        h = build_hierarchy(positions=xy, labels=labels, level_gap=gap)
        level = {n: d["level"] for n, d in h.graph.nodes(data=True)}
        by_level[gap] = sorted((level[a], level[b]) for a, b in h.graph.edges)
        assert sorted(level.values()) == [1, 3, 5]
        assert sorted((level[a], level[b]) for a, b in h.containment.edges) == [(3, 1), (5, 1), (5, 3)]
    assert by_level[1] == [(3, 1), (5, 3)]
    assert by_level[2] == [(3, 1), (5, 1), (5, 3)]
    assert by_level[None] == [(3, 1), (5, 3)]
    assert h.entropy == {1: 0.0, 3: 0.0, 5: 0.0}
    with pytest.raises(ParameterError, match="level_gap"):
        build_hierarchy(positions=xy, labels=labels, level_gap=0)


def test_lattice_containment_matches_brute_force():
    from motifkit.cells import SymmetryOperation

    identity = SymmetryOperation(np.eye(2, dtype=np.int64), np.array([0]), np.zeros((1, 2), dtype=np.int64))
    half_turn = SymmetryOperation(-np.eye(2, dtype=np.int64), np.array([0]), np.zeros((1, 2), dtype=np.int64))
    rng = np.random.default_rng(9)
    found = 0
    for _ in range(300):
        big = np.unique(rng.integers(0, 4, size=(7, 2)), axis=0)
        big = np.column_stack([big, np.zeros(len(big), int), rng.integers(0, 2, len(big))])
        small = big[rng.choice(len(big), size=min(3, len(big)), replace=False)].copy()
        if rng.random() < 0.5:
            small[0, 3] = 1 - small[0, 3]
        if rng.random() < 0.5:
            small[:, :2] = -small[:, :2]  # only found again with the half turn
        big_set = {tuple(r) for r in big.tolist()}
        for ops, signs in (([identity], (1,)), ([identity, half_turn], (1, -1))):
            brute = any(
                all((sign * r[0] + t0, sign * r[1] + t1, r[2], r[3]) in big_set for r in small.tolist())
                for sign in signs for t0 in range(-9, 10) for t1 in range(-9, 10)
            )
            assert _shape_contains(big, small, ops) == brute
            found += brute
    assert found > 50


def test_entropy_per_level():
    assert configurational_entropy([1, 1]) == 1.0
    assert configurational_entropy([]) == 0.0
    assert np.isclose(configurational_entropy([3, 1]), -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)))
    square = np.array([[10.0, 0.0], [0.0, 10.0]])
    shapes = [np.array([[0, 0], [1, 0]])] * 6 + [np.array([[0, 0], [1, 1]])] * 2
    xy, labels = _plant(square, 36, shapes, np.random.default_rng(10))
    h = build_hierarchy(positions=xy, labels=labels, neighbourhood="moore")
    table = {row["level"]: row for row in h.entropy_table()}
    assert table[2]["n_types"] == 2 and table[2]["n_occurrences"] == 8
    assert np.isclose(table[2]["entropy_bits"], configurational_entropy([6, 2]))
    assert table[2]["max_entropy_bits"] == 1.0


# --------------------------------------------------------------------------------------
# result object: columns, icons, persistence, drawing, input forms
# --------------------------------------------------------------------------------------
def test_node_members_icons_and_column_lookup():
    xy, labels, truth = _planted_tmd(n=52, seed=11)
    h = build_hierarchy(positions=xy, labels=labels)
    for n, d in h.graph.nodes(data=True):
        assert d["icon"].shape == (48, 48, 4) and d["icon"].dtype == np.uint8
        assert d["icon"][..., 3].any()
        assert np.array_equal(np.sort(np.concatenate(d["columns"])), d["columns_flat"])
        assert np.all(h.column_node[d["columns_flat"]] == n)
        assert d["centres"].shape == (d["count"], 2)
        vacancies = [c for c in d["columns_flat"] if labels[c] == "V_Se"]
        assert len(vacancies) == len(d["shape"]) * d["count"]
    assert (h.column_node >= 0).sum() == sum(len(d["columns_flat"]) for _, d in h.graph.nodes(data=True))


def test_round_trip_through_json():
    xy, labels, _ = _planted_tmd(n=52, seed=12)
    h = build_hierarchy(positions=xy, labels=labels)
    again = MotifHierarchy.from_dict(json.loads(json.dumps(h.to_dict())))
    assert list(again.graph.edges) == list(h.graph.edges)
    assert again.entropy == h.entropy and again.mode == h.mode
    assert np.array_equal(again.column_node, h.column_node)
    for n, d in h.graph.nodes(data=True):
        e = again.graph.nodes[n]
        assert (e["level"], e["count"], e["shape"]) == (d["level"], d["count"], d["shape"])
        assert all(np.array_equal(x, y) for x, y in zip(e["columns"], d["columns"]))
        assert np.array_equal(e["icon"], d["icon"])
    with pytest.raises(ParameterError, match="format"):
        MotifHierarchy.from_dict({"nodes": []})


def test_draw_like_figure_2d():
    import matplotlib.pyplot as plt

    xy, labels, _ = _planted_tmd(n=52, seed=13)
    h = build_hierarchy(positions=xy, labels=labels)
    ax = h.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["level 1", "level 2", "level 3"]
    assert len(ax.lines) == h.graph.number_of_edges()
    plt.close(ax.figure)


def test_accepts_an_analysis_like_object_with_integer_labels():
    xy, labels, _ = _planted_tmd(n=52, seed=14)
    codes = np.unique(labels, return_inverse=True)[1].reshape(-1)

    class Analysis:
        positions = xy
        labels = codes

    h = build_hierarchy(Analysis())
    assert len(h) == 5 and h.label_names == ["0", "1", "2"]
    with pytest.raises(ParameterError, match="positions"):
        build_hierarchy(object())
    with pytest.raises(ParameterError, match="not both"):
        build_hierarchy(Analysis(), positions=xy, labels=codes)


# --------------------------------------------------------------------------------------
# Voronoi cells
# --------------------------------------------------------------------------------------
def test_voronoi_hierarchy_separates_triangles_from_paths():
    rng = np.random.default_rng(15)
    cell = 10.0 * np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2]])
    xy = _grid(45) @ cell + rng.normal(0.0, 1.8, (45 * 45, 2))  # strongly disordered
    labels = np.zeros(len(xy), dtype=int)
    base = voronoi_cells(xy, labels)
    neighbours = [set() for _ in range(len(xy))]
    for a, b in base.adjacency_pairs:
        neighbours[a].add(b)
        neighbours[b].add(a)
    blocked = ~base.complete.copy()
    for a in np.flatnonzero(~base.complete):
        blocked[list(neighbours[a])] = True
    planted = Counter()
    order = rng.permutation(len(xy))
    wanted = {"single": 6, "pair": 6, "triangle": 5, "path": 5}
    for start in order:
        if blocked[start] or not any(planted[k] < v for k, v in wanted.items()):
            continue
        kind = next(k for k in wanted if planted[k] < wanted[k])
        first = sorted(neighbours[start])
        members = [start]
        if kind == "pair":
            members = [start, first[0]]
        elif kind == "triangle":
            common = [c for c in first if c in neighbours[first[0]]]
            members = [start, first[0], common[0]] if common else []
        elif kind == "path":
            ends = [c for c in neighbours[first[0]] if c != start and c not in neighbours[start]]
            members = [start, first[0], ends[0]] if ends else []
        ring = set(members).union(*[neighbours[m] for m in members]) if members else set()
        ring = ring.union(*[neighbours[m] for m in ring]) if ring else set()
        if not members or blocked[list(ring)].any():
            continue
        labels[members] = 1
        blocked[list(ring)] = True
        planted[kind] += 1
    assert planted == Counter(wanted)
    h = build_hierarchy(positions=xy, labels=labels, lattice="voronoi")
    assert h.mode == "voronoi"
    got = sorted((d["level"], d["count"], len(d["shape"]["edges"])) for _, d in h.graph.nodes(data=True))
    assert got == [(1, 6, 0), (2, 6, 1), (3, 5, 2), (3, 5, 3)]
    level = {n: d["level"] for n, d in h.graph.nodes(data=True)}
    assert sorted((level[a], level[b]) for a, b in h.graph.edges) == [(2, 1), (3, 2), (3, 2)]
    again = MotifHierarchy.from_dict(json.loads(json.dumps(h.to_dict())))
    assert again.mode == "voronoi" and list(again.graph.edges) == list(h.graph.edges)
    for n, d in h.graph.nodes(data=True):
        assert again.node(n)["shape"] == d["shape"]
        assert np.array_equal(again.icon(n), d["icon"]) and d["icon"][..., 3].any()


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------
def test_amorphous_region_warns_and_falls_back_to_voronoi_cells():
    rng = np.random.default_rng(16)
    xy = rng.uniform(0, 400, (1200, 2))
    labels = (rng.random(1200) < 0.03).astype(int)
    with pytest.warns(LatticeWarning, match="No lattice found.*Voronoi"):
        h = build_hierarchy(positions=xy, labels=labels)
    assert h.mode == "voronoi" and len(h) >= 1
    with pytest.raises(LatticeError, match="amorphous"):
        build_hierarchy(positions=xy, labels=labels, lattice="lattice")


def test_several_domains_give_a_clear_message():
    rng = np.random.default_rng(17)
    cell = 10.0 * np.array([[1.0, 0.0], [-0.5, np.sqrt(3) / 2]])
    grid = (_grid(70) - 35) @ cell
    left = grid[(grid[:, 0] < 0) & (np.abs(grid[:, 0]) < 150) & (np.abs(grid[:, 1]) < 150)]
    right = grid @ _rotation(17.0).T
    right = right[(right[:, 0] > 5) & (right[:, 0] < 150) & (np.abs(right[:, 1]) < 150)]
    xy = np.vstack([left, right]) + rng.normal(0, 0.2, (len(left) + len(right), 2))
    labels = np.zeros(len(xy), dtype=int)
    with pytest.warns(LatticeWarning, match="several domains"):
        h = build_hierarchy(positions=xy, labels=labels)
    assert h.mode == "voronoi"
    with pytest.raises(LatticeError, match="one domain"):
        build_hierarchy(positions=xy, labels=labels, lattice="lattice")


def test_too_few_cells_and_bad_arguments():
    xy = _grid(5) * 10.0 + 0.0
    with pytest.raises(NotEnoughDataError, match="at least 10"):
        build_hierarchy(positions=xy, labels=np.zeros(len(xy), dtype=int))
    big = _grid(20) * 10.0
    with pytest.raises(ParameterError, match="one per column|one label"):
        build_hierarchy(positions=big, labels=np.zeros(10, dtype=int))
    with pytest.raises(ParameterError, match="lattice must be"):
        build_hierarchy(positions=big, labels=np.zeros(len(big), dtype=int), lattice="hexagonal")
    with pytest.raises(ParameterError, match="symmetry"):
        build_hierarchy(positions=big, labels=np.zeros(len(big), dtype=int), symmetry="90deg")
    perfect = build_hierarchy(positions=big, labels=np.zeros(len(big), dtype=int))
    assert len(perfect) == 0 and perfect.summary["n_occurrences"] == 0


# --------------------------------------------------------------------------------------
# Fig. 4 analogue: pentagonal (Cairo) tiling, square motifs of four pentagons
# --------------------------------------------------------------------------------------
def test_pentagon_squares_recover_planted_configuration_statistics():
    data = pytest.importorskip("motifkit.data")
    from motifkit.hierarchy import square_motifs

    sim = data.pentagon_tiling(shape=(512, 512), pixel_size=0.3, rotation=17.0, coupling=0.8, random_state=3)
    truth = sim.truth
    state = np.asarray(truth.extra["pentagon_state"])
    centre = np.flatnonzero(state != "")
    # three pentagon motifs with their abundances
    assert set(state[centre]) == {"filled", "partial", "empty"}
    # the Voronoi cells of the pentagon centres tile the plane with pentagons
    mask = np.zeros(len(state), dtype=bool)
    mask[centre] = True
    tiles = voronoi_cells(truth.positions, truth.column_types, centres=mask)
    degree = np.bincount(tiles.adjacency_pairs.ravel(), minlength=tiles.n_cells)
    assert np.mean(degree[tiles.complete] == 5) > 0.95
    # a pentagon cell holds its centre and five ring columns: three pentagon motifs
    centre_label = {"filled": "Nb2", "partial": "Nb1", "empty": "V_Nb2"}
    for name, label in centre_label.items():
        expected = int((state[centre][tiles.complete] == name).sum())
        pattern = "+".join(sorted(["Mo2"] * 5 + [label]))
        assert tiles.type_counts[tiles.type_names.index(pattern)] == expected
    # level 2: squares of four pentagons, filled or not, found from noisy positions
    filled = (state == "filled").astype(int)
    noisy = truth.positions + np.random.default_rng(0).normal(0.0, 0.8, truth.positions.shape)
    found = square_motifs(noisy[centre], filled[centre])
    local = np.full(len(state), -1)
    local[centre] = np.arange(len(centre))
    planted = square_motifs(truth.positions[centre], filled[centre], squares=local[truth.extra["squares"]],
                            reference_angle=found.reference_angle)
    assert len(found.squares) >= 0.97 * len(planted.squares)
    f_found, f_planted = found.frequencies([0, 1]), planted.frequencies([0, 1])
    assert len(f_found) == 16
    assert max(abs(f_found[k] - f_planted[k]) for k in f_found) < 0.02
    same = {frozenset(q): c for q, c in zip(planted.squares.tolist(), planted.configurations)}
    agree = [same.get(frozenset(q)) == c for q, c in zip(found.squares.tolist(), found.configurations)]
    assert np.mean(agree) > 0.99
    # the planted coupling makes the statistics far from uniform (low configurational entropy)
    assert found.entropy_bits < found.uniform_entropy_bits - 0.5
    # level 3: squares of four level-2 squares
    level3 = found.next_level()
    assert len(level3.squares) > 0.3 * len(found.squares)
    assert all(len(c) == 4 for c in level3.configurations)


def test_square_motifs_bad_input():
    from motifkit.hierarchy import square_motifs

    with pytest.raises(NotEnoughDataError, match="4"):
        square_motifs(np.zeros((3, 2)), [0, 1, 0])
    with pytest.raises(ParameterError, match="one per centre"):
        square_motifs(np.random.default_rng(0).uniform(0, 10, (10, 2)), [0, 1])
    rng = np.random.default_rng(1)
    triangles = (_grid(8) @ np.array([[10.0, 0.0], [5.0, 8.66]])) + rng.normal(0, 0.1, (64, 2))
    with pytest.raises(NotEnoughDataError, match="no square"):
        square_motifs(triangles, np.zeros(64))


# --------------------------------------------------------------------------------------
# Fig. 3 analogue: WS2 doped with Fe and Te
# --------------------------------------------------------------------------------------
def test_dopant_centred_motifs_are_hierarchy_nodes():
    data = pytest.importorskip("motifkit.data")
    sim = data.ws2_fe_te(shape=(512, 512), pixel_size=0.25, random_state=0)
    truth = sim.truth
    h = build_hierarchy(positions=truth.positions, labels=truth.context_types)
    assert h.crystal == ["(W, S2)"]
    a = np.linalg.norm(h.lattice.vectors[0])

    def composition(n):
        return Counter(h.content_names[row[3]] for row in h.node(n)["shape"])

    def node_with(wanted):
        found = [n for n in h.nodes if composition(n) == Counter(wanted)]
        assert len(found) == 1, wanted
        return found[0]

    # Fe on a W site surrounded by three S columns (themselves fenced by crystal W)
    fe = node_with({"Fe": 1, "S2_nextto_Fe": 3})
    # Te in an S column surrounded by three W columns (fenced by crystal S)
    te = node_with({"S1Te1": 1, "W_nextto_Te": 3})
    # an S vacancy, found in every orientation as one motif-cell
    vacancy = node_with({"S1": 1, "W_nextto_V": 3})
    for n, centre_name in ((fe, "Fe"), (te, "S1Te1"), (vacancy, "S1")):
        shape = np.asarray(h.node(n)["shape"])
        xy = (shape[:, :2] + h.lattice.sites[shape[:, 2]]) @ h.lattice.vectors
        names = [h.content_names[c] for c in shape[:, 3]]
        centre = xy[names.index(centre_name)]
        ring = np.linalg.norm(np.delete(xy, names.index(centre_name), axis=0) - centre, axis=1)
        assert np.allclose(ring, a / np.sqrt(3), rtol=0.02)  # the three nearest neighbours
        assert h.node(n)["count"] >= 2
    # containment: a Te-centred motif with an Fe motif next to it contains both
    containers = set(h.containment.predecessors(fe)) & set(h.containment.predecessors(te))
    assert containers


# --------------------------------------------------------------------------------------
# real data: the authors' columns and labels of Ti-doped WSe2
# --------------------------------------------------------------------------------------
def test_real_wse2_hierarchy_from_the_authors_labels(wse2_paths):
    xy = np.load(wse2_paths["points"]).astype(float)
    codes = np.load(wse2_paths["labels"]).astype(int)
    labels = np.array(["Se2", "V_Se", "W", "Ti"])[codes]
    h = build_hierarchy(positions=xy, labels=labels)
    assert h.mode == "lattice" and h.crystal == ["(Se2, W)"]
    # scan distortion shears the measured cell by ~1 %: the merge group is still 3m
    assert h.summary["merge_symmetry"] == "hexagonal" and h.summary["n_symmetry_operations"] == 6
    assert h.lattice.fit_fraction > 0.99
    top = h.nodes_at_level(1)[0]
    assert Counter(h.content_names[r[3]] for r in h.node(top)["shape"]) == Counter({"V_Se": 1})
    # every vacancy in a complete cell is in exactly one motif-cell or a dropped border cluster
    vacancy = labels == "V_Se"
    in_nodes = sum(d["count"] * sum(h.content_names[r[3]] == "V_Se" for r in d["shape"])
                   for _, d in h.graph.nodes(data=True))
    assert in_nodes == int((vacancy & (h.column_node >= 0)).sum())
    assert in_nodes > 0.8 * vacancy.sum()
    # vacancy pairs in different orientations are one motif-cell
    pair = [n for n, d in h.graph.nodes(data=True)
            if Counter(h.content_names[r[3]] for r in d["shape"]) == Counter({"V_Se": 2})]
    assert len(pair) == 1
    directions = {tuple(np.abs(np.diff(c, axis=0)[0])) for c in h.node(pair[0])["cells"]}
    assert len(directions) >= 2
