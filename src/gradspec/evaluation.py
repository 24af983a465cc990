"""Evaluating an op on a sample: every output of its protocol functions, keyed by name.

:func:`evaluate` calls an op's protocol functions through a ``call(name, *args, **kw)`` that returns a
:class:`Raised` value instead of raising (:func:`direct_caller` makes one from a namespace of functions), and
:func:`draw_dy` draws the cotangent. The diagnosis compares these outputs between the spec, an implementation
and its known variants; the conventions check compares them on the kink cases.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec import OpSpec


@dataclass
class Raised:
    """An exception as an output value: matched by type and message."""

    type: str
    message: str

    def same(self, other) -> bool:
        return isinstance(other, Raised) and other.type == self.type and other.message == self.message


def direct_caller(namespace):
    """``call(name, *args, **kw)`` for :func:`evaluate` on a namespace of protocol functions (a module, a
    :meth:`Variant.namespace`): an exception comes back as a :class:`Raised` value."""
    ns = namespace

    def call(name, *args, **kwargs):
        fn = getattr(ns, name, None)
        if fn is None:
            return Raised("missing", name)
        try:
            with np.errstate(all="ignore"):
                return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            return Raised(type(exc).__name__, str(exc))

    return call


def as_float(value):
    """A numeric output as a float64 array (a :class:`Raised` for a bool or a non-numeric value)."""
    if isinstance(value, Raised):
        return value
    if isinstance(value, (bool, np.bool_)):
        return Raised("type", f"bool {value!r}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.asarray(float(value))
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        return np.asarray(value, dtype=np.float64)
    return Raised("type", type(value).__name__)


def put_output(out: dict, key: str, value):
    """Store an output, flattening tuples/lists into key[i]."""
    if isinstance(value, (list, tuple)) and not isinstance(value, np.ndarray):
        out[key] = Raised("len", str(len(value)))  # the structure itself, so a wrong length is seen
        for i, v in enumerate(value):
            put_output(out, f"{key}[{i}]", v)
    else:
        out[key] = as_float(value)


def evaluate(op: OpSpec, call, sample: dict, dy=None) -> dict[str, Any]:
    """Every output of ``op``'s protocol functions on ``sample``, keyed by name.

    ``call(name, *args, **kw)`` calls a protocol function (returning a
    :class:`Raised` instead of raising). Keys: ``forward`` and ``d<arg>`` for
    differentiable ops and losses (backward with cotangent ``dy``), ``output``
    for functions and rules (and ``update``: a rule's change of its first
    parameter), ``w[k]`` and ``update[1]`` for optimizers (the trajectory over
    the sample's gradients), ``loss`` and ``dW<l>``/``db<l>`` for networks.
    """
    out: dict[str, Any] = {}
    if op.kind_facts.has_backward:
        args = op.forward_args(sample)
        put_output(out, "forward", call(op.forward, *args))
        if dy is not None:
            g = call(op.backward, *args, dy)
            diff = list(op.differentiable_args)
            if len(diff) == 1 and not isinstance(g, (tuple, list)):
                g = (g,)
            if isinstance(g, (tuple, list)) and len(g) == len(diff):
                for name, gi in zip(diff, g):
                    out["d" + name] = as_float(gi)
            else:
                out["backward"] = g if isinstance(g, Raised) else Raised("type", type(g).__name__)
    elif op.kind_facts.value_only:
        put_output(out, "output", call(op.functions[0], *op.forward_args(sample)))
        # a learning rule returns its parameters updated, the first of them first: ``update`` is that change
        if op.kind_facts.learning_rule and isinstance(out.get("output[0]"), np.ndarray):
            out["update"] = out["output[0]"] - np.asarray(sample[op.args[0].name], dtype=np.float64)
    elif op.kind_facts.trajectory:
        init, update = op.functions
        state = call(init, sample["w"])
        w = sample["w"]
        if isinstance(state, Raised):
            out["init"] = state
            return out
        for k, g in enumerate(sample["grads"], start=1):
            res = call(update, w, g, state, **sample["hyper"])
            if not isinstance(res, (tuple, list)) or len(res) != 2:
                out[f"w[{k}]"] = res if isinstance(res, Raised) else Raised("type", type(res).__name__)
                break
            w_new, state = res
            out[f"w[{k}]"] = as_float(w_new)
            if k == 1 and isinstance(out["w[1]"], np.ndarray):
                out["update[1]"] = out["w[1]"] - np.asarray(sample["w"], dtype=np.float64)
            w = w_new
    elif op.kind_facts.whole_network:
        res = call(op.functions[0], *op.forward_args(sample))
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            out["loss"] = res if isinstance(res, Raised) else Raised("type", type(res).__name__)
            return out
        out["loss"] = as_float(res[0])
        grads = res[1]
        if isinstance(grads, (list, tuple)):
            for l, pair in enumerate(grads, start=1):
                if isinstance(pair, (list, tuple)) and len(pair) == 2:
                    out[f"dW{l}"], out[f"db{l}"] = as_float(pair[0]), as_float(pair[1])
    return out


def draw_dy(op: OpSpec, out_ref: dict, rng: np.random.Generator):
    """A cotangent for :func:`evaluate`: a float for a loss, an array of the forward's shape for a differentiable op."""
    if op.kind_facts.scalar_output:
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0))
    if op.kind_facts.array_cotangent:
        y = out_ref.get("forward")
        if isinstance(y, np.ndarray):
            return rng.normal(size=y.shape)
    return None
