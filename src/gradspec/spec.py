"""The vocabulary of the op registry: what one entry says about one op.

An :class:`OpSpec` is the single description of an op that every oracle, the
checker, the property library and the reports read. Modelled on PyTorch's
OpInfo: the entry names the protocol functions, which arguments get a
gradient, the shape rule, the hyperparameters and their ranges, the smooth
domain, the kinks with the convention there, its sampler family
(:class:`Sampler`), and references (:class:`Ref`) to its definition in every
oracle: the SymPy definition, the mpmath forward, the float64 running-error
model, the 50-digit closed forms of the golden vectors and the fixed cases on
its kinks. The records live in :mod:`gradspec.ops` (one module per spec area).

A :class:`Ref` names a module-level callable and resolves it when called, so
the registry imports neither SymPy, mpmath nor Hypothesis, and an oracle's
module can import the registry without an import cycle.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

@dataclass(frozen=True)
class Kind:
    """What a kind of op is, as the facts the engine asks of it (one entry of :data:`KINDS`).

    Code that needs one of these facts reads it from ``op.kind_facts`` rather than comparing ``op.kind``
    with a name; an oracle that picks a whole procedure per kind does so with one table keyed by kind.
    """

    doc: str
    #: ``functions[0]`` is a forward returning the output
    has_forward: bool = False
    #: ``functions[1]`` is the vector-Jacobian product of every differentiable argument
    has_backward: bool = False
    #: its gradient is checked (by a backward, or returned with the loss of a whole network)
    has_gradient: bool = False
    #: the forward returns one float and the backward takes a scalar cotangent (a loss)
    scalar_output: bool = False
    #: the backward takes a cotangent array of the forward's shape
    array_cotangent: bool = False
    #: an (init, update) pair compared by the parameter trajectory over several steps (an optimizer)
    trajectory: bool = False
    #: draws from a NumPy Generator; checked statistically (an initializer)
    statistical: bool = False
    #: ``functions[0]`` returns ``(loss, grads)`` of a whole network
    whole_network: bool = False
    #: returns its parameters updated, the first of them first (a learning rule, not a gradient)
    learning_rule: bool = False
    #: ``functions[0]``'s output is compared value for value with the spec and has no gradient (a function, a rule)
    value_only: bool = False


#: Kinds of op, which decide how an oracle checks them.
KINDS = {
    "differentiable": Kind("forward/backward pair; backward is the VJP of every differentiable array argument",
                           has_forward=True, has_backward=True, has_gradient=True, array_cotangent=True),
    "loss": Kind("forward returns a float; backward takes a scalar dy and returns the gradient of the first argument",
                 has_forward=True, has_backward=True, has_gradient=True, scalar_output=True),
    "function": Kind("a plain function with no backward (compared value for value with the spec)", has_forward=True,
                     value_only=True),
    "optimizer": Kind("(init, update) pair; compared by the parameter trajectory over several steps", trajectory=True),
    "init": Kind("draws from a NumPy Generator; checked statistically (mean, variance, distribution)", statistical=True),
    "network": Kind("loss and gradients of a whole network", has_gradient=True, whole_network=True),
    "rule": Kind("a learning rule (not a gradient), compared with the spec", learning_rule=True, value_only=True),
}


@dataclass(frozen=True)
class Arg:
    """One argument of an op's forward function.

    ``role`` is one of: ``input`` / ``param`` (float arrays), ``target``,
    ``labels``, ``mask``, ``hyper`` (a number), ``shape``, ``rng``, ``grads``
    (a list of arrays), ``params`` (a list of (W, b)), ``choice`` (a string).
    """

    name: str
    role: str
    differentiable: bool = False
    doc: str = ""
    #: the allowed values of a ``choice`` argument (its sampler draws from them; limits may name them)
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hyper:
    """A hyperparameter and its valid range (inclusive unless marked open)."""

    name: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    default: Any = None
    doc: str = ""

    def describe(self) -> str:
        lo = "" if self.low is None else f"{self.low} {'<' if self.low_open else '<='} "
        hi = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high}"
        kind = " (integer)" if self.integer else ""
        return f"{lo}{self.name}{hi}{kind}"


@dataclass(frozen=True)
class Kink:
    """Where an op is not differentiable, and the convention the spec fixes there.

    ``distance(args)`` returns how far a sample lies from the nearest kink, in
    the units of the argument (``inf`` when the sample has nothing near a kink);
    an oracle that differentiates numerically with step h must keep it > h or
    check the convention instead.
    """

    arg: str
    where: str
    convention: str
    distance: Callable[[dict], float]


@dataclass(frozen=True)
class Ref:
    """A module-level callable named by module and attribute, resolved at each call.

    ``kwargs`` are bound keyword arguments (a partial by name), e.g.
    ``Ref("gradspec.properties.strategies", "elementwise", (("away_from_zero", True),))``.
    Resolution is not cached, so monkeypatching the attribute is seen.
    """

    module: str
    attr: str
    kwargs: tuple = ()

    def resolve(self) -> Callable:
        try:
            mod = importlib.import_module(self.module)
        except ImportError as e:
            raise ImportError(f"op record reference {self}: module {self.module!r} does not import: {e}") from e
        try:
            return getattr(mod, self.attr)
        except AttributeError:
            raise AttributeError(f"op record reference {self}: module {self.module!r} has no {self.attr!r}") from None

    def __call__(self, *args, **kw):
        return self.resolve()(*args, **dict(self.kwargs), **kw)

    def __str__(self) -> str:
        bound = "".join(f", {k}={v!r}" for k, v in self.kwargs)
        return f"{self.module}:{self.attr}{bound}"


@dataclass(frozen=True)
class FdModel:
    """What the fd64 oracle must know of one op beyond its signature (every field optional).

    * ``step(sample, name, x)``: the per-element difference step in argument ``name``, or None for the
      default ``FD_REL_STEP·max(1, |x|)``;
    * ``magnitude(sample)``: the forward on absolute values (a bound on the terms summed inside it); it widens
      the rounding scale and, without ``conditioning``, gives the forward's cancellation 64ε·max(magnitude);
    * ``conditioning(sample)``: the extra absolute rounding error a correct forward may carry, per output
      element (a float, or an array broadcastable to the output);
    * ``cancellation(sample, dy)``: what the op's cancellation adds to the rounding scale S of ⟨dy, forward⟩;
    * ``targeted(op, rng)``: extra (label, sample) pairs where common bugs hide;
    * ``large_logits``: the argument that takes logits, checked at ±1000 among the targeted samples;
    * ``backward_magnitude(sample, dy)``: per differentiable argument, the per-element magnitude of the terms the
      backward sums (a bound on its rounding error / ε; the property ``linear_in_dy`` reads it), or None for |g|:
      the backward on absolute values for sums of products, the terms written out where means are subtracted.
    """

    step: Ref | None = None
    magnitude: Ref | None = None
    conditioning: Ref | None = None
    cancellation: Ref | None = None
    targeted: Ref | None = None
    large_logits: str | None = None
    backward_magnitude: Ref | None = None


NO_FD_MODEL = FdModel()


@dataclass(frozen=True)
class OpProperty:
    """A property of one op beyond those every op of its kind has (:mod:`gradspec.properties.suite`).

    ``check(impl, sample)`` raises ``AssertionError`` naming the rule, the element and the values; it runs on the
    op's Hypothesis samples of each mode in ``modes``. ``requires``: protocol functions it calls beyond the op's
    own; ``weight``: the fraction of the profile's examples it runs (slow properties run fewer).
    """

    name: str
    check: Ref
    modes: tuple[str, ...] = ("away",)
    requires: tuple[str, ...] = ()
    weight: float = 1.0


@dataclass(frozen=True)
class KinkCase:
    """One sample placed exactly on a kink, with the convention the spec fixes there (an op's ``kink_cases``)."""

    op: str
    title: str
    convention: str
    sample: dict
    seed: int  # of the cotangent dy


def no_structure(rng: np.random.Generator) -> dict:
    """The structure of an op whose sampler draws everything at once (see :class:`Sampler`)."""
    return {}


@dataclass(frozen=True)
class Sampler:
    """An op's sampler family: one source for every draw of the op's samples.

    ``structure(rng)`` draws what a derivation depends on (shapes, integer
    hyperparameters; for the MLP ``(widths, N)``); ``values(case, rng)`` draws
    the values at a structure, with the registry's distributions and kink
    margins. From these:

    * ``sampler(rng)`` (the registry's ``op.sample(rng)``) is
      ``values(structure(rng), rng)``;
    * ``sampler.draw(case, rng)`` (the symbolic oracle's draws) is
      ``values(case, rng)`` at each structure of ``cases``, the small shapes at
      which the SymPy derivation runs;
    * ``sampler.strategy(mode)`` is the Hypothesis strategy of the property
      library in one of ``modes`` (``away``, ``on_kink``, ``hard``): the same
      sample dicts (plus a ``seed``), drawn by Hypothesis so that they shrink.
    """

    structure: Callable[[np.random.Generator], Any]
    values: Callable[[Any, np.random.Generator], dict]
    strategy: Callable[[str], Any] | None = None
    modes: tuple[str, ...] = ("away",)
    cases: tuple = ()
    #: draws whose float64 evaluation is exact (dyadic values) where a decision (the perceptron's sign) must be
    #: the same in float64 and at 50 digits; the golden vectors use it instead of ``sampler(rng)`` when set
    exact: Callable[[np.random.Generator], dict] | None = None
    #: the hyperparameters and choices whose declared limits ``strategy`` draws within when called as
    #: ``strategy(mode, limits={name: Limit})`` (the window geometry, the MLP's units, a float a kink sample is
    #: built around: clip_grad_value's clip, the perceptron's lr); the property oracle
    #: keeps the sample within the op's other limits itself (:mod:`gradspec.properties.limited`)
    strategy_limits: tuple[str, ...] = ()

    def __call__(self, rng: np.random.Generator) -> dict:
        return self.values(self.structure(rng), rng)

    def draw(self, case, rng: np.random.Generator) -> dict:
        return self.values(case, rng)


@dataclass(frozen=True)
class OpSpec:
    """One registry entry. See :mod:`gradspec.registry` for all of them."""

    name: str
    kind: str
    area: str  # the reference module that defines it: gradspec.reference.<area>
    summary: str
    args: tuple[Arg, ...]
    functions: tuple[str, ...]  # every protocol function the op consists of
    shape_rule: str
    sample: Sampler  # callable: sample(rng) -> a valid sample dict; see Sampler for the family
    output_shape: Callable[[dict], tuple] | None = None
    hypers: tuple[Hyper, ...] = ()
    domain: str = "all finite float64 inputs"
    kinks: tuple[Kink, ...] = ()
    conventions: tuple[str, ...] = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)
    #: the op in SymPy, read by the symbolic oracle; by kind: a differentiable op's or loss's
    #: ``builder(sample) -> gradspec.symbolic.definitions.Definition`` (the op at the sample's structure), an
    #: optimizer's ``() -> gradspec.symbolic.rules.OptimizerRule``, a function's or learning rule's statement
    #: ``statement(sample, notes) -> output`` evaluated at the working precision the oracle sets (``notes``: a list
    #: to which it appends what the sample needed, e.g. a sample on a decision boundary)
    sympy: Ref | None = None
    #: () -> {claim: bool}: exact SymPy proofs about the op's statement, reported by the symbolic oracle
    sympy_proofs: Ref | None = None
    #: f(sample_mp, pattern=None) -> (output, pattern): the op's forward in mpmath (gradspec.mpmath_oracle.forward)
    mp_forward: Ref | None = None
    #: model(sample, dy) -> Model: running float64 error bounds of the reference (gradspec.mpmath_oracle.tolerance)
    error_model: Ref | None = None
    #: values(sample_mp, dy_mp) -> {"outputs", "gradients"}: the golden vectors' 50-digit closed forms
    vector_values: Ref | None = None
    #: () -> [KinkCase]: fixed samples placed exactly on the op's kinks
    kink_cases: Ref | None = None
    #: the fd64 oracle's facts about the op: steps, cancellation, targeted samples (see :class:`FdModel`)
    fd_model: FdModel = NO_FD_MODEL
    #: the op's known wrong variants: a Ref to a :class:`gradspec.variants.Catalogue` (``catalogue(op_name)``
    #: -> its entries), read by the diagnosis (by name) and the mutation library (the properties must catch them)
    variants: Ref | None = None
    #: the op written with PyTorch, ``f(*forward_args) -> output``: float arrays arrive as float64 tensors, integer
    #: arrays as int64 tensors, hyperparameters as Python values. The PyTorch adapter
    #: (:mod:`gradspec.adapters.torch_impl`) builds the op's forward from it and its backward with autograd; an op
    #: whose adapter functions are written there by hand leaves it None.
    torch: Ref | None = None
    #: the op written against a NumPy-like namespace, ``f(xp, *forward_args) -> output``, from which the adapters of
    #: the function-transform frameworks (:mod:`gradspec.adapters.jax_impl`, :mod:`gradspec.adapters.autograd_impl`,
    #: through :func:`gradspec.adapters.functional.record_ops`) build the op's forward and, by the framework's VJP, its
    #: backward. ``xp`` (a :class:`gradspec.adapters.functional.Namespace`) is the framework's NumPy module
    #: (``jax.numpy``, ``autograd.numpy``: every attribute of it) plus two functions NumPy lacks: ``xp.erf(a)`` (the
    #: framework's ``scipy.special.erf``) and ``xp.logsumexp(a, axis=None, keepdims=False)`` (its
    #: ``scipy.special.logsumexp``). Differentiable float arrays arrive as the framework's float64 arrays (traced in a
    #: backward, and in JAX's compiled forward); every other array as a NumPy copy, never traced (integer arrays as
    #: int64, boolean arrays as bool, float arrays as float64), so the form can check them and every shape, and raise
    #: the errors the spec requires, before any arithmetic; hyperparameters and None arrive as given. Write it the way
    #: a user of the framework would (``E[ids]``, ``xp.where``, ``xp.maximum``): the framework's own gradient rules are
    #: what gradspec checks. None: the adapters do not provide the op from its record.
    xp: Ref | None = None
    #: the op written with JAX's own functions (``jax.nn.gelu``, ``jax.nn.standardize``, ``jax.lax.scan``, ...),
    #: ``f(*forward_args) -> output`` with the arguments as ``xp``'s; the JAX adapter uses it instead of ``xp``,
    #: so that JAX's function, not a NumPy rewrite of it, is what gradspec checks. None: JAX uses ``xp``.
    jax: Ref | None = None
    #: the op's own properties, beyond those of its kind (see :class:`OpProperty`)
    properties: tuple[OpProperty, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"OpSpec {self.name}: kind must be one of {sorted(KINDS)}, got {self.kind!r}")

    @property
    def kind_facts(self) -> Kind:
        """The facts of this op's kind (see :class:`Kind`)."""
        return KINDS[self.kind]

    @property
    def forward(self) -> str | None:
        return self.functions[0] if self.kind_facts.has_forward else None

    @property
    def backward(self) -> str | None:
        return self.functions[1] if self.kind_facts.has_backward else None

    @property
    def differentiable_args(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args if a.differentiable)

    @property
    def has_gradient(self) -> bool:
        return self.kind_facts.has_gradient

    def forward_args(self, sample: dict) -> list:
        """The sample's values in the forward's positional order."""
        return [sample[a.name] for a in self.args]

    def kink_distance(self, sample: dict) -> float:
        return min((k.distance(sample) for k in self.kinks), default=float("inf"))

    def describe(self) -> dict:
        """A JSON-ready description (used by ``gradspec ops`` and the reports)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "area": self.area,
            "summary": self.summary,
            "functions": list(self.functions),
            "args": [
                {"name": a.name, "role": a.role, "differentiable": a.differentiable, "doc": a.doc} for a in self.args
            ],
            "shape_rule": self.shape_rule,
            "hyperparameters": [h.describe() for h in self.hypers],
            "domain": self.domain,
            "kinks": [{"arg": k.arg, "where": k.where, "convention": k.convention} for k in self.kinks],
            "conventions": list(self.conventions),
        }
