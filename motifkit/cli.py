"""The ``motifkit`` command line: ``motifkit demo | analyze | simulate | info | batch``.

Run ``motifkit --help`` or ``motifkit COMMAND --help`` for details.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import MotifkitError

_DESCRIPTION = """\
motifkit: find atom columns, motifs and motif hierarchies in atomic-resolution
micrographs (STEM/STM), and simulate STEM images with ground truth.

Examples:
  motifkit demo -o demo_output            analyse the bundled Ti-doped WSe2 micrograph
  motifkit analyze image.dm4 -o results   full motif analysis of your own image
  motifkit info image.dm4                 shape, calibration and metadata of a file
  motifkit simulate mose2_with_vacancies -o sim.npz --seed 1
  motifkit batch images/ -o results       analyse a folder of micrographs on Dask
  motifkit figures --quick -o figures     regenerate the paper figures (papermill)
  motifkit train cnn --epochs 10          train a Bravais-lattice classifier (needs torch)
"""


def _cmd_info(args) -> int:
    from .io import read

    micrograph = read(args.path, frame=args.frame)
    data = micrograph.data
    print(f"file:        {args.path}")
    print(f"shape:       {data.shape[1]} x {data.shape[0]} px (W x H)")
    if micrograph.pixel_size is not None:
        fov = micrograph.field_of_view
        print(f"pixel size:  {micrograph.pixel_size:g} {micrograph.unit}/px")
        print(f"field:       {fov[0]:.4g} x {fov[1]:.4g} {micrograph.unit}")
    else:
        print("pixel size:  unknown (the file carries no calibration)")
    print(f"intensity:   min {data.min():.4g}, max {data.max():.4g}, mean {data.mean():.4g}")
    if args.metadata:
        print("metadata:")
        print(json.dumps(micrograph.metadata, indent=2, default=str))
    return 0


def _cmd_simulate(args) -> int:
    from . import data as sample_data
    from .io import write

    presets = sample_data.PRESETS
    if args.preset not in presets:
        raise MotifkitError(
            f"Unknown preset {args.preset!r}; choose one of: {', '.join(sorted(presets))}."
        )
    kwargs = {"random_state": args.seed}
    if args.size:
        kwargs["shape"] = (args.size, args.size)
    simulated = presets[args.preset](**kwargs)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write(simulated.image, output)
    truth_path = output.with_name(output.stem + "_truth.npz")
    simulated.truth.save(truth_path)
    print(f"wrote {output} ({simulated.image!r}) and ground truth {truth_path} "
          f"({len(simulated.truth.positions)} columns)")
    return 0


def _cmd_analyze(args) -> int:
    from .analysis import run_analysis_to_folder

    run_analysis_to_folder(
        args.image,
        args.output,
        frame=args.frame,
        patch_size=args.patch_size,
        n_max=args.n_max,
        rotation_invariant=not args.no_rotation_invariance,
        edge_taper=args.edge_taper,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    return 0


def _cmd_demo(args) -> int:
    from .analysis import run_demo

    run_demo(args.output, random_state=args.seed, verbose=not args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``motifkit`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="motifkit", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"motifkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="analyse the bundled real WSe2 micrograph and write a report")
    demo.add_argument("-o", "--output", default="demo_output", help="output folder (default: demo_output)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_cmd_demo)

    analyze = sub.add_parser("analyze", help="run the motif analysis on an image file")
    analyze.add_argument("image", help="micrograph file (.dm3/.dm4/.ser/.emd/.tif/.hspy/.h5/.npy/.npz/.png)")
    analyze.add_argument("-o", "--output", required=True, help="output folder")
    analyze.add_argument("--frame", type=int, default=None, help="frame index for image stacks")
    analyze.add_argument("--patch-size", type=int, default=None, help="patch side in px (odd; default: from the lattice spacing)")
    analyze.add_argument("--n-max", type=int, default=10, help="highest Zernike order (default: 10)")
    analyze.add_argument("--no-rotation-invariance", action="store_true", help="orientation-sensitive features")
    analyze.add_argument("--edge-taper", type=float, default=None, help="radial taper of the patch disk, fraction of its radius (default: 0.15; 0 = the paper's hard edge)")
    analyze.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    analyze.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    analyze.set_defaults(func=_cmd_analyze)

    simulate = sub.add_parser("simulate", help="write a simulated STEM image and its ground truth")
    simulate.add_argument("preset", help="preset name, e.g. mose2_with_vacancies, ws2_fe_te, pentagon_tiling, twisted_bilayer")
    simulate.add_argument("-o", "--output", required=True, help="image file to write (.npz, .tif or .hspy)")
    simulate.add_argument("--size", type=int, default=None, help="image side in px")
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    simulate.set_defaults(func=_cmd_simulate)

    info = sub.add_parser("info", help="print shape, calibration and metadata of a micrograph file")
    info.add_argument("path", help="micrograph file")
    info.add_argument("--frame", type=int, default=None, help="frame index for image stacks")
    info.add_argument("--metadata", action="store_true", help="also print all metadata as JSON")
    info.set_defaults(func=_cmd_info)

    from .batch import add_batch_parser
    from .figures_runner import add_figures_parser
    from .learn.cli import add_train_parser

    add_batch_parser(sub)
    add_figures_parser(sub)
    add_train_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``motifkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MotifkitError as exc:
        print(f"motifkit {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
