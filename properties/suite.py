"""The property catalogue: which properties every op has, and running them with Hypothesis.

:data:`PROPERTIES` maps each op of the registry to its :class:`Property`
objects; each binds a property function of :mod:`gradspec.properties.props`
to an op and a strategy mode of :mod:`gradspec.properties.strategies`.

Run them against any implementation::

    from gradspec.properties import suite
    outcomes = suite.check_op("softmax", my_layers)          # every property of softmax
    suite.check_property(suite.get("softmax", "rows_sum_to_one"), my_layers)  # raises on failure

Examples per property follow the active Hypothesis profile
(``--hypothesis-profile dev|ci|thorough``, see :mod:`gradspec.properties.hypothesis_profiles`);
slow properties run a fraction (``weight``) of them, never fewer than 2.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, given, seed as hyp_seed, settings
from hypothesis.errors import Unsatisfiable, UnsatisfiedAssumption

from ..impl import CallFailed
from ..oracles import ORACLES
from ..registry import OPS, REGISTRY
from ..spec import OpSpec
from ..limits import describe as limits_describe, of as limits_of
from . import limited, props as P
from .checks import NotProvided
from .lookup import samples

if sys.version_info < (3, 11):  # pragma: no cover - Hypothesis depends on the backport there
    from exceptiongroup import BaseExceptionGroup


@dataclass(frozen=True)
class Property:
    """One property of one op, on samples of one strategy mode."""

    name: str
    op: str
    mode: str
    check: Callable[[Any, dict], None]  # check(impl, sample) raises AssertionError
    requires: tuple[str, ...] = ()  # protocol functions beyond the op's own
    oracle: str | None = None  # the oracle a property delegates to (checked for applicability before running)
    weight: float = 1.0  # fraction of the profile's examples (slow properties run fewer)
    doc: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        return f"{self.op}:{self.name}[{self.mode}]"

    def missing(self, impl) -> list[str]:
        """Functions the property needs that ``impl`` does not provide."""
        need = tuple(REGISTRY[self.op].functions) + self.requires
        missing = [f for f in need if not callable(getattr(P.impl_object(impl), f, None))]
        if self.oracle is not None and not _oracle_applies(self.oracle, self.op):
            missing.append(f"(the {self.oracle} oracle does not apply to {self.op})")
        return missing


def _oracle_applies(name: str, op: str | OpSpec) -> bool:
    """Whether oracle ``name`` applies to ``op``; an oracle that cannot be imported applies to nothing here
    (the runner and the report show it as not available, with the reason)."""
    from ..oracles import get as get_oracle

    try:
        mod = get_oracle(name)
    except ImportError:
        return False
    return bool(mod.applies(REGISTRY[op] if isinstance(op, str) else op))



def op_properties(spec: OpSpec) -> list[Property]:
    """The properties of one op (a record, registered or not): those of its kind, then the record's own
    (``spec.properties``), each in the modes it names (which must be among the op's ``sample.modes``)."""
    op, kind, op_modes = spec.name, spec.kind, spec.sample.modes
    out: list[Property] = []

    def add(name, func, modes=("away",), requires=(), weight=1.0, bind_op=False, oracle=None):
        f = partial(func, op=op) if bind_op else func
        if oracle is not None:
            f = partial(f, oracle=oracle)
        named = getattr(func, "func", func)  # a record's property bound to keyword arguments: the function's own doc
        doc = (named.__doc__ or "").strip().splitlines()[0] if named.__doc__ else ""
        for m in modes:
            if m not in op_modes:
                raise ValueError(f"property {name} of {op}: mode {m!r} not among the op's modes {op_modes}")
            out.append(Property(name, op, m, f, tuple(requires), oracle, weight, doc))

    hard = ("hard",) if "hard" in op_modes else ()
    if kind in ("differentiable", "loss"):
        add("forward_matches_spec", P.prop_forward_matches_spec, ("away",) + hard, bind_op=True)
        add("shapes", P.prop_shapes, ("away",) + hard, bind_op=True)
        add("gradient_fd64", P.prop_gradient_fd64, ("away",) + hard, bind_op=True, weight=0.6)
        add("linear_in_dy", P.prop_linear_in_dy, bind_op=True, weight=0.5)
    add("no_mutation", P.prop_no_mutation, bind_op=True, weight=0.3 if kind == "init" else 0.5)
    add("deterministic", P.prop_deterministic, bind_op=True, weight=0.3 if kind == "init" else 0.5)
    add("no_global_random_state", P.prop_no_global_random_state, bind_op=True, weight=0.3 if kind == "init" else 0.5)
    for oname in ORACLES:  # every registered oracle that applies to the op (not the properties oracle itself)
        if oname != "properties" and _oracle_applies(oname, spec):
            add(f"agrees_with_{oname}", P.prop_agrees_with_oracle, bind_op=True, oracle=oname,
                weight=0.2 if oname == "fd64" else 0.1)
    if kind == "optimizer":
        add("trajectory_matches_spec", P.prop_optimizer_matches_spec, ("away", "hard"), bind_op=True)
        add("decreases_convex_quadratic", P.prop_optimizer_decreases_quadratic, bind_op=True)
    if kind == "init":
        add("statistics", P.prop_init_statistics, bind_op=True, weight=0.4)
    for prop in spec.properties:  # the record's own
        check = prop.check.resolve()
        if prop.check.kwargs:
            check = partial(check, **dict(prop.check.kwargs))
        add(prop.name, check, prop.modes, prop.requires, prop.weight)
    return out


def _build() -> dict[str, list[Property]]:
    out = {spec.name: op_properties(spec) for spec in OPS}
    missing = [name for name, props in out.items() if not props]
    assert not missing, f"ops without properties: {missing}"
    return out


#: op name -> its properties (every op of the registry has some).
PROPERTIES: dict[str, list[Property]] = _build()
ALL: list[Property] = [p for ps in PROPERTIES.values() for p in ps]


def get(op: str, name: str, mode: str = "away") -> Property:
    for p in PROPERTIES[op]:
        if p.name == name and p.mode == mode:
            return p
    raise KeyError(f"{op} has no property {name!r} in mode {mode!r}; it has {sorted({p.name + '[' + p.mode + ']' for p in PROPERTIES[op]})}")


def examples_for(prop: Property, max_examples: int | None = None) -> int:
    """Examples for ``prop``: ``max_examples`` (default: the active profile's) × its weight, at least 2."""
    base = settings.default.max_examples if max_examples is None else max_examples
    return max(2, min(base, int(round(base * prop.weight))))


def check_property(prop: Property, impl, *, max_examples: int | None = None, derandomize: bool | None = None,
                   seed: int | None = None, shrink: bool = True, database=..., shrink_seconds: float | None = None,
                   multiple_bugs: bool = True, op: OpSpec | None = None) -> int:
    """Run one property with Hypothesis against ``impl``; raises the (shrunk) failure.

    ``impl``: a module, an object, an Implementation or its GuardedImplementation, or a name or None
    (loaded with :func:`gradspec.impl.load`: None is ``$GRADSPEC_IMPL``, else the reference).

    Settings default to the active profile; ``max_examples`` is then scaled by
    the property's ``weight``. Raises :class:`~gradspec.properties.checks.NotProvided`
    when ``impl`` lacks a function the property needs.

    The exception raised carries its falsifying sample as ``gradspec_example``; when Hypothesis
    finds several distinct failures it raises an ``ExceptionGroup`` whose members each carry their own
    (:func:`failures` lists them). Time limits on failing code:

    * ``shrink_seconds``: the run ends once this many seconds have passed since the first failure
      (None: Hypothesis' own limits, up to 500 shrinks or 5 minutes), and Hypothesis' ``explain`` and
      ``target`` phases are left out: each distinct failure is reported with the smallest sample found
      within the budget (:class:`ShrinkBudget`);
    * ``shrink=False``: no shrinking, the first falsifying sample is reported as drawn;
    * ``multiple_bugs=False``: stop at the first failure (when only the verdict is needed: no shrinking,
      no search for further distinct failures);
    * a property that delegates to an oracle (``prop.oracle``) is never shrunk: its sample is only
      the seed of the oracle's own draw, so a smaller one is no more telling;
    * a call of ``impl`` that times out (a :class:`~gradspec.impl.CallFailed` from a
      :class:`~gradspec.impl.GuardedImplementation`) ends a ``shrink_seconds`` budget at once.

    ``op``: the op's record narrowed to declared limits (``gradspec.limits.narrow``): the samples meet them
    and the implementation is never called outside them (:mod:`gradspec.properties.limited`); raises
    :class:`~gradspec.properties.limited.NoSampleWithinLimits` (a ``NotProvided``) when no example can.
    Returns the number of examples the property ran on.
    """
    missing = prop.missing(impl)
    if missing:
        raise NotProvided(f"{prop.id} needs {', '.join(missing)}")
    if impl is None or isinstance(impl, str):  # loaded once here, so a record's own property sees the object too
        impl = P.impl_object(impl)
    lims = limits_of(op) if op is not None else {}
    record = limited.Rejections()
    strategy = samples(prop.op, prop.mode)
    if lims:
        strategy = limited.samples(op, prop.mode, record)
        impl = limited.LimitedImplementation(impl, op, lims, record)
        if "op" in (getattr(prop.check, "keywords", None) or {}):  # a property of the op's kind: the narrowed record
            prop = dataclasses.replace(prop, check=partial(prop.check, op=op))
    shrink = shrink and multiple_bugs and prop.oracle is None
    n = examples_for(prop, max_examples)
    # the budget ends nothing before Hypothesis has generated its n examples (every distinct failure they show)
    budget = ShrinkBudget(shrink_seconds, min_calls=n) if shrink and shrink_seconds is not None else None

    def run(sample):
        try:
            prop.check(impl, sample)
        except BaseException as exc:
            # The failing sample as data: Hypothesis replays the shrunk example last, so the exception that
            # propagates carries the minimal one (each exception of a group carries its own).
            exc.gradspec_example = sample
            raise

    if lims:  # counts the examples run and leaves the rejected ones out (a separate function, as the budget's)
        run = record.around(run)
    if budget is not None:  # (a separate function: run's source, which derandomized runs hash, stays as it was)
        run = budget.around(run)

    run.__name__ = run.__qualname__ = "property_" + prop.id.replace(":", "_").replace("[", "_").replace("]", "")
    run._hypothesis_internal_add_digest = prop.id.encode()  # a distinct example database key per property
    # no deadline whatever the active profile: on a shared machine a slow example is not a failure
    # (Hypothesis' default 200 ms deadline made the CLI flaky); speed lives in benchmarks/
    # within declared limits some draws are rejected (see gradspec.properties.limited): as many as it takes
    suppress = [HealthCheck.too_slow] + ([HealthCheck.filter_too_much] if lims else [])
    kw: dict[str, Any] = {"max_examples": n, "deadline": None,
                          "suppress_health_check": list(settings.default.suppress_health_check) + suppress}
    if derandomize is not None:
        kw["derandomize"] = derandomize
    if database is not ...:
        kw["database"] = database
    if not shrink:
        kw["phases"] = (Phase.explicit, Phase.reuse, Phase.generate)
    elif budget is not None:
        kw["phases"] = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
    if not multiple_bugs:
        kw["report_multiple_bugs"] = False
    test = given(strategy)(settings(**kw)(run))
    if seed is not None:
        test = hyp_seed(seed)(test)
    try:
        test()
    except (Unsatisfiable, limited.NoSampleFound):
        if not lims:
            raise
        raise limited.NoSampleWithinLimits(
            f"{prop.id}: no example within the declared limits ({limits_describe({op.name: lims})}) in "
            f"{record.rejected} draws: {record.message() or 'every draw was rejected'}", lims) from None
    except BudgetSpent:
        budget.raise_failures()
    except BaseException as exc:
        # the budget can run out while Hypothesis replays its shrunk examples, which then reports the stop
        # signal as one of the failures of its group: what was recorded is the answer all the same
        if budget is not None and holds_budget_spent(exc):
            budget.raise_failures()
        raise
    return record.ran


def holds_budget_spent(exc: BaseException) -> bool:
    """Whether ``exc`` is, or is a group holding (at any depth), :class:`BudgetSpent`."""
    if isinstance(exc, BudgetSpent):
        return True
    return any(holds_budget_spent(e) for e in getattr(exc, "exceptions", None) or ())


class BudgetSpent(BaseException):
    """Ends a Hypothesis run from inside the test function: Hypothesis lets a ``BaseException`` that is not
    ``SystemExit`` or ``GeneratorExit`` through at once, as it does ``KeyboardInterrupt``."""


class ShrinkBudget:
    """A time limit on Hypothesis' shrinking, kept by the test function itself (Hypothesis has no setting
    for it).

    It records every failure as it happens, the latest one per distinct failure (exception type and
    the line that raised it, as Hypothesis distinguishes them): the shrinker only tries samples it
    takes for smaller, so the latest is the smallest found so far. Once ``seconds`` have passed since
    the first failure, and more than ``min_calls`` calls were made, :meth:`check` ends the run
    (:class:`BudgetSpent`) and :meth:`raise_failures`
    raises what was recorded: the one failure, or an ``ExceptionGroup`` of the distinct ones, each
    carrying its sample as ``gradspec_example``.
    """

    def __init__(self, seconds: float, min_calls: int = 0):
        if not seconds >= 0:
            raise ValueError(f"shrink_seconds must be a number of seconds >= 0, got {seconds!r}")
        self.seconds = float(seconds)
        self.min_calls = int(min_calls)
        self.calls = 0
        self.first_failure: float | None = None
        self.latest: dict[tuple, BaseException] = {}

    def around(self, fn):
        """``fn`` (a test function of one sample) under this budget."""
        def budgeted(sample):
            self.calls += 1
            self.check()
            try:
                fn(sample)
            except (UnsatisfiedAssumption, limited.NoSampleFound):  # a rejected example (declared limits)
                raise
            except BaseException as exc:
                self.failed(exc)
                raise

        return budgeted

    def spent(self) -> bool:
        """Whether the time since the first failure exceeds ``seconds``, once more than ``min_calls`` calls
        were made (Hypothesis generates its examples first: the budget cuts only the shrinking after them)."""
        return (self.first_failure is not None and self.calls > self.min_calls
                and time.perf_counter() - self.first_failure > self.seconds)

    def check(self) -> None:
        """Raise :class:`BudgetSpent` when the budget is spent."""
        if self.spent():
            raise BudgetSpent()

    def expire(self) -> None:
        """End the budget now (the next :meth:`check` raises)."""
        self.seconds = -1.0

    def failed(self, exc: BaseException) -> None:
        if self.first_failure is None:
            self.first_failure = time.perf_counter()
        self.latest[origin(exc)] = exc
        if isinstance(exc, CallFailed) and exc.finding.kind == "timeout":
            self.expire()  # a smaller sample would time out the same way: no shrinking

    def raise_failures(self) -> None:
        found = list(self.latest.values())
        if len(found) == 1:
            raise found[0]
        raise BaseExceptionGroup(f"{len(found)} distinct failures (shrinking stopped by its time budget)", found)


def origin(exc: BaseException) -> tuple:
    """What makes two failures distinct: the exception type and the file and line that raised it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return (type(exc), tb.tb_frame.f_code.co_filename if tb else None, tb.tb_lineno if tb else None)


def failures(exc: BaseException) -> list[BaseException]:
    """The distinct failures in what :func:`check_property` raised: the members of an ``ExceptionGroup``
    (nested groups flattened), or the exception itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in failures(sub)]
    return [exc]


@dataclass
class Outcome:
    prop: Property
    status: str  # pass | fail | not_applicable
    message: str = ""


def check_op(op: str, impl, *, stop_at_first: bool = False, **kw) -> list[Outcome]:
    """Run every property of ``op`` against ``impl``; one :class:`Outcome` per property.

    An exception other than a missing function counts as a failure (an
    implementation that raises on valid input is wrong). ``kw`` goes to
    :func:`check_property`. ``stop_at_first``: only the verdict is needed, so the
    first failing property ends the run and each property stops at its first
    failure (``multiple_bugs=False``, unless ``kw`` says otherwise).
    """
    if stop_at_first:
        kw.setdefault("multiple_bugs", False)
    outcomes = []
    for prop in PROPERTIES[op]:
        missing = prop.missing(impl)
        if missing:
            outcomes.append(Outcome(prop, "not_applicable", f"needs {', '.join(missing)}"))
            continue
        try:
            check_property(prop, impl, **kw)
        except Exception as exc:  # noqa: BLE001 - any failure of the implementation is reported
            notes = "\n".join(getattr(exc, "__notes__", []) or [])
            outcomes.append(Outcome(prop, "fail", f"{type(exc).__name__}: {exc}" + (f"\n{notes}" if notes else "")))
            if stop_at_first:
                break
        else:
            outcomes.append(Outcome(prop, "pass"))
    return outcomes


def first_failure(op: str, impl, *, max_examples: int | None = None, quick: int = 3, **kw) -> Outcome | None:
    """The first property of ``op`` that ``impl`` fails, or None.

    Two passes: every property with ``quick`` examples (most bugs show at
    once), then every property with ``max_examples`` (scaled by its weight).
    """
    for budget in (quick, max_examples):
        for o in check_op(op, impl, stop_at_first=True, max_examples=budget, **kw):
            if o.status == "fail":
                return o
    return None
