"""Scale out on Dask: batch analysis of many micrographs, a joint motif vocabulary
across a batch, and tiled analysis of micrographs too large for one pass.

Three tools:

:func:`analyze_many`
    Runs :func:`motifkit.analyze` with the same parameters on every micrograph, as
    tasks on a Dask distributed cluster (a local one by default). Writes one analysis
    file per image and a summary table (CSV + JSON). Resumable; a failing image is
    recorded with its error and never stops the others.
:func:`joint_vocabulary`
    One force-relaxed layout and one set of motif labels fitted on the features of all
    images together, so motif ``k`` means the same thing in every image.
:func:`find_columns_tiled` / :func:`analyze_tiled`
    Column finding on overlapping tiles (a halo around each tile's core) with the
    automatic parameters measured once on the whole image, so that the seams leave
    neither duplicated nor missing columns; then features and labels in chunks, with
    bounded memory.

Positions are always ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
Dask (``dask[distributed]``) is an optional dependency, imported only when used.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import math
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._utils import Timer, check_random_state, json_default, progress
from .errors import (
    FileFormatError,
    ImageError,
    MissingDependencyError,
    NotEnoughDataError,
    ParameterError,
)

__all__ = [
    "analyze_many",
    "BatchResult",
    "joint_vocabulary",
    "JointVocabulary",
    "find_columns_tiled",
    "TiledColumns",
    "analyze_tiled",
    "TiledAnalysis",
    "options_hash",
    "find_micrographs",
    "add_batch_parser",
    "batch_main",
]

#: Columns of the summary table, in order.
SUMMARY_FIELDS = (
    "path",
    "output",
    "status",
    "n_columns",
    "n_motifs",
    "seconds_read",
    "seconds_analyze",
    "seconds_save",
    "seconds_total",
    "n_warnings",
    "error",
)
#: Default number of local Dask workers (one single-threaded process each).
DEFAULT_WORKERS = 2


# ----------------------------------------------------------------------------------
# dask plumbing
# ----------------------------------------------------------------------------------
def _distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - dask is installed in the dev env
        raise MissingDependencyError(
            "Batch processing needs Dask distributed; install it with "
            "pip install 'dask[distributed]' (or pip install 'motifkit[dask]')."
        ) from exc
    return distributed


class _ClientContext:
    """A Dask client for the duration of a ``with`` block.

    ``client`` may be a ``distributed.Client`` (used as is, left open), a scheduler
    address string (connected, then closed) or None (a LocalCluster of ``n_workers``
    single-threaded worker processes, started, then shut down).
    """

    def __init__(self, client, n_workers: int):
        self.given = client
        self.n_workers = n_workers
        self.client = None
        self.cluster = None

    def __enter__(self):
        distributed = _distributed()
        if isinstance(self.given, distributed.Client):
            self.client = self.given
            return self.client
        if isinstance(self.given, str):
            self.client = distributed.Client(self.given)
            return self.client
        if self.given is not None:
            raise ParameterError(
                f"client must be a distributed.Client, a scheduler address such as "
                f"'tcp://host:8786', or None for a local cluster; got {type(self.given).__name__}."
            )
        n = int(self.n_workers)
        if n < 1:
            raise ParameterError(f"workers must be >= 1, got {self.n_workers!r}.")
        # one thread per worker process: the numba/FFT code releases the GIL only in
        # parts, and processes keep one image's memory per worker
        self.cluster = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        self.client = distributed.Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        if self.client is not None and self.client is not self.given:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


# ----------------------------------------------------------------------------------
# batch analysis
# ----------------------------------------------------------------------------------
def options_hash(options: dict) -> str:
    """sha256 (hex) of the analysis options as canonical JSON: identifies a parameter set.

    Two runs with equal options (after JSON normalisation, key order ignored) get the
    same hash; a resumed batch only skips files written with the same hash.
    """
    text = json.dumps(options, sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()



def _complete_analyze_options(options: dict) -> dict:
    """``options`` with every other :func:`motifkit.analyze` default filled in, so that
    equal analyses hash equally however they were spelled."""
    from .analysis import analyze

    signature = inspect.signature(analyze).parameters
    allowed = set(signature) - {"image", "verbose"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ParameterError(
            f"Unknown analysis option(s) {unknown}; analyze_many passes options to "
            f"motifkit.analyze, which accepts: {sorted(allowed)}."
        )
    complete = {name: signature[name].default for name in sorted(allowed)}
    complete["keep_patches"] = False  # patches are not saved; do not hold them
    complete.update(options)
    return complete


def find_micrographs(input_dir, *, recursive: bool = True, exclude=()) -> tuple[list[Path], list[Path]]:
    """Micrograph files under ``input_dir`` (by extension, see ``motifkit.io.SUPPORTED_EXTENSIONS``).

    Returns
    -------
    found : list of Path
        Files with a readable extension, sorted.
    ignored : list of Path
        Other files (reported, not analysed).
    """
    from .io import SUPPORTED_EXTENSIONS

    root = Path(input_dir)
    if not root.is_dir():
        raise ParameterError(f"{root} is not a folder; pass the folder that holds the micrographs.")
    excluded = [Path(e).resolve() for e in exclude]
    found, ignored = [], []
    for path in sorted(root.rglob("*") if recursive else root.iterdir()):
        if not path.is_file() or any(ex == path.resolve() or ex in path.resolve().parents for ex in excluded):
            continue
        suffixes = "".join(path.suffixes).lower()
        if any(suffixes.endswith(ext) for ext in SUPPORTED_EXTENSIONS):
            found.append(path)
        else:
            ignored.append(path)
    return found, ignored


def _output_names(paths: list[Path]) -> list[str]:
    """One analysis file name per input: the stem, plus a short path hash when stems clash."""
    stems = [p.name.split(".")[0] for p in paths]
    clashes = {s for s in stems if stems.count(s) > 1}
    names = []
    for path, stem in zip(paths, stems):
        if stem in clashes:
            stem = f"{stem}_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
        names.append(stem + ".h5")
    return names


def _finished(output: Path, source: Path, digest: str) -> dict | None:
    """The summary of a valid analysis file at ``output`` written from ``source`` with
    options hash ``digest``, else None (missing, truncated, foreign or stale)."""
    if not output.is_file():
        return None
    try:
        import h5py

        with h5py.File(output, "r") as handle:
            if handle.attrs.get("format") != "motifkit-analysis":
                return None
            if not all(name in handle for name in ("image", "positions", "features", "labels", "class_averages")):
                return None
            parameters = json.loads(handle.attrs["parameters"])
            summary = json.loads(handle.attrs["summary"])
            timings = json.loads(handle.attrs["timings"])
    except (OSError, KeyError, ValueError):
        return None
    batch = parameters.get("batch", {})
    if batch.get("options_hash") != digest or batch.get("source") != str(source):
        return None
    return {"summary": summary, "timings": timings}


def _analyze_one(path: str, output: str, options: dict, digest: str) -> dict:
    """Worker task: read, analyse, save one micrograph; never raises (errors are returned)."""
    from .analysis import analyze
    from .io import read

    record = {name: None for name in SUMMARY_FIELDS}
    record.update(path=path, output=output, status="failed", n_warnings=0)
    start = time.perf_counter()
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            micrograph = read(path)
            t1 = time.perf_counter()
            result = analyze(micrograph, verbose=False, **options)
            t2 = time.perf_counter()
            result.parameters["batch"] = {"options_hash": digest, "source": path}
            result.summary["warnings"] = [str(w.message) for w in caught]
            result.save(output)
            t3 = time.perf_counter()
        record.update(
            status="ok",
            n_columns=result.n_columns,
            n_motifs=result.n_motifs,
            seconds_read=t1 - t0,
            seconds_analyze=t2 - t1,
            seconds_save=t3 - t2,
        )
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop the batch
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=6)
    record["n_warnings"] = len(caught)
    if caught:
        record["warnings"] = [str(w.message) for w in caught]
    record["seconds_total"] = time.perf_counter() - start
    return record


@dataclass
class BatchResult:
    """What :func:`analyze_many` did.

    Attributes
    ----------
    records : list of dict
        One row per input path, in input order, with the fields of ``SUMMARY_FIELDS``
        (``status`` is ``"ok"``, ``"skipped"`` (finished earlier, resumed) or
        ``"failed"``, with ``error``).
    output_dir : Path
    summary_csv, summary_json : Path
        The summary table files.
    options : dict
        The analysis options every image was analysed with.
    options_hash : str
        Their hash (stored in each analysis file's ``parameters["batch"]``).
    seconds : float
        Wall-clock time of the whole batch.
    """

    records: list
    output_dir: Path
    summary_csv: Path
    summary_json: Path
    options: dict
    options_hash: str
    seconds: float

    def count(self, status: str) -> int:
        """Number of images with this status."""
        return sum(r["status"] == status for r in self.records)

    @property
    def failed(self) -> list:
        """Records of the images that failed."""
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def outputs(self) -> list:
        """Analysis files of the images analysed now or earlier (ok or skipped)."""
        return [Path(r["output"]) for r in self.records if r["status"] in ("ok", "skipped")]

    def __repr__(self) -> str:
        return (
            f"BatchResult({len(self.records)} images: {self.count('ok')} analysed, "
            f"{self.count('skipped')} skipped (done before), {self.count('failed')} failed; "
            f"summary {self.summary_csv})"
        )


def _write_summary(records, output_dir: Path, options: dict, digest: str, seconds: float):
    csv_path = output_dir / "summary.csv"
    json_path = output_dir / "summary.json"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if record.get(k) is None else record[k]) for k in SUMMARY_FIELDS})
    payload = {
        "options": options,
        "options_hash": digest,
        "n_images": len(records),
        "n_ok": sum(r["status"] == "ok" for r in records),
        "n_skipped": sum(r["status"] == "skipped" for r in records),
        "n_failed": sum(r["status"] == "failed" for r in records),
        "seconds": seconds,
        "records": records,
    }
    json_path.write_text(json.dumps(payload, indent=2, default=json_default))
    return csv_path, json_path


def analyze_many(
    paths,
    client=None,
    *,
    output_dir="motifkit_batch",
    resume: bool = True,
    n_workers: int = DEFAULT_WORKERS,
    verbose: bool = True,
    **analyze_options,
) -> BatchResult:
    """Analyse many micrographs with the same parameters, in parallel on Dask.

    Each image becomes one Dask task (read -> :func:`motifkit.analyze` -> save) that
    writes ``output_dir/<stem>.h5``; a progress bar follows the completed tasks. At the
    end ``output_dir/summary.csv`` and ``summary.json`` list every input with its
    status, column and motif counts, timings and error.

    Parameters
    ----------
    paths : iterable of str or Path
        Micrograph files (any format :func:`motifkit.io.read` reads).
    client : distributed.Client, str or None
        A Dask client, a scheduler address (``"tcp://host:8786"``), or None to start a
        LocalCluster of ``n_workers`` single-threaded worker processes for the call.
    output_dir : str or Path
        Folder for the analysis files and the summary.
    resume : bool
        Skip images whose analysis file already exists, is a valid analysis of the same
        input and was made with the same options (same :func:`options_hash`). Files
        that are truncated or were made with other options are redone.
    n_workers : int
        Worker processes of the local cluster (ignored when ``client`` is given).
    verbose : bool
        Show a progress bar.
    **analyze_options
        Keyword arguments of :func:`motifkit.analyze` (``patch_size``, ``n_max``,
        ``rotation_invariant``, ``column_options``, ``layout_options``,
        ``labeling_options``, ``random_state``, ...), the same for every image.

    Returns
    -------
    BatchResult

    Raises
    ------
    ParameterError
        An unknown analysis option, or no paths. Errors of single images never
        raise: they are recorded in the summary (``status="failed"``, ``error``).

    Examples
    --------
    >>> from motifkit.batch import analyze_many
    >>> result = analyze_many(["a.tif", "b.dm4"], output_dir="out", n_max=8)  # doctest: +SKIP
    >>> result.count("ok"), result.summary_csv                                # doctest: +SKIP
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ParameterError("No micrographs to analyse: pass at least one path.")
    analyze_options = _complete_analyze_options(analyze_options)
    digest = options_hash(analyze_options)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    outputs = [output_dir / name for name in _output_names(paths)]
    start = time.perf_counter()

    records: list = [None] * len(paths)
    todo = []
    for i, (path, output) in enumerate(zip(paths, outputs)):
        done = _finished(output, path, digest) if resume else None
        if done is None:
            todo.append(i)
            continue
        records[i] = {name: None for name in SUMMARY_FIELDS}
        records[i].update(
            path=str(path),
            output=str(output),
            status="skipped",
            n_columns=done["summary"].get("n_columns_analysed"),
            n_motifs=done["summary"].get("n_motifs"),
            n_warnings=len(done["summary"].get("warnings", [])),
            seconds_analyze=sum(done["timings"].values()),
        )

    if todo:
        with _ClientContext(client, n_workers) as dask_client:
            distributed = _distributed()
            futures = {}
            for i in todo:
                future = dask_client.submit(
                    _analyze_one, str(paths[i]), str(outputs[i]), analyze_options, digest,
                    key=f"motifkit-analyze-{digest[:8]}-{i}-{hashlib.sha256(str(paths[i]).encode()).hexdigest()[:12]}",
                    pure=False,
                )
                futures[future] = i
            bar = progress(total=len(futures), verbose=verbose, desc="analyze_many", unit="image")
            for future in distributed.as_completed(list(futures)):
                i = futures[future]
                try:
                    records[i] = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. the worker died (memory)
                    record = {name: None for name in SUMMARY_FIELDS}
                    record.update(path=str(paths[i]), output=str(outputs[i]), status="failed",
                                  n_warnings=0, error=f"{type(exc).__name__}: {exc}")
                    records[i] = record
                bar.update(1)
                if records[i]["status"] == "failed":
                    bar.set_postfix_str(f"{sum(r is not None and r['status'] == 'failed' for r in records)} failed")
            bar.close()
    seconds = time.perf_counter() - start
    csv_path, json_path = _write_summary(records, output_dir, analyze_options, digest, seconds)
    result = BatchResult(records, output_dir, csv_path, json_path, analyze_options, digest, seconds)
    if result.failed:
        warnings.warn(
            f"{len(result.failed)} of {len(paths)} images failed; see the 'error' column of {csv_path}.",
            stacklevel=2,
        )
    return result


# ----------------------------------------------------------------------------------
# a shared layout and labels for many feature sets
# ----------------------------------------------------------------------------------
def _correlation_rows(features: np.ndarray) -> np.ndarray:
    """Rows centred and scaled to unit norm: Euclidean distance^2 = 2 x correlation distance."""
    centred = features - features.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1, keepdims=True)
    return (centred / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def _fit_labels(features, *, max_fit_points, layout_options, labeling_options, random_state, verbose):
    """One FR layout + motif labels for ``features`` (N, F).

    At most ``max_fit_points`` rows (a random subset) are laid out and labelled; every
    other row takes the label of its nearest fitted row in correlation distance (the FR
    layout's default metric). Returns (labels (N,), layout of the fitted rows, fitted
    row indices, labeler).
    """
    from sklearn.neighbors import NearestNeighbors

    from .layout import ForceRelaxedLayout
    from .motifs import MotifLabeler, relabel_by_size

    n = len(features)
    rng = check_random_state(random_state)
    if max_fit_points is not None and n > int(max_fit_points):
        fit_index = np.sort(rng.choice(n, size=int(max_fit_points), replace=False))
    else:
        fit_index = np.arange(n)
    layout_options = dict(layout_options or {})
    layout_options.setdefault("random_state", random_state)
    layout_options.setdefault("verbose", False)
    layout = ForceRelaxedLayout(**layout_options).fit_transform(features[fit_index])
    labeler = MotifLabeler(**dict(labeling_options or {})).fit(layout)
    labels = np.empty(n, dtype=np.int64)
    labels[fit_index] = labeler.labels_
    rest = np.setdiff1d(np.arange(n), fit_index, assume_unique=True)
    if rest.size:
        index = NearestNeighbors(n_neighbors=1, algorithm="auto").fit(_correlation_rows(features[fit_index]))
        for start in progress(range(0, rest.size, 65536), verbose=verbose, desc="assign labels", unit="chunk"):
            chunk = rest[start : start + 65536]
            _, nearest = index.kneighbors(_correlation_rows(features[chunk]))
            labels[chunk] = labeler.labels_[nearest[:, 0]]
    # labels 0..K-1 by size over all rows (the labeler ranked only the fitted ones)
    labels = relabel_by_size(labels)
    return labels, layout, fit_index, labeler


@dataclass
class JointVocabulary:
    """One motif vocabulary shared by several analyses (see :func:`joint_vocabulary`).

    Attributes
    ----------
    labels : list of ndarray of int, shape (N_i,)
        Shared motif label of every column of image i (0 = most populated overall).
    class_averages : ndarray of float32, shape (K, s, s)
        Mean patch of each shared motif over all images.
    counts : ndarray of int, shape (n_images, K)
        Columns of each motif in each image.
    layout : ndarray, shape (M, 2)
        The joint force-relaxed layout of the fitted columns.
    fit_index : ndarray of int, shape (M,)
        Which rows of the concatenated features were laid out (all when M = sum N_i);
        the rest took the label of their nearest fitted row in feature space.
    image_of : ndarray of int, shape (sum N_i,)
        Image index of each concatenated row.
    names : list of str
        One name per image (its source).
    parameters : dict
    """

    labels: list
    class_averages: np.ndarray
    counts: np.ndarray
    layout: np.ndarray
    fit_index: np.ndarray
    image_of: np.ndarray
    names: list
    parameters: dict = field(default_factory=dict)

    @property
    def n_motifs(self) -> int:
        """Number of shared motifs K."""
        return int(len(self.class_averages))

    def fractions(self) -> np.ndarray:
        """Share of each motif per image, shape (n_images, K) (rows sum to 1)."""
        totals = self.counts.sum(axis=1, keepdims=True)
        return self.counts / np.maximum(totals, 1)


def joint_vocabulary(
    analyses,
    *,
    max_fit_points: int | None = 50000,
    layout_options: dict | None = None,
    labeling_options: dict | None = None,
    random_state=0,
    verbose: bool = True,
) -> JointVocabulary:
    """Fit one motif vocabulary on the columns of several analyses together.

    The Zernike features of every image are concatenated, laid out with one
    :class:`motifkit.ForceRelaxedLayout` and labelled with one
    :class:`motifkit.MotifLabeler`; the labels are mapped back per image. Motif ``k``
    therefore means the same local structure in every image (separate analyses
    number their motifs independently). Class averages are the mean patch per shared
    motif over all images.

    Parameters
    ----------
    analyses : sequence of MotifAnalysis or analysis file paths
        At least one; all with the same patch size, ``n_max``, ``rotation_invariant``
        and ``edge_taper`` (otherwise the features are not comparable).
    max_fit_points : int or None
        Lay out at most this many columns (a random subset over all images); the others
        get the label of their nearest laid-out column in correlation distance. None:
        lay out all.
    layout_options, labeling_options : dict, optional
        Keyword arguments of ForceRelaxedLayout and MotifLabeler.
    random_state : int, Generator or None
    verbose : bool

    Returns
    -------
    JointVocabulary

    Raises
    ------
    ParameterError
        No analyses, or analyses with incompatible features or patch sizes.

    Examples
    --------
    >>> vocab = joint_vocabulary(batch_result.outputs)   # doctest: +SKIP
    >>> vocab.counts                                      # columns per shared motif and image  # doctest: +SKIP
    """
    from .analysis import MotifAnalysis, load_analysis
    from .patches import extract_patches

    items = list(analyses)
    if not items:
        raise ParameterError("joint_vocabulary needs at least one analysis (MotifAnalysis or file path).")
    loaded = [a if isinstance(a, MotifAnalysis) else load_analysis(a) for a in items]
    keys = {
        # analyses saved before the taper existed used the hard disk edge
        (a.parameters.get("patch_size"), a.parameters.get("n_max"), a.parameters.get("rotation_invariant"),
         float(a.parameters.get("edge_taper", 0.0)), a.features.shape[1])
        for a in loaded
    }
    if len(keys) != 1:
        raise ParameterError(
            "The analyses differ in patch_size / n_max / rotation_invariant / edge_taper "
            f"({sorted(keys, key=str)}); their features are not comparable. Re-run them with "
            "the same options, e.g. analyze_many(..., patch_size=..., n_max=...)."
        )
    patch_size = int(loaded[0].parameters["patch_size"])
    features = np.concatenate([np.asarray(a.features, dtype=np.float32) for a in loaded])
    image_of = np.concatenate([np.full(a.n_columns, i) for i, a in enumerate(loaded)])
    labels, layout, fit_index, _ = _fit_labels(
        features,
        max_fit_points=max_fit_points,
        layout_options=layout_options,
        labeling_options=labeling_options,
        random_state=random_state,
        verbose=verbose,
    )
    k = int(labels.max()) + 1
    sums = np.zeros((k, patch_size * patch_size), dtype=np.float64)
    counts = np.zeros((len(loaded), k), dtype=np.int64)
    per_image = []
    for i, analysis in enumerate(loaded):
        mine = labels[image_of == i]
        per_image.append(mine)
        counts[i] = np.bincount(mine, minlength=k)
        patches = analysis.patches
        if patches is None or len(patches) != analysis.n_columns:
            patches = extract_patches(analysis.micrograph, analysis.positions, patch_size, warn=False).patches
        np.add.at(sums, mine, patches.reshape(len(patches), -1).astype(np.float64))
    totals = counts.sum(axis=0)
    averages = (sums / np.maximum(totals, 1)[:, None]).reshape(k, patch_size, patch_size).astype(np.float32)
    names = [a.micrograph.source or f"image {i}" for i, a in enumerate(loaded)]
    return JointVocabulary(
        labels=per_image,
        class_averages=averages,
        counts=counts,
        layout=layout,
        fit_index=fit_index,
        image_of=image_of,
        names=names,
        parameters={
            "max_fit_points": max_fit_points,
            "layout_options": dict(layout_options or {}),
            "labeling_options": dict(labeling_options or {}),
            "random_state": random_state if isinstance(random_state, (int, type(None))) else repr(random_state),
            "patch_size": patch_size,
        },
    )


# ----------------------------------------------------------------------------------
# tiled column finding
# ----------------------------------------------------------------------------------
@dataclass
class TiledColumns:
    """Result of :func:`find_columns_tiled`.

    Attributes
    ----------
    positions : ndarray, shape (N, 2)
        Column centres ``(x, y)`` in pixels of the whole image, sorted by rounded row
        then column.
    tile_of : ndarray of int, shape (N,)
        Index of the tile that kept each column (the one whose core contains it).
    tiles : list of tuple
        Core of each tile, ``(row0, row1, col0, col1)`` (half-open); the tile with its
        halo is ``parameters["bounds"][i]``.
    parameters : dict
        The global parameters every tile used (lattice spacing, minimum separation,
        refinement radius, low-pass fraction, noise sigma, intensity range, halo).
    n_duplicates : int
        Columns found by two tiles within half the minimum separation of each other
        right on a core boundary; the copy deeper inside its own core was kept.
    n_empty_tiles : int
        Tiles in which no column was found (e.g. vacuum).
    seconds : dict
        Wall-clock time of the global estimates and the tiles.
    """

    positions: np.ndarray
    tile_of: np.ndarray
    tiles: list
    parameters: dict
    n_duplicates: int = 0
    n_empty_tiles: int = 0
    seconds: dict = field(default_factory=dict)

    @property
    def n_columns(self) -> int:
        return int(len(self.positions))


_TILE_OPTIONS = {"smoothing", "lowpass_fraction", "threshold", "min_separation", "refine", "refine_radius", "exclude_border"}


def _tile_grid(shape, tile_size: int):
    height, width = shape
    return [
        (r, min(r + tile_size, height), c, min(c + tile_size, width))
        for r in range(0, height, tile_size)
        for c in range(0, width, tile_size)
    ]


def _with_halo(core, shape, halo: int, align: int):
    """Tile bounds = core grown by ``halo``, the origin rounded down to a multiple of
    ``align`` (the threshold floor pools ``align``-px blocks from the tile origin, so
    aligned tiles pool the same blocks as the whole image)."""
    r0, r1, c0, c1 = core
    height, width = shape
    y0 = max(0, (r0 - halo) // align * align)
    x0 = max(0, (c0 - halo) // align * align)
    return y0, min(height, r1 + halo), x0, min(width, c1 + halo)


def _smoothed_sample(pixels_tile, core_local, fraction, stride):
    from .columns import lowpass_filter

    smoothed = lowpass_filter(pixels_tile, fraction) if fraction is not None else pixels_tile
    r0, r1, c0, c1 = core_local
    return np.ascontiguousarray(smoothed[r0:r1:stride, c0:c1:stride]).ravel()


def _columns_in_tile(pixels_tile, origin, core, options, margin):
    """Columns of one tile (global coordinates) within ``margin`` px of its core, and
    their depth inside the core (negative outside)."""
    from .columns import find_columns

    try:
        local = find_columns(pixels_tile, return_info=False, verbose=False, **options)
    except NotEnoughDataError:
        return np.zeros((0, 2)), np.zeros(0)
    except ImageError:  # constant tile (vacuum, padding): nothing to find
        return np.zeros((0, 2)), np.zeros(0)
    xy = local + np.array([origin[1], origin[0]], dtype=float)
    r0, r1, c0, c1 = core
    # pixel i covers [i - 0.5, i + 0.5): the core's area is [c0 - 0.5, c1 - 0.5)
    depth = np.minimum.reduce([
        xy[:, 0] - (c0 - 0.5), (c1 - 0.5) - xy[:, 0], xy[:, 1] - (r0 - 0.5), (r1 - 0.5) - xy[:, 1]
    ])
    keep = depth >= -margin
    return xy[keep], depth[keep]


def _run_tasks(function, arguments, n_tasks, client, verbose, desc):
    """``[function(*args) for args in arguments]``, on ``client`` (Dask) or here.

    ``arguments`` may be a generator: without a client each tile is loaded only when
    its turn comes, so at most one tile's data is held besides the results.
    """
    bar = progress(total=n_tasks, verbose=verbose, desc=desc, unit="tile")
    results = [None] * n_tasks
    if client is None:
        for i, args in enumerate(arguments):
            results[i] = function(*args)
            bar.update(1)
    else:
        distributed = _distributed()
        futures = {client.submit(function, *args, pure=False): i for i, args in enumerate(arguments)}
        for future in distributed.as_completed(list(futures)):
            results[futures[future]] = future.result()
            bar.update(1)
            future.release()
    bar.close()
    return results


def find_columns_tiled(
    image,
    *,
    tile_size: int = 1024,
    halo: int | None = None,
    client=None,
    max_sample: int = 16_000_000,
    verbose: bool = True,
    **column_options,
) -> TiledColumns:
    """:func:`motifkit.find_columns` on overlapping tiles, for images too large for one pass.

    The automatic parameters are measured once on the whole image exactly as
    :func:`~motifkit.find_columns` does (lattice spacing and noise from the central
    512 px crop, the low-pass band, and the 0.1/99.9 percentiles of the smoothed image,
    from every pixel up to ``max_sample`` pixels, else from a regular subsample), then
    passed explicitly to every tile, so all tiles apply the same threshold. Each tile
    is its core (``tile_size`` px square) grown by a ``halo`` on every side; a column
    is kept only by the tile whose core contains it, and a column two tiles both place
    within half the minimum separation of a core boundary is kept once. The result
    equals the untiled one (same columns, positions within a small fraction of a
    pixel: the Gaussian deblending width is the median over the tile, not over the
    image).

    Parameters
    ----------
    image : ndarray (H, W), np.memmap, Micrograph, or any array supporting 2-D slicing
        Only tiles are loaded at a time when it is a memmap/HDF5 dataset.
    tile_size : int
        Core side in px (>= 64).
    halo : int, optional
        Overlap on each side in px; default ``max(48, 6 x lattice spacing)``. It must
        cover the low-pass filter's reach, the threshold floor window and the
        refinement and deblending neighbourhood.
    client : distributed.Client or None
        Run the tiles as Dask tasks on this client; None runs them one after the other
        in this process (least memory).
    max_sample : int
        Largest number of smoothed pixels used for the intensity percentiles.
    verbose : bool
        Progress bars over the tiles.
    **column_options
        ``smoothing`` ("lowpass" or "none"), ``lowpass_fraction``, ``threshold``,
        ``min_separation``, ``refine``, ``refine_radius``, ``exclude_border`` of
        :func:`~motifkit.find_columns`. Global filters (``"svd"``, ``"bragg"``,
        ``background``) cannot be tiled and raise ParameterError.

    Returns
    -------
    TiledColumns

    Examples
    --------
    >>> import motifkit
    >>> sim = motifkit.data.mose2_with_vacancies(shape=(1024, 1024))          # doctest: +SKIP
    >>> tiled = find_columns_tiled(sim.image, tile_size=256, verbose=False)  # doctest: +SKIP
    >>> tiled.n_columns == len(motifkit.find_columns(sim.image))             # doctest: +SKIP
    True
    """
    from .columns import (
        LOWPASS_CYCLES_PER_SPACING,
        MIN_SEPARATION_PER_SPACING,
        REFINE_RADIUS_PER_SEPARATION,
        SPACING_CROP,
        _lowpass_noise_gain,
        _signal_bandwidth,
        estimate_lattice_spacing,
    )
    from .micrograph import Micrograph, validate_image

    unsupported = sorted(set(column_options) - _TILE_OPTIONS)
    if unsupported:
        raise ParameterError(
            f"find_columns_tiled does not support {unsupported}: only {sorted(_TILE_OPTIONS)}. "
            "Whole-image filters (smoothing='svd'/'bragg', background) cannot be split into "
            "tiles; apply them to the image first or use find_columns on the whole image."
        )
    smoothing = column_options.get("smoothing", "lowpass")
    if smoothing not in ("lowpass", "none", None):
        raise ParameterError(
            f"find_columns_tiled supports smoothing='lowpass' or 'none', got {smoothing!r}; "
            "'svd' and 'bragg' are whole-image filters."
        )
    data = image.data if isinstance(image, Micrograph) else image
    if getattr(data, "ndim", None) != 2:
        raise ImageError(f"image must be 2-D (H, W), got shape {getattr(data, 'shape', None)}; pass one frame.")
    height, width = (int(n) for n in data.shape)
    tile_size = int(tile_size)
    if tile_size < 64:
        raise ParameterError(f"tile_size must be >= 64 px, got {tile_size}.")
    timer = Timer()

    with timer("global estimates"):
        # the same central crop find_columns measures on the whole image
        ch, cw = min(height, 2 * SPACING_CROP), min(width, 2 * SPACING_CROP)
        y0, x0 = (height - ch) // 2, (width - cw) // 2
        centre = validate_image(np.asarray(data[y0 : y0 + ch, x0 : x0 + cw]), name="image centre")
        min_separation = column_options.get("min_separation")
        try:
            spacing = float(estimate_lattice_spacing(centre))
        except NotEnoughDataError:
            if min_separation is None:
                raise
            spacing = float(min_separation) / MIN_SEPARATION_PER_SPACING
        if min_separation is None:
            min_separation = MIN_SEPARATION_PER_SPACING * spacing
        refine_radius = column_options.get("refine_radius") or REFINE_RADIUS_PER_SEPARATION * float(min_separation)
        noise_sigma, bandwidth = _signal_bandwidth(centre)
        fraction = None
        if smoothing == "lowpass":
            fraction = column_options.get("lowpass_fraction", "auto")
            if isinstance(fraction, str):
                if fraction != "auto":
                    raise ParameterError(f"lowpass_fraction must be a number in (0, 1] or 'auto', got {fraction!r}.")
                cutoff = max(LOWPASS_CYCLES_PER_SPACING / spacing, bandwidth)
                fraction = min(1.0, math.pi * cutoff * cutoff)
            fraction = float(fraction)
            if not 0 < fraction <= 1:
                raise ParameterError(f"lowpass_fraction must be in (0, 1], got {fraction}.")
        if halo is None:
            halo = max(48, int(math.ceil(6.0 * spacing)))
        halo = int(halo)
        if halo < 0:
            raise ParameterError(f"halo must be >= 0 px, got {halo}.")
        align = max(1, int(1.5 * float(min_separation) // 8))  # block size of the threshold floor
    cores = _tile_grid((height, width), tile_size)
    bounds = [_with_halo(core, (height, width), halo, align) for core in cores]

    def tile_pixels(b):
        return validate_image(np.asarray(data[b[0] : b[1], b[2] : b[3]]), name="tile", allow_constant=True)

    threshold = column_options.get("threshold", "auto")
    intensity_range = None
    if isinstance(threshold, str) and threshold == "auto":
        with timer("intensity range"):
            stride = max(1, int(math.ceil(math.sqrt(height * width / max_sample))))
            samples = _run_tasks(
                _smoothed_sample,
                ((tile_pixels(b), (c[0] - b[0], c[1] - b[0], c[2] - b[2], c[3] - b[2]), fraction, stride)
                 for b, c in zip(bounds, cores)),
                len(cores), client, verbose, "tiled smoothing",
            )
            values = np.concatenate(samples)
            del samples
            low, high = np.percentile(values, [0.1, 99.9])
            intensity_range = (float(low), float(high))
            del values

    options = {
        "smoothing": smoothing,
        "lowpass_fraction": fraction if fraction is not None else column_options.get("lowpass_fraction", "auto"),
        "threshold": threshold,
        "min_separation": float(min_separation),
        "refine": column_options.get("refine", "gaussian"),
        "refine_radius": float(refine_radius),
        "exclude_border": int(column_options.get("exclude_border", 1)),
        "noise_sigma": float(noise_sigma),
        "intensity_range": intensity_range,
    }
    margin = 0.25 * float(min_separation)
    with timer("tiles"):
        found = _run_tasks(
            _columns_in_tile,
            ((tile_pixels(b), (b[0], b[2]), c, options, margin) for b, c in zip(bounds, cores)),
            len(cores), client, verbose, "tiled columns",
        )
    with timer("merge"):
        xy = np.concatenate([f[0] for f in found]) if found else np.zeros((0, 2))
        depth = np.concatenate([f[1] for f in found]) if found else np.zeros(0)
        tile_of = np.concatenate([np.full(len(f[0]), i) for i, f in enumerate(found)])
        n_empty = sum(len(f[0]) == 0 for f in found)
        keep = np.ones(len(xy), bool)
        # a copy kept just outside its tile's core (depth >= -margin) has its twin, less than
        # half a separation away, at depth < margin + separation / 2 inside the owner's core
        near_edge = np.flatnonzero(depth < margin + 0.5 * float(min_separation))
        if near_edge.size:
            from scipy.spatial import cKDTree

            tree = cKDTree(xy[near_edge])
            for a, b in sorted(tree.query_pairs(0.5 * float(min_separation))):
                i, j = near_edge[a], near_edge[b]
                if tile_of[i] == tile_of[j] or not (keep[i] and keep[j]):
                    continue
                keep[i if depth[i] < depth[j] else j] = False
        n_duplicates = int(np.count_nonzero(~keep))
        xy, depth, tile_of = xy[keep], depth[keep], tile_of[keep]
        # a column seen by a tile just outside its core and not by the neighbour that owns
        # it (a rare seam disagreement) keeps its outside copy, so none is lost
        order = np.lexsort((xy[:, 0], np.floor(xy[:, 1] + 0.5)))
        xy, tile_of = xy[order], tile_of[order]
    if len(xy) == 0:
        raise NotEnoughDataError(
            "No columns found in any tile. Check that the image shows atom columns as bright "
            "peaks, or lower the threshold."
        )
    parameters = {
        "tile_size": tile_size,
        "halo": halo,
        "bounds": bounds,
        "lattice_spacing": spacing,
        **{k: v for k, v in options.items()},
    }
    return TiledColumns(
        positions=xy,
        tile_of=tile_of,
        tiles=cores,
        parameters=parameters,
        n_duplicates=n_duplicates,
        n_empty_tiles=int(n_empty),
        seconds=dict(timer),
    )


# ----------------------------------------------------------------------------------
# tiled analysis: columns -> features -> labels with bounded memory
# ----------------------------------------------------------------------------------
@dataclass
class TiledAnalysis:
    """Result of :func:`analyze_tiled`.

    Attributes
    ----------
    positions : ndarray, shape (N, 2)
        Analysed column centres ``(x, y)`` in pixels.
    features : ndarray of float32, shape (N, F)
        Zernike features.
    labels : ndarray of int, shape (N,)
        Motif per column (0 = most populated).
    class_averages : ndarray of float32, shape (K, s, s)
    border_positions : ndarray, shape (M, 2)
        Columns too close to the image border for a full patch (not analysed).
    fit_index : ndarray of int
        Columns laid out by the force-relaxed layout; the others took the label of
        their nearest laid-out column in feature space.
    layout : ndarray, shape (len(fit_index), 2)
    columns : TiledColumns
    parameters, timings : dict
    """

    positions: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    class_averages: np.ndarray
    border_positions: np.ndarray
    fit_index: np.ndarray
    layout: np.ndarray
    columns: TiledColumns
    parameters: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def n_columns(self) -> int:
        return int(len(self.positions))

    @property
    def n_motifs(self) -> int:
        return int(len(self.class_averages))


def _tile_patches(data, bound, positions, size):
    from .micrograph import validate_image
    from .patches import extract_patches

    tile = validate_image(np.asarray(data[bound[0] : bound[1], bound[2] : bound[3]]), name="tile", allow_constant=True)
    local = positions - np.array([bound[2], bound[0]], dtype=float)  # (x, y) origin
    return extract_patches(tile, local, size, warn=False)


def analyze_tiled(
    image,
    *,
    tile_size: int = 2048,
    halo: int | None = None,
    patch_size: int | None = None,
    n_max: int = 10,
    rotation_invariant: bool = True,
    edge_taper: float | None = None,
    max_fit_points: int | None = 20000,
    column_options: dict | None = None,
    layout_options: dict | None = None,
    labeling_options: dict | None = None,
    client=None,
    random_state=0,
    verbose: bool = True,
) -> TiledAnalysis:
    """Columns -> features -> motif labels for a micrograph too large for :func:`motifkit.analyze`.

    Columns come from :func:`find_columns_tiled`; patches and Zernike features are
    computed tile by tile (a patch is cut from its column's tile, whose halo holds the
    whole patch), so only one tile's patches are in memory at a time. The layout and
    labels are fitted on at most ``max_fit_points`` columns (a random subset); every
    other column takes the label of its nearest fitted column in feature space. Class
    averages are accumulated in a second pass over the tiles.

    Parameters
    ----------
    image : ndarray (H, W), np.memmap, Micrograph or sliceable 2-D array
    tile_size, halo : int
        See :func:`find_columns_tiled` (the halo is raised to hold half a patch).
    patch_size : int, optional
        Odd patch side in px; default :func:`motifkit.suggest_patch_size` of the
        lattice spacing.
    n_max, rotation_invariant, edge_taper
        Zernike features (see :class:`motifkit.ZernikeFeatures`; ``edge_taper`` None is
        its default).
    max_fit_points : int or None
        Columns laid out and labelled directly.
    column_options : dict, optional
        Options of :func:`find_columns_tiled`.
    layout_options, labeling_options : dict, optional
        For ForceRelaxedLayout and MotifLabeler.
    client : distributed.Client or None
        Run column finding as Dask tasks; None: in this process.
    random_state : int, Generator or None
    verbose : bool

    Returns
    -------
    TiledAnalysis

    Examples
    --------
    >>> big = np.load("scan_16k.npy", mmap_mode="r")        # doctest: +SKIP
    >>> result = analyze_tiled(big, tile_size=2048)          # doctest: +SKIP
    >>> result.n_motifs, np.bincount(result.labels)          # doctest: +SKIP
    """
    from .columns import suggest_patch_size
    from .micrograph import Micrograph
    from .zernike import DEFAULT_EDGE_TAPER, ZernikeFeatures

    edge_taper = DEFAULT_EDGE_TAPER if edge_taper is None else edge_taper
    timer = Timer()
    column_options = dict(column_options or {})
    with timer("columns"):
        columns = find_columns_tiled(
            image, tile_size=tile_size, halo=halo, client=client, verbose=verbose, **column_options
        )
    spacing = columns.parameters["lattice_spacing"]
    if patch_size is None:
        patch_size = int(suggest_patch_size(spacing))
    patch_size = int(patch_size)
    if patch_size < 3 or patch_size % 2 == 0:
        raise ParameterError(f"patch_size must be an odd integer >= 3, got {patch_size}.")
    data = image.data if isinstance(image, Micrograph) else image
    height, width = (int(n) for n in data.shape)
    reach = patch_size // 2 + 2
    bounds = [_with_halo(core, (height, width), reach, 1) for core in columns.tiles]
    zernike = ZernikeFeatures(n_max=n_max, rotation_invariant=rotation_invariant, edge_taper=edge_taper)

    kept_index, border_index, feature_parts = [], [], []
    with timer("features"):
        for t in progress(range(len(bounds)), verbose=verbose, desc="tiled features", unit="tile"):
            members = np.flatnonzero(columns.tile_of == t)
            if members.size == 0:
                continue
            patch_set = _tile_patches(data, bounds[t], columns.positions[members], patch_size)
            border_index.append(members[patch_set.dropped])
            if len(patch_set.kept):
                kept_index.append(members[patch_set.kept])
                feature_parts.append(np.asarray(zernike.fit_transform(patch_set.patches), dtype=np.float32))
    if not feature_parts:
        raise NotEnoughDataError("No column is far enough from the border for a full patch; use a smaller patch_size.")
    kept = np.concatenate(kept_index)
    features = np.concatenate(feature_parts)
    del feature_parts
    order = np.argsort(kept, kind="stable")  # back to the column order
    kept, features = kept[order], features[order]

    with timer("labels"):
        labels, layout, fit_index, labeler = _fit_labels(
            features,
            max_fit_points=max_fit_points,
            layout_options=layout_options,
            labeling_options=labeling_options,
            random_state=random_state,
            verbose=verbose,
        )
    k = int(labels.max()) + 1
    with timer("class averages"):
        sums = np.zeros((k, patch_size * patch_size), dtype=np.float64)
        totals = np.zeros(k, dtype=np.int64)
        label_of = np.full(len(columns.positions), -1, dtype=np.int64)
        label_of[kept] = labels
        for t in progress(range(len(bounds)), verbose=verbose, desc="class averages", unit="tile"):
            members = np.flatnonzero((columns.tile_of == t) & (label_of >= 0))
            if members.size == 0:
                continue
            patch_set = _tile_patches(data, bounds[t], columns.positions[members], patch_size)
            mine = label_of[members[patch_set.kept]]
            np.add.at(sums, mine, patch_set.patches.reshape(len(mine), -1).astype(np.float64))
            totals += np.bincount(mine, minlength=k)
        averages = (sums / np.maximum(totals, 1)[:, None]).reshape(k, patch_size, patch_size).astype(np.float32)
    border = np.concatenate(border_index) if border_index else np.zeros(0, dtype=np.int64)
    return TiledAnalysis(
        positions=columns.positions[kept],
        features=features,
        labels=labels,
        class_averages=averages,
        border_positions=columns.positions[np.sort(border)],
        fit_index=fit_index,
        layout=layout,
        columns=columns,
        parameters={
            "patch_size": patch_size,
            "n_max": int(n_max),
            "rotation_invariant": bool(rotation_invariant),
            "edge_taper": float(edge_taper),
            "max_fit_points": max_fit_points,
            "layout_options": dict(layout_options or {}),
            "labeling_options": labeler.get_params(),
            "random_state": random_state if isinstance(random_state, (int, type(None))) else repr(random_state),
            "columns": columns.parameters,
        },
        timings={**dict(timer), **{f"columns: {k}": v for k, v in columns.seconds.items()}},
    )


# ----------------------------------------------------------------------------------
# command line: motifkit batch INPUT_DIR -o OUTDIR [--scheduler ADDRESS] [--workers N]
# ----------------------------------------------------------------------------------
def add_batch_parser(subparsers):
    """Add the ``batch`` subcommand to the ``motifkit`` argument parser's subparsers."""
    batch = subparsers.add_parser(
        "batch",
        help="analyse every micrograph in a folder on Dask (resumable; writes a summary table)",
        description=(
            "Analyse every readable micrograph under INPUT_DIR with the same parameters, "
            "as Dask tasks (a local cluster unless --scheduler is given). Writes one "
            "analysis file per image and summary.csv / summary.json into OUTDIR. Images "
            "already analysed with the same parameters are skipped; a failing image is "
            "recorded with its error."
        ),
    )
    batch.add_argument("input_dir", help="folder with micrographs (searched recursively)")
    batch.add_argument("-o", "--output", required=True, help="output folder")
    batch.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a local cluster)")
    batch.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                       help=f"local worker processes (default: {DEFAULT_WORKERS}; ignored with --scheduler)")
    batch.add_argument("--patch-size", type=int, default=None, help="patch side in px (odd; default: per image from the lattice spacing)")
    batch.add_argument("--n-max", type=int, default=10, help="highest Zernike order (default: 10)")
    batch.add_argument("--no-rotation-invariance", action="store_true", help="orientation-sensitive features")
    batch.add_argument("--edge-taper", type=float, default=None, help="radial taper of the patch disk, fraction of its radius (default: 0.15; 0 = the paper's hard edge)")
    batch.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    batch.add_argument("--no-resume", action="store_true", help="redo images that were already analysed")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    batch.set_defaults(func=batch_main)
    return batch


def batch_main(args) -> int:
    """Run ``motifkit batch``; returns the exit status (1 when any image failed)."""
    output = Path(args.output)
    paths, ignored = find_micrographs(args.input_dir, exclude=[output])
    verbose = not args.quiet
    if not paths:
        raise ParameterError(
            f"No micrograph files under {args.input_dir} ({len(ignored)} other files); "
            "supported extensions are listed in motifkit.io.SUPPORTED_EXTENSIONS."
        )
    if verbose:
        print(f"{len(paths)} micrographs under {args.input_dir}"
              + (f" ({len(ignored)} other files ignored)" if ignored else ""))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # failures are reported below and in the summary
        result = analyze_many(
            paths,
            client=args.scheduler,
            output_dir=output,
            resume=not args.no_resume,
            n_workers=args.workers,
            verbose=verbose,
            patch_size=args.patch_size,
            n_max=args.n_max,
            rotation_invariant=not args.no_rotation_invariance,
            edge_taper=args.edge_taper,
            random_state=args.seed,
        )
    print(f"{result.count('ok')} analysed, {result.count('skipped')} skipped (done before), "
          f"{result.count('failed')} failed in {result.seconds:.1f} s; summary: {result.summary_csv}")
    for record in result.failed:
        print(f"  failed: {record['path']}: {record['error']}")
    return 1 if result.failed else 0
