"""Tests for the synthetic presets in motifkit.data (deterministic image + truth)."""

from __future__ import annotations

import numpy as np
import pytest

from motifkit.data import PRESETS, mose2_with_vacancies, pentagon_tiling, twisted_bilayer, ws2_fe_te
from motifkit.errors import ParameterError
from motifkit.simulate import BRAVAIS_CLASSES, GroundTruth, SimulatedImage

SMALL = (128, 128)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_deterministic_and_return_image_with_truth(name, tmp_path):
    first = PRESETS[name](shape=SMALL, random_state=3)
    second = PRESETS[name](shape=SMALL, random_state=3)
    assert isinstance(first, SimulatedImage)
    assert first.image.shape == SMALL and first.image.unit == "A" and first.image.pixel_size > 0
    np.testing.assert_array_equal(first.image.data, second.image.data)
    np.testing.assert_array_equal(first.truth.positions, second.truth.positions)
    np.testing.assert_array_equal(first.truth.context_types, second.truth.context_types)
    t = first.truth
    assert len(t) > 10 and t.positions.shape == (len(t), 2)
    assert np.all((t.positions >= -0.5) & (t.positions < np.array(SMALL[::-1]) - 0.5))
    assert t.bravais in BRAVAIS_CLASSES
    t.save(tmp_path / "truth.npz")
    assert len(GroundTruth.load(tmp_path / "truth.npz")) == len(t)


@pytest.mark.parametrize("name", ["mose2_with_vacancies", "ws2_fe_te", "pentagon_tiling", "random_bravais"])
def test_random_presets_depend_on_the_seed(name):
    a = PRESETS[name](shape=SMALL, random_state=0)
    b = PRESETS[name](shape=SMALL, random_state=1)
    same = (
        len(a.truth) == len(b.truth)
        and np.array_equal(a.truth.column_types, b.truth.column_types)
        and np.array_equal(a.image.data, b.image.data)
    )
    assert not same


def test_mose2_with_vacancies_defect_density_and_labels():
    sim = mose2_with_vacancies(shape=(256, 256), vacancy_density=0.05, double_fraction=0.3, random_state=0)
    t = sim.truth
    se_sites = t.site_types == "Se2"
    defective = se_sites & (t.column_types != "Se2")
    assert 0.025 < defective.sum() / se_sites.sum() < 0.08
    assert {"Mo", "Se2", "Se1", "Mo_nextto_V"} <= set(t.context_types)
    assert set(t.column_types) <= {"Mo", "Se2", "Se1", "V_Se2"}
    assert np.all(t.defect_neighbors[t.context_types == "Mo_nextto_V"] >= 1)
    noisy = mose2_with_vacancies(shape=(256, 256), vacancy_density=0.05, double_fraction=0.3, dose=2e4, random_state=0)
    np.testing.assert_allclose(noisy.image.data.mean(), 2e4 * 0.2**2, rtol=0.02)
    np.testing.assert_array_equal(noisy.noise_free, sim.noise_free)  # same seed, same structure
    assert not np.array_equal(noisy.image.data, noisy.noise_free)


def test_ws2_fe_te_contains_both_dopants_with_context():
    t = ws2_fe_te(shape=(256, 256), random_state=0).truth
    types = set(t.column_types)
    assert {"W", "S2", "Fe", "S1Te1"} <= types
    contexts = set(t.context_types)
    assert "S2_nextto_Fe" in contexts and "W_nextto_Te" in contexts
    fe = t.column_types == "Fe"
    np.testing.assert_allclose(t.intensities[fe], 26**1.7)


def test_pentagon_tiling_planted_labels_in_truth():
    sim = pentagon_tiling(shape=(256, 256), random_state=0)
    t = sim.truth
    state = t.extra["pentagon_state"]
    centre = state != ""
    assert set(state[centre]) <= {"filled", "partial", "empty"}
    assert np.all(t.column_types[centre & (state == "empty")] == "V_Nb2")
    squares, configs = t.extra["squares"], t.extra["square_configs"]
    assert len(squares) > 20 and len(configs) == len(squares)
    assert np.all(centre[squares])
    canonical = t.extra["square_configs_canonical"]
    assert all(c in {cfg[k:] + cfg[:k] for k in range(4)} for c, cfg in zip(canonical, configs))


def test_twisted_bilayer_preset_has_three_domains():
    sim = twisted_bilayer(3.15, shape=(256, 256), random_state=0)
    t = sim.truth
    assert set(t.layer) == {0, 1}
    assert set(t.extra["domain"]) == {"AA'", "AB'", "A'B"}
    assert "3.15" in sim.params["structure"]


def test_random_bravais_preset_classes_and_bad_name():
    for k, name in enumerate(BRAVAIS_CLASSES):
        sim = PRESETS["random_bravais"](name, shape=(96, 96), random_state=k)
        assert sim.truth.bravais == name
    with pytest.raises(ParameterError):
        PRESETS["random_bravais"]("rhombohedral")
