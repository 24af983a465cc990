r"""The embedding lookup: row ``ids[...]`` of a table ``E``, and its scatter-add backward."""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, upstream


def _ids(ids, V: int) -> np.ndarray:
    """Integer ids of any shape with values in [0, V), as int64."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be an integer array, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= V):
        raise ValueError(f"embedding: ids must lie in [0, V) = [0, {V}) (the rows of E), "
                         f"got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


def _check(ids, E):
    E = as_float_array("E", E, ndim=2)
    return _ids(ids, E.shape[0]), E


def embedding_forward(ids, E):
    r"""Embedding lookup :math:`y_{i,d} = E_{\text{ids}_i, d}` for every position ``i`` of ``ids``.

    Ids outside [0, V) raise ``ValueError`` (a negative id is never read as counting from the end).

    Shapes
    ------
    ids : any shape S, integers in [0, V)
    E : (V, D)
    Returns y : (*S, D)
    """
    ids, E = _check(ids, E)
    return E[ids]


def embedding_backward(ids, E, dy):
    r"""VJP of the lookup with respect to the table: a scatter-*add* of the rows of dy.

    .. math:: dE_{v,d} = \sum_{i:\ \text{ids}_i = v} dy_{i,d}

    An id that occurs k times receives the sum of its k rows of dy (``np.add.at``), a row no id selects
    stays 0. ``ids`` are integers: they get no gradient.

    Shapes
    ------
    ids : S, E : (V, D), dy : (*S, D)
    Returns dE : (V, D)
    """
    ids, E = _check(ids, E)
    D = E.shape[1]
    dy = upstream(dy, ids.shape + (D,))
    dE = np.zeros_like(E)
    np.add.at(dE, ids.reshape(-1), dy.reshape(-1, D))
    return dE
