"""Tests for motifkit.metadata: schema, template, validation, attaching to micrographs."""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest

from motifkit.errors import FileFormatError, ParameterError
from motifkit.metadata import (
    METADATA_KEY,
    MetadataWarning,
    attach_metadata,
    load_metadata,
    metadata_from_micrograph,
    metadata_schema,
    metadata_template,
    save_metadata,
    validate_metadata,
)
from motifkit.micrograph import Micrograph


def filled(technique="STEM") -> dict:
    record = metadata_template(technique)
    if technique in ("STEM", "TEM", "SEM"):
        record["instrument"]["accelerating_voltage_kv"] = 80
    record["acquisition"]["pixel_size"] = {"value": 0.04, "unit": "nm"}
    return record


@pytest.fixture(scope="module")
def wse2():
    from motifkit.data import wse2_ti

    return wse2_ti().micrograph


def _problems(record) -> list[str]:
    with pytest.raises(ParameterError) as info:
        validate_metadata(record)
    return str(info.value).splitlines()[1:]


def test_schema_is_draft_2020_12_and_template_mirrors_it():
    schema = metadata_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    template = metadata_template()
    assert set(template) == set(schema["properties"])
    assert set(template["instrument"]) == set(schema["properties"]["instrument"]["properties"])
    assert template["acquisition"]["pixel_size"] == {"value": None, "unit": None}
    assert template["instrument"]["detector"]["inner_angle_mrad"] is None
    # Every leaf field name carries its unit or is unitless by nature.
    numeric = [name for name, node in schema["properties"]["acquisition"]["properties"].items()
               if "number" in str(node.get("type"))]
    assert all(name.endswith(("_us", "_s", "_pa", "_a2", "_deg", "_v", "_k", "count", "magnification"))
               for name in numeric), numeric


def test_template_validates_once_required_fields_are_filled():
    problems = _problems(metadata_template())
    assert [p.split(":")[0].strip() for p in problems] == [
        "$.instrument.technique", "$.acquisition.pixel_size.value", "$.acquisition.pixel_size.unit",
    ]
    record = filled()
    assert validate_metadata(record) == record
    assert validate_metadata(record) is not record  # a copy
    # Electron microscopes need the accelerating voltage; STM does not.
    no_voltage = filled()
    no_voltage["instrument"]["accelerating_voltage_kv"] = None
    assert _problems(no_voltage)[0].startswith("  $.instrument.accelerating_voltage_kv: is null, but must be number")
    del no_voltage["instrument"]["accelerating_voltage_kv"]
    assert "required but missing" in _problems(no_voltage)[0]
    stm = filled("STM")
    stm["acquisition"].update(bias_voltage_v=-0.5, setpoint_current_pa=50.0)
    validate_metadata(stm)


@pytest.mark.parametrize(
    "change, path, words",
    [
        (lambda r: r["instrument"].update(technique="cryo-EM"), "$.instrument.technique", "is not one of"),
        (lambda r: r["instrument"].update(accelerating_voltage_kv="80 kV"), "$.instrument.accelerating_voltage_kv", "must be number"),
        (lambda r: r["instrument"].update(accelerating_voltage_kv=-80), "$.instrument.accelerating_voltage_kv", "must be > 0"),
        (lambda r: r["acquisition"]["pixel_size"].update(unit="nanometre"), "$.acquisition.pixel_size.unit", "is not one of"),
        (lambda r: r["acquisition"]["pixel_size"].update(value=0), "$.acquisition.pixel_size.value", "must be > 0"),
        (lambda r: r["acquisition"]["pixel_size"].pop("unit"), "$.acquisition.pixel_size.unit", "required but missing"),
        (lambda r: r["acquisition"].pop("pixel_size"), "$.acquisition.pixel_size", "required but missing"),
        (lambda r: r["acquisition"].update(image_shape=[512]), "$.acquisition.image_shape", "at least 2"),
        (lambda r: r["acquisition"].update(image_shape=[512, 0.5]), "$.acquisition.image_shape[1]", "must be integer"),
        (lambda r: r["acquisition"].update(frame_count=True), "$.acquisition.frame_count", "(boolean)"),
        (lambda r: r["acquisition"].update(datetime="28/10/2021 15:55"), "$.acquisition.datetime", "wrong format"),
        (lambda r: r["acquisition"].update(datetime="2021-13-28T15:55:24"), "$.acquisition.datetime", "not a real date"),
        (lambda r: r["instrument"].update(acceleration_voltage_kv=80), "$.instrument.acceleration_voltage_kv",
         "Did you mean 'accelerating_voltage_kv'"),
        (lambda r: r["instrument"]["detector"].update(inner_angle_mrad=200, outer_angle_mrad=68),
         "$.instrument.detector.outer_angle_mrad", "larger than inner_angle_mrad"),
        (lambda r: r["provenance"].update(image_sha256="abc"), "$.provenance.image_sha256", "64 lower-case hex"),
        (lambda r: r.update(schema_version="2.0"), "$.schema_version", "is not one of"),
        (lambda r: r.update(sample="WSe2"), "$.sample", "must be object"),
    ],
)
def test_each_kind_of_error_names_its_path_and_the_fix(change, path, words):
    record = filled()
    change(record)
    problems = _problems(record)
    assert len(problems) == 1, problems
    assert problems[0].strip().startswith(path + ":")
    assert words in problems[0]


def test_all_problems_are_reported_at_once():
    record = filled()
    record["instrument"]["technique"] = "X"
    record["acquisition"]["dose_e_per_a2"] = -1
    record["sample"]["thickness_nm"] = "thin"
    problems = _problems(record)
    assert len(problems) == 3
    assert "3 problem(s)" in str(pytest.raises(ParameterError, validate_metadata, record).value)


def test_non_json_input_is_rejected_with_a_fix():
    with pytest.raises(ParameterError, match="must be a dict"):
        validate_metadata([1, 2])
    record = filled()
    record["acquisition"]["beam_current_pa"] = np.float32(20.0)
    with pytest.raises(ParameterError, match="float()"):
        validate_metadata(record)
    record["acquisition"]["beam_current_pa"] = float("nan")
    with pytest.raises(ParameterError, match="JSON"):
        validate_metadata(record)


def test_builtin_validator_agrees_with_jsonschema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = metadata_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    documents = [metadata_template(), filled(), filled("STM"), filled("TEM")]
    for index in range(12):
        record = filled(["STEM", "STM", "SEM"][index % 3])
        mutation = [
            lambda r: r["instrument"].update(technique="cryo-EM"),
            lambda r: r["instrument"].update(accelerating_voltage_kv=None),
            lambda r: r["acquisition"].update(image_shape=[1, 2, 3]),
            lambda r: r["acquisition"]["pixel_size"].update(unit="m"),
            lambda r: r["sample"].update(colour="blue"),
            lambda r: r["acquisition"].update(datetime="yesterday"),
            lambda r: r["acquisition"].update(frame_count=2.5),
            lambda r: r["acquisition"].update(frame_count=3.0),
            lambda r: r["instrument"]["detector"].update(type=None),
            lambda r: r["instrument"]["detector"].update(type="haadf"),
            lambda r: r["instrument"]["aberration_corrector"].update(probe_corrected=1),
            lambda r: r.pop("acquisition"),
        ][index]
        mutation(record)
        documents.append(record)
    for document in documents:
        theirs = sorted(".".join(map(str, e.absolute_path)) for e in validator.iter_errors(document))
        try:
            validate_metadata(document)
            ours_valid = True
        except ParameterError:
            ours_valid = False
        assert ours_valid == (not theirs), (document, theirs)


def test_json_round_trip(tmp_path):
    record = filled()
    record["acquisition"].update(datetime="2021-10-28T15:55:24Z", image_shape=[512, 512], frame_count=10)
    record["sample"].update(material="Ti-doped monolayer WSe2", formula="WSe2")
    assert validate_metadata(json.loads(json.dumps(record))) == record
    path = save_metadata(record, tmp_path / "meta.json")
    assert load_metadata(path) == record
    with pytest.raises(FileFormatError, match="overwrite"):
        save_metadata(record, path)
    (tmp_path / "broken.json").write_text('{"schema_version": "1.0",\n "instrument": }')
    with pytest.raises(FileFormatError, match="line 2"):
        load_metadata(tmp_path / "broken.json")


def test_prefill_from_the_bundled_dm4_sample(wse2):
    record = metadata_from_micrograph(wse2)
    assert record["instrument"]["technique"] == "STEM"
    assert record["instrument"]["accelerating_voltage_kv"] == 80.0
    assert record["instrument"]["manufacturer"] == "JEOL"
    assert record["instrument"]["detector"]["name"] == "ADF1"
    assert record["instrument"]["detector"]["type"] == "ADF"
    assert record["acquisition"]["pixel_size"] == {"value": pytest.approx(0.03987935), "unit": "nm"}
    assert record["acquisition"]["image_shape"] == [512, 512]
    assert record["acquisition"]["datetime"] == "2021-10-28T15:55:24"
    assert record["provenance"]["reader"] == "dm"
    assert "month/day/year" in record["provenance"]["notes"]
    validate_metadata(record)


def test_attach_to_the_bundled_sample(wse2):
    record = metadata_from_micrograph(wse2)
    record["sample"].update(material="Ti-doped monolayer WSe2", formula="WSe2")
    tagged = attach_metadata(wse2, record)
    assert tagged.metadata[METADATA_KEY]["sample"]["formula"] == "WSe2"
    assert METADATA_KEY not in wse2.metadata  # the input is not modified
    np.testing.assert_array_equal(tagged.data, wse2.data)
    assert tagged.pixel_size == wse2.pixel_size
    # The same pixel size in another unit is consistent.
    in_angstrom = copy.deepcopy(record)
    in_angstrom["acquisition"]["pixel_size"] = {"value": 0.3987935, "unit": "A"}
    attach_metadata(wse2, in_angstrom)


def test_attach_checks_consistency(wse2):
    record = metadata_from_micrograph(wse2)
    wrong = copy.deepcopy(record)
    wrong["acquisition"]["pixel_size"] = {"value": 0.05, "unit": "nm"}
    with pytest.raises(ParameterError, match="pixel size"):
        attach_metadata(wse2, wrong)
    with pytest.warns(MetadataWarning, match="kept"):
        kept = attach_metadata(wse2, wrong, on_mismatch="warn")
    assert kept.pixel_size == wse2.pixel_size
    shape = copy.deepcopy(record)
    shape["acquisition"]["image_shape"] = [256, 512]
    with pytest.raises(ParameterError, match="image shape"):
        attach_metadata(wse2, shape)
    with pytest.raises(ParameterError, match="3 problem"):
        attach_metadata(wse2, metadata_template())
    with pytest.raises(ParameterError, match="on_mismatch"):
        attach_metadata(wse2, record, on_mismatch="ignore")
    # An uncalibrated image takes the record's calibration, and says so.
    bare = Micrograph(wse2.data, None)
    calibrated = attach_metadata(bare, record)
    assert calibrated.pixel_size == pytest.approx(0.03987935) and calibrated.unit == "nm"
    assert calibrated.metadata["pixel_size_from"] == METADATA_KEY


def test_prefill_for_an_stm_image():
    rng = np.random.default_rng(0)
    stm = Micrograph(rng.random((32, 32)), 0.1, "A",
                     {"stm_mode": "constant_current", "volume_source": "PARCHG"}, source="PARCHG")
    record = metadata_from_micrograph(stm)
    assert record["instrument"]["technique"] == "STM"
    assert record["acquisition"]["pixel_size"] == {"value": 0.1, "unit": "A"}
    assert "Tersoff-Hamann" in record["provenance"]["notes"]
    validate_metadata(record)  # no accelerating voltage needed


def test_attached_metadata_survives_analysis_save_and_load(wse2, tmp_path):
    from motifkit.analysis import MotifAnalysis, load_analysis

    tagged = attach_metadata(wse2, metadata_from_micrograph(wse2))
    rng = np.random.default_rng(0)
    analysis = MotifAnalysis(
        micrograph=tagged,
        positions=rng.uniform(20, 400, (5, 2)),
        features=rng.random((5, 4)).astype(np.float32),
        layout=rng.random((5, 2)),
        labels=np.array([0, 0, 1, 1, 0]),
        class_averages=rng.random((2, 7, 7)).astype(np.float32),
    )
    back = load_analysis(analysis.save(tmp_path / "analysis.h5"))
    assert back.micrograph.metadata[METADATA_KEY] == tagged.metadata[METADATA_KEY]
    validate_metadata(back.micrograph.metadata[METADATA_KEY])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attach_metadata(back.micrograph, back.micrograph.metadata[METADATA_KEY])


def test_prefill_from_hyperspy_tags():
    tags = {
        "Acquisition_instrument/TEM": {"acquisition_mode": "STEM", "beam_energy": 300.0, "convergence_angle": 21.4,
                                       "beam_current": 0.025, "dwell_time": 2e-6, "camera_length": 115.0,
                                       "microscope": "Titan Themis"},
        "General": {"date": "2022-03-01", "time": "09:15:00", "title": "HAADF"},
    }
    image = Micrograph(np.random.default_rng(1).random((16, 16)), 0.02, "nm",
                       {"voltage_kV": 300.0, "signal": "HAADF", "reader": "hdf5", "tags": tags}, source="x.hspy")
    record = metadata_from_micrograph(image)
    instrument, acquisition = record["instrument"], record["acquisition"]
    assert instrument["technique"] == "STEM" and instrument["accelerating_voltage_kv"] == 300.0
    assert instrument["probe_convergence_semiangle_mrad"] == 21.4
    assert instrument["detector"] == {"type": "HAADF", "name": "HAADF", "inner_angle_mrad": None,
                                      "outer_angle_mrad": None, "camera_length_mm": 115.0}
    assert acquisition["beam_current_pa"] == pytest.approx(25.0)
    assert acquisition["dwell_time_us"] == pytest.approx(2.0)
    assert acquisition["datetime"] == "2022-03-01T09:15:00"
    assert instrument["model"] == "Titan Themis"
    validate_metadata(record)
