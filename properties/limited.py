"""The property oracle within declared limits (:mod:`gradspec.limits`): strategies whose samples meet them,
and an implementation that is never called outside them.

An op narrowed to an implementation's limits (``gradspec.limits.narrow``) keeps its record as
``op.sample.base_op``. :func:`samples` builds its Hypothesis strategy in a mode from that record's:

* the names the record's strategy draws within itself (``Sampler.strategy_limits``: the window geometry of
  convolution and pooling, the MLP's units, clip_grad_value's clip and the perceptron's lr, which its kink
  samples are built around) are handed to it as ``strategy(mode, limits=...)``;
* a float hyperparameter outside its limit (eps, lr, p, ...) is given a value within it drawn by
  Hypothesis, when the sample keeps its place with respect to the op's kinks (as far from them as before,
  up to the margin, or still on one in the ``on_kink`` mode);
* any other sample outside the limits is rejected (``hypothesis.reject``), and the reason recorded.

A property may call the implementation with hyperparameters of its own (the optimisers' convex-quadratic
property sets lr = 1e-4, momentum's "μ = 0 is SGD" sets μ = 0). :class:`LimitedImplementation` checks
every call of the op's functions against the limits (the arguments bound by the names of the reference
function of the same name) and rejects the example instead of making a call outside them.

A property none of whose examples meets the limits (every draw rejected, :data:`GIVE_UP_AFTER` draws at
most) is not applicable, and :class:`Rejections` says which limit held it back.
"""
from __future__ import annotations

import inspect
from collections import Counter

from hypothesis import reject, strategies as st
from hypothesis.errors import UnsatisfiedAssumption

from .. import limits as limits_mod
from ..sampling import KINK_MARGIN
from ..spec import OpSpec
from .checks import NotProvided
from .strategies import floats_within


#: Rejected draws after which a property none of whose examples met the limits yet is given up.
GIVE_UP_AFTER = 100


class NoSampleFound(BaseException):
    """Ends a Hypothesis run from inside it when :data:`GIVE_UP_AFTER` draws were rejected and none was
    kept (a ``BaseException``: Hypothesis lets it through at once)."""


class Rejections:
    """Why examples of one property run were rejected (each reason counted), and how many were used."""

    def __init__(self, give_up_after: int = GIVE_UP_AFTER):
        self.reasons: Counter = Counter()
        self.give_up_after = give_up_after
        self.rejected = 0
        self.used = 0  # examples the property ran on to the end (passed or failed)
        self.ran = 0  # of them, those that passed

    def reject(self, reason: str):
        self.reasons[reason] += 1
        self.rejected += 1
        if self.used == 0 and self.rejected >= self.give_up_after:
            raise NoSampleFound()
        reject()

    def around(self, fn):
        """``fn`` (a test function of one sample) counting the examples it ran on to the end (``used``; of
        them ``ran`` passed); a rejected example (a call outside the limits) is not one."""
        def counted(sample):
            try:
                fn(sample)
            except (UnsatisfiedAssumption, NoSampleFound):
                raise
            except BaseException:
                self.used += 1
                raise
            self.used += 1
            self.ran += 1

        return counted

    def message(self) -> str:
        """The most frequent reasons, most frequent first."""
        return "; ".join(r for r, _ in self.reasons.most_common(3))


class NoSampleWithinLimits(NotProvided):
    """No example of a property meets the declared limits (``limits``: the op's, ``{name: Limit}``)."""

    def __init__(self, message: str, limits: dict):
        super().__init__(message)
        self.limits = limits


def base_record(op: OpSpec) -> OpSpec:
    """The registry record behind an op narrowed to limits (the op itself when it is not narrowed)."""
    return getattr(op.sample, "base_op", None) or op


def samples(op: OpSpec, mode: str, record: Rejections | None = None) -> st.SearchStrategy[dict]:
    """Samples of ``op`` (narrowed to limits) in ``mode`` that meet its limits (see the module docstring);
    ``record`` counts the rejected draws and their reasons."""
    base = base_record(op)
    lims = limits_mod.of(op)
    record = record if record is not None else Rejections()
    built_in = {n: lim for n, lim in lims.items() if n in base.sample.strategy_limits}
    drawn = base.sample.strategy(mode, limits=built_in) if built_in else base.sample.strategy(mode)

    @st.composite
    def within(draw):
        s = draw(drawn)
        bad = limits_mod.outside(lims, s)
        if bad and all(lim.settable for lim in bad):
            before = base.kink_distance(s)
            for lim in bad:
                s = limits_mod.with_value(s, lim.name, draw(floats_within(0.0, 1.0, lim)))
            after = base.kink_distance(s)
            on_kink = mode == "on_kink"
            if (on_kink and not (before == 0 and after == 0)) or (not on_kink and after < min(before, KINK_MARGIN)):
                record.reject(f"no {mode} sample keeps its place at the kinks with "
                              + "; ".join(lim.describe() for lim in bad))
            bad = []
        if bad:
            record.reject(f"{mode} samples have {limits_mod.outside_message(lims, s)}")
        return s

    return within()


def call_values(fn_name: str, args: tuple, kwargs: dict) -> dict:
    """The arguments of a call of protocol function ``fn_name`` by name (bound to the reference function of
    that name); only the keyword arguments when there is no such function or the call does not bind."""
    from .. import reference

    ref = getattr(reference, fn_name, None)
    if ref is None:
        return dict(kwargs)
    try:
        bound = inspect.signature(ref).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return dict(kwargs)
    return dict(bound.arguments)


class LimitedImplementation:
    """An implementation's object (or its :class:`~gradspec.impl.GuardedImplementation`) whose functions of
    ``op`` reject the example (:class:`Rejections`) instead of being called with a hyperparameter or choice
    outside ``limits``; every other attribute is the object's own."""

    __slots__ = ("gradspec_inner", "gradspec_limits", "gradspec_functions", "gradspec_record")

    def __init__(self, inner, op: OpSpec, lims: dict, record: Rejections):
        object.__setattr__(self, "gradspec_inner", inner)
        object.__setattr__(self, "gradspec_limits", dict(lims))
        object.__setattr__(self, "gradspec_functions", set(op.functions))
        object.__setattr__(self, "gradspec_record", record)

    def __getattr__(self, name: str):
        value = getattr(object.__getattribute__(self, "gradspec_inner"), name)
        if name not in object.__getattribute__(self, "gradspec_functions") or not callable(value):
            return value
        lims = object.__getattribute__(self, "gradspec_limits")
        record = object.__getattribute__(self, "gradspec_record")

        def call(*args, **kwargs):
            given = call_values(name, args, kwargs)
            bad = [lim for n, lim in lims.items() if n in given and not lim.allows(given[n])]
            if bad:
                record.reject("the property calls " + name + " with "
                              + "; ".join(f"{lim.name} = {given[lim.name]!r}, outside {lim.describe()}" for lim in bad))
            return value(*args, **kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    def __setattr__(self, name, value):
        raise AttributeError(f"a LimitedImplementation is read-only (tried to set {name!r})")

    def __dir__(self):
        return dir(object.__getattribute__(self, "gradspec_inner"))
