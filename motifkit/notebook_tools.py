"""Helpers shared by the figure notebooks in ``notebooks/``: inputs, panels, provenance.

Every figure notebook follows the same pattern::

    from motifkit import notebook_tools as nbt

    output = nbt.prepare_output(output_dir)            # the folder papermill passes in
    sample = nbt.load_sample("mose2_with_vacancies", shape=(512, 512), seed=0)
    with nbt.timed("analysis"):
        analysis = motifkit.analyze(sample.micrograph, random_state=seed, verbose=False)
    nbt.save_panel(fig, "A_image")                     # A_image.png + A_image.svg
    nbt.write_provenance(output, parameters, inputs={"image": sample.micrograph})

so that each output folder holds the panels (PNG and SVG) and ``provenance.json`` with
the motifkit version, the notebook parameters, a sha256 of every input, the timings of
the steps and the Python and platform versions. :mod:`motifkit.figures_runner` collects
those folders into an index page.

Positions are ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._utils import json_default
from .errors import ParameterError

__all__ = [
    "PROVENANCE_NAME",
    "Sample",
    "load_sample",
    "prepare_output",
    "save_panel",
    "timed",
    "timings",
    "saved_panels",
    "input_digest",
    "write_provenance",
    "reference_types",
    "score_labels",
]

#: File name of the provenance record every notebook writes into its output folder.
PROVENANCE_NAME = "provenance.json"

#: Image source name of the bundled real micrograph.
REAL_SAMPLE = "wse2_ti"

# State of the notebook being run (one notebook per kernel).
_STATE = {"output": None, "panels": [], "timings": {}}


@dataclass
class Sample:
    """The input image of a notebook and what is known about it.

    Attributes
    ----------
    name : str
        ``"wse2_ti"`` (bundled real image), a preset of :data:`motifkit.data.PRESETS` or a
        file path.
    micrograph : Micrograph
    truth : GroundTruth or None
        Simulated ground truth (presets only).
    reference_positions, reference_labels : ndarray or None
        The authors' column positions (N, 2) (x, y) px and labels (real sample only).
    description : str
        One line saying where the image comes from.
    options : dict
        Arguments given to the preset or reader.
    """

    name: str
    micrograph: object
    truth: object = None
    reference_positions: np.ndarray | None = None
    reference_labels: np.ndarray | None = None
    description: str = ""
    options: dict = field(default_factory=dict)


def load_sample(sample: str, *, shape=None, seed: int = 0, crop=None, **preset_options) -> Sample:
    """Load a notebook's image: the bundled real sample, a simulated preset or a file.

    Parameters
    ----------
    sample : str
        ``"wse2_ti"`` for the bundled Ti-doped WSe2 HAADF image, the name of a preset in
        :data:`motifkit.data.PRESETS` (e.g. ``"mose2_with_vacancies"``), or a path to a
        micrograph file readable by :func:`motifkit.read`.
    shape : (int, int), optional
        Image size in pixels for a preset (default: the preset's own).
    seed : int
        Random seed of the simulation.
    crop : (int, int), optional
        Keep only the top-left ``crop`` = (rows, columns) pixels of a real or file image
        (quick runs); reference positions outside are dropped.
    **preset_options
        Further keyword arguments of the preset (e.g. ``dose``).

    Returns
    -------
    Sample

    Raises
    ------
    ParameterError
        Unknown sample name.

    Examples
    --------
    >>> s = load_sample("mose2_with_vacancies", shape=(128, 128), seed=1)  # doctest: +SKIP
    >>> s.micrograph.shape                                                  # doctest: +SKIP
    (128, 128)
    """
    from . import data as sample_data

    if sample == REAL_SAMPLE:
        real = sample_data.wse2_ti()
        micrograph, positions = real.micrograph, real.positions
        labels = np.array([real.label_names.get(int(v), str(v)) for v in real.labels], dtype=object)
        if crop is not None:
            rows, cols = int(crop[0]), int(crop[1])
            micrograph = micrograph.with_data(micrograph.data[:rows, :cols])
            keep = (positions[:, 0] < cols) & (positions[:, 1] < rows)
            positions, labels = positions[keep], labels[keep]
        return Sample(sample, micrograph, reference_positions=positions, reference_labels=labels,
                      description=real.citation, options={"crop": crop})
    presets = sample_data.PRESETS
    if sample in presets:
        options = dict(preset_options)
        if shape is not None:
            options["shape"] = tuple(int(v) for v in shape)
        simulated = presets[sample](random_state=seed, **options)
        return Sample(sample, simulated.image, truth=simulated.truth,
                      description=f"simulated preset {sample}({', '.join(f'{k}={v!r}' for k, v in options.items())}, "
                                  f"random_state={seed})", options=options)
    path = Path(str(sample))
    if path.suffix and path.exists():
        from .io import read

        micrograph = read(path)
        if crop is not None:
            micrograph = micrograph.with_data(micrograph.data[: int(crop[0]), : int(crop[1])])
        return Sample(str(path), micrograph, description=f"file {path}", options={"crop": crop})
    raise ParameterError(
        f"Unknown image source {sample!r}: use {REAL_SAMPLE!r} (the bundled real WSe2 image), "
        f"a preset of motifkit.data.PRESETS ({', '.join(sorted(presets))}) or an existing file path."
    )


def reference_types(sample: Sample, positions, *, kind: str = "context") -> np.ndarray | None:
    """Reference class of every analysed column: ground truth or the authors' labels.

    Each position takes the type of the nearest reference column; positions farther
    than half the reference nearest-neighbour distance get ``""`` (unmatched).

    Parameters
    ----------
    sample : Sample
    positions : ndarray, shape (N, 2)
        Analysed columns, (x, y) = (column, row) in pixels.
    kind : {"context", "column"}
        Simulated truth only: ``context_types`` (e.g. ``"Mo_nextto_V"``, what motifs
        resolve) or ``column_types`` (the column's own content).

    Returns
    -------
    ndarray of str, shape (N,), or None when the sample has no reference.
    """
    from scipy.spatial import cKDTree

    from .evaluation import nearest_neighbour_distance

    if sample.truth is not None:
        reference = np.asarray(sample.truth.positions, dtype=float)
        types = sample.truth.context_types if kind == "context" else sample.truth.column_types
    elif sample.reference_positions is not None:
        reference, types = np.asarray(sample.reference_positions, dtype=float), sample.reference_labels
    else:
        return None
    if kind not in ("context", "column"):
        raise ParameterError(f"kind must be 'context' or 'column', got {kind!r}.")
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    distance, nearest = cKDTree(reference).query(positions)
    out = np.asarray(types).astype(str)[nearest]
    out[distance > 0.5 * nearest_neighbour_distance(reference)] = ""
    return out


def score_labels(reference, labels) -> dict:
    """Adjusted Rand index of motif labels against reference types (matched columns only).

    Parameters
    ----------
    reference : ndarray of str, shape (N,) or None
        From :func:`reference_types` (``""`` = unmatched, left out and counted).
    labels : ndarray of int, shape (N,)

    Returns
    -------
    dict
        ``ari``, ``n_matched``, ``n_unmatched`` (empty when ``reference`` is None).
    """
    from sklearn.metrics import adjusted_rand_score

    if reference is None:
        return {}
    reference = np.asarray(reference).astype(str)
    matched = reference != ""
    return {"ari": float(adjusted_rand_score(reference[matched], np.asarray(labels)[matched])),
            "n_matched": int(matched.sum()), "n_unmatched": int((~matched).sum())}


def prepare_output(output_dir) -> Path:
    """Create ``output_dir`` (with parents) and make it the folder of :func:`save_panel`.

    Also resets the panel list and the timings of :func:`write_provenance`.

    Returns
    -------
    pathlib.Path
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    _STATE.update(output=output, panels=[], timings={})
    return output


def _current_output(output_dir) -> Path:
    if output_dir is not None:
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        return output
    if _STATE["output"] is None:
        raise ParameterError("No output folder yet: call prepare_output(output_dir) first or pass output_dir=.")
    return _STATE["output"]


def save_panel(fig, name: str, *, output_dir=None, dpi: int = 120, formats=("png", "svg")) -> list:
    """Save a figure panel as ``<name>.png`` and ``<name>.svg`` in the output folder.

    Parameters
    ----------
    fig : matplotlib Figure
    name : str
        File stem, e.g. ``"A_image"`` (letters, digits, ``_`` and ``-`` only).
    output_dir : path, optional
        Default: the folder given to :func:`prepare_output`.
    dpi : int
        Resolution of the PNG.
    formats : sequence of str

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if not name or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise ParameterError(f"panel name must use letters, digits, '_' or '-', got {name!r}.")
    output = _current_output(output_dir)
    written = []
    for fmt in formats:
        path = output / f"{name}.{fmt}"
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=_figure_metadata(fmt))
        written.append(path)
    _STATE["panels"].append(name)
    return written


def _figure_metadata(fmt: str) -> dict:
    # Fixed metadata: no creation date in the SVG, so reruns give identical files.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "png":
        return {"Software": "motifkit"}
    return {}


def saved_panels() -> list:
    """Names of the panels saved since :func:`prepare_output`."""
    return list(_STATE["panels"])


@contextmanager
def timed(step: str):
    """Record the wall-clock seconds of a step for :func:`write_provenance`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _STATE["timings"][step] = _STATE["timings"].get(step, 0.0) + time.perf_counter() - start


def timings() -> dict:
    """Seconds per step recorded with :func:`timed`."""
    return dict(_STATE["timings"])


def input_digest(value) -> dict:
    """sha256 and description of one input: a Micrograph, an array, a file path or a dict.

    Images and arrays are hashed with :func:`motifkit.analysis.image_hash` (pixels and
    shape), files by their bytes, anything else by its canonical JSON.
    """
    from .analysis import image_hash

    data = getattr(value, "data", None)
    if data is not None and hasattr(value, "pixel_size"):  # a Micrograph
        return {"kind": "micrograph", "sha256": image_hash(data), "shape": list(data.shape),
                "pixel_size": value.pixel_size, "unit": value.unit, "source": value.source}
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(str((value.dtype.str, value.shape)).encode())
        digest.update(np.ascontiguousarray(value).tobytes())
        return {"kind": "array", "sha256": digest.hexdigest(), "shape": list(value.shape), "dtype": value.dtype.str}
    if isinstance(value, Path) or (isinstance(value, str) and Path(value).is_file()):
        digest = hashlib.sha256()
        with open(value, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return {"kind": "file", "sha256": digest.hexdigest(), "path": str(value)}
    text = json.dumps(value, sort_keys=True, default=json_default)
    return {"kind": "value", "sha256": hashlib.sha256(text.encode()).hexdigest(), "value": json.loads(text)}



def environment() -> dict:
    """motifkit, Python, key library and platform versions, and the time (UTC)."""
    from importlib.metadata import PackageNotFoundError, version

    from . import __version__

    libraries = {}
    for name in ("numpy", "scipy", "scikit-learn", "numba", "matplotlib", "torch", "umap-learn"):
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            continue
    return {
        "motifkit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libraries,
    }


def write_provenance(outdir, parameters: dict, inputs: dict | None = None, timings: dict | None = None, *,
                     notebook: str | None = None, extra: dict | None = None) -> Path:
    """Write ``provenance.json`` into ``outdir``.

    Parameters
    ----------
    outdir : path
        The notebook's output folder.
    parameters : dict
        The notebook parameters (the ``parameters`` cell), JSON-serialisable.
    inputs : dict, optional
        Name -> input (Micrograph, array, file path or plain value); each is recorded with
        its sha256 (see :func:`input_digest`).
    timings : dict, optional
        Step -> seconds; default: the steps recorded with :func:`timed`.
    notebook : str, optional
        Notebook name.
    extra : dict, optional
        Further results worth keeping next to the figures (scores, counts).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    record = {
        "notebook": notebook,
        **environment(),
        "parameters": json.loads(json.dumps(parameters, default=json_default)),
        "inputs": {name: input_digest(value) for name, value in (inputs or {}).items()},
        "timings_s": {k: round(float(v), 3) for k, v in (_STATE["timings"] if timings is None else timings).items()},
        "panels": sorted({p.stem for p in outdir.glob("*.png")} | set(saved_panels() if outdir == _STATE["output"] else ())),
    }
    if extra:
        record["results"] = json.loads(json.dumps(extra, default=json_default))
    path = outdir / PROVENANCE_NAME
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
