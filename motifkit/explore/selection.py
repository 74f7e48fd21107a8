"""The selection model every explorer view observes (pure Python, no browser needed).

One :class:`SelectionModel` holds the state shared by the linked views: which columns are
selected, the motif label of every column (which manual curation changes) and the undo
history of those changes. Views never talk to each other: a view reports a user gesture
to the model (:meth:`SelectionModel.select`), the model notifies every observer, and each
observer redraws itself. Setting a selection equal to the current one notifies nobody,
which also absorbs front ends that report one browser change twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

__all__ = ["SelectionModel", "SelectionChange", "LabelChange", "as_indices"]

_MODES = ("replace", "add", "subtract", "intersect")


def as_indices(indices, n_columns: int, *, name: str = "selection") -> np.ndarray:
    """Validate a column selection and return it as sorted unique int64 indices.

    Parameters
    ----------
    indices : array_like of int, array_like of bool of length ``n_columns``, or None
        Column indices (any order, repeats allowed) or a boolean mask; None or empty
        means nothing selected.
    n_columns : int
        Number of columns N.
    name : str
        Name used in error messages.

    Returns
    -------
    ndarray of int64, shape (M,)

    Raises
    ------
    ParameterError
        Indices outside ``0 .. N-1``, non-integer values, or a mask of the wrong length.

    Examples
    --------
    >>> as_indices([3, 1, 3], 5)
    array([1, 3])
    >>> as_indices(np.array([True, False, True]), 3)
    array([0, 2])
    """
    if indices is None:
        return np.zeros(0, dtype=np.int64)
    array = np.asarray(indices)
    if array.dtype == bool:
        if array.shape != (n_columns,):
            raise ParameterError(
                f"a boolean {name} mask must have one entry per column ({n_columns}), got shape {array.shape}."
            )
        return np.flatnonzero(array).astype(np.int64)
    array = array.reshape(-1)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ParameterError(f"{name} must hold integer column indices (or a boolean mask), got {array.dtype}.")
    array = array.astype(np.int64)
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= n_columns:
        raise ParameterError(
            f"{name} holds column indices from {low} to {high}, but valid indices are 0 .. {n_columns - 1}."
        )
    return np.unique(array)


@dataclass(frozen=True)
class SelectionChange:
    """What observers of the selection receive.

    Attributes
    ----------
    old, new : ndarray of int64
        Selected column indices before and after.
    source : str or None
        Who changed it (e.g. ``"kernel"``, ``"browser"``, ``"tree"``).
    """

    old: np.ndarray
    new: np.ndarray
    source: str | None


@dataclass(frozen=True)
class LabelChange:
    """What observers of the labels receive.

    Attributes
    ----------
    columns : ndarray of int64
        Columns whose label changed.
    labels : ndarray of int64, shape (N,)
        All labels after the change.
    names : list of str
        Motif names after the change.
    action : {"label", "undo"}
    """

    columns: np.ndarray
    labels: np.ndarray
    names: list
    action: str


class SelectionModel:
    """Selected columns, motif labels and their curation history.

    Parameters
    ----------
    n_columns : int
        Number of columns N.
    labels : array_like of int, shape (N,), optional
        Motif label of every column (0 .. K-1); default all 0.
    label_names : sequence of str, optional
        Name of every motif; default ``"motif k"``.
    max_history : int
        Label changes kept for :meth:`undo`.

    Examples
    --------
    >>> model = SelectionModel(5, labels=[0, 0, 1, 1, 0])
    >>> seen = []
    >>> model.observe(lambda change: seen.append(change.new.tolist()))
    >>> model.select([4, 2])
    True
    >>> model.select([2, 4])          # unchanged: nobody is notified
    False
    >>> seen
    [[2, 4]]
    >>> model.label_selection("new defect")
    2
    >>> model.labels.tolist(), model.label_names
    ([0, 0, 2, 1, 2], ['motif 0', 'motif 1', 'new defect'])
    >>> model.undo()
    True
    >>> model.labels.tolist()
    [0, 0, 1, 1, 0]
    """

    def __init__(self, n_columns: int, labels=None, label_names=None, *, max_history: int = 100):
        if not isinstance(n_columns, (int, np.integer)) or n_columns < 1:
            raise ParameterError(f"n_columns must be a positive integer, got {n_columns!r}.")
        if max_history < 1:
            raise ParameterError(f"max_history must be >= 1, got {max_history}.")
        self.n_columns = int(n_columns)
        self.max_history = int(max_history)
        if labels is None:
            labels = np.zeros(self.n_columns, dtype=np.int64)
        labels = np.asarray(labels)
        if labels.shape != (self.n_columns,) or not np.issubdtype(labels.dtype, np.integer):
            raise ParameterError(
                f"labels must be {self.n_columns} integers (one motif per column), got {labels.dtype} {labels.shape}."
            )
        if labels.min() < 0:
            raise ParameterError(
                "labels must be >= 0 (attach noise points to a motif before exploring, e.g. with MotifLabeler)."
            )
        self._labels = labels.astype(np.int64).copy()
        n_motifs = int(self._labels.max()) + 1
        if label_names is None:
            label_names = [f"motif {k}" for k in range(n_motifs)]
        label_names = [str(n) for n in label_names]
        if len(label_names) < n_motifs:
            raise ParameterError(f"label_names has {len(label_names)} names for {n_motifs} motifs; give one per motif.")
        if len(set(label_names)) != len(label_names):
            raise ParameterError(f"label_names must be distinct, got {label_names}.")
        self._names = label_names
        self._selection = np.zeros(0, dtype=np.int64)
        self._selection_observers: list = []
        self._label_observers: list = []
        self._history: list = []  # (columns, old labels, old names)

    # -- observers --------------------------------------------------------------------
    def observe(self, callback, kind: str = "selection") -> None:
        """Call ``callback(change)`` on every change of the selection or of the labels.

        Parameters
        ----------
        callback : callable
            Receives a :class:`SelectionChange` or a :class:`LabelChange`.
        kind : {"selection", "labels"}
        """
        self._observers(kind).append(callback)

    def unobserve(self, callback, kind: str = "selection") -> None:
        """Stop calling ``callback``."""
        observers = self._observers(kind)
        if callback in observers:
            observers.remove(callback)

    def _observers(self, kind: str) -> list:
        if kind == "selection":
            return self._selection_observers
        if kind == "labels":
            return self._label_observers
        raise ParameterError(f"kind must be 'selection' or 'labels', got {kind!r}.")

    # -- selection --------------------------------------------------------------------
    @property
    def selection(self) -> np.ndarray:
        """Selected column indices, sorted (a copy)."""
        return self._selection.copy()

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask of the selected columns, shape (N,)."""
        mask = np.zeros(self.n_columns, dtype=bool)
        mask[self._selection] = True
        return mask

    def select(self, indices, *, mode: str = "replace", source: str | None = None) -> bool:
        """Change the selection; observers are notified only when it actually changed.

        Parameters
        ----------
        indices : array_like of int or bool mask, or None
            Columns to select (see :func:`as_indices`).
        mode : {"replace", "add", "subtract", "intersect"}
            How the new indices combine with the current selection.
        source : str, optional
            Passed on to observers (so a view can skip changes it made itself).

        Returns
        -------
        bool
            True when the selection changed.
        """
        if mode not in _MODES:
            raise ParameterError(f"mode must be one of {_MODES}, got {mode!r}.")
        new = as_indices(indices, self.n_columns)
        if mode == "add":
            new = np.union1d(self._selection, new)
        elif mode == "subtract":
            new = np.setdiff1d(self._selection, new, assume_unique=True)
        elif mode == "intersect":
            new = np.intersect1d(self._selection, new, assume_unique=True)
        if np.array_equal(new, self._selection):
            return False
        old, self._selection = self._selection, new
        change = SelectionChange(old=old, new=new.copy(), source=source)
        for callback in list(self._selection_observers):
            callback(change)
        return True

    def clear(self, *, source: str | None = None) -> bool:
        """Select nothing."""
        return self.select(None, source=source)

    def fractions(self, groups) -> np.ndarray:
        """Fraction of each group's columns that are selected.

        Parameters
        ----------
        groups : sequence of array_like of int
            Column indices of each group (e.g. the members of each tree node).

        Returns
        -------
        ndarray of float, shape (G,)
            0 for an empty group.
        """
        mask = self.mask
        out = np.zeros(len(groups), dtype=float)
        for g, members in enumerate(groups):
            members = np.asarray(members, dtype=np.int64)
            if len(members):
                out[g] = mask[members].mean()
        return out

    # -- labels and curation ----------------------------------------------------------
    @property
    def labels(self) -> np.ndarray:
        """Current motif label of every column, shape (N,) (a copy)."""
        return self._labels.copy()

    @property
    def label_names(self) -> list:
        """Name of every motif code 0 .. K-1."""
        return list(self._names)

    @property
    def n_motifs(self) -> int:
        """Number of motif codes K (some may have no column left after curation)."""
        return len(self._names)

    @property
    def counts(self) -> np.ndarray:
        """Columns per motif code, shape (K,)."""
        return np.bincount(self._labels, minlength=self.n_motifs)

    @property
    def can_undo(self) -> bool:
        """True when there is a label change to undo."""
        return bool(self._history)

    @property
    def history(self) -> list:
        """Descriptions of the label changes that :meth:`undo` can revert, oldest first."""
        return [f"{len(columns)} columns relabelled" for columns, _, _ in self._history]

    def code_of(self, name) -> int | None:
        """Motif code of a name (or of an integer code), None when unknown."""
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            return int(name) if 0 <= int(name) < self.n_motifs else None
        try:
            return self._names.index(str(name))
        except ValueError:
            return None

    def label_selection(self, name, indices=None) -> int:
        """Give the selected columns one motif: a new one, or an existing one (merge).

        Parameters
        ----------
        name : str or int
            Name of the motif. An existing name (or code) merges the columns into that
            motif; a new name creates a motif with the next free code.
        indices : array_like, optional
            Columns to label instead of the current selection.

        Returns
        -------
        int
            The motif code the columns now carry.

        Raises
        ------
        ParameterError
            Nothing selected, or an integer code that does not exist.
        """
        columns = self._selection if indices is None else as_indices(indices, self.n_columns)
        if len(columns) == 0:
            raise ParameterError("nothing is selected: select columns (brush, lasso or a tree node) before labelling.")
        code = self.code_of(name)
        if code is None and isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            raise ParameterError(
                f"motif code {name} does not exist (codes 0 .. {self.n_motifs - 1}); give a name to create a new motif."
            )
        names_before = list(self._names)
        if code is None:
            name = str(name).strip()
            if not name:
                raise ParameterError("the motif name must not be empty.")
            code = self.n_motifs
            self._names.append(name)
        self._history.append((columns.copy(), self._labels[columns].copy(), names_before))
        del self._history[: -self.max_history]
        self._labels[columns] = code
        self._notify_labels(columns, "label")
        return code

    def undo(self) -> bool:
        """Revert the last label change.

        Returns
        -------
        bool
            False when there was nothing to undo.
        """
        if not self._history:
            return False
        columns, old_labels, old_names = self._history.pop()
        self._labels[columns] = old_labels
        self._names = old_names
        self._notify_labels(columns, "undo")
        return True

    def _notify_labels(self, columns: np.ndarray, action: str) -> None:
        change = LabelChange(columns=columns.copy(), labels=self._labels.copy(), names=list(self._names), action=action)
        for callback in list(self._label_observers):
            callback(change)

    def __repr__(self) -> str:
        return (
            f"SelectionModel({self.n_columns} columns, {len(self._selection)} selected, "
            f"{self.n_motifs} motifs, {len(self._history)} undoable changes)"
        )
