"""Experimental metadata: a JSON-Schema template for microscope and acquisition settings.

AtomVision offers a metadata-capture template so that experimental images carry their
instrument settings. motifkit's version is the JSON Schema (draft 2020-12) in
``motifkit/data/metadata_schema.json``:

``instrument``
    technique (STEM, TEM, SEM, STM, AFM, other), manufacturer, model, accelerating voltage
    (kV), probe convergence semi-angle (mrad), detector (type, inner/outer collection
    semi-angles in mrad, camera length in mm), aberration corrector.
``acquisition``
    pixel size ``{"value", "unit"}``, image shape ``[height, width]``, dwell time (µs), beam
    current (pA), dose (e/Å^2), frame count, date-time (ISO 8601), operator, STM bias (V) and
    setpoint (pA), temperature (K).
``sample``, ``software``, ``provenance``
    material, formula, substrate, thickness (nm), preparation; software versions; source
    file, reader, image hash, notes.

Units are part of the field names, except the pixel size, which carries its own unit.
Only ``instrument.technique`` and ``acquisition.pixel_size`` are always required, plus
``instrument.accelerating_voltage_kv`` for electron microscopes. Unknown values are null.

Validation uses a small built-in validator for the subset of JSON Schema the file uses
(type, enum, properties, required, additionalProperties, items, min/maxItems, numeric
bounds, pattern, allOf, if/then/else), so no extra dependency is needed; the tests check
that it agrees with the ``jsonschema`` package where that is installed. Every problem is
reported at once, with its JSON path and how to fix it.

Examples
--------
>>> from motifkit.metadata import metadata_template, validate_metadata
>>> record = metadata_template(technique="STEM")
>>> record["instrument"]["accelerating_voltage_kv"] = 80
>>> record["acquisition"]["pixel_size"] = {"value": 0.04, "unit": "nm"}
>>> validate_metadata(record)["instrument"]["technique"]
'STEM'
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
import functools
import importlib.resources
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

from .errors import FileFormatError, ParameterError
from .micrograph import Micrograph, unit_to_nm

__all__ = [
    "METADATA_KEY",
    "SCHEMA_VERSION",
    "MetadataWarning",
    "attach_metadata",
    "load_metadata",
    "metadata_from_micrograph",
    "metadata_schema",
    "metadata_template",
    "save_metadata",
    "validate_metadata",
]

#: Key of ``Micrograph.metadata`` under which :func:`attach_metadata` stores the record.
METADATA_KEY = "acquisition_metadata"
#: Version of the bundled schema.
SCHEMA_VERSION = "1.0"

_SCHEMA_FILE = "metadata_schema.json"
# Keywords the built-in validator understands; anything else in a schema is an error.
_ANNOTATIONS = {"$schema", "$id", "title", "description", "$comment", "examples", "default"}
_SUPPORTED = _ANNOTATIONS | {
    "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems",
    "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "pattern", "allOf", "if", "then", "else",
}
# Pixel-size units of the schema, by nanometres per unit.
_PIXEL_UNITS = {"pm": 1e-3, "A": 0.1, "nm": 1.0, "um": 1e3}


class MetadataWarning(UserWarning):
    """Metadata and micrograph disagree (with ``on_mismatch="warn"``), or a field was guessed."""


@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    text = (importlib.resources.files("motifkit.data") / _SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def metadata_schema() -> dict:
    """Return (a copy of) the bundled JSON Schema (draft 2020-12) as a dict."""
    return copy.deepcopy(_schema())


# --------------------------------------------------------------------------------------
# template
# --------------------------------------------------------------------------------------
def _blank(node: dict) -> Any:
    if node.get("type") == "object" or (isinstance(node.get("type"), list) and "object" in node["type"]):
        return {name: _blank(child) for name, child in node.get("properties", {}).items()}
    return None


def metadata_template(technique: str | None = None) -> dict:
    """Return an empty metadata record: every field of the schema, set to None.

    Parameters
    ----------
    technique : str, optional
        Pre-fill ``instrument.technique`` (STEM, TEM, SEM, STM, AFM or other).

    Returns
    -------
    dict
        Nested dict mirroring the schema, ``schema_version`` set, everything else None
        (``acquisition.pixel_size`` is ``{"value": None, "unit": None}``). Fill the
        required fields before :func:`validate_metadata`.

    Examples
    --------
    >>> sorted(metadata_template())
    ['acquisition', 'instrument', 'provenance', 'sample', 'schema_version', 'software']
    """
    record = _blank(_schema())
    record["schema_version"] = SCHEMA_VERSION
    if technique is not None:
        record["instrument"]["technique"] = technique
    return record


# --------------------------------------------------------------------------------------
# validation (subset of JSON Schema draft 2020-12)
# --------------------------------------------------------------------------------------
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}


def _json_type(value) -> str:
    for python, name in _TYPE_NAMES.items():
        if type(value) is python:
            return name
    return type(value).__name__


def _is_type(value, name: str) -> bool:
    kind = _json_type(value)
    if name == "number":
        return kind in ("integer", "number")
    if name == "integer":
        return kind == "integer" or (kind == "number" and float(value).is_integer())
    return kind == name


def _json_equal(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _path(parts) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _hint(node: dict) -> str:
    description = node.get("description")
    return f" Expected: {description}" if description else ""


def _validate(value, node: dict, parts: tuple, errors: list) -> None:
    unknown = set(node) - _SUPPORTED
    if unknown:
        raise ParameterError(
            f"The schema at {_path(parts)} uses keywords {sorted(unknown)} that motifkit's validator "
            f"does not implement; use only {sorted(_SUPPORTED - _ANNOTATIONS)}."
        )
    where = _path(parts)
    types = node.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, t) for t in allowed):
            shown = "null" if value is None else f"{value!r} ({_json_type(value)})"
            errors.append(f"{where}: is {shown}, but must be {' or '.join(allowed)}.{_hint(node)}")
            return
    if "enum" in node and not any(_json_equal(value, option) for option in node["enum"]):
        options = ", ".join("null" if o is None else repr(o) for o in node["enum"])
        errors.append(f"{where}: {value!r} is not one of {options}.{_hint(node)}")
    if "const" in node and not _json_equal(value, node["const"]):
        errors.append(f"{where}: must be {node['const']!r}, got {value!r}.{_hint(node)}")
    if _is_type(value, "number") and not isinstance(value, bool):
        for key, test, words in (
            ("minimum", lambda v, b: v >= b, ">="),
            ("maximum", lambda v, b: v <= b, "<="),
            ("exclusiveMinimum", lambda v, b: v > b, ">"),
            ("exclusiveMaximum", lambda v, b: v < b, "<"),
        ):
            if key in node and not test(value, node[key]):
                errors.append(f"{where}: {value!r} is out of range; it must be {words} {node[key]}.{_hint(node)}")
    if isinstance(value, str):
        if "minLength" in node and len(value) < node["minLength"]:
            errors.append(f"{where}: {value!r} is shorter than {node['minLength']} characters.{_hint(node)}")
        if "maxLength" in node and len(value) > node["maxLength"]:
            errors.append(f"{where}: {value[:40]!r}... is longer than {node['maxLength']} characters.{_hint(node)}")
        if "pattern" in node and not re.search(node["pattern"], value):
            errors.append(f"{where}: {value!r} has the wrong format.{_hint(node)}")
    if isinstance(value, list):
        if "minItems" in node and len(value) < node["minItems"]:
            errors.append(f"{where}: has {len(value)} item(s), at least {node['minItems']} needed.{_hint(node)}")
        if "maxItems" in node and len(value) > node["maxItems"]:
            errors.append(f"{where}: has {len(value)} item(s), at most {node['maxItems']} allowed.{_hint(node)}")
        if "items" in node:
            for index, item in enumerate(value):
                _validate(item, node["items"], parts + (index,), errors)
    if isinstance(value, dict):
        properties = node.get("properties", {})
        for name in node.get("required", []):
            if name not in value:
                child = properties.get(name, {})
                errors.append(f"{_path(parts + (name,))}: required but missing.{_hint(child)}")
        for name, item in value.items():
            if name in properties:
                _validate(item, properties[name], parts + (name,), errors)
            elif node.get("additionalProperties", True) is False:
                close = difflib.get_close_matches(str(name), list(properties), n=1, cutoff=0.6)
                suggestion = f" Did you mean {close[0]!r}?" if close else ""
                errors.append(
                    f"{_path(parts + (name,))}: unknown field.{suggestion} Allowed here: {', '.join(properties)}."
                )
    for sub in node.get("allOf", []):
        _validate(value, sub, parts, errors)
    if "if" in node:
        probe: list = []
        _validate(value, node["if"], parts, probe)
        branch = node.get("then") if not probe else node.get("else")
        if branch is not None:
            _validate(value, branch, parts, errors)


def _semantic_errors(record: dict) -> list[str]:
    """Checks a JSON Schema cannot express: real calendar dates, angle ordering."""
    errors = []
    acquisition = record.get("acquisition") if isinstance(record.get("acquisition"), dict) else {}
    stamp = acquisition.get("datetime")
    pattern = _schema()["properties"]["acquisition"]["properties"]["datetime"]["pattern"]
    if isinstance(stamp, str) and re.search(pattern, stamp):  # format errors are reported already
        try:
            _dt.datetime.fromisoformat(stamp)
        except ValueError:
            errors.append(
                f"$.acquisition.datetime: {stamp!r} is not a real date and time; use ISO 8601, "
                f"e.g. \"2021-10-28T15:55:24\"."
            )
    instrument = record.get("instrument") if isinstance(record.get("instrument"), dict) else {}
    detector = instrument.get("detector") if isinstance(instrument.get("detector"), dict) else {}
    inner, outer = detector.get("inner_angle_mrad"), detector.get("outer_angle_mrad")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (inner, outer)) and outer <= inner:
        errors.append(
            f"$.instrument.detector.outer_angle_mrad: {outer} must be larger than inner_angle_mrad ({inner}); "
            f"swap them if they were entered the wrong way round."
        )
    return errors


def validate_metadata(metadata: dict) -> dict:
    """Check a metadata record against the schema and return a validated copy.

    Parameters
    ----------
    metadata : dict
        A record such as :func:`metadata_template` gives, filled in.

    Returns
    -------
    dict
        A deep copy of ``metadata`` (JSON types only).

    Raises
    ------
    ParameterError
        Listing every problem, one per line, as ``$.json.path: what is wrong. Expected: ...``.

    Examples
    --------
    >>> validate_metadata(metadata_template())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    motifkit.errors.ParameterError: The metadata has 3 problem(s):
      $.instrument.technique: is null, but must be string...
    """
    if not isinstance(metadata, dict):
        raise ParameterError(
            f"metadata must be a dict (e.g. from metadata_template()), got {type(metadata).__name__}."
        )
    try:
        record = json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"metadata must hold only JSON values (dict, list, str, finite numbers, bool, None): {exc}. "
            f"Convert NumPy numbers with float() / int() and dates with .isoformat()."
        ) from exc
    errors: list[str] = []
    _validate(record, _schema(), (), errors)
    errors.extend(_semantic_errors(record))
    # One problem per path: a conditional branch can restate a type error found already.
    seen, unique = set(), []
    for error in errors:
        where = error.split(":", 1)[0]
        if where not in seen:
            seen.add(where)
            unique.append(error)
    errors = unique
    if errors:
        listing = "\n  ".join(errors)
        raise ParameterError(f"The metadata has {len(errors)} problem(s):\n  {listing}")
    return record


def save_metadata(metadata: dict, path, *, overwrite: bool = False) -> Path:
    """Validate ``metadata`` and write it as pretty-printed JSON; returns the path."""
    record = validate_metadata(metadata)
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileFormatError(f"{path} exists; pass overwrite=True to replace it.")
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_metadata(path) -> dict:
    """Read a JSON metadata record written by :func:`save_metadata` and validate it."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"No metadata file at {path}; check the path.")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path.name}, line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    return validate_metadata(record)


# --------------------------------------------------------------------------------------
# micrographs
# --------------------------------------------------------------------------------------
def _schema_unit(unit: str) -> str:
    """The schema's spelling (pm, A, nm, um) of a length unit Micrograph understands."""
    factor = unit_to_nm(unit)
    for name, nm in _PIXEL_UNITS.items():
        if abs(nm - factor) <= 1e-12 * nm:
            return name
    raise ParameterError(f"Pixel-size unit {unit!r} has no schema spelling; use pm, A, nm or um.")


_DETECTORS = ("HAADF", "MAADF", "LAADF", "ABF", "ADF", "BF", "DF", "iDPC", "DPC")
_MANUFACTURERS = {"jeol": "JEOL", "fei": "FEI", "thermo": "Thermo Fisher", "nion": "Nion",
                  "hitachi": "Hitachi", "zeiss": "Zeiss", "tescan": "TESCAN"}


def _positive(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _prefill_from_hyperspy(tags: dict, record: dict, notes: list) -> None:
    """HyperSpy's metadata tree (``Acquisition_instrument/TEM``, ``General``), units as HyperSpy defines them."""
    tem = tags.get("Acquisition_instrument/TEM")
    if not isinstance(tem, dict):
        return
    instrument, acquisition = record["instrument"], record["acquisition"]
    mode = str(tem.get("acquisition_mode", "")).upper()
    if mode in ("STEM", "TEM") and instrument["technique"] is None:
        instrument["technique"] = mode
    for key, section, target, factor in (
        ("convergence_angle", instrument, "probe_convergence_semiangle_mrad", 1.0),  # mrad
        ("beam_current", acquisition, "beam_current_pa", 1e3),  # nA -> pA
        ("dwell_time", acquisition, "dwell_time_us", 1e6),  # s -> µs
        ("camera_length", instrument["detector"], "camera_length_mm", 1.0),  # mm
    ):
        value = _positive(tem.get(key))
        if value is not None and section[target] is None:
            section[target] = value * factor
    if isinstance(tem.get("microscope"), str) and tem["microscope"].strip() and instrument["model"] is None:
        instrument["model"] = tem["microscope"].strip()
    general = tags.get("General") if isinstance(tags.get("General"), dict) else {}
    date, time = general.get("date"), general.get("time")
    if isinstance(date, str) and isinstance(time, str) and record["acquisition"]["datetime"] is None:
        try:
            stamp = _dt.datetime.fromisoformat(f"{date.strip()}T{time.strip()}")
        except ValueError:
            notes.append(f"HyperSpy date {date!r} time {time!r} not understood; datetime left empty")
        else:
            acquisition["datetime"] = stamp.isoformat(timespec="seconds")
    notes.append("instrument settings read from the HyperSpy metadata tree")


def metadata_from_micrograph(micrograph: Micrograph) -> dict:
    """Pre-fill a metadata record from what motifkit's readers found in the file.

    Parameters
    ----------
    micrograph : Micrograph
        From :func:`motifkit.io.read`, :mod:`motifkit.stm` or :mod:`motifkit.simulate`.

    Returns
    -------
    dict
        A :func:`metadata_template` record with the pixel size, image shape, accelerating
        voltage (``metadata["voltage_kV"]``), magnification, detector (``signal`` /
        ``detector``), microscope name, acquisition date and time, operator, specimen name
        and camera length (DigitalMicrograph tags), convergence angle, beam current, dwell
        time and camera length (HyperSpy ``Acquisition_instrument/TEM``), and the provenance (source file, reader,
        image hash) filled in where known. Assumptions are listed in ``provenance.notes``.
        Not validated: fill in what is missing, then call :func:`validate_metadata`.

    Examples
    --------
    >>> from motifkit.data import wse2_ti
    >>> record = metadata_from_micrograph(wse2_ti().micrograph)
    >>> record["instrument"]["accelerating_voltage_kv"], record["acquisition"]["pixel_size"]["unit"]
    (80.0, 'nm')
    """
    from .analysis import image_hash

    if not isinstance(micrograph, Micrograph):
        raise ParameterError(f"metadata_from_micrograph needs a Micrograph, got {type(micrograph).__name__}.")
    meta = micrograph.metadata or {}
    tags = meta.get("tags") if isinstance(meta.get("tags"), dict) else {}
    notes = []
    record = metadata_template()
    instrument, acquisition = record["instrument"], record["acquisition"]
    provenance, sample = record["provenance"], record["sample"]

    if micrograph.pixel_size is not None:
        acquisition["pixel_size"] = {"value": float(micrograph.pixel_size), "unit": _schema_unit(micrograph.unit)}
    acquisition["image_shape"] = [int(micrograph.shape[0]), int(micrograph.shape[1])]
    instrument["accelerating_voltage_kv"] = _positive(meta.get("voltage_kV"))
    acquisition["magnification"] = _positive(meta.get("magnification"))

    if "stm_mode" in meta:
        instrument["technique"] = "STM"
        instrument["detector"]["type"] = "tunneling current"
        notes.append(f"simulated Tersoff-Hamann STM image ({meta['stm_mode']}) from {meta.get('volume_source')}")
    elif str(tags.get("Microscope Info Illumination Mode", "")).upper() == "STEM" or str(
        tags.get("Microscope Info Operation Mode", "")
    ).upper() == "SCANNING":
        instrument["technique"] = "STEM"
    signal = meta.get("detector") or meta.get("signal")
    if isinstance(signal, str) and signal.strip() and instrument["detector"]["type"] is None:
        instrument["detector"]["name"] = signal
        cleaned = re.sub(r"[^A-Za-z]", "", signal).upper()
        for kind in _DETECTORS:
            if cleaned == kind.upper():
                instrument["detector"]["type"] = kind
                break
        if instrument["technique"] is None and instrument["detector"]["type"] in ("HAADF", "MAADF", "LAADF", "ADF", "ABF"):
            instrument["technique"] = "STEM"
            notes.append(f"technique STEM inferred from the detector signal {signal!r}")
    camera_length = _positive(tags.get("Microscope Info STEM Camera Length"))
    if camera_length is not None:
        instrument["detector"]["camera_length_mm"] = camera_length
        notes.append("camera length taken from the DM tag 'Microscope Info STEM Camera Length' (assumed mm)")
    name = tags.get("Microscope Info Name")
    if isinstance(name, str) and name.strip():
        words = name.strip().split()
        if words[0].lower() in _MANUFACTURERS:
            instrument["manufacturer"] = _MANUFACTURERS[words[0].lower()]
            words = words[1:]
        # "JEOL COM" names DigitalMicrograph's microscope interface, not a model.
        if words and words != ["COM"]:
            instrument["model"] = " ".join(words)
        notes.append(f"instrument from the DM tag 'Microscope Info Name' = {name!r}")
    for key, target in (("Session Info Operator", "operator"),):
        if isinstance(tags.get(key), str) and tags[key].strip():
            acquisition[target] = tags[key].strip()
    if isinstance(tags.get("Session Info Specimen"), str) and tags["Session Info Specimen"].strip():
        sample["name"] = tags["Session Info Specimen"].strip()

    _prefill_from_hyperspy(tags, record, notes)

    date, time = meta.get("acquisition_date"), meta.get("acquisition_time")
    if isinstance(date, str) and date.strip():
        stamp = None
        if isinstance(time, str) and time.strip():
            for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S"):
                try:
                    stamp = _dt.datetime.strptime(f"{date.strip()} {time.strip()}", fmt)
                    break
                except ValueError:
                    continue
        if stamp is not None:
            acquisition["datetime"] = stamp.isoformat(timespec="seconds")
            notes.append(f"acquisition date-time read as month/day/year local time from {date!r} {time!r}")
        else:
            notes.append(f"acquisition date {date!r} time {time!r} not understood; datetime left empty")

    provenance["source_file"] = micrograph.source
    provenance["reader"] = meta.get("reader")
    provenance["image_sha256"] = image_hash(micrograph.data)
    provenance["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    provenance["notes"] = "; ".join(notes) or None
    return record


def attach_metadata(
    micrograph: Micrograph,
    metadata: dict,
    *,
    rtol: float = 0.01,
    on_mismatch: str = "raise",
) -> Micrograph:
    """Return a copy of ``micrograph`` carrying a validated metadata record.

    Parameters
    ----------
    micrograph : Micrograph
    metadata : dict
        A record for :func:`validate_metadata`.
    rtol : float
        Relative tolerance when comparing the pixel sizes.
    on_mismatch : {"raise", "warn"}
        What to do when the record's pixel size or image shape disagrees with the
        micrograph: raise :class:`ParameterError`, or warn (:class:`MetadataWarning`) and keep
        the micrograph's own calibration.

    Returns
    -------
    Micrograph
        Same pixels; ``metadata["acquisition_metadata"]`` holds the validated record. An
        uncalibrated micrograph takes the record's pixel size (in the record's unit), noted
        in ``metadata["pixel_size_from"]``. The record is plain JSON, so it is saved by
        :meth:`motifkit.analysis.MotifAnalysis.save` with the micrograph metadata.

    Raises
    ------
    ParameterError
        Invalid record, or a mismatch with ``on_mismatch="raise"``.

    Examples
    --------
    >>> from motifkit.data import wse2_ti
    >>> m = wse2_ti().micrograph
    >>> tagged = attach_metadata(m, metadata_from_micrograph(m))
    >>> tagged.metadata["acquisition_metadata"]["instrument"]["technique"]
    'STEM'
    """
    if not isinstance(micrograph, Micrograph):
        raise ParameterError(f"attach_metadata needs a Micrograph, got {type(micrograph).__name__}.")
    if on_mismatch not in ("raise", "warn"):
        raise ParameterError(f"on_mismatch must be 'raise' or 'warn', got {on_mismatch!r}.")
    if not (isinstance(rtol, (int, float)) and 0 <= rtol < 1):
        raise ParameterError(f"rtol must be a relative tolerance in [0, 1), got {rtol!r}.")
    record = validate_metadata(metadata)
    size = record["acquisition"]["pixel_size"]
    record_nm = size["value"] * _PIXEL_UNITS[size["unit"]]
    problems = []
    if micrograph.pixel_size is not None:
        image_nm = micrograph.pixel_size_nm
        if abs(record_nm - image_nm) > rtol * image_nm:
            problems.append(
                f"pixel size: the record says {size['value']:g} {size['unit']} ({record_nm:.6g} nm) but the "
                f"micrograph has {micrograph.pixel_size:g} {micrograph.unit} ({image_nm:.6g} nm)"
            )
    shape = record["acquisition"].get("image_shape")
    if shape is not None and tuple(shape) != tuple(micrograph.shape):
        problems.append(f"image shape: the record says {shape} (height, width) but the micrograph is {list(micrograph.shape)}")
    if problems:
        message = ("The metadata does not match the micrograph: " + "; ".join(problems)
                   + ". Correct the record (or the micrograph's calibration) so that they agree.")
        if on_mismatch == "raise":
            raise ParameterError(message)
        warnings.warn(message + " The micrograph's own calibration is kept.", MetadataWarning, stacklevel=2)
    new_meta = copy.deepcopy(micrograph.metadata)
    new_meta[METADATA_KEY] = record
    pixel_size, unit = micrograph.pixel_size, micrograph.unit
    if pixel_size is None:
        pixel_size, unit = float(size["value"]), size["unit"]
        new_meta["pixel_size_from"] = METADATA_KEY
    return Micrograph(micrograph.data, pixel_size, unit, new_meta, micrograph.source)
