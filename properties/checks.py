"""The assertions and plumbing every property function uses, with no registry behind them.

Property functions live in two places: the ones shared by the ops of a kind in
:mod:`gradspec.properties.props` (which reads the registry), and an op's own in its record module
(:mod:`gradspec.ops`, which the registry imports: a record may not import ``props``). Both take their
helpers from here. This module imports NumPy only, so a record may import it; ``tests/meta`` checks
that it reaches no registry. Its Hypothesis counterpart, equally registry-free, is
:mod:`gradspec.properties.strategies` (``arrays``, ``distinct``, ``SCALES``, ...).

* :func:`fn` -- the protocol function ``name`` of an implementation (a module, an object, a
  :class:`~gradspec.impl.GuardedImplementation`, an :class:`~gradspec.impl.Implementation`);
  :class:`NotProvided` when it has none.
* :func:`assert_close` -- element-wise ``|actual − expected| <= tol``, else an AssertionError naming the
  rule, the worst element and its values.
* :func:`seeded_rng`, :func:`cotangent` -- the property's own randomness from the sample's ``"seed"``.
"""
from __future__ import annotations

import sys

import numpy as np

EPS = float(np.finfo(np.float64).eps)


class NotProvided(Exception):
    """The implementation does not provide a function a property needs."""


def impl_object(impl):
    """The object whose attributes are ``impl``'s protocol functions: the object an
    :class:`~gradspec.impl.Implementation` wraps, else ``impl`` itself (a module, an object, a
    GuardedImplementation, whose calls then go through its run's timeouts).

    None and a name are not loaded here (loading is :func:`gradspec.impl.load`'s, which reads the registry):
    :func:`gradspec.properties.props.fn` and :func:`gradspec.properties.suite.check_property` load them.
    """
    loaded = sys.modules.get("gradspec.impl")  # no Implementation exists before gradspec.impl is imported
    if loaded is not None and isinstance(impl, loaded.Implementation):
        return impl.obj
    return impl


def fn(impl, name: str):
    """The protocol function ``name`` of ``impl`` (see :func:`impl_object`); :class:`NotProvided` when it is missing."""
    f = getattr(impl_object(impl), name, None)
    if not callable(f):
        raise NotProvided(f"the implementation does not provide {name}")
    return f


def seeded_rng(sample: dict, salt: int = 0) -> np.random.Generator:
    """The generator of a property's own randomness: seeded by ``sample["seed"]`` (0 when absent) and ``salt``."""
    return np.random.default_rng([int(sample.get("seed", 0)), salt])


def cotangent(sample: dict, shape, salt: int = 1) -> np.ndarray:
    """A N(0, 1) cotangent of ``shape`` from :func:`seeded_rng` (``sample``, ``salt``)."""
    return seeded_rng(sample, salt).normal(size=tuple(int(n) for n in shape))


def fail(rule: str, detail: str):
    """Raise the AssertionError of a broken rule: ``"<rule>: <detail>"``."""
    raise AssertionError(f"{rule}: {detail}")


def assert_close(actual, expected, tol, rule: str, what: str) -> None:
    """Element-wise |actual − expected| <= tol, else AssertionError naming the rule and the worst element.

    ``tol`` broadcasts to ``expected``'s shape. A shape mismatch, a non-finite ``actual``, and a non-finite
    ``expected`` or tolerance (a difference quotient that overflowed, say) never pass. The element named is
    the one furthest outside its tolerance (largest |error| / tolerance; of several, the largest |error|),
    with its values and the count of elements off.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        fail(rule, f"{what} has shape {actual.shape}, expected {expected.shape}")
    if not np.all(np.isfinite(actual)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(actual))[0])
        fail(rule, f"{what}{list(idx)} is {float(actual[idx])} (expected {float(expected[idx])!r})")
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), expected.shape)
    err = np.abs(actual - expected)
    bad = ~(err <= tol) | ~np.isfinite(expected) | ~np.isfinite(tol)
    if np.any(bad):
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(bad, np.nan_to_num(err / np.maximum(tol, 1e-300), nan=np.inf), 0.0)
        worst = (ratio == ratio.max()) & bad  # of the elements furthest out, the largest error
        k = int(np.argmax(np.where(worst, np.nan_to_num(err, nan=np.inf), -np.inf)))
        idx = tuple(int(i) for i in np.unravel_index(k, expected.shape)) if expected.ndim else ()
        fail(rule, f"{what}{list(idx)} = {float(actual.flat[k])!r}, expected {float(expected.flat[k])!r} "
                   f"(|error| {err.flat[k]:.3g} > tolerance {tol.flat[k]:.3g}; {int(bad.sum())} of {bad.size} elements off)")
