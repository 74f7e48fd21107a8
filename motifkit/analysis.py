"""``analyze()``: the whole motif chain in one call, and the :class:`MotifAnalysis` result.

pixels -> columns -> sub-pixel patches -> Zernike features -> FR layout -> motif labels
-> class averages -> reconstruction. Every array, parameter, timing and the provenance
travel in one :class:`MotifAnalysis`, which saves to and loads from HDF5 losslessly.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._utils import Timer, json_default_strict, progress
from .errors import FileFormatError, NotEnoughDataError, ParameterError
from .micrograph import Micrograph, as_micrograph

__all__ = ["MotifAnalysis", "analyze", "load_analysis", "run_analysis_to_folder", "run_demo"]

_FORMAT = "motifkit-analysis"
_FORMAT_VERSION = 1

# Arrays saved as datasets (name -> required); everything else goes into JSON attributes.
_ARRAYS = {
    "positions": True,
    "features": True,
    "layout": True,
    "labels": True,
    "class_averages": True,
    "reconstruction": False,
    "border_positions": False,
    "patches": False,
}


def image_hash(data: np.ndarray) -> str:
    """sha256 of the image pixels (float32, C order) and shape: identifies the input."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    digest = hashlib.sha256(np.asarray(data.shape, dtype=np.int64).tobytes())
    digest.update(data.tobytes())
    return digest.hexdigest()


def _provenance(micrograph: Micrograph) -> dict:
    from . import __version__

    import numpy
    import scipy
    import sklearn

    return {
        "motifkit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "input_source": micrograph.source,
        "input_sha256": image_hash(micrograph.data),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit_learn": sklearn.__version__,
        "platform": platform.platform(),
    }


@dataclass
class MotifAnalysis:
    """Everything one motif analysis produced.

    Attributes
    ----------
    micrograph : Micrograph
        The analysed image with its calibration.
    positions : ndarray of float, shape (N, 2)
        Analysed column centres, (x, y) = (column, row) in pixels.
    features : ndarray of float32, shape (N, F)
        Zernike features per column.
    layout : ndarray of float, shape (N, 2)
        Force-relaxed layout coordinates.
    labels : ndarray of int, shape (N,)
        Motif per column, 0 = most populated.
    class_averages : ndarray of float32, shape (K, s, s)
        Mean patch per motif.
    reconstruction : ndarray of float32, shape (H, W) or None
        Image rebuilt from class averages at the columns (0 where no patch reaches).
    border_positions : ndarray of float, shape (M, 2)
        Columns found but too close to the border for a full patch (not analysed).
    patches : ndarray of float32, shape (N, s, s) or None
        The patches (kept in memory; saved only on request).
    parameters : dict
        Every parameter that defines the result (including automatic choices).
    timings : dict
        Seconds per step.
    provenance : dict
        Package versions, input hash, time of creation.
    summary : dict
        Counts and quality numbers (columns, motifs, residual, dropped columns).
    """

    micrograph: Micrograph
    positions: np.ndarray
    features: np.ndarray
    layout: np.ndarray
    labels: np.ndarray
    class_averages: np.ndarray
    reconstruction: np.ndarray | None = None
    border_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    patches: np.ndarray | None = None
    parameters: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    @property
    def n_columns(self) -> int:
        """Number of analysed columns N."""
        return int(len(self.positions))

    @property
    def n_motifs(self) -> int:
        """Number of motifs K."""
        return int(len(self.class_averages))

    @property
    def motif_counts(self) -> np.ndarray:
        """Columns per motif, shape (K,)."""
        return np.bincount(self.labels[self.labels >= 0], minlength=self.n_motifs)

    def __repr__(self) -> str:
        return (
            f"MotifAnalysis({self.n_columns} columns, {self.n_motifs} motifs, "
            f"patch {self.parameters.get('patch_size')} px, image {self.micrograph!r})"
        )

    # -- persistence ---------------------------------------------------------------
    def save(self, path, *, include_patches: bool = False) -> Path:
        """Write the analysis to an HDF5 file (lossless for every array and dict).

        Parameters
        ----------
        path : str or Path
            Output file, conventionally ``*.h5``.
        include_patches : bool
            Also store the (N, s, s) patches (large).

        Returns
        -------
        Path
        """
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as handle:
            handle.attrs["format"] = _FORMAT
            handle.attrs["format_version"] = _FORMAT_VERSION
            image = handle.create_dataset("image", data=self.micrograph.data, compression="gzip")
            image.attrs["pixel_size"] = np.nan if self.micrograph.pixel_size is None else self.micrograph.pixel_size
            image.attrs["unit"] = self.micrograph.unit
            image.attrs["source"] = self.micrograph.source or ""
            image.attrs["metadata"] = json.dumps(self.micrograph.metadata, default=str)
            for name in _ARRAYS:
                value = getattr(self, name)
                if value is None or (name == "patches" and not include_patches):
                    continue
                handle.create_dataset(name, data=np.asarray(value), compression="gzip")
            for name in ("parameters", "timings", "provenance", "summary"):
                handle.attrs[name] = json.dumps(getattr(self, name), default=json_default_strict)
        return path



def load_analysis(path) -> MotifAnalysis:
    """Read a :class:`MotifAnalysis` written by :meth:`MotifAnalysis.save`.

    Raises
    ------
    FileFormatError
        The file is missing or is not a motifkit analysis file.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"No analysis file at {path}; check the path.")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path} is not a readable HDF5 file ({exc}).") from exc
    with handle:
        if handle.attrs.get("format") != _FORMAT:
            raise FileFormatError(
                f"{path} is HDF5 but not a motifkit analysis file; write one with MotifAnalysis.save()."
            )
        image = handle["image"]
        pixel_size = float(image.attrs["pixel_size"])
        micrograph = Micrograph(
            image[()],
            pixel_size=None if np.isnan(pixel_size) else pixel_size,
            unit=str(image.attrs["unit"]),
            metadata=json.loads(image.attrs["metadata"]),
            source=str(image.attrs["source"]) or None,
        )
        arrays = {}
        for name, required in _ARRAYS.items():
            if name in handle:
                arrays[name] = handle[name][()]
            elif required:
                raise FileFormatError(f"{path} lacks the dataset {name!r}; the file is incomplete.")
        dicts = {name: json.loads(handle.attrs[name]) for name in ("parameters", "timings", "provenance", "summary")}
    if "border_positions" not in arrays:
        arrays["border_positions"] = np.zeros((0, 2))
    return MotifAnalysis(micrograph=micrograph, **arrays, **dicts)


def analyze(
    image,
    *,
    pixel_size: float | None = None,
    patch_size: int | None = None,
    positions=None,
    n_max: int = 10,
    rotation_invariant: bool = True,
    projection: str = "inner",
    edge_taper: float | None = None,
    column_options: dict | None = None,
    layout_options: dict | None = None,
    labeling_options: dict | None = None,
    keep_patches: bool = True,
    random_state=0,
    verbose: bool = True,
) -> MotifAnalysis:
    """Run the whole motif chain on one micrograph.

    Parameters
    ----------
    image : Micrograph or ndarray, shape (H, W)
        The micrograph. Arrays are wrapped with ``pixel_size`` (nm) when given.
    pixel_size : float, optional
        Pixel size in nm for a bare array (ignored for a calibrated Micrograph).
    patch_size : int, optional
        Patch side in pixels (odd). Default: :func:`motifkit.suggest_patch_size` of the
        lattice spacing estimated from the image autocorrelation.
    positions : ndarray, shape (N, 2), optional
        Centres (x, y) in pixels to analyse instead of finding columns, e.g. super-cell
        centres found at a coarser scale or curated columns.
    n_max : int
        Highest Zernike order (10 gives 66 real features).
    rotation_invariant : bool
        Rotation-invariant Zernike magnitudes (True) or the signed moments (False, needed to
        tell apart motifs that differ only by orientation).
    projection : {"inner", "lstsq"}
        Zernike projection: the paper's matrix approximation or the exact least squares.
    edge_taper : float in [0, 1), optional
        Radial raised-cosine taper of the patch disk (fraction of the radius); 0 is the
        paper's hard edge. Default :data:`motifkit.zernike.DEFAULT_EDGE_TAPER` (0.15),
        which keeps the features of a lattice seen at different angles within 0.5 %. See :class:`motifkit.ZernikeFeatures`: a taper makes the
        rotation-invariant features of a lattice seen at different angles agree.
    column_options, layout_options, labeling_options : dict, optional
        Extra keyword arguments for :func:`motifkit.find_columns`,
        :class:`motifkit.ForceRelaxedLayout` and :class:`motifkit.MotifLabeler`.
    keep_patches : bool
        Keep the (N, s, s) patches on the result (in memory).
    random_state : int, Generator or None
        Seed for every random step; the same seed gives the same result.
    verbose : bool
        Show a progress bar over the steps.

    Returns
    -------
    MotifAnalysis

    Raises
    ------
    ImageError
        Unusable image (not 2-D, NaN, constant, too small).
    NotEnoughDataError
        No columns found, or too few columns for the kNN graph.

    Examples
    --------
    >>> import motifkit
    >>> sample = motifkit.data.wse2_ti()                       # doctest: +SKIP
    >>> result = motifkit.analyze(sample.micrograph)            # doctest: +SKIP
    >>> result.n_motifs, result.summary["residual"]["relative_rms"]  # doctest: +SKIP
    """
    from .columns import estimate_lattice_spacing, find_columns, suggest_patch_size
    from .layout import ForceRelaxedLayout
    from .motifs import MotifLabeler, class_averages, reconstruct, reconstruction_residual
    from .patches import extract_patches
    from .zernike import DEFAULT_EDGE_TAPER, ZernikeFeatures

    micrograph = as_micrograph(image, pixel_size=pixel_size)
    edge_taper = DEFAULT_EDGE_TAPER if edge_taper is None else edge_taper
    positions_given = positions is not None
    column_options = dict(column_options or {})
    layout_options = dict(layout_options or {})
    labeling_options = dict(labeling_options or {})
    timer = Timer()
    steps = progress(total=6, verbose=verbose, desc="motif analysis", unit="step")

    def advance(name):
        steps.set_postfix_str(name)
        steps.update(1)

    with timer("columns"):
        spacing = None
        if patch_size is None:
            spacing = float(estimate_lattice_spacing(micrograph.data))
            patch_size = int(suggest_patch_size(spacing))
        elif int(patch_size) < 3 or int(patch_size) % 2 == 0:
            raise ParameterError(f"patch_size must be an odd integer >= 3, got {patch_size}.")
        patch_size = int(patch_size)
        if positions is None:
            found = find_columns(micrograph, verbose=False, **column_options)
        else:
            found = np.asarray(positions, dtype=float).reshape(-1, 2)
            if not np.isfinite(found).all():
                raise ParameterError("positions contain NaN/inf; pass finite (x, y) pixel centres.")
    if len(found) == 0:
        raise NotEnoughDataError(
            "No atom columns were found. Check that the image shows atom columns as bright "
            "peaks, or lower the threshold via column_options={'threshold': ...}."
        )
    advance("patches")

    with timer("patches"):
        # analyze() reports the border columns itself, once, below.
        patch_set = extract_patches(micrograph, found, patch_size, warn=False)
    patches = patch_set.patches
    positions = np.asarray(found)[patch_set.kept]
    border_positions = np.asarray(found)[patch_set.dropped]
    advance("features")

    with timer("features"):
        zernike = ZernikeFeatures(
            n_max=n_max, rotation_invariant=rotation_invariant, projection=projection, edge_taper=edge_taper
        )
        features = zernike.fit_transform(patches)
    advance("layout")

    with timer("layout"):
        layout_options.setdefault("random_state", random_state)
        layout_options.setdefault("verbose", False)
        fr = ForceRelaxedLayout(**layout_options)
        layout = fr.fit_transform(features)
    advance("labels")

    with timer("labels"):
        labeler = MotifLabeler(**labeling_options).fit(layout)
        labels = labeler.labels_
        averages = class_averages(patches, labels, labeler.n_motifs_)
    advance("reconstruction")

    with timer("reconstruction"):
        recon, weight = reconstruct(micrograph.shape, positions, labels, averages, return_weight=True)
        residual = reconstruction_residual(micrograph.data, recon, weight)
    advance("done")
    steps.close()

    if len(border_positions):
        warnings.warn(
            f"{len(border_positions)} of {len(found)} columns lie within half a patch "
            f"({patch_size // 2} px) of the image border and were not analysed; they are kept "
            "in MotifAnalysis.border_positions.",
            stacklevel=2,
        )
    parameters = {
        "patch_size": patch_size,
        "lattice_spacing_px": spacing,
        "positions_given": positions_given,
        "n_max": int(n_max),
        "rotation_invariant": bool(rotation_invariant),
        "projection": projection,
        "edge_taper": float(edge_taper),
        "random_state": random_state if isinstance(random_state, (int, type(None))) else repr(random_state),
        "column_options": column_options,
        "layout_options": {k: v for k, v in fr.get_params().items()},
        "labeling_options": labeler.get_params(),
    }
    summary = {
        "n_columns_found": int(len(found)),
        "n_columns_analysed": int(len(positions)),
        "n_columns_at_border": int(len(border_positions)),
        "n_motifs": int(labeler.n_motifs_),
        "motif_counts": labeler.counts_.tolist(),
        "n_noise_reassigned": int(labeler.n_noise_reassigned_),
        "residual": residual,
    }
    return MotifAnalysis(
        micrograph=micrograph,
        positions=positions,
        features=np.asarray(features, dtype=np.float32),
        layout=np.asarray(layout),
        labels=labels,
        class_averages=averages,
        reconstruction=recon,
        border_positions=border_positions,
        patches=patches if keep_patches else None,
        parameters=parameters,
        timings=dict(timer),
        provenance=_provenance(micrograph),
        summary=summary,
    )


def text_report(analysis: MotifAnalysis) -> str:
    """A short human-readable report of an analysis."""
    m = analysis.micrograph
    s = analysis.summary
    cal = f"{m.pixel_size:g} {m.unit}/px" if m.pixel_size else "uncalibrated"
    lines = [
        "motifkit analysis report",
        "========================",
        f"image:            {m.source or '(array)'}  {m.shape[1]} x {m.shape[0]} px, {cal}",
        f"lattice spacing:  {analysis.parameters['lattice_spacing_px'] or float('nan'):.2f} px",
        f"patch size:       {analysis.parameters['patch_size']} px",
        f"columns:          {s['n_columns_found']} found, {s['n_columns_analysed']} analysed, "
        f"{s['n_columns_at_border']} at the border (not analysed)",
        f"features:         Zernike n_max={analysis.parameters['n_max']}, "
        f"rotation invariant={analysis.parameters['rotation_invariant']} "
        f"({analysis.features.shape[1]} per column)",
        f"motifs:           {s['n_motifs']}  (columns per motif: {s['motif_counts']})",
        f"noise points attached to nearest motif: {s['n_noise_reassigned']}",
        f"reconstruction:   relative RMS residual {s['residual']['relative_rms']:.3f} "
        f"over {100 * s['residual']['coverage']:.1f} % of the image",
        "timings (s):      " + ", ".join(f"{k} {v:.2f}" for k, v in analysis.timings.items()),
        f"motifkit {analysis.provenance.get('motifkit_version')}, input sha256 "
        f"{analysis.provenance.get('input_sha256', '')[:16]}...",
    ]
    return "\n".join(lines) + "\n"


def run_analysis_to_folder(image, output, *, frame=None, verbose=True, **options) -> MotifAnalysis:
    """Analyse an image (path or Micrograph) and write the analysis file, figure and report.

    Writes ``analysis.h5``, ``summary.png`` and ``report.txt`` into ``output``.
    """
    from .figures import summary_figure
    from .io import read

    micrograph = read(image, frame=frame) if isinstance(image, (str, Path)) else as_micrograph(image)
    result = analyze(micrograph, verbose=verbose, **options)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    result.save(output / "analysis.h5")
    figure = summary_figure(result)
    figure.savefig(output / "summary.png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(figure)
    report = text_report(result)
    (output / "report.txt").write_text(report)
    if verbose:
        print(report)
        print(f"wrote {output / 'analysis.h5'}, {output / 'summary.png'}, {output / 'report.txt'}")
    return result


def run_demo(output="demo_output", *, random_state=0, verbose=True) -> MotifAnalysis:
    """The ``make demo`` job: full analysis of the bundled real Ti-doped WSe2 micrograph.

    Besides the usual outputs it compares the result with the authors' column positions
    and labels that ship with the sample, and writes the comparison into the report.
    """
    from .data import wse2_ti
    from .evaluation import compare_with_reference

    sample = wse2_ti()
    result = run_analysis_to_folder(sample.micrograph, output, random_state=random_state, verbose=verbose)
    comparison = compare_with_reference(result, sample)
    text = comparison.report()
    with open(Path(output) / "report.txt", "a") as handle:
        handle.write("\n" + text)
    if verbose:
        print(text)
    return result
