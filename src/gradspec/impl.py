"""Loading an implementation under test and calling it safely.

An implementation is any object exposing some of the protocol's functions as
attributes: a module (``my_layers``), an object inside one
(``my_layers:Layers``), or a ``.py`` file path. A run has one
:class:`Implementation`, and every oracle's call goes through it:
:meth:`Implementation.call` (inputs compared before and after to catch
mutation), :meth:`Implementation.evaluate` (hot loops), or, for code written
against the module itself (the properties), the :class:`GuardedImplementation`
of :meth:`Implementation.guarded`. A misbehaving implementation never crashes
the checker: exceptions become findings that keep the exception type, message
and the implementation's own frame.

Timeouts: each call runs in a daemon thread joined with a timeout
(``Implementation.timeout`` seconds, :data:`DEFAULT_TIMEOUT` unless set through
``gradspec check --timeout S`` or ``gradspec.check(..., timeout=S)``; 0 or None
calls directly, with no timeout; the first call of each function may take
:data:`FIRST_CALL_GRACE` times as long, for lazy imports and warm-up). A call
that does not return in time gets a
``timeout`` finding, and that function is not called again in the run (each
later call, by any oracle of the run, gets the same finding at once), so a
hanging implementation costs one timeout per function and run, not one per
example or per oracle. Python cannot kill a thread:
the hung call keeps running in the background until it returns or the process
exits (the thread is a daemon, so it never blocks the exit). A hang that
releases the GIL (sleep, I/O, a lock) costs nothing more; a CPU-bound Python
loop keeps taking its share of the GIL and slows the rest of the run. The
caller's context (NumPy's ``errstate``, decimal contexts) is copied into the
thread, so the call sees the same floating-point settings as a direct call.

The import of the implementation (and the instantiation of ``MODULE:Class``) is limited too, to
:data:`FIRST_CALL_GRACE` times the timeout (30 s by default; 0 or None: no limit): an import that takes
longer is an :class:`ImplementationError` saying so ("importing M took longer than N s"), never a hang.
The import runs in the calling thread, so a library that sets signal handlers at import still can; the
limit is a ``SIGALRM`` timer (:func:`time_limit`), hence POSIX and the main thread only: elsewhere, or
while another ``SIGALRM`` timer is running (pytest-timeout's, say), the import runs without a limit.
The timer interrupts Python code (a ``while True`` loop, ``time.sleep``, a lock wait), not a C
extension that never returns to the interpreter.

Warnings raised inside a call (NumPy's RuntimeWarnings on overflow, say) are
recorded per function (:meth:`Implementation.take_warnings`), never printed and
never raised: :func:`gradspec.check` reports them as one finding per op.
"""
from __future__ import annotations

import contextlib
import contextvars
import copy
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import signal
import sys
import threading
import traceback
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .results import Finding

DEFAULT_IMPL = "gradspec.reference"
ENV_VAR = "GRADSPEC_IMPL"
#: Seconds a single call of an implementation's function may take (see the module docstring).
DEFAULT_TIMEOUT = 10.0
#: The first call of each function may take this many times the timeout (lazy imports, JIT and
#: thread-pool warm-up: the PyTorch adapter's first optimizer step takes ~2 s on an idle 2-core machine).
FIRST_CALL_GRACE = 3.0


class ImplementationError(Exception):
    """The implementation could not be loaded (usage error, exit status 2)."""


class TimeLimitExceeded(BaseException):
    """Raised inside the code that :func:`time_limit` bounds when its time is up.

    A BaseException, as KeyboardInterrupt is, so that the ``except Exception`` of the interrupted code
    does not swallow it."""


def import_limit(timeout) -> float | None:
    """Seconds an import may take for a call timeout of ``timeout`` s: :data:`FIRST_CALL_GRACE` times it (an
    import is a first call: lazy set-up, a framework's own import); None (no limit) for 0, None or a value
    that is not a positive number."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        return None
    return float(timeout) * FIRST_CALL_GRACE


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise :class:`TimeLimitExceeded` in the code of the ``with`` block when it runs longer than ``seconds``.

    A ``SIGALRM`` timer (``signal.setitimer``), so the block runs in this thread, as it would without a
    limit. No limit (the block runs as is) when ``seconds`` is None or <= 0, on a platform without
    ``setitimer``, outside the main thread, or when a ``SIGALRM`` timer or a handler set outside Python is
    already there (another user of the alarm, left alone). The previous handler is restored afterwards,
    unless the block installed its own.
    """
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if usable:
        previous = signal.getsignal(signal.SIGALRM)
        usable = previous is not None and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(f"{what} took longer than {seconds:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if signal.getsignal(signal.SIGALRM) is on_alarm:
            signal.signal(signal.SIGALRM, previous)


def load(spec: str | None = None, timeout: float | None = DEFAULT_TIMEOUT) -> "Implementation":
    """Load ``MODULE``, ``MODULE:OBJECT`` or a ``path/to/file.py``; default: $GRADSPEC_IMPL or the reference.

    ``timeout``: the call timeout of the run (0 or None: none). The import, and the instantiation of a
    class named by ``MODULE:Class``, may take :func:`import_limit` (``timeout``) seconds each; longer is an
    :class:`ImplementationError` ("importing 'M' took longer than N s"), see :func:`time_limit`.
    """
    spec = spec or os.environ.get(ENV_VAR) or DEFAULT_IMPL
    module_name, _, attr = spec.partition(":")
    limit = import_limit(timeout)
    try:
        with time_limit(limit, f"importing {module_name!r}"):
            module = _import_module(module_name)
    except ImplementationError:
        raise
    except TimeLimitExceeded:
        raise ImplementationError(_too_slow(f"importing {module_name!r}", limit, timeout)) from None
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
                with time_limit(limit, f"instantiating {spec!r}"):
                    obj = obj()
            except TimeLimitExceeded:
                raise ImplementationError(_too_slow(f"instantiating {spec!r}", limit, timeout)) from None
            except Exception as exc:  # noqa: BLE001
                raise ImplementationError(f"cannot instantiate {spec}: {type(exc).__name__}: {exc}") from exc
    return Implementation(spec, obj, timeout)


def _too_slow(what: str, limit: float, timeout: float) -> str:
    return (f"{what} took longer than {limit:g} s (the import limit: {FIRST_CALL_GRACE:g} x the call timeout of "
            f"{timeout:g} s; raise it with --timeout S or gradspec.check(..., timeout=S), 0 for no limit)")


def _import_module(module_name: str) -> ModuleType:
    """The module ``module_name`` names: a ``path/to/file.py``, or a module found as :func:`_import_user_module` finds it."""
    if module_name.endswith(".py"):
        if not os.path.isfile(module_name):
            raise ImplementationError(f"implementation file not found: {module_name}")
        name = "_gradspec_impl_" + os.path.splitext(os.path.basename(module_name))[0]
        loader_spec = importlib.util.spec_from_file_location(name, module_name)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        loader_spec.loader.exec_module(module)
        return module
    return _import_user_module(module_name)


class WorkingDirectoryFinder(importlib.abc.MetaPathFinder):
    """Finds top-level modules in one directory, after every other finder has had its turn.

    It sits at the end of ``sys.meta_path``: an installed package (gradspec above all, installed normally
    or in editable mode) always wins over a file of the same name in the directory. ``sys.path`` is left
    alone, so the worker processes gradspec spawns (they inherit ``sys.path``, not ``sys.meta_path``)
    import exactly the installed gradspec.
    """

    def __init__(self, directory: str):
        self.directory = directory

    def find_spec(self, fullname, path=None, target=None):
        if path is not None or fullname == "gradspec":
            return None  # submodules are found through their package; gradspec is never taken from here
        return importlib.machinery.PathFinder.find_spec(fullname, [self.directory])


def _import_user_module(module_name: str) -> ModuleType:
    """Import ``module_name``, taking its top-level package from the working directory first, as ``python -m`` does.

    The module's own imports of its sibling files are found through a :class:`WorkingDirectoryFinder`
    for the working directory, which comes after every installed package.
    """
    cwd = os.getcwd()
    if not any(isinstance(f, WorkingDirectoryFinder) and f.directory == cwd for f in sys.meta_path):
        sys.meta_path.append(WorkingDirectoryFinder(cwd))
    top = module_name.partition(".")[0]
    if top not in sys.modules and top != "gradspec":
        spec = importlib.machinery.PathFinder.find_spec(top, [cwd])
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[top] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(top, None)
                raise
    return importlib.import_module(module_name)


@dataclass
class CallOutcome:
    ok: bool
    value: Any = None
    finding: Finding | None = None


def safe_attr(obj, name: str, default=None):
    """``getattr(obj, name, default)``, where a lookup that raises anything (a module ``__getattr__``, a
    property) also gives ``default``: an attribute the implementation cannot produce is not provided, and
    the run goes on."""
    try:
        return getattr(obj, name, default)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001
        return default


class CallFailed(Exception):
    """Raised by :meth:`Implementation.evaluate` and by the functions of a :class:`GuardedImplementation`:
    the implementation's call failed; ``finding`` says how."""

    def __init__(self, finding: Finding):
        super().__init__(finding.message)
        self.finding = finding


class Implementation:
    """An implementation under test."""

    def __init__(self, name: str, obj: Any, timeout: float | None = DEFAULT_TIMEOUT):
        self.name = name
        self.obj = obj
        self.timeout = timeout
        self.hung: dict[str, float] = {}  # function name -> the timeout it exceeded
        self.called: set[str] = set()  # functions called at least once (the first call gets FIRST_CALL_GRACE)
        self.warnings: dict[str, dict[str, int]] = {}  # function name -> {"Category: message": count}
        self._guarded: GuardedImplementation | None = None

    @classmethod
    def wrap(cls, impl, timeout: float | None = DEFAULT_TIMEOUT) -> "Implementation":
        """``impl`` as an Implementation: itself, the Implementation behind a :class:`GuardedImplementation`
        (so its run's timeouts and hung functions carry over), a loaded one for a name or None (its import
        limited by ``timeout``, see :func:`load`), or a new one around an object."""
        if isinstance(impl, Implementation):
            return impl
        if isinstance(impl, GuardedImplementation):
            return impl.gradspec_implementation
        if impl is None or isinstance(impl, str):
            return load(impl, timeout)
        name = safe_attr(impl, "__name__")
        name = name if isinstance(name, str) else type(impl).__name__
        return cls(name, impl)

    @property
    def version(self) -> str | None:
        for attr in ("__version__", "version", "VERSION"):
            v = safe_attr(self.obj, attr)
            if isinstance(v, str):
                return v
        return None

    def describe(self) -> dict:
        mod = self.obj if isinstance(self.obj, ModuleType) else sys.modules.get(type(self.obj).__module__)
        return {"name": self.name, "version": self.version, "file": getattr(mod, "__file__", None)}

    def function(self, name: str):
        """The callable ``name`` of the implementation, or None (see :func:`safe_attr`)."""
        fn = safe_attr(self.obj, name)
        return fn if callable(fn) else None

    def provides(self, functions) -> tuple[list[str], list[str]]:
        """(present, missing) protocol function names."""
        present = [f for f in functions if self.function(f) is not None]
        return present, [f for f in functions if f not in present]

    def guarded(self) -> "GuardedImplementation":
        """The implementation's object seen through this Implementation (see :class:`GuardedImplementation`):
        code written against a module (the properties, the oracles' inner runs) calls it like the module,
        and every call shares this run's timeouts and hung functions."""
        if self._guarded is None:
            self._guarded = GuardedImplementation(self)
        return self._guarded

    def attempt(self, fn_name: str, args=(), kwargs=None, *, note: str = "", hang_key: str | None = None):
        """(value, exception, finding) of one guarded call of ``fn_name``; never raises.

        ``finding`` is None when the call returned; otherwise it says why not: ``missing``, ``timeout`` or
        ``exception`` (then ``exception`` is what the implementation raised, even ``SystemExit``). Timeouts:
        the first call of a function may take :data:`FIRST_CALL_GRACE` times ``self.timeout``; a call that
        does not return in time marks ``hang_key`` (default: ``fn_name``) as hung, and a function whose name
        or ``hang_key`` is marked is not called again: the call gets the same ``timeout`` finding at once.
        ``note`` is added to a timeout's message (where the call was made).
        """
        fn = self.function(fn_name)
        if fn is None:
            return None, None, Finding("missing", f"{fn_name} is not provided by the implementation")
        key = hang_key or fn_name
        earlier = fn_name if fn_name in self.hung else key if key in self.hung else None
        if earlier is not None:
            t = self.hung[earlier]
            return None, None, Finding(
                "timeout", f"{fn_name} was not called again: an earlier call did not return within {t:g} s",
                {"function": fn_name, "timeout_s": t, "repeated": True})
        limit = self.timeout if (not self.timeout or fn_name in self.called) else self.timeout * FIRST_CALL_GRACE
        self.called.add(fn_name)
        # the implementation's warnings are recorded (see take_warnings), never printed and never raised: the
        # caller's filters (pytest's error::RuntimeWarning, say) would turn them into exceptions of the
        # implementation. The main thread waits while the call runs, so the recording sees the call's warnings.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            done, value, exc = run_with_timeout(fn, args, kwargs or {}, limit)
        for w in caught:
            message = f"{w.category.__name__}: {w.message}"
            counts = self.warnings.setdefault(fn_name, {})
            counts[message] = counts.get(message, 0) + 1
        if not done:
            self.hung[key] = float(limit)
            return None, None, Finding(
                "timeout",
                f"{fn_name} did not return within {limit:g} s{note} (timeout {self.timeout:g} s"
                f"{f', x{FIRST_CALL_GRACE:g} for a first call' if limit != self.timeout else ''}; raise it with "
                f"--timeout S or gradspec.check(..., timeout=S)); the call keeps running in a background thread",
                {"function": fn_name, "timeout_s": float(limit), "repeated": False})
        if exc is not None:
            return None, exc, exception_finding(fn_name, exc)
        return value, None, None

    def invoke(self, fn_name: str, args=(), kwargs=None, *, note: str = "", hang_key: str | None = None):
        """(value, None), or (None, finding) when the call failed: :meth:`attempt` without the exception."""
        value, _, finding = self.attempt(fn_name, args, kwargs, note=note, hang_key=hang_key)
        return value, finding

    def take_warnings(self, functions) -> dict[str, dict[str, int]]:
        """The warnings raised inside calls of ``functions`` since the last take, per function
        (``{"Category: message": count}``), and forget them."""
        return {f: self.warnings.pop(f) for f in functions if f in self.warnings}

    def evaluate(self, fn_name: str, *args, **kwargs):
        """Call ``fn_name`` under the timeout, without the input check (hot loops: difference quotients).

        Returns its value; raises :class:`CallFailed` carrying the finding when it raises anything (even
        ``SystemExit``), does not return in time, or is missing. Never lets the implementation's exception out.
        """
        value, finding = self.invoke(fn_name, args, kwargs, note=" while differencing")
        if finding is not None:
            raise CallFailed(finding)
        return value

    def call(self, fn_name: str, *args, arg_names=None, **kwargs) -> CallOutcome:
        """Call ``fn_name`` and check its inputs were left alone; never raises.

        Arguments are named in findings by the protocol (``arg_names`` for a function
        that is not in it). A call that
        exceeds ``self.timeout`` seconds gets a ``timeout`` finding, and so does
        every later call of the same function (it is not called again).
        """
        try:
            before = copy.deepcopy((args, kwargs))
        except Exception:  # noqa: BLE001 - an argument that cannot be copied (e.g. a state object of the impl)
            before = None
        value, finding = self.invoke(fn_name, args, kwargs)
        if finding is not None:
            return CallOutcome(False, finding=finding)
        changed = _mutated(before, (args, kwargs)) if before is not None else None
        if changed:  # in the protocol's names (the reproducers' too), whoever made the call
            from .oracles.common import argument_names, argument_path

            changed = argument_path(changed, argument_names(fn_name) or arg_names)
        if changed:
            return CallOutcome(
                False, value,
                Finding("mutation", f"{fn_name} modified its input {changed}; no function may modify its inputs",
                        {"function": fn_name, "argument": changed}),
            )
        return CallOutcome(True, value)


class GuardedImplementation:
    """An implementation's object whose functions are called through its :class:`Implementation`.

    ``proxy.softmax_backward(x, dy)`` calls the implementation's ``softmax_backward`` under the run's
    timeout (:meth:`Implementation.attempt`): it returns what the function returns and raises what it
    raises (the same exception object), and a call that does not return in time, or any later call of
    a function that hung once (by any oracle of the run), raises :class:`CallFailed` with the
    ``timeout`` finding at once. Attributes that are not callable (``__name__``, ``__version__``,
    constants) are the object's own; a missing function is an ``AttributeError``, so
    ``getattr(proxy, name, None)`` works as on the module. ``gradspec_implementation`` is the
    Implementation behind it (:meth:`Implementation.wrap` returns it).
    """

    __slots__ = ("gradspec_implementation",)

    def __init__(self, impl: Implementation):
        object.__setattr__(self, "gradspec_implementation", impl)

    def __getattr__(self, name: str):
        impl = object.__getattribute__(self, "gradspec_implementation")
        missing = object()
        value = safe_attr(impl.obj, name, missing)
        if value is missing:
            raise AttributeError(f"the implementation {impl.name!r} has no attribute {name!r}")
        if name.startswith("__") or not callable(value) or isinstance(value, type):
            return value
        return _guarded_function(impl, name)

    def __setattr__(self, name, value):
        raise AttributeError(f"a GuardedImplementation is read-only (tried to set {name!r})")

    def __dir__(self):
        return dir(self.gradspec_implementation.obj)

    def __repr__(self):
        return f"GuardedImplementation({self.gradspec_implementation.name!r})"


def _guarded_function(impl: Implementation, name: str):
    def call(*args, **kwargs):
        value, exc, finding = impl.attempt(name, args, kwargs)
        if exc is not None:
            raise exc
        if finding is not None:
            raise CallFailed(finding)
        return value

    call.__name__ = call.__qualname__ = name
    return call


def run_with_timeout(fn, args, kwargs, timeout):
    """(done, value, exception) of ``fn(*args, **kwargs)``; never raises (except KeyboardInterrupt).

    With ``timeout`` None or <= 0 the call is direct. Otherwise it runs in a
    daemon thread, in a copy of the caller's context, joined for ``timeout``
    seconds; ``done`` is False when it did not finish (the thread cannot be
    killed and keeps running). Any exception, even ``SystemExit``, is returned.
    """
    if not timeout or timeout <= 0 or timeout == float("inf"):
        try:
            return True, fn(*args, **kwargs), None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - the implementation may raise anything, even SystemExit
            return True, None, exc
    return _worker().run(fn, args, kwargs, timeout)


class _Worker:
    """A daemon thread that runs calls one at a time; abandoned (and replaced) when a call hangs.

    Reusing one thread matters: NumPy's first call in a fresh thread costs about
    a millisecond, which a thread per call would pay on every call.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list = []
        self.ready = threading.Condition(self.lock)
        self.dead = False
        self.thread = threading.Thread(target=self._loop, name="gradspec-impl-call", daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            with self.ready:
                while not self.requests:
                    self.ready.wait()
                fn, args, kwargs, ctx, fp, box, done = self.requests.pop(0)
            try:
                with np.errstate(**fp):  # NumPy < 2 keeps errstate per thread, not in the context
                    box["value"] = ctx.run(fn, *args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - the implementation may raise anything
                box["exc"] = exc
            done.set()
            if self.dead:  # it hung and came back: a new worker has replaced this one
                return

    def run(self, fn, args, kwargs, timeout):
        box: dict = {}
        done = threading.Event()
        with self.ready:
            self.requests.append((fn, args, kwargs, contextvars.copy_context(), np.geterr(), box, done))
            self.ready.notify()
        if not done.wait(timeout):
            self.dead = True
            return False, None, None
        return True, box.get("value"), box.get("exc")


_WORKERS: dict[int, _Worker] = {}
_WORKERS_LOCK = threading.Lock()


def _worker() -> _Worker:
    """The live worker of the calling thread (one per caller thread, so callers never queue behind each other)."""
    key = threading.get_ident()
    with _WORKERS_LOCK:
        w = _WORKERS.get(key)
        if w is None or w.dead:
            w = _WORKERS[key] = _Worker()
        return w


def _skip_frame(filename: str) -> bool:
    """Frames of gradspec's runner, the standard library's threading and NumPy's own code."""
    if filename.startswith("<"):  # generated code, such as NumPy's "<__array_function__ internals>"
        return True
    path = os.path.abspath(filename)
    gradspec_dir = os.path.dirname(os.path.abspath(__file__))
    if path.startswith(gradspec_dir + os.sep):
        return True
    if os.path.basename(path) in ("threading.py", "contextvars.py"):
        return True
    np_dir = os.path.dirname(os.path.abspath(np.__file__))
    return path.startswith(np_dir + os.sep)


def exception_finding(fn_name: str, exc: BaseException) -> Finding:
    """A finding that keeps the exception's type, message and the implementation's own frame.

    The frame is the deepest one in the implementation's code: frames of
    gradspec, of threading and of NumPy are passed over (so an error raised
    inside ``np.pad`` points at the implementation's line that called it).
    """
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not _skip_frame(f.filename)] or frames
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
