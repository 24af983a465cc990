"""Loading an implementation under test and calling it safely.

An implementation is any object exposing some of the protocol's functions as
attributes: a module (``my_layers``), an object inside one
(``my_layers:Layers``), or a ``.py`` file path. Every call goes through
:meth:`Implementation.call`, which never lets a misbehaving implementation
crash the checker: exceptions become findings that keep the exception type,
message and the implementation's own frame, and inputs are compared before
and after to catch mutation.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .results import Finding

DEFAULT_IMPL = "gradspec.reference"
ENV_VAR = "GRADSPEC_IMPL"


class ImplementationError(Exception):
    """The implementation could not be loaded (usage error, exit status 2)."""


def load(spec: str | None = None) -> "Implementation":
    """Load ``MODULE``, ``MODULE:OBJECT`` or a ``path/to/file.py``; default: $GRADSPEC_IMPL or the reference."""
    spec = spec or os.environ.get(ENV_VAR) or DEFAULT_IMPL
    module_name, _, attr = spec.partition(":")
    try:
        if module_name.endswith(".py"):
            if not os.path.isfile(module_name):
                raise ImplementationError(f"implementation file not found: {module_name}")
            name = "_gradspec_impl_" + os.path.splitext(os.path.basename(module_name))[0]
            loader_spec = importlib.util.spec_from_file_location(name, module_name)
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = module
            loader_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())  # like `python -m`, modules in the working directory are found
            module = importlib.import_module(module_name)
    except ImplementationError:
        raise
    except BaseException as exc:  # noqa: BLE001 - an import may raise anything, even SystemExit
        raise ImplementationError(f"cannot import implementation {module_name!r}: {type(exc).__name__}: {exc}") from exc
    obj: Any = module
    if attr:
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ImplementationError(f"implementation {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        if isinstance(obj, type):
            try:
                obj = obj()
            except Exception as exc:  # noqa: BLE001
                raise ImplementationError(f"cannot instantiate {spec}: {type(exc).__name__}: {exc}") from exc
    return Implementation(spec, obj)


@dataclass
class CallOutcome:
    ok: bool
    value: Any = None
    finding: Finding | None = None


class Implementation:
    """An implementation under test."""

    def __init__(self, name: str, obj: Any):
        self.name = name
        self.obj = obj

    @classmethod
    def wrap(cls, impl) -> "Implementation":
        if isinstance(impl, Implementation):
            return impl
        if impl is None or isinstance(impl, str):
            return load(impl)
        name = getattr(impl, "__name__", type(impl).__name__)
        return cls(name, impl)

    @property
    def version(self) -> str | None:
        for attr in ("__version__", "version", "VERSION"):
            v = getattr(self.obj, attr, None)
            if isinstance(v, str):
                return v
        return None

    def describe(self) -> dict:
        mod = self.obj if isinstance(self.obj, ModuleType) else sys.modules.get(type(self.obj).__module__)
        return {"name": self.name, "version": self.version, "file": getattr(mod, "__file__", None)}

    def function(self, name: str):
        fn = getattr(self.obj, name, None)
        return fn if callable(fn) else None

    def provides(self, functions) -> tuple[list[str], list[str]]:
        """(present, missing) protocol function names."""
        present = [f for f in functions if self.function(f) is not None]
        return present, [f for f in functions if f not in present]

    def call(self, fn_name: str, *args, arg_names=None, **kwargs) -> CallOutcome:
        """Call ``fn_name`` and check its inputs were left alone; never raises.

        ``arg_names`` names the positional arguments in findings.
        """
        fn = self.function(fn_name)
        if fn is None:
            return CallOutcome(False, finding=Finding("missing", f"{fn_name} is not provided by the implementation"))
        before = copy.deepcopy((args, kwargs))
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the implementation may raise anything
            return CallOutcome(False, finding=exception_finding(fn_name, exc))
        changed = _mutated(before, (args, kwargs))
        if changed and arg_names:
            changed = re.sub(r"^args\[0\]\[(\d+)\]", lambda m: _name(arg_names, int(m.group(1))), changed)
        if changed:
            return CallOutcome(
                False, value,
                Finding("mutation", f"{fn_name} modified its input {changed}; no function may modify its inputs",
                        {"function": fn_name, "argument": changed}),
            )
        return CallOutcome(True, value)


def _name(names, i):
    return names[i] if i < len(names) else "dy" if i == len(names) else f"args[{i}]"


def exception_finding(fn_name: str, exc: BaseException) -> Finding:
    frames = traceback.extract_tb(exc.__traceback__)
    gradspec_dir = os.path.dirname(os.path.abspath(__file__))
    own = [f for f in frames if not os.path.abspath(f.filename).startswith(gradspec_dir)] or frames
    frame = own[-1] if own else None
    where = f"{frame.filename}:{frame.lineno} in {frame.name}" if frame else "?"
    return Finding(
        "exception",
        f"{fn_name} raised {type(exc).__name__}: {exc} (at {where})",
        {"function": fn_name, "type": type(exc).__name__, "message": str(exc), "frame": where,
         "line": frame.line if frame else None},
    )


def _mutated(before, after, path="args") -> str | None:
    """Name of the first argument that differs between two snapshots, or None."""
    if isinstance(before, np.ndarray):
        if not isinstance(after, np.ndarray) or before.shape != after.shape or not np.array_equal(before, after, equal_nan=True):
            return path
        return None
    if isinstance(before, dict):
        for k in before:
            r = _mutated(before[k], after.get(k) if isinstance(after, dict) else None, f"{path}[{k!r}]")
            if r:
                return r
        return None
    if isinstance(before, (list, tuple)):
        if not isinstance(after, (list, tuple)) or len(before) != len(after):
            return path
        for i, (b, a) in enumerate(zip(before, after)):
            r = _mutated(b, a, f"{path}[{i}]")
            if r:
                return r
    return None
