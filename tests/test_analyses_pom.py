"""Paper Fig. 4 on a simulated analogue: pentagonal units on a Cairo tiling.

End to end from the simulated image: pentagon centres found from the pixels, the motif
chain (patches, Zernike, FR layout, labels) at those centres, states read from the class
averages, Voronoi cells, level-2 and level-3 squares. The planted occupancies (ground
truth) only score the result.
"""


import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy.spatial import cKDTree

from motifkit.analyses import find_pentagon_centres, plot_pom, pom_analysis
from motifkit.analyses.polyoxometalate import binary_states, pentagon_states, voronoi_polygon_sides
from motifkit.data import pentagon_tiling
from motifkit.errors import NotEnoughDataError, ParameterError
from motifkit.hierarchy import square_motifs

# Square-edge coupling: negative favours alternating corners, positive uniform squares;
# both make the 16 level-2 configurations far from equally likely.
CASES = {"alternating": -0.8, "uniform": 0.5}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    sample = pentagon_tiling(shape=(1024, 1024), fractions=(0.45, 0.05, 0.5), coupling=CASES[request.param],
                             dose=1e4, random_state=1)
    result = pom_analysis(sample.image, random_state=0)
    return sample, result, CASES[request.param]


def _truth(sample):
    states = sample.truth.extra["pentagon_state"]
    rows = np.flatnonzero(states != "")
    return rows, states[rows].astype(object)


def _matched_truth_states(sample, result):
    rows, states = _truth(sample)
    distance, nearest = cKDTree(sample.truth.positions[rows]).query(result.centres)
    return distance, states[nearest]


def _planted_level2(sample, result):
    """The planted squares inside the analysed region, corners ordered like the recovered ones."""
    rows, states = _truth(sample)
    keep, binary = binary_states(states, result.partial)
    # pentagons cut by the image border are not analysed: compare the same region
    analysed = cKDTree(result.centres).query(sample.truth.positions[rows])[0] < 6.0
    row_of = {r: k for k, r in enumerate(rows)}
    squares = np.array([[row_of[r] for r in square] for square in sample.truth.extra["squares"]])
    squares = squares[(keep & analysed)[squares].all(axis=1)]
    return square_motifs(sample.truth.positions[rows], binary, squares=squares,
                         reference_angle=result.level2.reference_angle)


def test_pentagon_centres_found_from_pixels(case):
    sample, result, _ = case
    rows, _ = _truth(sample)
    truth_xy = sample.truth.positions[rows]
    found = find_pentagon_centres(sample.image)
    distance, _ = cKDTree(truth_xy).query(found)
    # centres 30 px apart; the blob of an irregular pentagon peaks ~1.7 px off its centre
    assert np.median(distance) < 2.5 and np.all(distance < 6.0)
    inside = np.all((truth_xy > 15) & (truth_xy < np.array(sample.image.shape)[::-1] - 15), axis=1)
    recall = np.mean(cKDTree(found).query(truth_xy[inside])[0] < 6.0)
    assert recall >= 0.99


def test_three_pentagon_motifs_with_abundances(case):
    sample, result, _ = case
    distance, truth_states = _matched_truth_states(sample, result)
    assert np.mean(result.states == truth_states) >= 0.99
    assert {row["state"] for row in result.motif_table} == {"empty", "partial", "filled"}
    for state in ("empty", "partial", "filled"):
        assert abs(result.abundances[state] - np.mean(truth_states == state)) <= 0.01
    assert np.isclose(sum(result.abundances.values()), 1.0)
    # states come from the class averages: empty < partial < filled centre levels
    levels = {s: [row["level"] for row in result.motif_table if row["state"] == s] for s in ("empty", "partial", "filled")}
    assert max(levels["empty"]) < min(levels["partial"]) and max(levels["partial"]) < min(levels["filled"])


def test_voronoi_tessellation_is_pentagonal(case):
    _, result, _ = case
    complete = result.voronoi.complete
    assert complete.sum() >= 400
    assert result.summary["fraction_pentagonal_cells"] >= 0.95
    assert np.all(result.polygon_sides[~complete] == 0)


def test_level2_frequencies_match_planted(case):
    sample, result, _ = case
    planted = _planted_level2(sample, result)
    recovered = result.level2
    assert len(recovered.configurations) >= 200
    assert abs(len(recovered.configurations) - len(planted.configurations)) <= 0.02 * len(planted.configurations)
    f_planted = planted.frequencies(all_states=(0, 1))
    f_recovered = result.level2_frequencies()
    assert len(f_recovered) == 16
    worst = max(abs(f_planted[c] - f_recovered[c]) for c in f_planted)
    assert worst <= 0.02, worst
    # the planted statistics are far from uniform, and so are the recovered ones
    assert abs(result.entropy[2]["entropy_bits"] - planted.entropy_bits) <= 0.1
    assert result.entropy[2]["uniform_bits"] == 4.0
    assert result.entropy[2]["entropy_bits"] <= 3.7


def test_orientation_of_alternating_squares(case):
    _, result, coupling = case
    counts = result.level2.counts
    alternating = counts.get((0, 1, 0, 1), 0) + counts.get((1, 0, 1, 0), 0)
    uniform = counts.get((0, 0, 0, 0), 0) + counts.get((1, 1, 1, 1), 0)
    total = len(result.level2.configurations)
    if coupling < 0:
        assert alternating / total >= 0.25 > uniform / total
    else:
        assert uniform / total >= 0.25 > alternating / total


def test_level3_squares_of_level2_squares(case):
    _, result, _ = case
    level2, level3 = result.level2, result.level3
    assert level3 is not None and len(level3.configurations) >= 50
    # every level-3 corner is a level-2 square and carries its configuration
    for square, config in zip(level3.squares[:50], level3.configurations[:50]):
        for corner, state in zip(square, config):
            assert state == "".join(map(str, level2.configurations[corner]))
    e3 = result.entropy[3]
    assert e3["uniform_bits"] == 16.0
    assert e3["entropy_bits"] <= e3["sample_limit_bits"] + 1e-9 < e3["uniform_bits"]
    assert e3["n_configurations"] == len(level3.counts)


def test_given_centres_and_partial_options(case):
    sample, result, _ = case
    rows, _ = _truth(sample)
    given = pom_analysis(sample.image, centres=sample.truth.positions[rows], partial="empty", random_state=0)
    _, truth_states = _matched_truth_states(sample, given)
    assert np.mean(given.states == truth_states) >= 0.99
    assert given.summary["n_partial_omitted"] == 0
    assert result.summary["n_partial_omitted"] == int(np.sum(result.states == "partial")) > 0
    assert len(given.level2.configurations) > len(result.level2.configurations)
    dominant = given.dominant_configurations(2, share=0.8)
    assert sum(f for _, f in dominant) >= 0.8 and len(dominant) < 16


def test_binary_states():
    states = np.array(["empty", "partial", "filled", "empty"], dtype=object)
    keep, binary = binary_states(states, "omit")
    assert keep.tolist() == [True, False, True, True] and binary[keep].tolist() == [0, 1, 0]
    assert binary_states(states, "filled")[1].tolist() == [0, 1, 1, 0]
    assert binary_states(states, "empty")[1].tolist() == [0, 0, 1, 0]
    with pytest.raises(ParameterError, match="partial"):
        binary_states(states, "drop")
    with pytest.raises(ParameterError, match="unknown pentagon states"):
        binary_states(["full"], "omit")


def test_pentagon_states_from_levels():
    averages = np.zeros((3, 9, 9))
    for k, level in enumerate((0.1, 0.5, 1.0)):
        averages[k, 4, 4] = level
    states, levels = pentagon_states(averages, spacing=10.0, centre_radius=0.01)
    assert states.tolist() == ["empty", "partial", "filled"]
    assert np.allclose(levels, [0.1, 0.5, 1.0])
    with pytest.raises(ParameterError, match="state_thresholds"):
        pentagon_states(averages, spacing=10.0, state_thresholds=(0.8, 0.3))


def test_voronoi_sides_of_a_square_grid():
    i, j = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    xy = np.column_stack([i.ravel(), j.ravel()]) * 10.0
    inner = np.all((xy > 0) & (xy < 50), axis=1)
    sides = voronoi_polygon_sides(xy + 1e-3 * np.arange(36)[:, None], inner)
    assert np.all(sides[inner] == 4) and np.all(sides[~inner] == 0)


def test_plot(case):
    import matplotlib.pyplot as plt

    sample, result, _ = case
    figure = plot_pom(result, sample.image)
    assert len(figure.axes) == 3
    plt.close(figure)


def test_bad_input(case):
    sample, _, _ = case
    with pytest.raises(ParameterError, match="image"):
        pom_analysis()
    with pytest.raises(NotEnoughDataError):
        pom_analysis(sample.image, centres=[[100.0, 100.0], [130.0, 100.0]])
    with pytest.raises(ParameterError, match="smoothing"):
        find_pentagon_centres(sample.image, smoothing=2.0)
    with pytest.raises(ParameterError, match="spacing"):
        find_pentagon_centres(sample.image, spacing=-3.0)
