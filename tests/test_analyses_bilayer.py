"""Paper Fig. 5 on a simulated analogue: antiparallel twisted bilayer MoS2 at 3.15 degrees.

End to end from the simulated image with the real pipeline (``motifkit.analyze``,
rotation-invariant Zernike features) and :func:`motifkit.analyses.bilayer_analysis`; the
simulated registry domains only score the result.
"""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy.spatial import cKDTree

from motifkit.analyses import bilayer_analysis, histogram_kl, plot_bilayer
from motifkit.analysis import analyze
from motifkit.data import twisted_bilayer
from motifkit.errors import NotEnoughDataError, ParameterError


@pytest.fixture(scope="module")
def sample():
    # 768 px at 0.2 A/px: about 2.7 moiré periods (57 A) across, ~4,900 columns
    return twisted_bilayer(angle=3.15, shape=(768, 768), dose=2e4, random_state=0)


@pytest.fixture(scope="module")
def analysis(sample):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # columns near the border are left out
        return analyze(sample.image, rotation_invariant=True, verbose=False, random_state=0)


@pytest.fixture(scope="module")
def truth(sample, analysis):
    _, nearest = cKDTree(sample.truth.positions).query(analysis.positions)
    extra = sample.truth.extra
    return extra["domain"][nearest], extra["registry_distance"][nearest]


@pytest.fixture(scope="module")
def result(analysis):
    return bilayer_analysis(analysis)


def test_domains_assigned(result, truth):
    domain, _ = truth
    assert result.method == "moire"
    assert sorted(result.anchor_names) == sorted(["AA'", "AB'", "A'B"])
    accuracy = np.mean(result.domain_names == domain)
    assert accuracy >= 0.95, accuracy
    for name in ("AA'", "AB'", "A'B"):  # each stacking covers about a third of the area
        assert 0.2 <= np.mean(result.domain_names == name) <= 0.45


def test_feature_space_domains(analysis, truth):
    domain, _ = truth
    by_features = bilayer_analysis(analysis, method="features")
    assert by_features.method == "features"
    assert np.mean(by_features.domain_names == domain) >= 0.88


def test_anchors_are_high_symmetry_stackings(result, truth):
    domain, registry_distance = truth
    for name, columns in zip(result.anchor_names, result.anchor_columns):
        assert len(columns) >= 50
        assert np.mean(domain[columns] == name) >= 0.95
        assert np.median(registry_distance[columns]) < 0.5  # A; registries are 1.82 A apart
    # columns near an ideal stacking are closest (in feature space) to its anchor
    core = registry_distance < 0.3
    nearest_anchor = np.asarray(result.anchor_names, dtype=object)[np.argmin(result.smoothed_distances, axis=1)]
    assert np.mean(nearest_anchor[core] == domain[core]) >= 0.9
    # colours: one channel per anchor, strongest for the nearest anchor
    assert result.colours.shape == (len(result.positions), 3)
    assert np.all((result.colours >= 0) & (result.colours <= 1 + 1e-9))
    assert np.array_equal(np.argmax(result.colours, axis=1), np.argmin(result.smoothed_distances, axis=1))


def test_anchor_layout_inside_the_anchor_triangle(result):
    from matplotlib.path import Path

    from motifkit.analyses.twisted_bilayer import _polygon_corners

    triangle = Path(_polygon_corners(3))
    assert np.all(triangle.contains_points(result.anchor_layout, radius=1e-9))
    # anchor columns sit towards their own corner
    for t, columns in enumerate(result.anchor_columns):
        corner = _polygon_corners(3)[t]
        mean = result.anchor_layout[columns].mean(axis=0)
        others = [np.linalg.norm(mean - c) for k, c in enumerate(_polygon_corners(3)) if k != t]
        assert np.linalg.norm(mean - corner) < min(others)


def test_kl_same_type_closer_than_different_types(result):
    stats = result.kl_statistics()
    types = [result.instances[i]["type"] for i in result.kl_instances]
    assert len(types) >= 9 and min(np.bincount(types, minlength=3)) >= 2
    assert stats["same_mean"] < 0.5 * stats["different_mean"], stats
    assert stats["nearest_same_fraction"] >= 0.9
    assert np.allclose(result.kl, result.kl.T) and np.all(np.diag(result.kl) == 0)
    assert result.summary["kl"]["n_same"] == stats["n_same"]


def test_given_anchors(result, analysis, truth):
    domain, _ = truth
    anchors = {name: result.regions[result.region_type == t] for t, name in enumerate(result.anchor_names)}
    given = bilayer_analysis(analysis, anchors=anchors)
    assert given.anchor_names == result.anchor_names
    assert np.mean(given.domain_names == domain) >= 0.95


def test_small_field_falls_back_to_nearest_core(analysis, truth):
    domain, _ = truth
    keep = np.all(analysis.positions < 420, axis=1)  # about one moiré period: too few cores for a lattice fit
    with pytest.warns(UserWarning, match="moiré lattice not used"):
        small = bilayer_analysis(positions=analysis.positions[keep], features=analysis.features[keep],
                                 patches=analysis.patches[keep])
    assert small.method == "nearest-core"
    assert np.mean(small.domain_names == domain[keep]) >= 0.7


def test_histogram_kl():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (400, 3)), rng.normal(0.5, 1, (400, 3))
    edges = np.tile(np.linspace(-4, 4, 17), (3, 1))
    assert histogram_kl(a, a, edges) == 0.0
    assert np.isclose(histogram_kl(a, b, edges), histogram_kl(b, a, edges))
    assert histogram_kl(a, b, edges) < histogram_kl(a, b + 2.0, edges)


def test_plot(result, sample):
    import matplotlib.pyplot as plt

    figure = plot_bilayer(result, sample.image)
    assert len(figure.axes) >= 4
    plt.close(figure)


def test_bad_input(analysis):
    with pytest.raises(ParameterError, match="patches"):
        bilayer_analysis(positions=analysis.positions, features=analysis.features)
    with pytest.raises(ParameterError, match="method"):
        bilayer_analysis(analysis, method="voronoi")
    with pytest.raises(ParameterError, match="core_threshold"):
        bilayer_analysis(analysis, core_threshold=1.5)
    with pytest.raises(NotEnoughDataError, match="core regions"):
        bilayer_analysis(analysis, core_threshold=0.9999)
    with pytest.raises(NotEnoughDataError):
        bilayer_analysis(positions=analysis.positions[:20], features=analysis.features[:20],
                         patches=analysis.patches[:20])
    with pytest.raises(ParameterError, match="anchors"):
        bilayer_analysis(analysis, anchors={"AA'": [[10.0, 10.0]]})
    with pytest.raises(ParameterError, match="anchor_names"):
        bilayer_analysis(analysis, anchor_names="mine")
