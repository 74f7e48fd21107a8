"""Paper Fig. 3 on a simulated analogue: Fe- and Te-doped WS2 with S vacancies.

End to end from the simulated image: the real pipeline (``motifkit.analyze``: columns,
patches, Zernike, FR layout, labels) then :func:`motifkit.analyses.dopant_analysis`;
the ground truth is used only to score the result.
"""

import warnings
from collections import Counter

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy.spatial import cKDTree

from motifkit.analyses import dopant_analysis, plot_dopants, read_motif_roles
from motifkit.analyses.dopants import UNRESOLVED, neighbour_offsets
from motifkit.analysis import analyze
from motifkit.cells import Lattice
from motifkit.data import ws2_fe_te
from motifkit.errors import NotEnoughDataError, ParameterError

# ground-truth column types -> the roles the analysis should read off the motifs
_BASE = {"W": "metal", "S2": "chalcogen", "Fe": "metal (dark)", "S1Te1": "chalcogen (bright)",
         "Te2": "chalcogen (bright)", "S1": "chalcogen (dark)"}
_SHADE = {"V": "dark", "Fe": "dark", "Te": "bright"}


def truth_role(context_type: str) -> str:
    base, _, rest = context_type.partition("_nextto_")
    role = _BASE[base]
    if rest:
        shades = sorted({_SHADE[k] for k in rest.split("_")}, key=["bright", "dark"].index)
        role += " next to " + "+".join(shades)
    return role


@pytest.fixture(scope="module")
def sample():
    # about 5,000 columns: 26 Fe, 52 Te-holding S columns, 28 single-S vacancies
    return ws2_fe_te(shape=(768, 768), fe_density=0.01, te_density=0.02, vacancy_density=0.01, dose=5e4,
                     random_state=0)


def _run(sample, rotation_invariant):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # columns near the border are left out
        analysis = analyze(sample.image, rotation_invariant=rotation_invariant, verbose=False, random_state=0)
    _, nearest = cKDTree(sample.truth.positions).query(analysis.positions)
    truth = np.array([truth_role(t) for t in sample.truth.context_types[nearest]], dtype=object)
    return analysis, truth


@pytest.fixture(scope="module")
def oriented(sample):
    """Rotation invariance off, as in paper Fig. 3D."""
    analysis, truth = _run(sample, False)
    return analysis, truth, dopant_analysis(analysis)


@pytest.fixture(scope="module")
def invariant(sample):
    """Rotation invariance on, as in the inset of paper Fig. 3D."""
    analysis, truth = _run(sample, True)
    return analysis, truth, dopant_analysis(analysis)


def _recall_precision(predicted, truth, role):
    hit = (predicted == role) & (truth == role)
    return hit.sum() / max((truth == role).sum(), 1), hit.sum() / max((predicted == role).sum(), 1)


@pytest.mark.parametrize("role", ["metal (dark)", "chalcogen (bright)"])
def test_fe_and_te_centred_motifs_found(oriented, role):
    analysis, truth, result = oriented
    # motif level: the class averages of the motifs alone (no per-column re-reading)
    motif_level = result.motif_roles.motif_roles
    recall, precision = _recall_precision(motif_level, truth, role)
    assert (truth == role).sum() >= 20
    assert recall >= 0.8 and precision >= 0.9, (role, recall, precision)
    # a motif centred on the dopant holds most of them (the paper's turquoise/red motifs)
    motifs = result.motif_roles.motifs_with_role(role)
    assert motifs
    largest = max(np.sum(analysis.labels == k) for k in motifs)
    assert largest >= 0.5 * (truth == role).sum()
    # after re-reading the columns of blurred motifs every dopant column is named right
    recall, precision = _recall_precision(result.roles, truth, role)
    assert recall >= 0.95 and precision >= 0.95, (role, recall, precision)


def test_roles_match_truth_everywhere(oriented):
    _, truth, result = oriented
    assert np.mean(result.roles == truth) >= 0.99
    assert result.summary["n_unresolved_columns"] == 0
    assert sorted(result.site_names) == ["chalcogen", "metal"]


@pytest.mark.parametrize(
    "dopant, context",
    [("metal (dark)", "chalcogen next to dark"),       # Fe, three S around it, fenced by W
     ("chalcogen (bright)", "metal next to bright")],  # Te, three W around it, fenced by S
)
def test_composed_neighbourhoods_are_hierarchy_nodes(oriented, dopant, context):
    analysis, truth, result = oriented
    found = result.neighbourhoods[dopant]
    assert found["node"] is not None
    assert found["context_role"] == context and found["n_neighbours"] == 3
    contents = Counter(name.split(": ", 1)[1] for name in found["shape_names"])
    # exactly the dopant and its three neighbours deviate: the next shell is host crystal
    assert contents == Counter({dopant: 1, context: 3})
    node = result.hierarchy.node(found["node"])
    assert node["count"] == found["count"] >= 5
    # the same construction on the ground-truth roles gives the same count
    reference = dopant_analysis(positions=analysis.positions, roles=truth, lattice=result.hierarchy.lattice)
    expected = reference.neighbourhoods[dopant]["count"]
    assert abs(found["count"] - expected) <= max(1, 0.2 * expected), (found["count"], expected)
    # every occurrence holds one true dopant column and its three true neighbours (the other
    # columns of its cells are host)
    for columns in node["columns"]:
        deviating = Counter(r for r in truth[columns].tolist() if r not in ("metal", "chalcogen"))
        assert deviating == Counter({dopant: 1, context: 3})


def test_s_vacancies_found_with_rotation_invariance(invariant):
    analysis, truth, result = invariant
    role = "chalcogen (dark)"
    assert (truth == role).sum() >= 20
    recall, precision = _recall_precision(result.motif_roles.motif_roles, truth, role)
    assert recall >= 0.8 and precision >= 0.8, (recall, precision)
    recall, precision = _recall_precision(result.roles, truth, role)
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    assert result.neighbourhoods[role]["context_role"] == "metal next to dark"
    assert result.neighbourhoods[role]["count"] >= 5


def test_motif_table_contrasts(oriented):
    _, _, result = oriented
    table = {row["label"]: row for row in result.motif_roles.table}
    fe = [table[k] for k in result.motif_roles.motifs_with_role("metal (dark)")]
    te = [table[k] for k in result.motif_roles.motifs_with_role("chalcogen (bright)")]
    # Fe (Z = 26) is far darker than W (Z = 74); Te (Z = 52) far brighter than S2
    assert all(row["centre_contrast"] < -0.5 for row in fe)
    assert all(row["centre_contrast"] > 1.0 for row in te)
    assert np.isclose(sum(row["count"] for row in result.motif_roles.table), len(result.positions))


def test_neighbour_offsets_of_a_tmd_lattice():
    a = 10.0
    lattice = Lattice.from_vectors([[a, 0.0], [-a / 2, a * np.sqrt(3) / 2]], sites=[(1 / 3, 2 / 3), (2 / 3, 1 / 3)])
    for site in (0, 1):
        offsets = neighbour_offsets(lattice, site)
        assert len(offsets) == 3
        assert np.allclose(np.linalg.norm(offsets, axis=1), a / np.sqrt(3))
        assert np.allclose(offsets.sum(axis=0), 0.0, atol=1e-9)


def test_plot(oriented, sample):
    import matplotlib.pyplot as plt

    _, _, result = oriented
    figure = plot_dopants(result, sample.image)
    assert len(figure.axes) == 2
    plt.close(figure)


def test_bad_input(oriented):
    analysis, _, _ = oriented
    with pytest.raises(ParameterError, match="labels"):
        dopant_analysis(positions=analysis.positions, class_averages=analysis.class_averages)
    with pytest.raises(ParameterError, match="one per column"):
        dopant_analysis(positions=analysis.positions, roles=["metal"] * 3)
    with pytest.raises(NotEnoughDataError):
        dopant_analysis(positions=analysis.positions[:5], roles=["metal"] * 5)
    with pytest.raises(ParameterError, match="centre_threshold"):
        read_motif_roles(analysis.class_averages, analysis.labels, analysis.positions, centre_threshold=1.5)
    with pytest.raises(ParameterError, match="class average"):
        read_motif_roles(analysis.class_averages[:1], analysis.labels, analysis.positions)
    with pytest.raises(ParameterError, match="odd"):
        read_motif_roles(analysis.class_averages[:, :-1, :-1], analysis.labels, analysis.positions)


def test_unassigned_columns_are_reported(oriented):
    analysis, _, _ = oriented
    labels = analysis.labels.copy()
    labels[:7] = -1
    roles = read_motif_roles(analysis.class_averages, labels, analysis.positions)
    assert np.sum(roles.roles == UNRESOLVED) == 7
    with pytest.warns(UserWarning, match="7 columns"):
        result = dopant_analysis(positions=analysis.positions, labels=labels,
                                 class_averages=analysis.class_averages, reread=False)
    assert result.summary["n_unresolved_columns"] == 7
