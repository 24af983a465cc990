"""Records of the optimisers (``gradspec.reference.optim``): sgd, momentum, adagrad, rmsprop, adam."""
from __future__ import annotations

from ..spec import Arg, Hyper, OpSpec, Sampler, no_structure
from . import refs
from ..sampling import any_shape

#: Each optimiser's hyperparameters and the range its samples draw them from.
OPT_HYPERS = {
    "sgd": {"lr": (1e-3, 0.5)},
    "momentum": {"lr": (1e-3, 0.5), "momentum": (0.0, 0.99)},
    "adagrad": {"lr": (1e-3, 0.5), "eps": (1e-8, 1e-6)},
    "rmsprop": {"lr": (1e-3, 0.5), "decay": (0.5, 0.999), "eps": (1e-8, 1e-6)},
    "adam": {"lr": (1e-3, 0.5), "beta1": (0.5, 0.95), "beta2": (0.9, 0.9999), "eps": (1e-8, 1e-6)},
}

#: Steps of every optimiser sample (the parameter trajectory that is compared).
STEPS = 5


def optimizer_values(case, rng, *, hypers):
    shape = any_shape(rng)
    hyper = {k: float(rng.uniform(*r)) for k, r in hypers.items()}
    return {"w": rng.normal(size=shape), "grads": [rng.normal(size=shape) for _ in range(STEPS)], "hyper": hyper}


def optimizer(name: str, summary: str, conventions: tuple, *, zero_momentum: bool = False) -> OpSpec:
    """The record of one optimiser; ``zero_momentum``: its strategy also draws momentum = 0."""
    hypers = OPT_HYPERS[name]
    strategy_kw = {"hypers": tuple(hypers.items())} | ({"zero_momentum": True} if zero_momentum else {})
    return OpSpec(
        name, "optimizer", "optim", summary,
        (Arg("w", "param"), Arg("g", "input"), Arg("state", "state")) + tuple(Arg(h, "hyper") for h in hypers),
        (f"{name}_init", f"{name}_update"), "w_new has the shape of w; state is opaque",
        Sampler(no_structure, lambda case, rng: optimizer_values(case, rng, hypers=hypers),
                refs.strategy("optimizer", **strategy_kw), ("away", "hard")),
        hypers=tuple(Hyper(h, 0.0, low_open=True) for h in hypers), conventions=conventions,
        notes="compared by the parameter trajectory over several steps",
        sympy=refs.sympy_rule(f"{name}_rule"), vector_values=refs.vector_values(f"values_{name}"),
        variants=refs.variants("optim"))


OPS = (
    optimizer("sgd", "w ← w − lr·g", ()),
    optimizer("momentum", "v ← μv − lr·g, w ← w + v", ("momentum: v ← μv − lr·g, w ← w + v",), zero_momentum=True),
    optimizer("adagrad", "r ← r + g², w ← w − lr·g/(√r + eps)", ("eps outside the square root (default 1e-7)",)),
    optimizer("rmsprop", "r ← ρr + (1−ρ)g², w ← w − lr·g/(√r + eps)", ("eps outside the square root (default 1e-7)",)),
    optimizer("adam", "bias-corrected Adam", ("the first update uses t = 1", "bias-corrected", "eps outside the square root")),
)
