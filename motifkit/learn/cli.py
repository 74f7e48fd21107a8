"""``motifkit train <task>`` command-line wiring (imports torch only when a task runs).

Every task has its own argparse sub-subparser. :data:`TASKS` maps a task name to
``(module_path, help)``; the module (or, with ``"module:attribute"``, an object in it)
exposes ``add_train_arguments(parser)`` and ``run_train(args) -> int``. Task modules are
imported only while the parser is built, one at a time, so a task whose module is missing
or cannot be imported (no torch, say) is reported when it is chosen and never breaks the
other tasks.
"""

from __future__ import annotations

import argparse
import importlib
import os

from ..errors import MissingDependencyError

#: Task name -> (module path, or "module:attribute", exposing add_train_arguments and run_train; help).
TASKS = {
    "cnn": ("motifkit.learn.cli:CNN_TASK", "DenseNet Bravais-lattice classifier (5 classes)"),
    "unet": ("motifkit.learn.cli:UNET_TASK", "U-Net atom vs background segmentation"),
    "gnn": ("motifkit.learn.graph", "ALIGNN-style graph network Bravais classifier on blob graphs"),
    "autoencoder": ("motifkit.learn.autoencoder", "convolutional autoencoder (image -> latent -> image)"),
    "srgan": ("motifkit.learn.srgan", "4x super-resolution GAN"),
}

_DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "motifkit", "learn")


def add_common_arguments(parser, *, epochs: int, batch_size: int, lr: float, n_per_class: int,
                         out: str = "<task>.pt", init: bool = True) -> None:
    """Options every training task shares (data size, optimiser, seed, checkpoints, device).

    ``out`` is the default checkpoint name shown in the help; ``init=False`` leaves out
    ``--init`` for tasks that cannot continue from a checkpoint.
    """
    parser.add_argument("--n-per-class", type=int, default=n_per_class, help=f"samples per Bravais class (default {n_per_class})")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"(default {epochs})")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"(default {batch_size})")
    parser.add_argument("--lr", type=float, default=lr, help=f"peak learning rate of the one-cycle schedule (default {lr})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset, split and training (default 0)")
    parser.add_argument("--cache-dir", default=_DEFAULT_CACHE, help="folder of the .npz dataset cache")
    if init:
        parser.add_argument("--init", default=None, help="start from this checkpoint's weights (continue training)")
    parser.add_argument("--out", default=None, help=f"checkpoint path (default {out})")
    parser.add_argument("--metrics", default=None, help="also write the test metrics as JSON to this file")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


class _BravaisTask:
    """The ``cnn`` and ``unet`` tasks (both train on :func:`motifkit.learn.make_bravais_dataset`)."""

    def __init__(self, name: str):
        self.name = name

    def add_train_arguments(self, parser) -> None:
        if self.name == "cnn":
            add_common_arguments(parser, epochs=10, batch_size=64, lr=3e-3, n_per_class=1000)
            parser.add_argument("--image-size", type=int, default=128, help="image side in pixels (default 128)")
            parser.add_argument("--pixel-size", type=float, default=0.3, help="training pixel size in Å (default 0.3)")
            parser.add_argument("--input", default="canonical_autocorrelation",
                                choices=("canonical_autocorrelation", "canonical_mirror", "image_autocorrelation"),
                                help="classifier input (default: canonical_autocorrelation, the autocorrelation "
                                     "rotated and scaled to the shortest lattice vector; canonical_mirror adds its "
                                     "mirror-odd part; image_autocorrelation: image + windowed autocorrelation)")
            parser.add_argument("--growth", type=int, default=8, help="DenseNet growth rate (default 8)")
            parser.add_argument("--block-layers", default="3,3,3", help="layers per dense block (default 3,3,3)")
            parser.add_argument("--stem-channels", type=int, default=16, help="(default 16)")
        else:
            add_common_arguments(parser, epochs=5, batch_size=32, lr=3e-3, n_per_class=200)
            parser.add_argument("--image-size", type=int, default=64, help="image side in pixels (default 64)")
            parser.add_argument("--pixel-size", type=float, default=0.3, help="training pixel size in Å (default 0.3)")
            parser.add_argument("--mask-radius", type=float, default=0.6, help="atom disk radius in Å of the targets (default 0.6)")
            parser.add_argument("--base-channels", type=int, default=12, help="U-Net channels at full resolution (default 12)")
            parser.add_argument("--depth", type=int, default=3, help="U-Net downsamplings (default 3)")
        parser.set_defaults(task=self.name)

    def run_train(self, args) -> int:
        from .train import run_train

        args.task = self.name
        return run_train(args)


CNN_TASK = _BravaisTask("cnn")
UNET_TASK = _BravaisTask("unet")


def load_task(name: str):
    """The object (module) implementing task ``name`` of :data:`TASKS`; raises MissingDependencyError."""
    path = TASKS[name][0]
    module_name, _, attribute = path.partition(":")
    try:
        target = importlib.import_module(module_name)
    except MissingDependencyError:
        raise
    except ImportError as exc:
        raise MissingDependencyError(
            getattr(exc, "name", None) or module_name, "ml", f"the training task {name!r} ({module_name}: {exc})"
        ) from exc
    return getattr(target, attribute) if attribute else target


class _LazyTaskParser(argparse.ArgumentParser):
    """Sub-parser of one task that imports the task module only when that task is parsed or its help shown.

    Building ``motifkit --help`` therefore imports neither torch nor any task module.
    """

    def __init__(self, *args, task_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self._task_name = task_name
        self._loaded = not task_name

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        name = self._task_name
        try:
            task = load_task(name)
        except MissingDependencyError as exc:

            def unavailable(args, error=exc):
                raise error

            self.set_defaults(func=unavailable, task=name)
            return
        task.add_train_arguments(self)
        self.set_defaults(func=task.run_train, task=name)

    def parse_known_args(self, args=None, namespace=None):
        self._load()
        return super().parse_known_args(args, namespace)

    def format_help(self):
        self._load()
        return super().format_help()

    def format_usage(self):
        self._load()
        return super().format_usage()


def add_task_subparsers(parser) -> None:
    """One sub-subparser per task of :data:`TASKS` on ``parser`` (sets ``func`` and ``task``).

    Each task module is imported only when its task is chosen. A task whose module cannot
    be imported raises the :class:`~motifkit.errors.MissingDependencyError` (with the install
    hint) when run, and never affects the other tasks.
    """
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True, parser_class=_LazyTaskParser)
    for name, (_path, help_text) in TASKS.items():
        tasks.add_parser(name, help=help_text, description=help_text, task_name=name)


def add_train_arguments(parser) -> None:
    """Tasks and their arguments of the train command (``motifkit train`` and ``python -m motifkit.learn.train``)."""
    add_task_subparsers(parser)


def run_train_command(args) -> int:
    """Handler of the train command: the chosen task's ``run_train``."""
    return args.func(args)


def add_train_parser(subparsers):
    """Add ``train`` (one sub-command per task of :data:`TASKS`) to an argparse subparsers object.

    The handler is stored as ``func`` (``args.func(args)`` runs it and returns an exit code).

    Examples
    --------
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest="command")
    >>> _ = add_train_parser(sub)
    >>> parser.parse_args(["train", "cnn", "--epochs", "2"]).epochs
    2
    """
    parser = subparsers.add_parser("train", help="train a motifkit.learn model on synthetic STEM data")
    add_train_arguments(parser)
    return parser
