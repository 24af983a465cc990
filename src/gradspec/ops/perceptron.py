"""Record of the perceptron rule (``gradspec.reference.perceptron``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, Hyper, OpProperty, OpSpec, Ref, Sampler, no_structure
from ..variants import Catalogue, f64


def perceptron_values(case, rng):
    D = int(rng.integers(1, 5))
    w, x = rng.normal(size=D), rng.normal(size=D)
    b = float(rng.normal())
    if rng.random() < 0.2:  # exactly on the boundary: step(0) = 0, so y = 0
        # quarter-integers: every product and partial sum of w·x is exact, so w·x + b == 0 in any summation
        # order (b = −fl(w·x) of other floats leaves a rounding error whose sign depends on the order)
        w, x = rng.integers(-8, 9, size=D) / 4.0, rng.integers(-8, 9, size=D) / 4.0
        b = -float(w @ x)
    return {"w": w, "b": b, "x": x, "t": float(rng.integers(0, 2)), "lr": float(rng.uniform(0.1, 1.0))}


def perceptron_dyadic(rng):
    """Dyadic values (multiples of 1/8), so w·x + b is exact in float64 too; one case in five on the boundary.

    The golden vectors draw these: the rule branches on the sign of w·x + b, which must be the same in
    float64 and at 50 digits.
    """
    D = int(rng.integers(1, 5))
    w, x = np.round(rng.normal(size=D) * 8) / 8, np.round(rng.normal(size=D) * 8) / 8
    b = float(np.round(rng.normal() * 8) / 8)
    if rng.random() < 0.2:
        b = -float(w @ x)
    return {"w": w, "b": b, "x": x, "t": float(rng.integers(0, 2)), "lr": float(np.round(rng.uniform(0.1, 1.0) * 8) / 8)}


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def perceptron_vectors(s, A, d):
    from ..mpmath_oracle.vectors_mp import M, mpf, msum
    w, x = M(s["w"]), M(s["x"])
    b, t, lr = mpf(float(s["b"])), mpf(float(s["t"])), mpf(float(s["lr"]))
    a = msum(w * x) + b
    y = mpf(1) if a > 0 else mpf(0)  # step(0) = 0
    return {"outputs": {"output": [w + lr * (t - y) * x, b + lr * (t - y)]}, "gradients": {}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def perceptron_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, floats, floats_within, seeds
    from ..sampling import KINK_MARGIN
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def build(draw, mode, limits=None):
        """``limits``: a declared limit of lr, drawn within (``Sampler.strategy_limits``)."""
        D = draw(st.integers(1, 4))
        t = float(draw(st.integers(0, 1)))
        lr = draw(floats_within(0.1, 1.0, (limits or {}).get("lr")))
        if mode == "on_kink":  # integers: w·x + b == 0 exactly, so y = step(0) = 0
            ints = lambda shape: draw(hnp.arrays(np.float64, shape, elements=st.integers(-3, 3).map(float), fill=st.nothing()))  # noqa: E731
            w, x = ints((D,)), ints((D,))
            b = -float(w @ x)
            event("on kink: w·x + b == 0")
        else:
            w, x = draw(arrays((D,), -2.0, 2.0)), draw(arrays((D,), -2.0, 2.0))
            b = draw(floats(-2.0, 2.0))
            if abs(float(w @ x) + b) < KINK_MARGIN:
                b += 2 * KINK_MARGIN if float(w @ x) + b >= 0 else -2 * KINK_MARGIN
        return {"w": w, "b": b, "x": x, "t": t, "lr": lr, "seed": draw(seeds())}

    return build(*args, **kwargs)


# --------------------------------------------------------------------------- cases exactly on the kinks
def perceptron_kink_cases():
    from ..spec import KinkCase
    w, x = np.array([1.0, 2.0]), np.array([1.0, 1.0])
    return [KinkCase("perceptron", "w·x + b == 0, target 1", "y = step(0) = 0 on the boundary, so the rule updates toward t = 1",
                 {"w": w, "b": -3.0, "x": x, "t": 1.0, "lr": 0.5}, 7),
            KinkCase("perceptron", "w·x + b == 0, target 0", "y = step(0) = 0 on the boundary, so nothing changes for t = 0",
                 {"w": w, "b": -3.0, "x": x, "t": 0.0, "lr": 0.5}, 8)]


def perceptron_statement(s, notes):
    """(w_new, b_new) from the SymPy statement of the rule; a sample on the decision boundary (|w·x + b| within
    float64 rounding) takes step(0) = 0 and says so in ``notes``."""
    import mpmath
    from ..symbolic.definitions import compiled_perceptron
    mp = lambda v: mpmath.mpf(float(v))  # noqa: E731
    D = len(s["w"])
    args = [mp(v) for v in s["w"]] + [mp(s["b"])] + [mp(v) for v in s["x"]]
    _, act = compiled_perceptron(D, False)
    a = act(*args)
    scale = sum(abs(float(wi) * float(xi)) for wi, xi in zip(s["w"], s["x"])) + abs(float(s["b"]))
    on_boundary = abs(float(a)) <= 1e-12 * max(scale, 1e-300)
    if on_boundary:
        notes.append("a sample on the decision boundary (|w·x + b| within float64 rounding): step(0) = 0 applied")
    fn, _ = compiled_perceptron(D, on_boundary)
    vals = fn(*args, mp(s["t"]), mp(s["lr"]))
    return (np.array([float(v) for v in vals[:D]], dtype=np.float64), float(vals[D]))


OPS = (
    OpSpec("perceptron", "rule", "perceptron", "one step of the perceptron rule",
           (Arg("w", "param"), Arg("b", "param"), Arg("x", "input"), Arg("t", "target"), Arg("lr", "hyper")),
           ("perceptron_update",), "returns (w (D,), b)",
           Sampler(no_structure, perceptron_values, Ref(__name__, "perceptron_strategy"), ("away", "on_kink"),
                   exact=perceptron_dyadic, strategy_limits=("lr",)),
           hypers=(Hyper("lr", 0.0, low_open=True),),
           conventions=("y = step(w·x + b) with step(0) = 0", "w ← w + lr(t − y)x, b ← b + lr(t − y)"),
           sympy=Ref(__name__, "perceptron_statement"),
           vector_values=Ref(__name__, "perceptron_vectors"), kink_cases=Ref(__name__, "perceptron_kink_cases"),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("rule", Ref("gradspec.properties.props", "prop_perceptron_rule"), ('away', 'on_kink')),
                       OpProperty("learns_and_nand_or", Ref("gradspec.properties.props", "prop_perceptron_learns_gates"), weight=0.3),
                       OpProperty("separability", Ref("gradspec.properties.props", "prop_perceptron_separability"), weight=0.2),
                       OpProperty("two_layer_xor", Ref("gradspec.properties.props", "prop_two_layer_xor"), weight=0.2))),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of the perceptron's learning rule.
CATALOGUE = Catalogue()
C = CATALOGUE


def perceptron(ge=False, sign=1.0, bias=True):
    def update(w, b, x, t, lr):
        a = float(f64(w) @ f64(x) + b)
        y = 1.0 if (a >= 0 if ge else a > 0) else 0.0
        return f64(w) + sign * lr * (t - y) * f64(x), (b + sign * lr * (t - y)) if bias else float(b)

    return update


def perceptron_witness(ge=False, sign=1.0):
    def update(w, b, x, t, lr):
        w, x = np.asarray(w, dtype=np.float64), np.asarray(x, dtype=np.float64)
        a = float(w @ x) + b
        y = 1.0 if (a >= 0 if ge else a > 0) else 0.0
        return w + sign * lr * (t - y) * x, b + sign * lr * (t - y)

    return update


C.variant("step_at_zero_is_one", "perceptron", "predicts 1 on the boundary w·x + b = 0 (step(0) = 1); the spec's step(0) = 0",
          mutant="perceptron_step_at_zero_is_one", description="predicts 1 on the boundary w·x + b = 0 (step(0) = 1)",
          witness={"perceptron_update": perceptron_witness(ge=True)}, perceptron_update=perceptron(ge=True))
C.variant("wrong_sign", "perceptron", "w ← w − lr(t − y)x: the rule moves away from the target",
          mutant="perceptron_sign_flipped", description="w ← w − lr(t − y)x: moves away from the target",
          witness={"perceptron_update": perceptron_witness(sign=-1.0)}, perceptron_update=perceptron(sign=-1.0))
C.mutant("perceptron_bias_not_updated", "perceptron", "updates w but never b", perceptron_update=perceptron(bias=False))
