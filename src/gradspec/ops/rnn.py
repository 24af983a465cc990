r"""Record of the vanilla tanh RNN unrolled over T steps (``gradspec.reference.rnn``), with every piece of it.

:math:`h_t = \tanh(x_t W_x + h_{t-1} W_h + b)` for t = 1..T; the op returns every state h (N, T, H) and its
backward is full back-propagation through time. Everything about the op lives here: its sampler, SymPy
definition, mpmath forward, float64 error model, golden-vector closed forms, Hypothesis strategy, known variants,
PyTorch form and own property. Heavy libraries are imported inside the functions that use them.
"""
from __future__ import annotations

import numpy as np

from ..properties.checks import EPS, assert_close, fn
from ..spec import Arg, OpProperty, OpSpec, Ref, Sampler
from ..variants import Catalogue, f64

OP = "rnn"


# --------------------------------------------------------------------------- sampler
def rnn_structure(rng):
    N, T, D, H = (int(v) for v in rng.integers(1, [4, 6, 4, 4]))
    return {"N": N, "T": T, "D": D, "H": H}


def rnn_values(case, rng):
    N, T, D, H = case["N"], case["T"], case["D"], case["H"]
    return {"x": rng.normal(size=(N, T, D)), "h0": rng.normal(0.0, 0.5, size=(N, H)),
            "Wx": rng.normal(size=(D, H)) / np.sqrt(D), "Wh": rng.normal(size=(H, H)) * 0.9 / np.sqrt(H),
            "b": rng.normal(0.0, 0.5, size=H)}


def rnn_output_shape(s):
    N, T, _ = np.shape(s["x"])
    return (N, T, np.shape(s["Wx"])[1])


# --------------------------------------------------------------------------- Hypothesis strategy
#: Kinds of hard sample: a long sequence in the near-linear regime with a recurrent weight of gain > 1 (a scaled
#: signed permutation: BPTT products grow like gain^T, exploding), a long sequence with a tiny recurrent weight
#: (they vanish), and saturated units (large inputs: tanh' = 1 − h² near 0).
HARD_KINDS = ("exploding", "vanishing", "saturated")


def rnn_strategy(mode):
    """Sample dicts of the rnn (``x``, ``h0``, ``Wx``, ``Wh``, ``b``, ``seed``) in mode ``away`` or ``hard``."""
    from hypothesis import event, strategies as st

    from ..properties.strategies import arrays

    if mode not in ("away", "hard"):
        raise ValueError(f"rnn strategy: mode must be 'away' or 'hard', got {mode!r}")

    @st.composite
    def samples(draw):
        N, D, H = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        kind = "away" if mode == "away" else draw(st.sampled_from(HARD_KINDS))
        if kind == "away":
            T = draw(st.integers(1, 4))
            xs, w = draw(st.sampled_from((1e-3, 0.1, 1.0, 10.0))), draw(st.sampled_from((0.1, 0.5, 1.0)))
            event(f"rnn: T={'1' if T == 1 else '>1'}, H={'1' if H == 1 else '>1'}")
            Wh, hs = draw(arrays((H, H), -w, w)), 1.0
        elif kind == "exploding":
            T, H = draw(st.integers(8, 12)), max(H, 2)
            perm = np.eye(H)[draw(st.permutations(range(H)))]
            signs = np.where(draw(st.lists(st.booleans(), min_size=H, max_size=H)), 1.0, -1.0)
            gain = draw(st.floats(1.3, 1.6))
            Wh = gain * perm * signs + draw(arrays((H, H), -0.05, 0.05))
            xs, w, hs = 1e-3, 1.0, 1e-3
        elif kind == "vanishing":
            T, xs, w, hs = draw(st.integers(8, 12)), 1.0, 1.0, 1.0
            Wh = draw(arrays((H, H), -1e-3, 1e-3))
        else:  # saturated
            T, xs, w, hs = draw(st.integers(2, 5)), 100.0, 1.0, 1.0
            Wh = draw(arrays((H, H), -1.0, 1.0))
        if kind != "away":
            event(f"hard: {kind}")
        return {"x": draw(arrays((N, T, D), -xs, xs)), "h0": draw(arrays((N, H), -hs, hs)),
                "Wx": draw(arrays((D, H), -w, w)), "Wh": Wh, "b": draw(arrays((H,), -hs, hs)),
                "seed": draw(st.integers(0, 2**32 - 1))}

    return samples()


# --------------------------------------------------------------------------- SymPy definition
def rnn_sympy(s):
    """The unrolled RNN in SymPy at the sample's shapes; ``spec_backward`` restates the reference's BPTT formula."""
    import sympy as sp

    from ..symbolic.definitions import Definition, ew, sym_array

    N, T, D = np.shape(s["x"])
    H = np.shape(s["Wx"])[1]
    x, h0 = sym_array("x", (N, T, D), real=True), sym_array("h0", (N, H), real=True)
    Wx, Wh, b = sym_array("Wx", (D, H), real=True), sym_array("Wh", (H, H), real=True), sym_array("b", (H,), real=True)
    h = np.empty((N, T, H), dtype=object)
    prev = h0
    for t in range(T):
        prev = ew(sp.tanh, x[:, t, :].dot(Wx) + prev.dot(Wh) + b)
        h[:, t, :] = prev

    def spec(dy):  # rnn_backward docstring: δ_t = (dy_t + g_t)(1 − h_t²), g_{t−1} = δ_t Whᵀ, ...
        def zero(shape):
            return np.full(shape, sp.Integer(0), dtype=object)

        g, dx = zero((N, H)), zero((N, T, D))
        dWx, dWh, db = zero((D, H)), zero((H, H)), zero((H,))
        for t in range(T - 1, -1, -1):
            prev_h = h[:, t - 1, :] if t > 0 else h0
            delta = (dy[:, t, :] + g) * ew(lambda v: 1 - v ** 2, h[:, t, :])
            dx[:, t, :] = delta.dot(Wx.T)
            dWx = dWx + x[:, t, :].T.dot(delta)
            dWh = dWh + prev_h.T.dot(delta)
            db = db + delta.sum(axis=0)
            g = delta.dot(Wh.T)
        return dx, g, dWx, dWh, db

    return Definition({"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b}, h, ("x", "h0", "Wx", "Wh", "b"), spec, "expand")


# --------------------------------------------------------------------------- mpmath forward
def rnn_mp(s, pattern=None):
    """The RNN's states at the working precision (every product by ``mdot``, every tanh by ``mtanh``)."""
    from ..mpmath_oracle.forward import guard, mdot, mtanh

    x, h0, Wx, Wh, b = s["x"], s["h0"], s["Wx"], s["Wh"], s["b"]
    N, T, _ = x.shape
    out = np.empty((N, T, Wx.shape[1]), dtype=object)
    prev = h0
    for t in range(T):
        prev = mtanh(mdot(np.ascontiguousarray(x[:, t, :]), Wx) + mdot(prev, Wh) + b[None, :])
        out[:, t, :] = prev
    return guard(out, "rnn"), None


# --------------------------------------------------------------------------- float64 error model
def tanh_bound(a):
    r"""tanh of a :class:`Bounded` with the derivative's contraction: :math:`e_a\,(1 - \tanh^2(\max(|a| - e_a, 0))) + \phi|v|`.

    tanh' is even and decreasing in |a|, so on the interval [a − e_a, a + e_a] it is largest at the point nearest
    0; the bound therefore shrinks with saturation instead of carrying e_a unchanged (1-Lipschitz), which keeps
    the running bound of a long saturated sequence from growing like |Wh|^T.
    """
    from ..mpmath_oracle.tolerance import PHI, Bounded

    v = np.tanh(a.v)
    slope = 1.0 - np.tanh(np.maximum(np.abs(a.v) - a.e, 0.0)) ** 2
    return Bounded(v, a.e * slope + PHI * np.abs(v))


def rnn_error_model(s, dy):
    """Running float64 error bounds of ``rnn_forward`` and ``rnn_backward``, for any summation order.

    The pre-activation is bounded as one product of [x_t, h_{t−1}, 1] with [Wx; Wh; b] (γ_{D+H+1}), and the
    weight gradients as one product over the N·T rows, so every order of the sums (per step, all at once,
    BLAS blocking) is inside the bound.
    """
    from ..mpmath_oracle.tolerance import Bounded, Model, bmatmul, bsum

    x, h0 = np.asarray(s["x"], dtype=np.float64), np.asarray(s["h0"], dtype=np.float64)
    Wx, Wh, b = (np.asarray(s[k], dtype=np.float64) for k in ("Wx", "Wh", "b"))
    N, T, D = x.shape
    H = Wx.shape[1]
    stacked = Bounded(np.concatenate([Wx, Wh, b[None, :]]))
    hs, prevs = [], []
    prev = Bounded(h0)
    for t in range(T):
        prevs.append(prev)
        row = Bounded(np.concatenate([x[:, t, :], prev.v, np.ones((N, 1))], axis=1),
                      np.concatenate([np.zeros((N, D)), prev.e, np.zeros((N, 1))], axis=1))
        prev = tanh_bound(bmatmul(row, stacked))
        hs.append(prev)
    dyb = Bounded(np.asarray(dy, dtype=np.float64))
    deltas = [None] * T
    dx = [None] * T
    g = Bounded(np.zeros((N, H)))
    for t in range(T - 1, -1, -1):
        delta = (dyb[:, t, :] + g) * (1.0 - hs[t] * hs[t])
        deltas[t] = delta
        dx[t] = bmatmul(delta, Wx.T)
        g = bmatmul(delta, Wh.T)

    def stack(items, width):  # (N, T, width) rows in (n, t) order, flattened to (N·T, width)
        return Bounded(np.stack([i.v for i in items], axis=1).reshape(N * T, width),
                       np.stack([i.e for i in items], axis=1).reshape(N * T, width))

    delta_rows = stack(deltas, H)
    forward = Bounded(np.stack([h.v for h in hs], axis=1), np.stack([h.e for h in hs], axis=1))
    grads = {"x": Bounded(np.stack([d.v for d in dx], axis=1), np.stack([d.e for d in dx], axis=1)),
             "h0": g,
             "Wx": bmatmul(Bounded(x.reshape(N * T, D)).T, delta_rows),
             "Wh": bmatmul(stack(prevs, H).T, delta_rows),
             "b": bsum(delta_rows, axis=0)}
    return Model(forward, grads)


# --------------------------------------------------------------------------- golden vectors
def mp_map(fn, a):
    out = np.empty(a.shape, dtype=object)
    for i in np.ndindex(a.shape):
        out[i] = fn(a[i])
    return out


def rnn_vectors(s, A, d):
    """The states and the BPTT gradients at 50 digits, from the closed forms of ``rnn_backward``'s docstring."""
    import mpmath

    x, h0, Wx, Wh, b = A["x"], A["h0"], A["Wx"], A["Wh"], A["b"]
    N, T, D = x.shape
    H = Wx.shape[1]
    h = np.empty((N, T, H), dtype=object)
    prev = h0
    for t in range(T):
        prev = mp_map(mpmath.tanh, x[:, t, :].dot(Wx) + prev.dot(Wh) + b[None, :])
        h[:, t, :] = prev
    zero = mpmath.mpf(0)
    g = np.full((N, H), zero, dtype=object)
    dx = np.full((N, T, D), zero, dtype=object)
    dWx, dWh, db = np.full((D, H), zero, dtype=object), np.full((H, H), zero, dtype=object), np.full(H, zero, dtype=object)
    for t in range(T - 1, -1, -1):
        prev_h = h[:, t - 1, :] if t > 0 else h0
        delta = (d[:, t, :] + g) * (1 - h[:, t, :] * h[:, t, :])
        dx[:, t, :] = delta.dot(Wx.T)
        dWx = dWx + x[:, t, :].T.dot(delta)
        dWh = dWh + prev_h.T.dot(delta)
        db = db + delta.sum(axis=0)
        g = delta.dot(Wh.T)
    return {"outputs": {"forward": h}, "gradients": {"x": dx, "h0": g, "Wx": dWx, "Wh": dWh, "b": db}}


# --------------------------------------------------------------------------- known variants
def bptt(x, h0, Wx, Wh, b, dy, *, carry=True, keep_dh0=True, derivative="output", dWh_state="previous"):
    """Back-propagation through time without validation, with the switches of the known variants.

    ``carry=False``: the gradient from step t + 1 is not added into step t (truncated to the local step);
    ``keep_dh0=False``: dh0 is returned as zeros; ``derivative="preactivation"``: tanh' taken as 1 − a² of the
    pre-activation a instead of 1 − h²; ``dWh_state="current"``: dWh sums h_tᵀ·δ_t instead of h_{t−1}ᵀ·δ_t.
    """
    x, h0, Wx, Wh, b, dy = (f64(v) for v in (x, h0, Wx, Wh, b, dy))
    N, T, _ = x.shape
    pre, h = np.empty(dy.shape), np.empty(dy.shape)
    prev = h0
    for t in range(T):
        pre[:, t, :] = x[:, t, :] @ Wx + prev @ Wh + b
        prev = h[:, t, :] = np.tanh(pre[:, t, :])
    dx = np.empty_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    g = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        upstream = dy[:, t, :] + g if carry else dy[:, t, :]
        local = 1.0 - (pre[:, t, :] if derivative == "preactivation" else h[:, t, :]) ** 2
        delta = upstream * local
        state = h[:, t, :] if dWh_state == "current" else (h[:, t - 1, :] if t > 0 else h0)
        dx[:, t, :] = delta @ Wx.T
        dWx += x[:, t, :].T @ delta
        dWh += state.T @ delta
        db += delta.sum(axis=0)
        g = delta @ Wh.T
    return dx, (g if keep_dh0 else np.zeros_like(h0)), dWx, dWh, db


def truncated_bptt(x, h0, Wx, Wh, b, dy):
    return bptt(x, h0, Wx, Wh, b, dy, carry=False)


def dh0_missing(x, h0, Wx, Wh, b, dy):
    return bptt(x, h0, Wx, Wh, b, dy, keep_dh0=False)


def tanh_prime_from_preactivation(x, h0, Wx, Wh, b, dy):
    return bptt(x, h0, Wx, Wh, b, dy, derivative="preactivation")


def dWh_uses_current_state(x, h0, Wx, Wh, b, dy):
    return bptt(x, h0, Wx, Wh, b, dy, dWh_state="current")


def probe_rnn_recurrent(rng):
    """A sample with T >= 2 and H >= 2, where every variant departs from the spec (T = 1 hides the carry)."""
    s = rnn_values({"N": 2, "T": 3, "D": 2, "H": 2}, rng)
    s["x"] = 1.5 * s["x"]  # pre-activations well away from ±1 and from h, so 1 − a² and 1 − h² differ
    return s


CATALOGUE = Catalogue()
CATALOGUE.variant("truncated_bptt", OP, "rnn_backward does not add the gradient flowing back from step t + 1 into "
                  "step t (dh_t = dy_t only): BPTT truncated to the local step",
                  mutant="rnn_truncated_bptt", description="rnn_backward drops the gradient carried from later steps",
                  rnn_backward=truncated_bptt)
CATALOGUE.variant("dh0_missing", OP, "rnn_backward returns zeros for dh0: the gradient reaching the initial state "
                  "is dropped", mutant="rnn_dh0_missing", description="rnn_backward returns dh0 = 0",
                  rnn_backward=dh0_missing)
CATALOGUE.variant("tanh_prime_from_preactivation", OP, "rnn_backward takes tanh' as 1 − a² of the pre-activation "
                  "a = x_t Wx + h_{t−1} Wh + b instead of 1 − h_t² of the output",
                  mutant="rnn_tanh_prime_from_preactivation",
                  description="rnn_backward uses 1 − a² (pre-activation) for tanh'", rnn_backward=tanh_prime_from_preactivation)
CATALOGUE.variant("dWh_uses_current_state", OP, "rnn_backward sums h_tᵀ·δ_t into dWh, the state the step produces, "
                  "instead of h_{t−1}ᵀ·δ_t, the state it reads", mutant="rnn_dWh_uses_current_state",
                  description="rnn_backward builds dWh from h_t instead of h_{t−1}", rnn_backward=dWh_uses_current_state)
CATALOGUE.probe(OP, probe_rnn_recurrent)
CATALOGUE.bias_sum(OP, lambda s, key, out: int(np.shape(s["x"])[0] * np.shape(s["x"])[1]) if key == "db" else None,
                   "the batch and the time steps")


# --------------------------------------------------------------------------- PyTorch
def rnn_torch(x, h0, Wx, Wh, b):
    """The RNN through ``torch.rnn_tanh``, the kernel behind ``torch.nn.RNN(nonlinearity="tanh")``.

    torch keeps (H, D) and (H, H) weights and two biases: ``weight_ih = Wxᵀ``, ``weight_hh = Whᵀ``,
    ``bias_ih = b``, ``bias_hh = 0``, one layer, batch first, no dropout; it computes
    tanh(x_t·weight_ihᵀ + bias_ih + h·weight_hhᵀ + bias_hh), which is the spec's step exactly (the zero bias adds
    nothing), and returns every state, as the spec does.
    """
    import torch

    if x.dim() != 3 or h0.dim() != 2 or Wx.dim() != 2 or Wh.dim() != 2 or b.dim() != 1:
        raise ValueError(f"rnn: x must be (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H), b (H,), got x "
                         f"{tuple(x.shape)}, h0 {tuple(h0.shape)}, Wx {tuple(Wx.shape)}, Wh {tuple(Wh.shape)}, "
                         f"b {tuple(b.shape)}")
    N, T, D = x.shape
    H = Wx.shape[1]
    if T < 1 or Wx.shape[0] != D or tuple(Wh.shape) != (H, H) or tuple(b.shape) != (H,) or tuple(h0.shape) != (N, H):
        raise ValueError(f"rnn: shapes must be x (N, T, D) with T >= 1, Wx (D, H), Wh (H, H), b (H,), h0 (N, H), "
                         f"got x {tuple(x.shape)}, h0 {tuple(h0.shape)}, Wx {tuple(Wx.shape)}, "
                         f"Wh {tuple(Wh.shape)}, b {tuple(b.shape)}")
    params = [Wx.T, Wh.T, b, torch.zeros_like(b)]
    out, _ = torch.rnn_tanh(x, h0.unsqueeze(0), params, True, 1, 0.0, False, False, True)
    return out


def rnn_shapes(x, h0, Wx, Wh, b) -> tuple:
    """(N, T, D, H) after checking x (N, T, D) with T >= 1, h0 (N, H), Wx (D, H), Wh (H, H), b (H,)
    (ValueError naming the rule and the shapes)."""
    shapes = [tuple(a.shape) for a in (x, h0, Wx, Wh, b)]
    ok = [len(s) for s in shapes] == [3, 2, 2, 2, 1]
    if ok:
        (N, T, D), H = shapes[0], shapes[2][1]
        ok = T >= 1 and shapes[2][0] == D and shapes[3] == (H, H) and shapes[4] == (H,) and shapes[1] == (N, H)
    if not ok:
        raise ValueError("rnn: shapes must be x (N, T, D) with T >= 1, h0 (N, H), Wx (D, H), Wh (H, H), b (H,), got "
                         + ", ".join(f"{n} {s}" for n, s in zip(("x", "h0", "Wx", "Wh", "b"), shapes)))
    return N, T, D, H


def rnn_xp(xp, x, h0, Wx, Wh, b):
    """The recurrence unrolled in a Python loop, ``h = tanh(x[:, t] @ Wx + h @ Wh + b)``, the states stacked on
    axis 1; the framework's VJP of the loop is backpropagation through time."""
    T = rnn_shapes(x, h0, Wx, Wh, b)[1]
    h, states = h0, []
    for t in range(T):
        h = xp.tanh(x[:, t, :] @ Wx + h @ Wh + b)
        states.append(h)
    return xp.stack(states, axis=1)


def rnn_jax(x, h0, Wx, Wh, b):
    """The recurrence as JAX's own loop, ``jax.lax.scan`` over the time axis (its transpose is JAX's BPTT)."""
    import jax
    import jax.numpy as jnp

    rnn_shapes(x, h0, Wx, Wh, b)

    def step(h, xt):
        h = jnp.tanh(xt @ Wx + h @ Wh + b)
        return h, h

    _, states = jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1))
    return jnp.swapaxes(states, 0, 1)


# --------------------------------------------------------------------------- the op's own property
def prop_rnn_causal_prefix(impl, sample):
    """Causality: the first k states and, for dy zero after step k, the whole backward are those of the prefix x[:, :k]."""
    forward, backward = fn(impl, "rnn_forward"), fn(impl, "rnn_backward")
    x, h0, Wx, Wh, b = (sample[k] for k in ("x", "h0", "Wx", "Wh", "b"))
    N, T, _ = x.shape
    k = max(1, T // 2)
    h = np.asarray(forward(x, h0, Wx, Wh, b))
    hp = np.asarray(forward(x[:, :k].copy(), h0, Wx, Wh, b))
    assert_close(h[:, :k], hp, 64 * EPS * (1.0 + np.abs(hp)), f"rnn: the first {k} states depend on x[:, :{k}] only",
                  "h[:, :k]")
    rng = np.random.default_rng(int(sample.get("seed", 0)))
    dy = np.zeros(h.shape)
    dy[:, :k] = rng.normal(size=(N, k, h.shape[2]))
    full = backward(x, h0, Wx, Wh, b, dy)
    part = backward(x[:, :k].copy(), h0, Wx, Wh, b, dy[:, :k].copy())
    dx = np.asarray(full[0])
    assert_close(dx[:, k:], np.zeros_like(dx[:, k:]), 0.0,
                  f"rnn: dy = 0 after step {k} gives dx = 0 there (no gradient flows forwards in time)", "dx[:, k:]")
    for i, (name, a, p) in enumerate(zip(("dx", "dh0", "dWx", "dWh", "db"), full, part)):
        a, p = np.asarray(a), np.asarray(p)
        a = a[:, :k] if i == 0 else a
        scale = float(np.max(np.abs(p))) if p.size else 0.0
        assert_close(a, p, 1e-12 * (1.0 + scale) + 64 * EPS * np.abs(p),
                      f"rnn: with dy = 0 after step {k}, {name} equals the backward of the prefix", name)


OPS = (
    OpSpec(OP, "differentiable", "rnn", "vanilla tanh RNN unrolled over T steps, every state returned",
           (Arg("x", "input", True, "(N, T, D)"), Arg("h0", "input", True, "(N, H)"),
            Arg("Wx", "param", True, "(D, H)"), Arg("Wh", "param", True, "(H, H)"), Arg("b", "param", True, "(H,)")),
           ("rnn_forward", "rnn_backward"), "x (N,T,D), h0 (N,H), Wx (D,H), Wh (H,H), b (H,) -> h (N,T,H)",
           # the second case has N = 2 (db sums the batch) and D = H = 2 (a transposed Wx or Wh keeps its shape)
           Sampler(rnn_structure, rnn_values, Ref(__name__, "rnn_strategy"), ("away", "hard"),
                   cases=({"N": 1, "T": 3, "D": 1, "H": 2}, {"N": 2, "T": 2, "D": 2, "H": 2})),
           rnn_output_shape,
           domain="all finite float64 inputs, T >= 1",
           notes="h[:, t] is the state after step t + 1; h0 is an input, not an output. Backward: full BPTT.",
           sympy=Ref(__name__, "rnn_sympy"), mp_forward=Ref(__name__, "rnn_mp"),
           error_model=Ref(__name__, "rnn_error_model"), vector_values=Ref(__name__, "rnn_vectors"),
           variants=Ref(__name__, "CATALOGUE"), torch=Ref(__name__, "rnn_torch"),
           xp=Ref(__name__, "rnn_xp"), jax=Ref(__name__, "rnn_jax"),
           properties=(OpProperty("causal_prefix", Ref(__name__, "prop_rnn_causal_prefix"), ("away", "hard"),
                                  weight=0.5),)),
)
