"""Adapter kits: check code written in a common style without writing an adapter.

gradspec's protocol is one functional form (``affine_backward(x, W, b, dy) -> (dx, dW, db)``).
A kit wraps a module written in another style into an object that speaks the protocol:

===========  ============================================================  ==============================
style        what the code looks like                                      kit
===========  ============================================================  ==============================
``cache``    cs231n: ``affine_forward(x, w, b) -> (out, cache)``,          :mod:`.cache_style`
             ``affine_backward(dout, cache)``, ``conv_param``/``pool_param``/
             ``bn_param``/``dropout_param`` dicts, ``softmax_loss(x, y) ->
             (loss, dx)``, ``update(w, dw, config) -> (next_w, config)``
``layers``   the fish book: ``Affine(W, b).forward(x)``, ``.backward(dout)``  :mod:`.layer_style`
             storing ``dW``/``db``; ``SoftmaxWithLoss``; ``Dropout``;
             optimizers ``SGD(lr).update(params, grads)`` in place
``network``  Nielsen's ``network.py``: ``backprop(x, y) -> (nabla_b,          :mod:`.network_style`
             nabla_w)`` per example, column layout, sigmoid + quadratic cost
===========  ============================================================  ==============================

Use::

    gradspec check --impl my_code --style cache                  # common names are detected
    gradspec check --impl my_code --style layers --mapping map.json

    from gradspec.adapters import kits
    kit = kits.wrap("my_code", "cache", {"ops": {"dropout": {"p": "drop"}}})
    kit.describe_mapping()          # which function or class is which op, and the kit's notes
    gradspec.check(kit)             # every style; kits.check(kit) is the same
    kit.__gradspec_limits__         # the limits the kit declares (gradspec.limits): the mapping's "limits",
                                    # the wrapped code's own, the network style's one architecture

A mapping (a dict, or a JSON file) holds one entry per op that needs one, for example::

    {"style": "cache",
     "ops": {"relu": {"forward": "relu_fwd", "backward": "relu_bwd"},
             "dropout": {"p": "drop"},
             "adam": {"function": "adam_step", "hyper": {"lr": "alpha"}},
             "conv2d": null}}

``null`` excludes an op. A top-level ``"limits"`` (``{op: {name: limit}}``) or an entry's ``"limits"``
(``{name: limit}``) declares what the code supports (see :mod:`gradspec.limits`).
Keys of an entry: ``forward``, ``backward``, ``function`` (cache style),
``class`` (layers, network), ``hyper`` (protocol hyperparameter -> the code's name), ``grads``
(layers: names of the gradient attributes, in the protocol's order), ``p`` (dropout: ``keep`` or
``drop``), ``seed`` (dropout: the key or attribute that seeds the code's RNG, or null), ``rng``
(layers dropout: an attribute holding the layer's own random generator). Anything else is an
error naming the allowed keys.

Every kit records, per op, which of the code's functions or classes it bound and how it bent the
style into the protocol (``kit.notes``; ``gradspec check --style`` prints them). The kit never
hides a difference: a write into an input the style promises to leave alone is left visible to
gradspec's mutation check (a ``mutation`` finding), and writes the style *requires* (a fish-book
optimizer updating ``params`` in place, a cs231n ``config`` dict) go to copies and are noted.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from typing import Any, Callable

STYLES = ("cache", "layers", "network")
KIT_MODULES = {"cache": "gradspec.adapters.cache_style", "layers": "gradspec.adapters.layer_style",
               "network": "gradspec.adapters.network_style"}
ENTRY_KEYS = ("forward", "backward", "function", "class", "hyper", "grads", "p", "seed", "rng", "backprop",
              "feedforward", "weights", "biases", "hidden", "output", "spatial_forward", "spatial_backward", "limits")


class MappingError(ValueError):
    """A mapping that cannot be used: names the rule and the values it saw."""


def load_mapping(mapping) -> dict:
    """A mapping as a dict: ``None`` (empty), a dict, or the path of a JSON file."""
    if mapping is None:
        return {"ops": {}}
    if isinstance(mapping, (str, os.PathLike)):
        from ..limits import read_json

        mapping = read_json(mapping, "mapping", MappingError)
    if not isinstance(mapping, dict):
        raise MappingError(f"a mapping must be a dict (JSON object), got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - {"style", "impl", "ops", "limits"})
    if unknown:
        raise MappingError(f"mapping: unknown top-level key(s) {unknown}; allowed: style, impl, ops, limits")
    ops = mapping.get("ops", {}) or {}
    if not isinstance(ops, dict):
        raise MappingError(f"mapping: 'ops' must be a dict of op name -> entry, got {type(ops).__name__}")
    from .. import registry

    for op, entry in ops.items():
        if op not in registry.REGISTRY:
            raise MappingError(f"mapping: unknown op {op!r}; known ops: {', '.join(registry.REGISTRY)}")
        if entry is None:
            continue
        if isinstance(entry, str):  # shorthand: the function or class name
            ops[op] = entry = {"name": entry}
        if not isinstance(entry, dict):
            raise MappingError(f"mapping: the entry of {op!r} must be a dict, a name or null, got {entry!r}")
        bad = sorted(set(entry) - set(ENTRY_KEYS) - {"name"})
        if bad:
            raise MappingError(f"mapping: unknown key(s) {bad} in the entry of {op!r}; allowed: {', '.join(ENTRY_KEYS)}")
        if "p" in entry and entry["p"] not in ("keep", "drop"):
            raise MappingError(f"mapping: dropout 'p' must be 'keep' or 'drop', got {entry['p']!r}")
        if "hyper" in entry and not isinstance(entry["hyper"], dict):
            raise MappingError(f"mapping: 'hyper' of {op!r} must map protocol names to the code's, got {entry['hyper']!r}")
    limits = dict(mapping.get("limits") or {})
    if not isinstance(mapping.get("limits") or {}, dict):
        raise MappingError(f"mapping: 'limits' must be a dict {{op: {{name: limit}}}}, got {mapping['limits']!r}")
    for op, entry in ops.items():
        if isinstance(entry, dict) and "limits" in entry:
            if not isinstance(entry["limits"], dict):
                raise MappingError(f"mapping: 'limits' of {op!r} must be a dict {{name: limit}}, got {entry['limits']!r}")
            limits[op] = {**(limits.get(op) or {}), **entry["limits"]}
    from ..limits import LimitsError, parse

    try:
        parse(limits, "mapping limits")
    except LimitsError as exc:
        raise MappingError(str(exc)) from None
    return {"style": mapping.get("style"), "impl": mapping.get("impl"), "ops": dict(ops), "limits": limits}


def resolve_target(target):
    """A module object (or any object) from ``MODULE``, ``MODULE:OBJECT``, ``path/to/file.py`` or an object."""
    if not isinstance(target, str):
        return target, getattr(target, "__name__", type(target).__name__)
    from ..impl import load

    impl = load(target)  # the rules of --impl: the working directory first, a file path, MODULE:OBJECT
    return impl.obj, target


def lookup(obj, name: str):
    """``obj.a.b`` for the dotted ``name``, or None."""
    cur = obj
    for part in name.split("."):
        try:
            cur = getattr(cur, part)
        except Exception:  # noqa: BLE001 - a module __getattr__ may raise anything
            return None
    return cur


class Kit:
    """An object that speaks the protocol; its functions call the wrapped code. See the module docstring."""

    style = ""

    def __init__(self, target, name: str, mapping: dict):
        self.target = target
        self.__name__ = f"{name} ({self.style} style)"
        self.mapping = mapping
        self.bound: dict[str, str] = {}  # op -> which of the code's functions/classes
        self.notes: dict[str, list[str]] = {}
        self.skipped: dict[str, str] = {}  # op -> why the kit does not provide it
        self.implied_limits: dict[str, Any] = {}  # limits the style implies (network: one architecture)
        #: op -> checks the style adds beyond the protocol's, ``check(rng) -> CheckResult`` (batchnorm's running
        #: statistics); :func:`check` runs them and adds their results to the op's
        self.extra_checks: dict[str, list[Callable]] = {}
        version = lookup(target, "__version__")
        if isinstance(version, str):
            self.__version__ = version

    def entry(self, op: str) -> dict | None:
        """The mapping's entry for ``op`` ({} when absent); None when the mapping excludes the op."""
        ops = self.mapping["ops"]
        if op in ops and ops[op] is None:
            return None
        return dict(ops.get(op) or {})

    def find(self, op: str, key: str, defaults, what="function"):
        """(name, object) of the code's ``key`` for ``op``: the mapping's name, else the first default present."""
        entry = self.entry(op) or {}
        explicit = entry.get(key) or (entry.get("name") if key in ("function", "class", "forward") else None)
        if explicit:
            obj = lookup(self.target, explicit)
            if obj is None or not callable(obj):
                raise MappingError(f"mapping: {op}.{key} names {explicit!r}, which {self.__name__} does not define "
                                   f"as a callable {what}")
            return explicit, obj
        for name in defaults:
            obj = lookup(self.target, name)
            if obj is not None and callable(obj):
                return name, obj
        return None, None

    def provide(self, op: str, functions: dict, bound: str):
        for fname, fn in functions.items():
            fn.__name__ = fname
            fn.__qualname__ = f"{type(self).__name__}.{fname}"
            setattr(self, fname, fn)
        self.bound[op] = bound

    def note(self, op: str, text: str):
        lst = self.notes.setdefault(op, [])
        if text not in lst:
            lst.append(text)

    def add_check(self, op: str, check: Callable) -> None:
        self.extra_checks.setdefault(op, []).append(check)

    def describe_mapping(self) -> dict:
        """JSON-ready: per op, what it is bound to and the kit's notes; the ops the kit skipped and why."""
        return {"style": self.style, "target": self.__name__,
                "ops": {op: {"bound": b, "notes": list(self.notes.get(op, []))} for op, b in self.bound.items()},
                "skipped": dict(self.skipped), "general": list(self.notes.get("*", []))}


def hyper_name(kit: Kit, op: str, name: str, default: str) -> str:
    entry = kit.entry(op) or {}
    return (entry.get("hyper") or {}).get(name, default)


def wrap(target, style: str | None = None, mapping=None) -> Kit:
    """Wrap ``target`` (a module, an object, ``MODULE``, ``MODULE:OBJECT`` or a file path) written in ``style``.

    ``mapping``: None, a dict or a JSON file (see the module docstring); its ``style`` is used when
    ``style`` is None, and its ``impl`` when ``target`` is None. Raises :class:`MappingError` for a bad
    mapping or style, and :class:`gradspec.impl.ImplementationError` when the target cannot be imported.
    """
    m = load_mapping(mapping)
    style = style or m.get("style")
    if style not in STYLES:
        raise MappingError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    if m.get("style") and m["style"] != style:
        raise MappingError(f"the mapping is for style {m['style']!r}, but style {style!r} was asked for")
    target = target if target is not None else m.get("impl")
    if target is None:
        raise MappingError("no code to wrap: give --impl (or the mapping's 'impl')")
    obj, name = resolve_target(target)
    module = importlib.import_module(KIT_MODULES[style])
    kit = module.build(obj, name, m)
    declare_limits(kit, obj, m.get("limits") or {})
    source = "" if mapping is None else f", {os.fspath(mapping)!r}" if isinstance(mapping, (str, os.PathLike)) else f", {mapping!r}"
    # the name is also how a reproducer rebuilds the kit: "import gradspec.adapters.kits as impl; impl = impl.wrap(...)"
    kit.__name__ = f"gradspec.adapters.kits:wrap({name!r}, {style!r}{source})"
    return kit


def declare_limits(kit: Kit, target, mapped: dict, extra: dict | None = None):
    """The kit's ``__gradspec_limits__`` (:mod:`gradspec.limits`): the wrapped code's own declaration, the
    limits the kit itself knows (the network style's one architecture), the mapping's, then ``extra`` (a
    ``--limits`` file), each op's limits merged over the previous ones. Raises :class:`MappingError` for
    limits that cannot be used."""
    from ..limits import LIMITS_ATTR, LimitsError, declared, parse

    merged: dict = {}
    for source in (declared(target) or {}, getattr(kit, "implied_limits", {}), mapped, extra or {}):
        if not isinstance(source, dict):
            raise MappingError(f"{LIMITS_ATTR} of the wrapped code must be a dict, got {type(source).__name__}")
        for op, entry in source.items():
            if not isinstance(entry, dict):
                raise MappingError(f"limits: the limits of {op!r} must be a dict {{name: limit}}, got {entry!r}")
            merged[op] = {**merged.get(op, {}), **entry}
    try:
        parse(merged, f"{kit.__name__} limits")
    except LimitsError as exc:
        raise MappingError(str(exc)) from None
    if merged:
        setattr(kit, LIMITS_ATTR, merged)


def check(kit, ops=None, oracles=("fd64",), seed=0, examples=None, profile=None, **options):
    """:func:`gradspec.check` of a kit (the kit's limits, the network style's one architecture among them, are
    its ``__gradspec_limits__``, which the check honours)."""
    import gradspec

    result = gradspec.check(kit, ops=ops, oracles=oracles, seed=seed, examples=examples, profile=profile, **options)
    ops_out = {name: with_extra_checks(kit, name, res, seed) for name, res in result.ops.items()}
    implementation = dict(result.implementation)
    describe = getattr(kit, "describe_mapping", None)
    if callable(describe):  # what the kit bound and its notes travel with the result (and its JSON)
        implementation["kit"] = describe()
    return dataclasses.replace(result, implementation=implementation, ops=ops_out)


def with_extra_checks(kit, name: str, res, seed: int):
    """``res`` (an OpResult) plus the results of the kit's own checks of op ``name`` (never raises)."""
    import numpy as np

    from ..results import CheckResult, Finding, OpResult

    checks = list(getattr(kit, "extra_checks", {}).get(name, ()))
    if not checks or res.status == "not_implemented":
        return res
    out = list(res.checks)
    for k, fn in enumerate(checks):
        try:
            out.append(fn(np.random.default_rng([seed, 104729, k])))
        except Exception as exc:  # noqa: BLE001 - a kit check must never break a run
            out.append(CheckResult("kit", getattr(fn, "__name__", "kit_check"), "error",
                                   message=f"the kit's check crashed: {type(exc).__name__}: {exc}",
                                   findings=[Finding("oracle_error", f"{type(exc).__name__}: {exc}")]))
    return OpResult.combine(name, out, res.limits)


def load_kit(impl, style: str | None = None, mapping=None, limits=None) -> Kit:
    """The kit of the command line's ``--impl``, ``--style``, ``--mapping`` and ``--limits`` (a JSON file,
    merged over the kit's own limits, so the network style keeps its architecture), as ``gradspec check`` and
    ``gradspec report`` build it. A bad mapping or style is an :class:`gradspec.impl.ImplementationError`
    (exit status 2), a limits file that cannot be read a :class:`gradspec.limits.LimitsError`."""
    from ..impl import ImplementationError
    from ..limits import load

    try:
        kit = wrap(impl, style, mapping)
        if limits:  # merged over the kit's own (the network style's architecture)
            declare_limits(kit, kit.target, kit.mapping.get("limits") or {}, load(limits))
    except MappingError as exc:
        raise ImplementationError(str(exc)) from None
    return kit


def run_cli(args, ops, oracles, examples, progress, out):
    """``gradspec check --style/--mapping``: wrap (:func:`load_kit`), print what was bound (unless -q), check."""
    kit = load_kit(args.impl, args.style, args.mapping, getattr(args, "limits", None))
    result = check(kit, ops=ops, oracles=oracles, seed=args.seed, examples=examples, progress=progress,
                   timeout=args.timeout)
    if not args.quiet:
        print_mapping(kit, out)
    return result


def print_mapping(kit, out):
    """What the kit bound, op by op, with its notes (printed by ``gradspec check --style``)."""
    d = kit.describe_mapping()
    print(f"{d['target']}: {len(d['ops'])} op(s) bound", file=out)
    for op, info in d["ops"].items():
        print(f"  {op:24s} <- {info['bound']}", file=out)
        for n in info["notes"]:
            print(f"  {'':24s}    {n}", file=out)
    for op, why in d["skipped"].items():
        print(f"  {op:24s} not checked: {why}", file=out)
