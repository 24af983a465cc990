"""Input validation shared by the reference functions.

Every check raises :class:`ValueError` (or :class:`TypeError` for a wrong
type) whose message names the rule that was broken and the values seen, so a
user of the spec learns what the rule is, not only that something failed.
"""
from __future__ import annotations

import numbers

import numpy as np


def as_float_array(name: str, x, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a float64 ndarray (no copy when it already is one).

    Raises ``ValueError`` when ``x`` has the wrong number of dimensions or
    holds non-finite values; ``TypeError`` when it is not numeric.
    """
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {bad} non-finite value(s) in shape {arr.shape}")
    return arr


def same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {name_a} {a.shape} and {name_b} {b.shape}")


def scalar(name: str, value, *, low=None, high=None, low_open=False, high_open=False, integer=False) -> float:
    """Validate a hyperparameter and return it as float (or int when ``integer``).

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if integer:
        if isinstance(value, float) and not float(value).is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        op = "<" if high_open else "<="
        raise ValueError(f"{name} must be {op} {high}, got {value!r}")
    return value


def upstream(dy, shape: tuple[int, ...]) -> np.ndarray:
    """Validate the upstream gradient ``dy`` against the forward output shape."""
    dy = as_float_array("dy", dy)
    if dy.shape != tuple(shape):
        raise ValueError(f"dy must have the forward output's shape {tuple(shape)}, got {dy.shape}")
    return dy


def upstream_scalar(dy) -> float:
    """Validate the scalar upstream gradient of a loss or penalty."""
    arr = np.asarray(dy)
    if arr.size != 1:
        raise ValueError(f"dy of a scalar-valued function must be a scalar, got shape {arr.shape}")
    return scalar("dy", arr.reshape(()).item())


def labels(name: str, y, n: int, k: int) -> np.ndarray:
    """Integer class labels of shape (n,) with values in [0, k)."""
    arr = np.asarray(y)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape (N,) = ({n},), got {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class indices, got non-integer values")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if n and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(f"{name} must lie in [0, K) = [0, {k}), got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64, copy=False)


def nonempty_batch(name: str, x: np.ndarray) -> None:
    if x.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one example (N >= 1), got shape {x.shape}")
