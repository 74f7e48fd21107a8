"""Small helpers shared across motifkit: progress bars, random state, timing."""

from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

from .errors import ParameterError

__all__ = ["progress", "check_random_state", "Timer", "json_default", "json_default_strict"]


def progress(iterable=None, *, verbose: bool = True, desc: str | None = None, total=None, unit="it"):
    """Wrap ``iterable`` in a tqdm progress bar, silent when ``verbose`` is False.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over; omit it to get a manually updated bar (``bar.update(n)``).
    verbose : bool
        Show the bar.
    desc : str, optional
        Label shown before the bar.
    total : int, optional
        Number of items when ``iterable`` has no ``len``.
    unit : str
        Name of one item.
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not verbose, unit=unit, leave=False)


def check_random_state(random_state) -> np.random.Generator:
    """Turn ``random_state`` (None, int, Generator or RandomState) into a Generator.

    The same integer always gives the same stream, so results are reproducible.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise ParameterError(
        f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}."
    )


class Timer(dict):
    """Collect named wall-clock timings in seconds: ``with timer("step"): ...``."""

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - start


def json_default_strict(value):
    """``json.dumps(..., default=json_default_strict)``: NumPy scalars/arrays and paths as
    JSON values; anything else raises TypeError (for files that must round-trip)."""
    from pathlib import Path

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def json_default(value):
    """Like :func:`json_default_strict`, but stores any other object as its ``repr``
    (for records meant to be read, such as provenance and option hashes)."""
    try:
        return json_default_strict(value)
    except TypeError:
        return repr(value)
