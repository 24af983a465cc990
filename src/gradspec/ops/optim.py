"""Records of the optimisers (``gradspec.reference.optim``): sgd, momentum, adagrad, rmsprop, adam."""
from __future__ import annotations

import math
import numpy as np
from ..spec import Arg, Hyper, OpProperty, OpSpec, Ref, Sampler, no_structure
from ..sampling import any_shape
from ..variants import Catalogue, f64

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


def optimizer(name: str, summary: str, conventions: tuple, *, zero_momentum: bool = False,
              properties: tuple = ()) -> OpSpec:
    """The record of one optimiser; ``zero_momentum``: its strategy also draws momentum = 0; ``properties``: its own."""
    hypers = OPT_HYPERS[name]
    strategy_kw = {"hypers": tuple(hypers.items())} | ({"zero_momentum": True} if zero_momentum else {})
    closed_form = OpProperty("closed_form_constant_gradient", Ref("gradspec.properties.props", "prop_optimizer_closed_form", (
        ("op", name), ("closed_form", Ref(__name__, f"{name}_constant_gradient")))), ("away", "hard"))
    return OpSpec(
        name, "optimizer", "optim", summary,
        (Arg("w", "param"), Arg("g", "input"), Arg("state", "state")) + tuple(Arg(h, "hyper") for h in hypers),
        (f"{name}_init", f"{name}_update"), "w_new has the shape of w; state is opaque",
        Sampler(no_structure, lambda case, rng: optimizer_values(case, rng, hypers=hypers),
                Ref("gradspec.properties.strategies", "optimizer", tuple(strategy_kw.items())), ("away", "hard")),
        hypers=tuple(Hyper(h, 0.0, low_open=True) for h in hypers), conventions=conventions,
        notes="compared by the parameter trajectory over several steps",
        sympy=Ref("gradspec.symbolic.rules", f"{name}_rule"), vector_values=Ref(__name__, f"{name}_vectors"),
        variants=Ref(__name__, "CATALOGUE"), properties=(closed_form,) + properties)


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def _vec_sgd_step(w, g, state, h):
    return w - h["lr"] * g


def _vec_momentum_step(w, g, state, h):
    state["v"] = h["momentum"] * state["v"] - h["lr"] * g
    return w + state["v"]


def _vec_adagrad_step(w, g, state, h):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap
    state["cache"] = state["cache"] + g * g
    return w - h["lr"] * g / (mmap(mpmath.sqrt, state["cache"]) + h["eps"])


def _vec_rmsprop_step(w, g, state, h):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap
    state["cache"] = h["decay"] * state["cache"] + (1 - h["decay"]) * g * g
    return w - h["lr"] * g / (mmap(mpmath.sqrt, state["cache"]) + h["eps"])


def _vec_adam_step(w, g, state, h):
    import mpmath
    from ..mpmath_oracle.vectors_mp import mmap
    state["t"] += 1
    t = state["t"]
    state["m"] = h["beta1"] * state["m"] + (1 - h["beta1"]) * g
    state["v"] = h["beta2"] * state["v"] + (1 - h["beta2"]) * g * g
    mh = state["m"] / (1 - h["beta1"] ** t)
    vh = state["v"] / (1 - h["beta2"] ** t)
    return w - h["lr"] * mh / (mmap(mpmath.sqrt, vh) + h["eps"])


def sgd_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import optimizer_trajectory
    return optimizer_trajectory(_vec_sgd_step, s)


def momentum_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import optimizer_trajectory
    return optimizer_trajectory(_vec_momentum_step, s)


def adagrad_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import optimizer_trajectory
    return optimizer_trajectory(_vec_adagrad_step, s)


def rmsprop_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import optimizer_trajectory
    return optimizer_trajectory(_vec_rmsprop_step, s)


def adam_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import optimizer_trajectory
    return optimizer_trajectory(_vec_adam_step, s)


# --------------------------------------------------------------------------- closed forms with a constant gradient
# ``<name>_constant_gradient(w0, g, j, hyper)``: w after j updates with the same gradient g every step, the closed form
# the property ``closed_form_constant_gradient`` compares the trajectory with (its SymPy rule: ``op.sympy``).
def sgd_constant_gradient(w0, g, j: int, hyper: dict):
    """w_j = w_0 − j·lr·g."""
    return w0 - j * hyper["lr"] * g


def momentum_constant_gradient(w0, g, j: int, hyper: dict):
    """w_j = w_0 − lr·g·Σ_{k=1}^{j} (1 − μ^k)/(1 − μ), written as nested sums of powers of μ."""
    mu = hyper["momentum"]
    return w0 - hyper["lr"] * g * sum(sum(mu**i for i in range(jj)) for jj in range(1, j + 1))


def adagrad_constant_gradient(w0, g, j: int, hyper: dict):
    """r_k = k·g²: w_j = w_0 − lr·g·Σ_k 1/(√k·|g| + eps)."""
    import math
    return w0 - hyper["lr"] * g * sum(1.0 / (math.sqrt(jj) * np.abs(g) + hyper["eps"]) for jj in range(1, j + 1))


def rmsprop_constant_gradient(w0, g, j: int, hyper: dict):
    """r_k = (1 − ρ^k)·g²: w_j = w_0 − lr·g·Σ_k 1/(√(1 − ρ^k)·|g| + eps)."""
    import math
    rho = hyper["decay"]
    return w0 - hyper["lr"] * g * sum(1.0 / (math.sqrt(1 - rho**jj) * np.abs(g) + hyper["eps"]) for jj in range(1, j + 1))


def adam_constant_gradient(w0, g, j: int, hyper: dict):
    """Bias-corrected m̂ = g, v̂ = g²: every step is lr·g/(|g| + eps)."""
    return w0 - j * hyper["lr"] * g / (np.abs(g) + hyper["eps"])


OPS = (
    optimizer("sgd", "w ← w − lr·g", (),
              properties=(OpProperty("step_is_minus_lr_g", Ref("gradspec.properties.props", "prop_sgd_step"), ('away', 'hard')),)),
    optimizer("momentum", "v ← μv − lr·g, w ← w + v", ("momentum: v ← μv − lr·g, w ← w + v",), zero_momentum=True,
              properties=(OpProperty("zero_momentum_is_sgd", Ref("gradspec.properties.props", "prop_momentum_zero_is_sgd"), ('away', 'hard')),)),
    optimizer("adagrad", "r ← r + g², w ← w − lr·g/(√r + eps)", ("eps outside the square root (default 1e-7)",),
              properties=(OpProperty("step_shrinks", Ref("gradspec.properties.props", "prop_adagrad_step_shrinks"), ('away', 'hard')),)),
    optimizer("rmsprop", "r ← ρr + (1−ρ)g², w ← w − lr·g/(√r + eps)", ("eps outside the square root (default 1e-7)",)),
    optimizer("adam", "bias-corrected Adam", ("the first update uses t = 1", "bias-corrected", "eps outside the square root"),
              properties=(OpProperty("first_step_is_sign", Ref("gradspec.properties.props", "prop_adam_first_step_is_sign"), ('away', 'hard')),)),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of the optimizers: sgd, momentum, adagrad, rmsprop, adam.
CATALOGUE = Catalogue()
C = CATALOGUE


def adagrad(eps_inside):
    def update(w, g, state, lr, eps=1e-7):
        cache = f64(state["cache"]) + f64(g) ** 2
        den = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
        return f64(w) - lr * f64(g) / den, {"cache": cache}

    return update


def rmsprop(eps_inside):
    def update(w, g, state, lr, decay=0.99, eps=1e-7):
        cache = decay * f64(state["cache"]) + (1.0 - decay) * f64(g) ** 2
        den = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
        return f64(w) - lr * f64(g) / den, {"cache": cache}

    return update


def adam(bias_correction=True, t_offset=0, eps_inside=False, eps_on_raw_v=False, correct_v=True):
    def update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        g = f64(g)
        t = int(state["t"]) + 1
        m = beta1 * f64(state["m"]) + (1.0 - beta1) * g
        v = beta2 * f64(state["v"]) + (1.0 - beta2) * g * g
        te = t + t_offset
        if eps_on_raw_v:  # both corrections folded into the step size, eps on the raw √v
            step = lr * math.sqrt(1.0 - beta2**te) / (1.0 - beta1**te)
            return f64(w) - step * m / (np.sqrt(v) + eps), {"m": m, "v": v, "t": t}
        mh, vh = (m / (1.0 - beta1**te), v / (1.0 - beta2**te)) if bias_correction else (m, v)
        if not correct_v:
            vh = v
        den = np.sqrt(vh + eps) if eps_inside else np.sqrt(vh) + eps
        return f64(w) - lr * mh / den, {"m": m, "v": v, "t": t}

    return update


def adagrad_witness(eps_inside=False, accumulate=True):
    def update(w, g, state, lr, eps=1e-7):
        g = np.asarray(g, dtype=np.float64)
        cache = state["cache"] + g * g if accumulate else g * g
        denom = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
        return np.asarray(w) - lr * g / denom, {"cache": cache}

    return update


def rmsprop_witness(eps_inside=False, swapped=False):
    def update(w, g, state, lr, decay=0.99, eps=1e-7):
        g = np.asarray(g, dtype=np.float64)
        cache = (1 - decay) * state["cache"] + decay * g * g if swapped else decay * state["cache"] + (1 - decay) * g * g
        denom = np.sqrt(cache + eps) if eps_inside else np.sqrt(cache) + eps
        return np.asarray(w) - lr * g / denom, {"cache": cache}

    return update


def adam_witness(bias_correction=True, eps_inside=False):
    def update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        g = np.asarray(g, dtype=np.float64)
        t = int(state["t"]) + 1
        m = beta1 * state["m"] + (1 - beta1) * g
        v = beta2 * state["v"] + (1 - beta2) * g * g
        mh, vh = (m / (1 - beta1**t), v / (1 - beta2**t)) if bias_correction else (m, v)
        denom = np.sqrt(vh + eps) if eps_inside else np.sqrt(vh) + eps
        return np.asarray(w) - lr * mh / denom, {"m": m, "v": v, "t": t}

    return update


def momentum_stale(w, g, state, lr, momentum=0.9):
    return np.asarray(w) + state["v"], {"v": momentum * state["v"] - lr * np.asarray(g)}


C.base("adam", {"adam_update": adam()})
C.base("adagrad", {"adagrad_update": adagrad(False)})
C.base("rmsprop", {"rmsprop_update": rmsprop(False)})
C.variant("adam_eps_on_uncorrected_sqrt_v", "adam", "eps is added to the uncorrected √v (the step written as "
          "lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + eps)); the spec adds eps to the bias-corrected √v̂, "
          "lr·m̂/(√v̂ + eps)", adam_update=adam(eps_on_raw_v=True))
C.variant("adam_v_not_bias_corrected", "adam", "m is bias-corrected but v is not: lr·m̂/(√v + eps); the spec divides "
          "by √v̂ + eps with v̂ = v/(1 − β₂ᵗ)", adam_update=adam(correct_v=False))
C.variant("adagrad_eps_inside_sqrt", "adagrad", "divides by √(r + eps) instead of √r + eps (eps inside the square root)",
          mutant="adagrad_eps_inside_sqrt", description="divides by √(r + eps) instead of √r + eps",
          witness={"adagrad_update": adagrad_witness(eps_inside=True)}, adagrad_update=adagrad(True))
C.variant("rmsprop_eps_inside_sqrt", "rmsprop", "divides by √(r + eps) instead of √r + eps (eps inside the square root)",
          mutant="rmsprop_eps_inside_sqrt", description="divides by √(r + eps) instead of √r + eps",
          witness={"rmsprop_update": rmsprop_witness(eps_inside=True)}, rmsprop_update=rmsprop(True))
C.variant("adam_no_bias_correction", "adam", "Adam without the bias correction m/(1 − β₁ᵗ), v/(1 − β₂ᵗ)",
          mutant="adam_no_bias_correction", description="Adam without the bias correction of m and v",
          witness={"adam_update": adam_witness(bias_correction=False)}, adam_update=adam(bias_correction=False))
C.variant("adam_step_off_by_one", "adam", "the step counter is off by one: the first update uses t = 2 (the counter "
          "starts at 1, or is incremented twice); the spec's first update uses t = 1", adam_update=adam(t_offset=1),
          mutant="adam_step_counter_off_by_one", description="the step counter starts at 1, so the first update uses t = 2",
          witness={"adam_init": lambda w: {"m": np.zeros_like(np.asarray(w, dtype=np.float64)),
                                           "v": np.zeros_like(np.asarray(w, dtype=np.float64)), "t": 1}})
C.variant("adam_step_off_by_one", "adam", "the step counter is off by one: the bias correction uses t − 1 after the increment "
          "(t = 0 at the first update divides by zero); the spec's first update uses t = 1", adam_update=adam(t_offset=-1))
C.variant("adam_eps_inside_sqrt", "adam", "divides by √(v̂ + eps) instead of √v̂ + eps (eps inside the square root)",
          mutant="adam_eps_inside_sqrt", description="divides by √(v̂ + eps) instead of √v̂ + eps",
          witness={"adam_update": adam_witness(eps_inside=True)}, adam_update=adam(eps_inside=True))
C.variant("momentum_dampened", "momentum", "v ← μv − (1 − μ)·lr·g (an exponential average of the gradients); the spec's "
          "heavy ball is v ← μv − lr·g", mutant="momentum_dampened",
          description="v ← μv − (1 − μ)·lr·g (an EMA of gradients) instead of v ← μv − lr·g",
          momentum_update=lambda w, g, state, lr, momentum=0.9: (
              lambda v: (f64(w) + v, {"v": v}))(momentum * f64(state["v"]) - (1 - momentum) * lr * f64(g)))
C.variant("wrong_sign", "sgd", "w ← w + lr·g: the update ascends the gradient instead of descending",
          mutant="sgd_sign_flipped", description="w ← w + lr·g (ascends)",
          sgd_update=lambda w, g, state, lr: (f64(w) + lr * f64(g), {}))
C.mutant("momentum_stale_velocity", "momentum", "steps with the old velocity, then updates it (the step lags by one)",
         momentum_update=momentum_stale)
C.mutant("adagrad_no_accumulation", "adagrad", "r ← g² (forgets the accumulated sum): the step never shrinks",
         adagrad_update=adagrad_witness(accumulate=False))
C.mutant("rmsprop_decay_swapped", "rmsprop", "r ← (1 − ρ)r + ρg² (the decay applied to the wrong term)",
         rmsprop_update=rmsprop_witness(swapped=True))


def probe_optimizer(hyper: dict):
    """Five small gradients (where eps matters) with the hyperparameters ``hyper`` and lr = 0.1."""
    def probe(rng):
        return {"w": rng.normal(size=(2, 3)), "grads": [1e-3 * rng.normal(size=(2, 3)) for _ in range(5)],
                "hyper": {"lr": 0.1, **hyper}}

    return probe


C.probe("sgd", probe_optimizer({}))
C.probe("momentum", probe_optimizer({"momentum": 0.9}))
C.probe("adagrad", probe_optimizer({"eps": 1e-6}))
C.probe("rmsprop", probe_optimizer({"decay": 0.9, "eps": 1e-6}))
C.probe("adam", probe_optimizer({"beta1": 0.9, "beta2": 0.999, "eps": 1e-6}))
