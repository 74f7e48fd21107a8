"""Batch runner of the figure notebooks: ``motifkit figures``.

:func:`run_figures` executes the notebooks of ``notebooks/`` with papermill, each into
its own folder ``OUTDIR/<name>/`` (panels as PNG and SVG, ``provenance.json`` and the
executed notebook ``<name>.ipynb``), optionally several at a time, and writes
``OUTDIR/index.html`` with a thumbnail of every panel linked to the full-size image, the
executed notebook and the provenance record. A failing notebook never stops the others:
its name and error are collected in the returned :class:`FiguresReport` (and on the
index page), and the command exits with status 1.

Which notebooks: every ``*.ipynb`` of the notebooks folder whose name does not start
with ``_`` and that has a cell tagged ``parameters``. The folder is, in order: the
``notebooks_dir`` argument, the ``MOTIFKIT_NOTEBOOKS`` environment variable, the
``notebooks/`` folder of a source checkout (next to the ``motifkit`` package) or the
copy shipped inside an installed wheel (``motifkit/_notebooks``).

Which Python: the notebooks always run on the interpreter that runs the runner
(``sys.executable``), whatever kernelspecs are installed. The runner gives papermill a
kernel manager whose kernelspec is built on the fly (``python -m ipykernel_launcher``
of ``sys.executable``), so a ``python3`` kernelspec of another environment (for example
one in ``~/.local/share/jupyter/kernels``) cannot shadow the project's environment, and
nothing is registered anywhere.
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MotifkitError, ParameterError, require

__all__ = ["FigureResult", "FiguresReport", "GALLERY", "find_notebooks_dir", "list_notebooks", "run_figures",
           "write_index", "write_gallery", "add_figures_parser", "figures_main"]

#: Panels of the README gallery: (notebook, panel) pairs, see :func:`write_gallery`.
GALLERY = (
    ("fig1_workflow", "F_G_fr_layouts"),
    ("fig1_workflow", "I_reconstruction"),
    ("fig2_hierarchy", "B_motif_cells"),
    ("fig2_hierarchy", "D_hierarchy"),
    ("fig3_dopants", "B_C_E_roles_hierarchy"),
    ("fig4_polyoxometalate", "G_reconstruction_arrows"),
    ("fig5_twisted_bilayer", "B_C_H_domains_kl"),
    ("s11_fr_stages_movie", "S11_stages"),
)

#: Kernel name recorded in the executed notebooks (the kernel itself is sys.executable).
KERNEL_NAME = "python3"
_ENV_NOTEBOOKS = "MOTIFKIT_NOTEBOOKS"
_PROVENANCE = "provenance.json"
_KERNEL_LOG = "kernel.log"  # the kernel process's stderr
# Thread pools shared out among notebooks run in parallel: with more busy threads than
# cores, OpenMP/BLAS spin-waiting makes e.g. t-SNE several times slower.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


# ---------------------------------------------------------------------------- kernels
def _kernel_manager_class(stderr_path=None, threads: int | None = None):
    """An async kernel manager whose kernelspec always launches ``sys.executable``.

    The kernel process's own stderr (start-up warnings, crashes; not the cell outputs,
    which papermill stores in the notebook) goes to ``stderr_path`` when given. With
    ``threads``, the kernel's OpenMP/BLAS/numba thread pools get that many threads
    (variables the user has set are kept).
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    python = sys.executable

    class ThisInterpreterSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(
                argv=[python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} ({python})",
                language="python",
                metadata={"debugger": False},
                resource_dir="",
            )

        def find_kernel_specs(self):
            return {KERNEL_NAME: ""}

    class ThisInterpreterKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _default_specs(self):
            return ThisInterpreterSpecs(data_dir=self.data_dir)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            if threads is not None:
                env = dict(kw.get("env") or os.environ)
                for variable in _THREAD_VARIABLES:
                    env.setdefault(variable, str(threads))
                kw["env"] = env
            if stderr_path is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(stderr_path, "ab") as handle:  # the kernel process keeps its own copy
                kw["stderr"] = handle
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return ThisInterpreterKernelManager


# ---------------------------------------------------------------------------- discovery
def find_notebooks_dir(notebooks_dir=None) -> Path:
    """The folder holding the figure notebooks (see the module docstring for the order).

    Raises
    ------
    MotifkitError
        No notebooks folder found.
    """
    candidates = []
    if notebooks_dir is not None:
        candidates.append(Path(notebooks_dir))
    elif os.environ.get(_ENV_NOTEBOOKS):
        candidates.append(Path(os.environ[_ENV_NOTEBOOKS]))
    else:
        package = Path(__file__).resolve().parent
        candidates += [package.parent / "notebooks", package / "_notebooks"]
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    raise MotifkitError(
        f"No figure notebooks found (looked in {', '.join(str(c) for c in candidates)}). Run from a "
        f"source checkout of motifkit, or point {_ENV_NOTEBOOKS} / --notebooks at the notebooks/ folder."
    )


def _has_parameters_cell(path: Path) -> bool:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in notebook.cells)


def list_notebooks(notebooks_dir=None) -> dict:
    """Runnable notebooks: name (file stem) -> path, sorted by name.

    Notebooks starting with ``_`` or without a cell tagged ``parameters`` are left out.
    """
    folder = find_notebooks_dir(notebooks_dir)
    found = {}
    for path in sorted(folder.glob("*.ipynb")):
        if path.name.startswith("_") or not _has_parameters_cell(path):
            continue
        found[path.stem] = path
    return found


# ---------------------------------------------------------------------------- results
@dataclass
class FigureResult:
    """Outcome of one notebook.

    Attributes
    ----------
    name : str
    status : {"ok", "failed"}
    seconds : float
        Wall-clock time of the execution.
    folder : Path
        ``OUTDIR/<name>``: panels, provenance and the executed notebook.
    notebook : Path
        The executed notebook (also written when it failed, up to the failing cell).
    panels : list of str
        PNG files written (names relative to ``folder``).
    provenance : Path or None
    error : str
        One-paragraph summary of the failure ("" when ok).
    """

    name: str
    status: str
    seconds: float
    folder: Path
    notebook: Path
    panels: list = field(default_factory=list)
    provenance: Path | None = None
    error: str = ""


@dataclass
class FiguresReport:
    """What :func:`run_figures` did.

    Attributes
    ----------
    outdir : Path
    results : list of FigureResult
        One per notebook, in name order.
    index : Path
        The index page.
    seconds : float
        Total wall-clock time.
    """

    outdir: Path
    results: list
    index: Path
    seconds: float

    @property
    def failed(self) -> list:
        """Results of the notebooks that failed."""
        return [r for r in self.results if r.status != "ok"]

    @property
    def ok(self) -> bool:
        """True when every notebook ran."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every notebook ran, 1 otherwise."""
        return 0 if self.ok else 1

    def summary(self) -> str:
        """Human-readable lines: one per notebook, then the failures with their errors."""
        lines = [f"{r.name:<32} {r.status:<6} {r.seconds:7.1f} s  {len(r.panels)} panels" for r in self.results]
        lines.append(f"{len(self.results) - len(self.failed)} of {len(self.results)} notebooks ran in "
                     f"{self.seconds:.1f} s; index: {self.index}")
        for r in self.failed:
            lines.append(f"FAILED {r.name}: {r.error}")
        return "\n".join(lines)


def _error_summary(exc: BaseException) -> str:
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:  # papermill.exceptions.PapermillExecutionError: the notebook's own exception
        cell = getattr(exc, "exec_count", None)
        where = f" (cell [{cell}])" if cell is not None else ""
        return f"{ename}: {evalue}{where}"[:2000]
    return f"{type(exc).__name__}: {exc}"[:2000]


def _run_one(name: str, path: str, outdir: str, quick: bool, timeout, threads=None) -> FigureResult:
    """Execute one notebook into ``outdir/name`` (runs in a worker process when jobs > 1)."""
    import papermill

    folder = Path(outdir) / name
    executed = folder / f"{name}.ipynb"
    if executed.exists():  # an earlier run's folder: start clean so no stale panel is indexed
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parameters = {"quick": bool(quick), "output_dir": str(folder.resolve())}
    start = time.perf_counter()
    error = ""
    try:
        papermill.execute_notebook(
            str(path), str(executed), parameters=parameters, kernel_name=KERNEL_NAME, language="python",
            cwd=str(folder), progress_bar=False, log_output=False, request_save_on_cell_execute=False,
            execution_timeout=timeout, kernel_manager_class=_kernel_manager_class(folder / _KERNEL_LOG, threads),
        )
    except Exception as exc:
        error = _error_summary(exc)
        if not executed.exists():
            error += "\n" + "".join(traceback.format_exception_only(type(exc), exc)).strip()
    seconds = time.perf_counter() - start
    provenance = folder / _PROVENANCE
    if not error and not provenance.exists():
        error = f"the notebook ran but wrote no {_PROVENANCE} into its output_dir"
    return FigureResult(
        name=name, status="failed" if error else "ok", seconds=seconds, folder=folder, notebook=executed,
        panels=sorted(p.name for p in folder.glob("*.png")),
        provenance=provenance if provenance.exists() else None, error=error,
    )


# ---------------------------------------------------------------------------- index page
def _notebook_title(path: Path, fallback: str) -> str:
    try:
        import nbformat

        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    if line.startswith("#"):
                        return line.lstrip("#").strip()
    except Exception:
        pass
    return fallback


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
section { border-top: 1px solid #ccc; padding: 0.6em 0 1em; }
h2 { margin: 0.2em 0; font-size: 1.15em; }
.meta { font-size: 0.9em; color: #555; }
.failed { color: #b00020; font-weight: bold; }
.ok { color: #2e7d32; font-weight: bold; }
pre { background: #fbeaea; padding: 0.5em; white-space: pre-wrap; }
figure { display: inline-block; margin: 0.4em; text-align: center; vertical-align: top; }
figure img { max-width: 240px; max-height: 200px; border: 1px solid #ddd; }
figcaption { font-size: 0.8em; }
"""


def write_index(outdir, results, *, title: str = "motifkit figures", notebooks: dict | None = None) -> Path:
    """Write ``outdir/index.html``: per notebook its status, links and panel thumbnails.

    Every thumbnail links to the full-size PNG (and its SVG), and every section links to
    the executed notebook and to ``provenance.json``.
    """
    outdir = Path(outdir)
    notebooks = notebooks or {}
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    n_failed = sum(r.status != "ok" for r in results)
    parts.append(f"<p>{len(results) - n_failed} of {len(results)} notebooks ran"
                 + (f", <span class='failed'>{n_failed} failed</span>" if n_failed else "") + ".</p>")
    for r in results:
        rel = r.folder.relative_to(outdir) if r.folder.is_relative_to(outdir) else r.folder
        heading = _notebook_title(notebooks.get(r.name, r.notebook), r.name)
        nb_link = f"<a href='{html.escape((rel / r.notebook.name).as_posix())}'>notebook</a>"
        prov_link = (f"<a href='{html.escape((rel / _PROVENANCE).as_posix())}'>provenance</a>"
                     if r.provenance else "no provenance")
        parts.append(f"<section id='{html.escape(r.name)}'><h2>{html.escape(r.name)}: {html.escape(heading)}</h2>"
                     f"<div class='meta'><span class='{r.status}'>{r.status}</span> in {r.seconds:.1f} s &middot; "
                     f"{nb_link} &middot; {prov_link}</div>")
        if r.error:
            parts.append(f"<pre>{html.escape(r.error)}</pre>")
        for panel in r.panels:
            png = (rel / panel).as_posix()
            svg = (rel / (Path(panel).stem + ".svg")).as_posix()
            svg_link = f" (<a href='{html.escape(svg)}'>svg</a>)" if (r.folder / (Path(panel).stem + ".svg")).exists() else ""
            parts.append(f"<figure><a href='{html.escape(png)}'><img src='{html.escape(png)}' alt='{html.escape(panel)}' "
                         f"loading='lazy'></a><figcaption>{html.escape(Path(panel).stem)}{svg_link}<br>"
                         f"<a href='{html.escape((rel / r.notebook.name).as_posix())}'>notebook</a> &middot; "
                         + (f"<a href='{html.escape((rel / _PROVENANCE).as_posix())}'>provenance</a>" if r.provenance else "")
                         + "</figcaption></figure>")
        for movie in sorted(r.folder.glob("*.gif")) if r.folder.is_dir() else []:
            gif = (rel / movie.name).as_posix()
            parts.append(f"<figure><a href='{html.escape(gif)}'><img src='{html.escape(gif)}' alt='{html.escape(movie.name)}' "
                         f"loading='lazy'></a><figcaption>{html.escape(movie.name)} (animation)</figcaption></figure>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    index = outdir / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index


def write_gallery(outdir, dest, *, panels=GALLERY, max_width: int = 560, verbose: bool = True) -> list:
    """Copy the gallery panels of a figures run, shrunk to ``max_width`` px, into ``dest``.

    Files are named ``<notebook>__<panel>.png`` (small PNGs to commit for the README).
    Panels missing from ``outdir`` (notebook not run or failed) are listed, not copied.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from PIL import Image

    outdir, dest = Path(outdir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written, missing = [], []
    for notebook, panel in panels:
        source = outdir / notebook / f"{panel}.png"
        if not source.exists():
            missing.append(f"{notebook}/{panel}")
            continue
        with Image.open(source) as image:
            image = image.convert("RGB")
            if image.width > max_width:
                image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
            target = dest / f"{notebook}__{panel}.png"
            # 128-colour palette: a few tens of kB per panel, fine for grey micrographs + markers
            image.convert("P", palette=Image.ADAPTIVE, colors=128).save(target, optimize=True)
        written.append(target)
    if verbose and missing:
        print(f"gallery: {len(missing)} panel(s) not found in {outdir}: {', '.join(missing)}")
    return written


# ---------------------------------------------------------------------------- runner
def run_figures(outdir="figures", only=None, quick: bool = False, jobs: int = 1, verbose: bool = True, *,
                notebooks_dir=None, timeout: float | None = None, scheduler=None) -> FiguresReport:
    """Execute the figure notebooks with papermill and write an index page.

    Parameters
    ----------
    outdir : path
        Output folder; notebook ``name`` writes into ``outdir/name/`` (panels, provenance
        and the executed ``name.ipynb``); the index page is ``outdir/index.html``.
    only : sequence of str, optional
        Notebook names (file stems, e.g. ``"fig1_workflow"``) to run; default all.
    quick : bool
        Pass ``quick=True`` to every notebook (small inputs, for CI).
    jobs : int
        Notebooks executed at the same time (separate processes). Each kernel then gets
        ``cpu_count // jobs`` threads for OpenMP, BLAS and numba (unless
        ``OMP_NUM_THREADS`` etc. are set already).
    verbose : bool
        Print one line per finished notebook and the summary.
    notebooks_dir : path, optional
        Folder of the notebooks (default: see :func:`find_notebooks_dir`).
    timeout : float, optional
        Seconds allowed per cell (None: no limit).
    scheduler : None, "local", str or distributed.Client
        Run every notebook as a Dask task: ``"local"`` starts a LocalCluster of ``jobs``
        single-threaded worker processes for the call; a scheduler address
        (``"tcp://host:8786"``) or a ``distributed.Client`` uses that cluster (its workers
        need motifkit installed and the notebooks folder and ``outdir`` at the same paths).
        None (default): local processes, see ``jobs``.

    Returns
    -------
    FiguresReport
        ``report.exit_code`` is 1 when any notebook failed.

    Raises
    ------
    MotifkitError
        Unknown names in ``only`` (the message lists the valid ones), no notebooks found.
    MissingDependencyError
        papermill is not installed (``pip install motifkit[notebooks]``).

    Examples
    --------
    >>> report = run_figures("figures", only=["fig1_workflow"], quick=True)  # doctest: +SKIP
    >>> report.exit_code                                                      # doctest: +SKIP
    0
    """
    require("papermill", "notebooks", "running the figure notebooks")
    require("ipykernel", "notebooks", "running the figure notebooks")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ParameterError(f"jobs must be a positive integer, got {jobs!r}.")
    available = list_notebooks(notebooks_dir)
    if isinstance(only, str):
        only = [only]
    if only:
        names = [Path(name).stem for name in only]
        unknown = [name for name in names if name not in available]
        if unknown:
            raise MotifkitError(
                f"Unknown notebook name(s) {', '.join(unknown)}; choose from: {', '.join(available)}."
            )
        selected = {name: available[name] for name in dict.fromkeys(names)}
    else:
        selected = available
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = {}

    def finished(result: FigureResult):
        results[result.name] = result
        if verbose:
            print(f"[{len(results)}/{len(selected)}] {result.name}: {result.status} in {result.seconds:.1f} s"
                  + (f" -- {result.error.splitlines()[0]}" if result.error else ""), flush=True)

    def collect(futures, completed):
        for future in completed(futures):
            name = futures[future]
            try:
                finished(future.result())
            except Exception as exc:  # the task itself broke (worker lost, pickling ...)
                folder = outdir / name
                finished(FigureResult(name, "failed", 0.0, folder, folder / f"{name}.ipynb",
                                      error=_error_summary(exc)))

    parallel = jobs > 1 and len(selected) > 1
    # each of the notebooks running at the same time gets an equal share of the cores
    threads = max(1, (os.cpu_count() or 1) // min(jobs, len(selected))) if parallel else None
    if scheduler is not None:
        from .batch import _ClientContext

        if isinstance(scheduler, str) and scheduler == "local":
            scheduler = None  # _ClientContext starts a LocalCluster of `jobs` workers
        else:
            threads = None  # a cluster of its own: its workers' cores are unknown here
        with _ClientContext(scheduler, jobs) as client:
            from distributed import as_completed as dask_completed

            futures = {client.submit(_run_one, name, str(path), str(outdir.resolve()), quick, timeout, threads,
                                     key=f"motifkit-figure-{name}-{time.time_ns()}", pure=False): name
                       for name, path in selected.items()}
            collect(futures, dask_completed)
    elif not parallel:
        for name, path in selected.items():
            finished(_run_one(name, str(path), str(outdir), quick, timeout))
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no forked copies of a running kernel client
        with ProcessPoolExecutor(max_workers=min(jobs, len(selected)), mp_context=context) as pool:
            futures = {pool.submit(_run_one, name, str(path), str(outdir), quick, timeout, threads): name
                       for name, path in selected.items()}
            collect(futures, as_completed)
    ordered = [results[name] for name in selected]
    index = write_index(outdir, ordered, notebooks=selected)
    report = FiguresReport(outdir=outdir, results=ordered, index=index, seconds=time.perf_counter() - start)
    if verbose:
        print(report.summary())
    return report


# ---------------------------------------------------------------------------- command line
def add_figures_parser(subparsers):
    """Add the ``figures`` subcommand to the ``motifkit`` argument parser's subparsers."""
    figures = subparsers.add_parser(
        "figures",
        help="regenerate the paper figures by running the notebooks (papermill)",
        description=(
            "Run the figure notebooks with papermill, each into OUTDIR/NAME/ (panels as PNG and "
            "SVG, provenance.json, the executed notebook), and write OUTDIR/index.html with a "
            "thumbnail of every panel. A failing notebook does not stop the others; the exit "
            "status is 1 when any failed."
        ),
    )
    figures.add_argument("-o", "--outdir", default="figures", help="output folder (default: figures)")
    figures.add_argument("--only", nargs="+", metavar="NAME", default=None,
                         help="run only these notebooks (file stems, e.g. fig1_workflow)")
    figures.add_argument("--quick", action="store_true", help="small inputs, for CI (under a minute per notebook)")
    figures.add_argument("--jobs", type=int, default=1, help="notebooks run at the same time (default: 1)")
    figures.add_argument("--notebooks", default=None, help="folder of the notebooks (default: the checkout's notebooks/)")
    figures.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell (default: no limit)")
    figures.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="run the notebooks as Dask tasks: 'local' (a LocalCluster of --jobs workers) "
                              "or a scheduler address such as tcp://host:8786")
    figures.add_argument("--gallery", default=None, metavar="DIR",
                         help="also write small copies of the main panels into DIR (for the README)")
    figures.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    figures.set_defaults(func=figures_main)
    return figures


def figures_main(args) -> int:
    """Run ``motifkit figures``; returns the exit status (1 when any notebook failed)."""
    report = run_figures(args.outdir, only=args.only, quick=args.quick, jobs=args.jobs,
                         verbose=not args.quiet, notebooks_dir=args.notebooks, timeout=args.timeout,
                         scheduler=args.scheduler)
    if args.quiet:
        print(report.summary())
    if args.gallery:
        written = write_gallery(args.outdir, args.gallery)
        print(f"gallery: {len(written)} panels in {args.gallery}")
    return report.exit_code


def main(argv=None) -> int:
    """``python -m motifkit.figures_runner`` (same options as ``motifkit figures``)."""
    parser = argparse.ArgumentParser(prog="python -m motifkit.figures_runner")
    add_figures_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["figures", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except MotifkitError as exc:
        print(f"motifkit figures: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
