r"""The report's second half: remedies for vanishing gradients, and training dynamics.

Every experiment runs on the reference ops only (:mod:`gradspec.reference`),
over several seeds, and returns a JSON-ready dict with its ``setup``, its
measurements and its ``claims``: the published figure it reproduces and
whether this run's numbers agree. The claims are computed by a separate
function of the measurements (``<experiment>_claims``), so a deliberately
broken measurement (batchnorm disabled, the skip path removed, a wrong
learning rate) can be fed to it and must flip the verdict to "disagrees".

Experiments (:data:`EXPERIMENTS`)
---------------------------------
* :func:`optimizer_paths` — SGD, Momentum, AdaGrad and Adam on
  :math:`f(x, y) = x^2/20 + y^2` from (−7, 2) (Saito 2016, §6.1, Fig. 6-8).
* :func:`xor_and_depth` — the perceptron cycles on XOR (not linearly
  separable); a 2-2-1 sigmoid MLP learns it; n-bit parity with a deep
  O(n) circuit vs a one-hidden-layer DNF of 2^(n−1) units.
* :func:`batchnorm_remedy` — depth-30 sigmoid/tanh nets with and without
  batchnorm: the per-layer gradient factor (Ioffe & Szegedy 2015).
* :func:`residual_connections` — y = x + F(x) against plain blocks with the
  mean-field theory (He et al. 2016; Balduzzi et al. 2017).
* :func:`dead_relu` — narrow relu nets at init against the closed form
  1 − (1 − 2^−N)^H; one large step (Lu et al. 2019).
* :func:`jacobian_singular_values` — tanh layer Jacobians, classic vs
  normalised init (Glorot & Bengio 2010, §4.2.2).
* :func:`batchnorm_init_scale` — training accuracy against 16 init stds with
  and without batchnorm (Saito 2016, §6.3.2).
* :func:`overfitting` — train/test accuracy with no regularisation, L2 and
  inverted dropout (Saito 2016, §6.4).
"""
from __future__ import annotations

import math

import numpy as np

from .. import reference as ref
from ..reference.mlp import activation, activation_prime, mlp_forward


def claim(id_: str, source: str, statement: str, theory, measured, measured_text: str, agrees) -> dict:
    """One published statement checked against the measurement (the schema's claim object)."""
    return {"id": id_, "source": source, "statement": statement, "theory": theory, "measured": measured,
            "measured_text": measured_text, "agrees": bool(agrees)}


# =========================================================================== 5. optimizer paths
FISH_BOOK_LR = {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3}
OPTIMIZER_LABELS = {"sgd": "SGD", "momentum": "Momentum", "adagrad": "AdaGrad", "adam": "Adam"}
OPT_START = (-7.0, 2.0)
ADAM_BETAS = (0.9, 0.999)  # the reference's defaults (Kingma & Ba 2015)
MOMENTUM_MU = 0.9


def bowl(w: np.ndarray) -> float:
    r""":math:`f(x, y) = x^2/20 + y^2`, the fish book's elongated bowl (minimum at the origin)."""
    return float(w[0] ** 2 / 20.0 + w[1] ** 2)


def bowl_grad(w: np.ndarray) -> np.ndarray:
    return np.array([w[0] / 10.0, 2.0 * w[1]])


def optimizer_run(name: str, lr: float, start, steps: int) -> np.ndarray:
    """The path (steps + 1, 2) of the reference optimizer ``name`` on :func:`bowl` from ``start``."""
    init, update = getattr(ref, f"{name}_init"), getattr(ref, f"{name}_update")
    w = np.asarray(start, dtype=np.float64)
    state = init(w)
    path = [w]
    for _ in range(steps):
        w, state = update(w, bowl_grad(w), state, lr=lr)
        path.append(w)
    return np.array(path)


def _sign_changes(v: np.ndarray) -> int:
    return int(np.sum(np.sign(v[1:]) * np.sign(v[:-1]) < 0))


def optimizer_paths(seed: int, seeds: int = 5, steps: int = 30, jitter: float = 0.5, lrs=None) -> dict:
    r"""Paths of the four reference optimizers on :math:`x^2/20 + y^2` (Saito 2016, §6.1.2–6.1.7, Fig. 6-8).

    The classic start (−7, 2) plus ``seeds − 1`` starts jittered by
    :math:`\mathcal N(0, \text{jitter}^2)` per coordinate (seed streams ``[seed, 41, s]``).
    ``lrs`` overrides the fish book's learning rates (SGD 0.95, Momentum 0.1,
    AdaGrad 1.5, Adam 0.3); the setup records what was run.
    """
    if seeds < 2:
        raise ValueError(f"optimizer_paths: at least 2 starts (seeds) are needed, got {seeds}")
    lrs = dict(FISH_BOOK_LR, **(lrs or {}))
    starts = [list(OPT_START)] + [
        (np.array(OPT_START) + jitter * np.random.default_rng([seed, 41, s]).normal(size=2)).tolist() for s in range(1, seeds)]
    out = []
    for name in FISH_BOOK_LR:
        paths = [optimizer_run(name, lrs[name], s, steps) for s in starts]
        p0 = paths[0]
        steps_abs = [np.abs(np.diff(p, axis=0)) for p in paths]
        out.append({
            "name": name, "label": OPTIMIZER_LABELS[name], "lr": float(lrs[name]),
            "path": p0.tolist(), "loss": [bowl(w) for w in p0],
            "final_distance": [float(np.linalg.norm(p[-1])) for p in paths],
            "final_loss": [bowl(p[-1]) for p in paths],
            "y_sign_changes": [_sign_changes(p[:, 1]) for p in paths],
            "y_after_10": [float(np.max(np.abs(p[10:, 1])) / abs(p[0, 1])) for p in paths],
            "max_step": [float(s.max()) for s in steps_abs],
            "first_step": [s[0].tolist() for s in steps_abs],
            "y_path": [p[:, 1].tolist() for p in paths],
        })
    res = {"setup": {"function": "f(x, y) = x²/20 + y²", "start": list(OPT_START), "starts": starts, "steps": steps,
                     "seeds": seeds, "jitter": jitter, "fish_book_lr": dict(FISH_BOOK_LR), "momentum": MOMENTUM_MU,
                     "adam_betas": list(ADAM_BETAS)},
           "optimizers": out}
    res["claims"] = optimizer_claims(res)
    return res


def optimizer_claims(res: dict) -> list[dict]:
    """The fish book's statements about Fig. 6-8 (and Kingma & Ba's step bound), checked on the measured paths."""
    src = "Saito 2016 (Deep Learning from Scratch) §6.1, Fig. 6-3, 6-5, 6-6, 6-7, 6-8"
    by = {o["name"]: o for o in res["optimizers"]}
    n = len(by["sgd"]["final_distance"])
    steps = res["setup"]["steps"]
    claims = []
    sgd = by["sgd"]
    # SGD on y²: y_t = y_0 (1 - 2η)^t; zigzag when η > 1/2
    dev = max(abs(y - yp[0] * (1.0 - 2.0 * sgd["lr"]) ** t) / max(abs(yp[0]), 1e-300)
              for yp in sgd["y_path"] for t, y in enumerate(yp))
    zig = min(sgd["y_sign_changes"])
    claims.append(claim(
        "sgd_zigzag", src + " (Fig. 6-3: SGD zigzags)",
        "SGD's y coordinate changes sign at every step (the zigzag), following y_t = y_0·(1 − 2η)^t of gradient descent on y²",
        f"{steps} sign changes in {steps} steps; closed form within 1e-9", zig,
        f"fewest sign changes over {n} starts: {zig} of {steps}; largest deviation from the closed form {dev:.2g}",
        zig == steps and dev <= 1e-9))
    # Momentum and Adam: a ball rolling, far fewer reversals of y than SGD
    smooth = max(max(by[k]["y_sign_changes"]) for k in ("momentum", "adam"))
    claims.append(claim(
        "momentum_adam_smooth", src + " (Fig. 6-5, 6-7: a ball rolling in the bowl)",
        "Momentum and Adam reverse direction in y far less often than SGD (at most a third as often)",
        f"≤ {zig / 3:.4g} sign changes", smooth,
        f"most y sign changes over the starts: Momentum {max(by['momentum']['y_sign_changes'])}, "
        f"Adam {max(by['adam']['y_sign_changes'])}; SGD {zig}", smooth <= zig / 3.0))
    # AdaGrad: the large y gradient is damped at once: the oscillation in y dies out, SGD's does not
    ada = by["adagrad"]
    y10, s10 = max(ada["y_after_10"]), min(sgd["y_after_10"])
    claims.append(claim(
        "adagrad_damps_y", src + " (Fig. 6-6: AdaGrad's y step shrinks as Σg² grows)",
        "AdaGrad damps the oscillation in y: after 10 steps |y| stays below 1% of its start, where SGD's stays above 10%",
        "AdaGrad max |y_t|/|y_0| (t ≥ 10) < 0.01; SGD's > 0.1", y10,
        f"largest |y_t|/|y_0| for t ≥ 10 over the starts: AdaGrad {y10:.2g}; smallest for SGD {s10:.2g}",
        y10 < 0.01 and s10 > 0.1))
    # AdaGrad ends closest
    wins = sum(int(min(by, key=lambda k: by[k]["final_distance"][i]) == "adagrad") for i in range(n))
    claims.append(claim(
        "adagrad_closest", src + " (Fig. 6-8: on this function AdaGrad looks best)",
        f"after {steps} steps AdaGrad ends closest to the minimum, for most starts",
        f"AdaGrad closest in more than {n // 2} of {n} starts", wins,
        "final distance from the classic start: " + ", ".join(f"{o['label']} {o['final_distance'][0]:.3g}" for o in res["optimizers"])
        + f"; AdaGrad closest in {wins} of {n} starts", wins > n / 2))
    # Adam: |Δ| ≤ α(1 − β1)/√(1 − β2); the first step is α·sign(g)
    adam = by["adam"]
    b1, b2 = res["setup"]["adam_betas"]
    bound = adam["lr"] * (1 - b1) / math.sqrt(1 - b2)
    first = max(abs(v - adam["lr"]) for fs in adam["first_step"] for v in fs)
    claims.append(claim(
        "adam_step_bound", "Kingma & Ba 2015, §2.1 (Adam's effective step size)",
        "every Adam step moves each coordinate by at most α(1 − β1)/√(1 − β2), and the first step by α exactly",
        bound, max(adam["max_step"]),
        f"largest step {max(adam['max_step']):.4g} (bound {bound:.4g}); first step |Δ| − α at most {first:.2g}",
        max(adam["max_step"]) <= bound * (1 + 1e-12) and first <= 1e-6 * adam["lr"]))
    return claims


# =========================================================================== 6. XOR and depth
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_T = np.array([0.0, 1.0, 1.0, 0.0])
AND_T = np.array([0.0, 0.0, 0.0, 1.0])


def perceptron_epochs(X, T, epochs: int, lr: float = 1.0) -> dict:
    """``perceptron_update`` over the rows of X for ``epochs`` passes from w = 0, b = 0 (no early stop).

    Returns the mistakes per pass, the state (w1, w2, b) after each pass, and the
    first repeated state (a cycle: the rule can never converge from there).
    """
    w, b = np.zeros(X.shape[1]), 0.0
    mistakes, states, seen, cycle = [], [], {}, None
    for e in range(epochs):
        wrong = 0
        for x, t in zip(X, T):
            wrong += int(float(ref.perceptron_predict(w, b, x)) != t)
            w, b = ref.perceptron_update(w, b, x, t, lr)
        mistakes.append(wrong)
        state = (*w.tolist(), float(b))
        states.append(list(state))
        if cycle is None and state in seen and wrong > 0:
            cycle = {"first_epoch": seen[state] + 1, "period": e - seen[state]}
        seen.setdefault(state, e)
    return {"mistakes": mistakes, "states": states, "cycle": cycle,
            "converged_epoch": next((i + 1 for i, m in enumerate(mistakes) if m == 0), None)}


def separability_certificate(X, T) -> dict:
    r"""A Farkas certificate that no line separates the classes, when the all-ones multipliers give one.

    With :math:`s_i = +1` for class 1 and :math:`-1` for class 0, a separating
    :math:`(w, b)` has :math:`s_i(w\cdot x_i + b) > 0` for class 1 and
    :math:`\ge 0` for class 0, so :math:`\sum_i s_i (w\cdot x_i + b) > 0`; if
    :math:`\sum_i s_i [x_i, 1] = 0` that sum is 0 for every (w, b): no separator.
    Also a grid search over (w1, w2, b) for a separating line.
    """
    s = np.where(T > 0.5, 1.0, -1.0)
    combo = (s[:, None] * np.hstack([X, np.ones((len(X), 1))])).sum(axis=0)
    g = np.linspace(-2.0, 2.0, 21)
    W1, W2, B = np.meshgrid(g, g, g, indexing="ij")
    margins = W1[..., None] * X[:, 0] + W2[..., None] * X[:, 1] + B[..., None]
    sep = np.all((margins > 0) == (T > 0.5), axis=-1)
    return {"signs": s.tolist(), "combination": combo.tolist(), "certificate": bool(np.all(combo == 0.0)),
            "grid_lines": int(sep.size), "grid_separating": int(sep.sum())}


def train_xor_mlp(seed_stream, lr: float, iterations: int, record_every: int = 10) -> dict:
    """A 2-2-1 sigmoid MLP (sigmoid output, MSE; W and b ~ N(0, 1)) trained by full-batch gradient descent with
    ``mlp_loss_and_grads``."""
    rng = np.random.default_rng(seed_stream)
    params = [(rng.normal(size=(2, 2)), rng.normal(size=2)), (rng.normal(size=(2, 1)), rng.normal(size=1))]
    T = XOR_T[:, None]
    curve = []
    for it in range(iterations):
        loss, grads = ref.mlp_loss_and_grads(params, XOR_X, T, "sigmoid", "sigmoid_mse")
        if it % record_every == 0:
            curve.append(loss)
        params = [(W - lr * dW, b - lr * db) for (W, b), (dW, db) in zip(params, grads)]
    loss, _ = ref.mlp_loss_and_grads(params, XOR_X, T, "sigmoid", "sigmoid_mse")
    curve.append(loss)
    zs, _ = mlp_forward(params, XOR_X, "sigmoid")
    out = ref.sigmoid_forward(zs[-1])[:, 0]
    return {"final_loss": float(loss), "curve": curve, "outputs": out.tolist(),
            "correct": int(np.sum((out > 0.5) == (XOR_T > 0.5)))}


def _bits(n: int) -> np.ndarray:
    return ((np.arange(2**n)[:, None] >> np.arange(n)[::-1]) & 1).astype(np.float64)


def _threshold_layer(x, W, b):
    return ref.step_forward(ref.affine_forward(x, W, b))


def deep_parity_circuit(n: int, gate_error: bool = False):
    """A tree of XOR gates, each two threshold units (OR, AND) then one (OR and not AND); odd leftovers pass through.

    Returns (evaluate(X) -> (N,) outputs, units, depth). ``gate_error`` builds a
    deliberately wrong circuit (the first gate computes OR instead of XOR).
    """
    layers = []  # each: (W, b)
    width = n
    units = 0
    first = True
    while width > 1:
        pairs, odd = width // 2, width % 2
        h = 2 * pairs + odd
        W1, b1 = np.zeros((width, h)), np.zeros(h)
        W2, b2 = np.zeros((h, pairs + odd)), np.zeros(pairs + odd)
        for p in range(pairs):
            W1[2 * p:2 * p + 2, 2 * p] = 1.0  # OR
            b1[2 * p] = -0.5
            W1[2 * p:2 * p + 2, 2 * p + 1] = 1.0  # AND
            b1[2 * p + 1] = -1.5
            W2[2 * p, p], W2[2 * p + 1, p], b2[p] = 1.0, -1.0 if not (gate_error and first and p == 0) else 0.0, -0.5
        if odd:
            W1[width - 1, h - 1], b1[h - 1] = 1.0, -0.5
            W2[h - 1, pairs], b2[pairs] = 1.0, -0.5
        layers += [(W1, b1), (W2, b2)]
        units += h + pairs + odd
        width = pairs + odd
        first = False

    def evaluate(X):
        a = X
        for W, b in layers:
            a = _threshold_layer(a, W, b)
        return a[:, 0]

    return evaluate, units, len(layers)


def dnf_parity_circuit(n: int):
    """One hidden layer with one AND unit per odd-parity input (2^(n−1) units), then an OR."""
    patterns = _bits(n)
    odd = patterns[patterns.sum(axis=1) % 2 == 1]
    W1 = (2.0 * odd - 1.0).T
    b1 = -(odd.sum(axis=1) - 0.5)
    W2, b2 = np.ones((len(odd), 1)), np.array([-0.5])
    return (lambda X: _threshold_layer(_threshold_layer(X, W1, b1), W2, b2)[:, 0]), len(odd) + 1, 2


def count_parity_circuit(n: int):
    """One hidden layer of n threshold units on the input count, h_k = [Σx ≥ k], output alternating weights."""
    W1, b1 = np.ones((n, n)), -(np.arange(1, n + 1) - 0.5)
    W2, b2 = np.array([(-1.0) ** k for k in range(n)])[:, None], np.array([-0.5])
    return (lambda X: _threshold_layer(_threshold_layer(X, W1, b1), W2, b2)[:, 0]), n + 1, 2


def parity_table(ns, gate_error: bool = False) -> list[dict]:
    rows = []
    for n in ns:
        X = _bits(n)
        truth = X.sum(axis=1) % 2
        deep, du, dd = deep_parity_circuit(n, gate_error)
        dnf, su, sd = dnf_parity_circuit(n)
        cnt, cu, cd = count_parity_circuit(n)
        odd = X[truth == 1]
        ham = (np.abs(odd[:, None, :] - odd[None, :, :]).sum(axis=-1) + np.eye(len(odd)) * n).min() if len(odd) > 1 else n
        rows.append({"n": n, "inputs": int(2**n), "deep_units": du, "deep_depth": dd,
                     "deep_errors": int(np.sum(deep(X) != truth)), "dnf_units": su, "dnf_depth": sd,
                     "dnf_errors": int(np.sum(dnf(X) != truth)), "count_units": cu, "count_depth": cd,
                     "count_errors": int(np.sum(cnt(X) != truth)), "odd_min_hamming": int(ham)})
    return rows


def xor_and_depth(seed: int, seeds: int = 10, lr: float = 10.0, iterations: int = 1000, epochs: int = 12,
                  parity_ns=tuple(range(2, 11)), xor_targets=None, gate_error: bool = False) -> dict:
    """The perceptron on XOR and AND; a 2-2-1 sigmoid MLP on XOR over ``seeds`` seeds; n-bit parity circuits.

    ``xor_targets`` and ``gate_error`` replace the XOR labels and break the deep
    circuit (used to show that the claims can disagree).
    """
    T = XOR_T if xor_targets is None else np.asarray(xor_targets, dtype=np.float64)
    mlps = [train_xor_mlp([seed, 43, s], lr, iterations) for s in range(seeds)]
    res = {
        "setup": {"inputs": XOR_X.tolist(), "xor_targets": T.tolist(), "epochs": epochs, "perceptron_lr": 1.0,
                  "mlp": "2-2-1, sigmoid hidden and output, MSE, W and b ~ N(0, 1), full-batch gradient descent",
                  "mlp_lr": lr, "iterations": iterations, "seeds": seeds, "loss_threshold": 0.01, "record_every": 10},
        "perceptron": {"xor": perceptron_epochs(XOR_X, T, epochs), "and": perceptron_epochs(XOR_X, AND_T, epochs)},
        "separability": {"xor": separability_certificate(XOR_X, T), "and": separability_certificate(XOR_X, AND_T)},
        "mlp": mlps,
        "parity": parity_table(parity_ns, gate_error),
    }
    res["claims"] = xor_claims(res)
    return res


def xor_claims(res: dict) -> list[dict]:
    p, sep = res["perceptron"], res["separability"]
    xor, and_ = p["xor"], p["and"]
    claims = [claim(
        "perceptron_cycles", "Minsky & Papert 1969 (Perceptrons); Rosenblatt's convergence theorem needs separable data",
        "the perceptron rule never converges on XOR: every pass makes a mistake and the weights cycle; on AND it converges",
        "XOR: a mistake in every pass and a repeated state; AND: a pass with no mistake",
        min(xor["mistakes"]),
        f"XOR mistakes per pass {xor['mistakes']}; "
        + (f"state repeats from pass {xor['cycle']['first_epoch']} with period {xor['cycle']['period']}" if xor["cycle"] else "no cycle")
        + f"; AND converges at pass {and_['converged_epoch']}",
        min(xor["mistakes"]) > 0 and xor["cycle"] is not None and and_["converged_epoch"] is not None),
        claim(
        "xor_not_separable", "Minsky & Papert 1969; Goodfellow, Bengio & Courville 2016 §6.1",
        "XOR is not linearly separable: Σ s_i [x_i, 1] = 0 is a certificate that no line separates it (AND has none)",
        "certificate for XOR, none for AND; no separating line on the grid", sep["xor"]["grid_separating"],
        f"Σ s_i [x_i, 1] = {sep['xor']['combination']} (XOR), {sep['and']['combination']} (AND); separating lines on a "
        f"{sep['xor']['grid_lines']}-point grid: XOR {sep['xor']['grid_separating']}, AND {sep['and']['grid_separating']}",
        sep["xor"]["certificate"] and not sep["and"]["certificate"] and sep["xor"]["grid_separating"] == 0
        and sep["and"]["grid_separating"] > 0)]
    st = res["setup"]
    learned = [m for m in res["mlp"] if m["final_loss"] < st["loss_threshold"] and m["correct"] == 4]
    claims.append(claim(
        "mlp_learns_xor", "Rumelhart, Hinton & Williams 1986 (the XOR network); Goodfellow et al. 2016 §6.1",
        f"a 2-2-1 sigmoid MLP trained by backpropagation learns XOR (final loss < {st['loss_threshold']} and all 4 "
        "outputs on the right side of 0.5) for most seeds; the others stop in a local minimum",
        f"more than {len(res['mlp']) // 2} of {len(res['mlp'])} seeds", len(learned),
        f"{len(learned)} of {len(res['mlp'])} seeds learn XOR; the others stop at final losses "
        + (", ".join(f"{m['final_loss']:.2g}" for m in res["mlp"] if m not in learned) or "—"),
        len(learned) > len(res["mlp"]) / 2))
    rows = res["parity"]
    ok = all(r["deep_errors"] == 0 and r["dnf_errors"] == 0 for r in rows)
    log_ok = all(r["deep_depth"] == 2 * math.ceil(math.log2(r["n"])) and r["deep_units"] <= 4 * r["n"] for r in rows)
    dnf_ok = all(r["dnf_units"] == 2 ** (r["n"] - 1) + 1 and r["odd_min_hamming"] >= 2 for r in rows)
    big = rows[-1]
    claims.append(claim(
        "parity_depth", "Håstad 1986 (parity needs exponential size at depth 2); Goodfellow et al. 2016 §6.4.1",
        "n-bit parity: a tree of XOR gates of depth 2⌈log₂ n⌉ with at most 4n units (3 per gate, plus pass-throughs) computes it exactly; a one-hidden-layer "
        "AND/OR circuit needs 2^(n−1) AND units, since no two odd-parity inputs differ in one bit",
        "0 errors on all 2^n inputs; depth 2⌈log₂ n⌉, ≤ 4n units vs 2^(n−1) + 1",
        sum(r["deep_errors"] for r in rows),
        f"n = {rows[0]['n']}…{big['n']}: deep circuit errors {sum(r['deep_errors'] for r in rows)}, DNF errors "
        f"{sum(r['dnf_errors'] for r in rows)}; at n = {big['n']}: {big['deep_units']} units, depth {big['deep_depth']} "
        f"vs {big['dnf_units']} units", ok and log_ok and dnf_ok))
    return claims


# =========================================================================== 1. batchnorm as a remedy
BN_EPS = 1e-5


def _layer_forward_backward(X, Ws, dA_top, act: str, bn: bool, block: str = "post", skip: bool = False) -> list[np.ndarray]:
    """Forward then backward through ``len(Ws)`` layers of the reference ops; returns dA^0 .. dA^L.

    ``block="post"``: A ← f(BN(A W)) (``bn``) or f(A W). ``block="pre"``: A ← f(A) W, or with ``skip``
    A ← A + f(A) W (a pre-activation residual block y = x + F(x)). b = 0; batchnorm has γ = 1, β = 0.
    """
    from .experiments import ACTIVATIONS

    fwd, bwd = ACTIVATIONS[act]
    width = Ws[0].shape[1]
    b, gamma, beta = np.zeros(width), np.ones(width), np.zeros(width)
    cache, A = [], X
    for W in Ws:
        if block == "pre":
            H = fwd(A)
            cache.append((A, H))
            A = (A if skip else 0.0) + ref.affine_forward(H, W, b)
            continue
        Z = ref.affine_forward(A, W, b)
        U = ref.batchnorm_forward(Z, gamma, beta, BN_EPS) if bn else Z
        cache.append((A, Z, U))
        A = fwd(U)
    dA, out = dA_top, [dA_top]
    for W, c in zip(Ws[::-1], cache[::-1]):
        if block == "pre":
            A_in, H = c
            dH = ref.affine_backward(H, W, b, dA)[0]
            dA = (dA if skip else 0.0) + bwd(A_in, dH)  # the identity path carries dA unchanged (He et al. 2016, Eq. 5)
        else:
            A_in, Z, U = c
            dU = bwd(U, dA)
            dZ = ref.batchnorm_backward(Z, gamma, beta, BN_EPS, dU)[0] if bn else dU
            dA = ref.affine_backward(A_in, W, b, dZ)[0]
        out.append(dA)
    return out[::-1]


def _factor(stds) -> float:
    return float((stds[0] / stds[-1]) ** (1.0 / (len(stds) - 1)))


def bn_theory_factor(act: str) -> float:
    r"""Mean-field per-layer factor of std(dA) with batchnorm: :math:`\sqrt{E[f'(u)^2]/\mathrm{Var} f(u)}`, u ~ N(0, 1).

    Batchnorm makes each pre-activation N(0, 1) and divides the gradient by the std of
    :math:`z = aW`, :math:`\sqrt{n\,\mathrm{Var}W\,\mathrm{Var}f}`, which cancels the
    :math:`\sqrt{n\,\mathrm{Var}W}` of the backward matrix product: the weight scale drops out.
    """
    from .experiments import gauss_expect  # the first half's mean-field quadrature

    m1 = gauss_expect(lambda z: activation(act, z), 1.0)
    m2 = gauss_expect(lambda z: activation(act, z) ** 2, 1.0)
    return math.sqrt(gauss_expect(lambda z: activation_prime(act, z) ** 2, 1.0) / (m2 - m1 * m1))


def batchnorm_remedy(seed: int, seeds: int = 3, depth: int = 30, width: int = 100, batch: int = 200,
                     use_bn: bool = True) -> dict:
    """Depth-``depth`` sigmoid and tanh nets, W = std·N(0, 1) with std 1 and 0.01 (the same draws scaled), with and
    without batchnorm after each affine: std(dA^l) per layer and the per-layer factor, per seed.

    ``use_bn=False`` disables batchnorm in the configurations labelled "with batchnorm" (a broken measurement).
    """
    configs = []
    for act in ("sigmoid", "tanh"):
        for std, label in ((1.0, "N(0, 1)"), (0.01, "N(0, 0.01²)")):
            for bn in (False, True):
                stds, factors = [], []
                for s in range(seeds):
                    rng = np.random.default_rng([seed, 47, s])
                    X = rng.normal(size=(batch, width))
                    Ws = [std * rng.normal(size=(width, width)) for _ in range(depth)]
                    dA = _layer_forward_backward(X, Ws, rng.normal(size=(batch, width)), act, bn and use_bn)
                    st_ = [float(d.std()) for d in dA]
                    stds.append(st_)
                    factors.append(_factor(st_[1:]))  # hidden layers: the input X is not an activation
                configs.append({"activation": act, "std": std, "scale_label": label, "batchnorm": bn,
                                "dA_std": np.median(np.array(stds), axis=0).tolist(), "factor": factors,
                                "factor_median": float(np.median(factors))})
    res = {"setup": {"depth": depth, "width": width, "batch": batch, "seeds": seeds, "eps": BN_EPS, "gamma": 1.0, "beta": 0.0,
                     "layer": "A ← f(BN(A W)) with batchnorm, A ← f(A W) without; b = 0; X, dA^L ~ N(0, 1)",
                     "theory_factor": {a: bn_theory_factor(a) for a in ("sigmoid", "tanh")}, "near_one": [0.8, 1.25],
                     "far": [0.5, 2.0]},
           "configs": configs}
    res["claims"] = batchnorm_claims(res)
    return res


def batchnorm_claims(res: dict) -> list[dict]:
    src = "Ioffe & Szegedy 2015, §3.3 (BN(aWu) = BN(Wu): back-propagation is unaffected by the scale of W)"
    st = res["setup"]
    lo, hi = st["near_one"]
    far_lo, far_hi = st["far"]
    with_bn = [c for c in res["configs"] if c["batchnorm"]]
    without = [c for c in res["configs"] if not c["batchnorm"]]
    near = all(lo <= f <= hi for c in with_bn for f in c["factor"])
    theory_ok = all(abs(c["factor_median"] / st["theory_factor"][c["activation"]] - 1.0) <= 0.1 for c in with_bn)
    bad = [c for c in without if not (far_lo <= c["factor_median"] <= far_hi)]
    text = lambda cs: "; ".join(f"{c['activation']} × {c['scale_label']} {c['factor_median']:.3g}" for c in cs)  # noqa: E731
    scale_gap = max(abs(a["factor_median"] / b["factor_median"] - 1.0) for a in with_bn for b in with_bn
                    if a["activation"] == b["activation"] and a["std"] != b["std"])
    return [
        claim("bn_factor_near_one", src,
              f"with batchnorm after each affine the per-layer factor of std(dA) is within [{lo}, {hi}] for both activations "
              "and both inits, within 10% of the mean-field √(E[f′(u)²]/Var f(u)), and the same at std 1 and 0.01",
              f"[{lo}, {hi}]; theory sigmoid {st['theory_factor']['sigmoid']:.4g}, tanh {st['theory_factor']['tanh']:.4g}; "
              "scale gap < 5%", min(f for c in with_bn for f in c["factor"]),
              f"with batchnorm (median over seeds): {text(with_bn)}; std 1 vs 0.01 differ by at most {scale_gap:.2%}",
              near and theory_ok and scale_gap < 0.05),
        claim("no_bn_vanishes_or_explodes", "Ioffe & Szegedy 2015, §1 and §3.3; Glorot & Bengio 2010 §4.2.1",
              f"without batchnorm the same nets' gradient vanishes or explodes: a factor outside [{far_lo}, {far_hi}] "
              "for at least 3 of the 4 (activation, init) pairs",
              f"≥ 3 of 4 outside [{far_lo}, {far_hi}]", len(bad),
              f"without batchnorm: {text(without)}; {len(bad)} of {len(without)} outside",
              len(bad) >= 3),
    ]


# =========================================================================== 2. residual connections
#: The per-layer factor of a finite-width net fluctuates around the mean field by O(1/√(n·L)) (the log of the
#: gradient norm has variance O(L/n): Hanin 2018, "Which neural net architectures give rise to exploding and
#: vanishing gradients?"); the allowance is max(factor_rtol, FINITE_WIDTH_C/√(n·L)).
FINITE_WIDTH_C = 1.5
RESIDUAL_CONFIGS = (("relu", "he", "He N(0, 2/n)", 2.0), ("tanh", "glorot", "Glorot N(0, 2/(n_in + n_out))", 1.0))


def residual_theory(act: str, nvar: float, depth: int, residual: bool) -> float:
    r"""Mean-field std(dA^0)/std(dA^L) of pre-activation blocks :math:`x \leftarrow [x +] f(x)W`, x^0 ~ N(0, 1).

    Forward :math:`q \leftarrow [q +]\, n\mathrm{Var}W\, E[f(x)^2]`; backward
    :math:`\mathrm{Var}\,dx \leftarrow \mathrm{Var}\,dx\,([1 +]\, n\mathrm{Var}W\,E[f'(x)^2])`, x ~ N(0, q):
    the identity path adds the 1 (He et al. 2016, Eq. 5), and the unscaled sum makes the variance grow
    (Balduzzi et al. 2017).
    """
    from .experiments import gauss_expect

    q, log_ratio = 1.0, 0.0
    for _ in range(depth):
        g = nvar * gauss_expect(lambda z: activation_prime(act, z) ** 2, q)
        log_ratio += 0.5 * math.log((1.0 if residual else 0.0) + g)
        q = (q if residual else 0.0) + nvar * gauss_expect(lambda z: activation(act, z) ** 2, q)
    return math.exp(log_ratio)


def residual_connections(seed: int, seeds: int = 3, depths=(10, 30, 100), width: int = 100, batch: int = 100,
                         skip: bool = True) -> dict:
    """Plain x ← f(x)W against residual x ← x + f(x)W, relu + He and tanh + Glorot, at several depths.

    ``skip=False`` removes the skip path from the "residual" nets (a broken measurement).
    """
    draw = {"he": ref.init_he_normal, "glorot": ref.init_xavier_normal}
    configs = []
    for act, init, label, nvar in RESIDUAL_CONFIGS:
        for depth in depths:
            for residual in (False, True):
                ratios, shares = [], []
                for s in range(seeds):
                    rng = np.random.default_rng([seed, 53, depth, s])
                    X = rng.normal(size=(batch, width))
                    Ws = [draw[init]((width, width), rng) for _ in range(depth)]
                    dA = _layer_forward_backward(X, Ws, rng.normal(size=(batch, width)), act, False, "pre", residual and skip)
                    ratios.append(float(dA[0].std() / dA[-1].std()))
                    shares.append(float(np.linalg.norm(dA[-1]) / np.linalg.norm(dA[0])))
                configs.append({"activation": act, "init": init, "init_label": label, "depth": depth, "residual": residual,
                                "ratio": ratios, "ratio_median": float(np.median(ratios)),
                                "theory": residual_theory(act, nvar, depth, residual),
                                "identity_share": shares if residual else None})
    res = {"setup": {"depths": list(depths), "width": width, "batch": batch, "seeds": seeds,
                     "plain": "x ← f(x) W", "residual": "x ← x + f(x) W (pre-activation block y = x + F(x))",
                     "input": "X ~ N(0, 1), dA^L ~ N(0, 1), b = 0", "factor_rtol": 0.02,
                     "finite_width_c": FINITE_WIDTH_C},
           "configs": configs}
    res["claims"] = residual_claims(res)
    return res


def residual_claims(res: dict) -> list[dict]:
    res_c = [c for c in res["configs"] if c["residual"]]
    plain = [c for c in res["configs"] if not c["residual"]]
    deepest = max(res["setup"]["depths"])
    tol = res["setup"]["factor_rtol"]
    lowest = min(min(c["ratio"]) for c in res_c)
    tanh_plain = next(c for c in plain if c["activation"] == "tanh" and c["depth"] == deepest)

    width = res["setup"]["width"]

    def off(c):  # deviation of the per-layer factor (ratio^(1/L)) from the theory's, in units of the allowance
        allowance = max(tol, FINITE_WIDTH_C / math.sqrt(width * c["depth"]))
        return abs((c["ratio_median"] / c["theory"]) ** (1.0 / c["depth"]) - 1.0) / allowance

    worst_res, worst_plain = max(off(c) for c in res_c), max(off(c) for c in plain)
    relu_deep = next(c for c in res_c if c["activation"] == "relu" and c["depth"] == deepest)
    return [
        claim("identity_path_keeps_gradient", "He, Zhang, Ren & Sun 2016, 'Identity mappings in deep residual networks', Eq. 4–5",
              "with y = x + F(x) the gradient reaching the input is the top gradient plus the branches' terms, so it does not "
              "vanish: std(dA⁰)/std(dA^L) ≥ 1 at every depth, for every seed; the same blocks without the skip (tanh) vanish",
              "residual ≥ 1 (−1% sampling slack); plain tanh at the largest depth < 1", lowest,
              f"smallest residual ratio {lowest:.4g}; plain tanh × Glorot at depth {deepest}: {tanh_plain['ratio_median']:.3g}",
              lowest >= 0.99 and tanh_plain["ratio_median"] < 1.0),
        claim("residual_variance_growth", "Balduzzi et al. 2017, 'The shattered gradients problem' (unscaled residual sums); "
              "He et al. 2016 Eq. 5",
              "unscaled residual sums make the gradient's variance grow with depth as Π(1 + n·Var W·E[f′²]): with relu + He "
              f"by 2 per block, std(dA⁰)/std(dA^L) = 2^(L/2)",
              f"per-layer factor (ratio^(1/L), median over seeds) within max({tol:.0%}, {FINITE_WIDTH_C}/√(n·L)) of the "
              "mean-field theory, every residual net (deviation/allowance ≤ 1)",
              relu_deep["ratio_median"],
              f"relu × He, depth {deepest}: {relu_deep['ratio_median']:.3g} vs theory {relu_deep['theory']:.3g}; "
              f"largest deviation/allowance of the per-layer factor over the residual nets {worst_res:.3g}", worst_res <= 1.0),
        claim("plain_mean_field", "He et al. 2015 §2.2; Glorot & Bengio 2010 §4.2.1",
              "the plain blocks follow the mean-field theory: flat with relu + He, vanishing with tanh + Glorot",
              f"per-layer factor within max({tol:.0%}, {FINITE_WIDTH_C}/√(n·L)) of the theory", worst_plain,
              f"largest deviation/allowance of the per-layer factor over the plain nets {worst_plain:.3g}", worst_plain <= 1.0),
    ]


# =========================================================================== 3. dead ReLU
def _relu_net(rng, width: int, depth: int, d_in: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``depth`` affine layers (``depth − 1`` hidden relu layers of ``width``, one output), He normal weights, b = 0."""
    sizes = [d_in] + [width] * (depth - 1) + [1]
    return [(ref.init_he_normal((sizes[i], sizes[i + 1]), rng), np.zeros(sizes[i + 1])) for i in range(depth)]


def _relu_forward(params, X, stop_when_dead: bool = False):
    """(output, [(A_in, Z)] per layer); with ``stop_when_dead``, None once a hidden layer is zero on every input."""
    A, cache = X, []
    for i, (W, b) in enumerate(params):
        Z = ref.affine_forward(A, W, b)
        cache.append((A, Z))
        if i == len(params) - 1:
            return Z, cache
        A = ref.relu_forward(Z)
        if stop_when_dead and not np.any(A):
            return None, cache
    return A, cache


def dead_relu_probability(width: int, hidden: int) -> float:
    r"""P(some hidden layer is all-inactive at one input x ≠ 0) for symmetric continuous weights and b = 0:
    :math:`1 - (1 - 2^{-N})^{H}`.

    Given a nonzero input to a layer, each of its N units is inactive with probability 1/2, independently (its own
    weight column, symmetric); all N with :math:`2^{-N}`. A dead layer's successors are dead, so the network is
    born dead at x unless each of the H hidden layers survives. The whole-batch event is a subset of this one.
    """
    return 1.0 - (1.0 - 2.0 ** (-width)) ** hidden


def _sgd_step(params, X, T, lr):
    """One SGD step on 0.5·Σ(y − t)²/N through the reference backwards (weights and biases)."""
    Y, cache = _relu_forward(params, X)
    d = ref.mse_backward(Y, T, 1.0)
    new = []
    for i in range(len(params) - 1, -1, -1):
        A, Z = cache[i]
        W, b = params[i]
        if i < len(params) - 1:
            d = ref.relu_backward(Z, d)
        d_in, dW, db = ref.affine_backward(A, W, b, d)
        new.append((W - lr * dW, b - lr * db))
        d = d_in
    return new[::-1]


def _dead_unit_fraction(params, X) -> float:
    _, cache = _relu_forward(params, X)
    return float(np.mean(np.concatenate([np.all(Z <= 0.0, axis=0) for _, Z in cache[:-1]])))


def dead_relu(seed: int, nets: int = 150, widths=(2, 3, 4, 6, 10), depths=(2, 4, 8, 16, 32), batch: int = 64, d_in: int = 2,
              step_lrs=(0.001, 1.0), step_width: int = 10, step_depth: int = 5) -> dict:
    """Narrow relu nets at init (He normal, b = 0, inputs uniform in [−1, 1]^d_in): how often a net is dead at one input
    and on the whole batch, and the fraction of hidden units inactive on the whole batch; then one SGD step at each of
    ``step_lrs`` on a regression target and the dead-unit fraction after it.
    """
    configs = []
    for width in widths:
        for depth in depths:
            dead_x0 = dead_batch = 0
            unit_fracs = []
            for s in range(nets):
                rng = np.random.default_rng([seed, 59, width, depth, s])
                X = rng.uniform(-1.0, 1.0, size=(batch, d_in))
                params = _relu_net(rng, width, depth, d_in)
                out, cache = _relu_forward(params, X, stop_when_dead=True)
                hidden = [Z for _, Z in cache[: depth - 1]]
                dead_x0 += int(any(np.all(Z[0] <= 0.0) for Z in hidden))
                dead_batch += int(out is None)
                units = np.concatenate([np.all(Z <= 0.0, axis=0) for Z in hidden] + [np.ones(width * (depth - 1 - len(hidden)), bool)])
                unit_fracs.append(float(units.mean()))
            configs.append({"width": width, "depth": depth, "hidden": depth - 1, "dead_at_x0": dead_x0 / nets,
                            "dead_on_batch": dead_batch / nets, "dead_units": float(np.mean(unit_fracs)),
                            "theory_dead_at_x": dead_relu_probability(width, depth - 1)})
    steps = []
    for lr in step_lrs:
        before, after = [], []
        for s in range(nets):
            rng = np.random.default_rng([seed, 61, s])
            X = rng.uniform(-1.0, 1.0, size=(batch, d_in))
            T = 3.0 * (np.sin(3.0 * X[:, :1]) + X[:, 1:2] ** 2)
            params = _relu_net(rng, step_width, step_depth, d_in)
            before.append(_dead_unit_fraction(params, X))
            after.append(_dead_unit_fraction(_sgd_step(params, X, T, lr), X))
        steps.append({"lr": float(lr), "dead_units_before": float(np.mean(before)), "dead_units_after": float(np.mean(after))})
    res = {"setup": {"nets": nets, "widths": list(widths), "depths": list(depths), "batch": batch, "d_in": d_in,
                     "init": "He normal, b = 0", "input": f"X ~ U[−1, 1]^{d_in}", "sigmas": 4.0,
                     "step": {"width": step_width, "depth": step_depth, "target": "3·(sin 3x₁ + x₂²)", "loss": "mse"}},
           "configs": configs, "steps": steps}
    res["claims"] = dead_relu_claims(res)
    return res


def dead_relu_claims(res: dict) -> list[dict]:
    st = res["setup"]
    n, z = st["nets"], st["sigmas"]

    def dev(c):  # |measured − theory| in binomial standard deviations (floor: one network in n)
        p = c["theory_dead_at_x"]
        return abs(c["dead_at_x0"] - p) / max(math.sqrt(p * (1 - p) / n), 1.0 / n)

    worst = max(res["configs"], key=dev)
    narrow = min(st["widths"])
    deep = [c for c in res["configs"] if c["width"] == narrow]
    mono = all(b["dead_on_batch"] >= a["dead_on_batch"] - z * math.sqrt(0.25 / n) for a, b in zip(deep, deep[1:]))
    deepest = deep[-1]
    small, large = res["steps"][0], res["steps"][-1]
    d_small = small["dead_units_after"] - small["dead_units_before"]
    d_large = large["dead_units_after"] - large["dead_units_before"]
    return [
        claim("dead_at_a_point", "Lu, Shin, Su & Karniadakis 2019, 'Dying ReLU and initialization' (symmetric "
              "initialisation); the closed form is derived in remedies.dead_relu_probability",
              "with symmetric weights and zero biases a net of width N and H hidden layers is dead at a given input with "
              "probability 1 − (1 − 2^(−N))^H",
              f"every (width, depth) within {z:g} binomial standard deviations", dev(worst),
              f"worst: width {worst['width']}, depth {worst['depth']}: {worst['dead_at_x0']:.3f} of {n} nets vs "
              f"{worst['theory_dead_at_x']:.3f} ({dev(worst):.2f} σ)", dev(worst) <= z),
        claim("born_dead_with_depth", "Lu et al. 2019 (at fixed width a relu net is born dead with probability → 1 "
              "as the depth grows); here measured on the whole batch",
              f"narrow nets (width {narrow}) are born dead (constant output on the whole batch) more often as they deepen, "
              "and most are dead at the largest depth",
              f"non-decreasing in depth (±{z:g}σ) and > 1/2 at depth {deepest['depth']}", deepest["dead_on_batch"],
              f"width {narrow}: " + ", ".join(f"depth {c['depth']} {c['dead_on_batch']:.2f}" for c in deep),
              mono and deepest["dead_on_batch"] > 0.5),
        claim("large_step_kills_units", "Lu et al. 2019 §1; Karpathy, CS231n notes (a large gradient step can leave a relu "
              "unit inactive on every input)",
              f"one SGD step at learning rate {large['lr']:g} raises the fraction of hidden units inactive on the whole batch "
              f"by more than 5 points; a step at {small['lr']:g} changes it by less than 1",
              "increase > 0.05 (large), |change| < 0.01 (small)", d_large,
              f"dead units: lr {small['lr']:g}: {small['dead_units_before']:.3f} → {small['dead_units_after']:.3f}; "
              f"lr {large['lr']:g}: {large['dead_units_before']:.3f} → {large['dead_units_after']:.3f}",
              d_large > 0.05 and abs(d_small) < 0.01),
    ]


# =========================================================================== 4. Jacobian singular values
def _classic_uniform(shape, rng):
    """The 'commonly used heuristic' U[−1/√n, 1/√n], n = fan_in (Glorot & Bengio 2010, Eq. 1)."""
    return rng.uniform(-1.0 / math.sqrt(shape[0]), 1.0 / math.sqrt(shape[0]), size=shape)


JACOBIAN_INITS = {"classic": ("U[−1/√n, 1/√n]", _classic_uniform, 0.5),
                  "glorot": ("Glorot normalised U[±√6/√(n_in + n_out)]", ref.init_xavier_uniform, 0.8)}


def jacobian_singular_values(seed: int, seeds: int = 3, depth: int = 8, width: int = 100, examples: int = 10,
                             settled_from: int = 4, draws=None) -> dict:
    r"""Mean singular value of the layer-to-layer Jacobians :math:`J^l = \partial a^l/\partial a^{l-1} = W^l\,
    \mathrm{diag}(\tanh'(z^l))` (row layout) of a tanh net at initialisation, per layer.

    :math:`\tanh'(z)` comes from the reference's ``tanh_backward(z, 1)``. X ~ N(0, 1); the layers from
    ``settled_from`` on are past the transient of the input's scale (their statistics no longer change with l), and
    the claim uses their mean. ``draws`` maps an init key to a drawer (to break the measurement).
    """
    draws = dict({key: v[1] for key, v in JACOBIAN_INITS.items()}, **(draws or {}))
    out = []
    for key, (label, _, published) in JACOBIAN_INITS.items():
        per_seed = []
        for s in range(seeds):
            rng = np.random.default_rng([seed, 67, s])
            A, b = rng.normal(size=(examples, width)), np.zeros(width)
            means = []
            for _ in range(depth):
                W = draws[key]((width, width), rng)
                Z = ref.affine_forward(A, W, b)
                J = W[None, :, :] * ref.tanh_backward(Z, np.ones_like(Z))[:, None, :]
                means.append(float(np.linalg.svd(J, compute_uv=False).mean()))
                A = ref.tanh_forward(Z)
            per_seed.append(means)
        arr = np.array(per_seed)
        out.append({"init": key, "label": label, "published": published, "per_layer": arr.mean(axis=0).tolist(),
                    "per_layer_min": arr.min(axis=0).tolist(), "per_layer_max": arr.max(axis=0).tolist(),
                    "settled_mean": float(arr[:, settled_from - 1:].mean())})
    res = {"setup": {"activation": "tanh", "depth": depth, "width": width, "examples": examples, "seeds": seeds,
                     "settled_from": settled_from, "input": "X ~ N(0, 1), b = 0", "tolerance": 0.1},
           "inits": out}
    res["claims"] = jacobian_claims(res)
    return res


def jacobian_claims(res: dict) -> list[dict]:
    tol = res["setup"]["tolerance"]
    by = {i["init"]: i for i in res["inits"]}
    ok = all(abs(i["settled_mean"] - i["published"]) <= tol for i in res["inits"])
    return [claim(
        "jacobian_singular_values", "Glorot & Bengio 2010, §4.2.2 (mean singular value of the layer Jacobians: about 0.5 "
        "with the standard init, 0.8 with the normalised one)",
        "tanh at initialisation: the average singular value of ∂a^l/∂a^(l−1) is about 0.5 with U[−1/√n, 1/√n] and about 0.8 "
        "with the normalised (Glorot) init",
        f"0.5 and 0.8, each within ±{tol}", by["glorot"]["settled_mean"],
        f"layers {res['setup']['settled_from']}–{res['setup']['depth']}: classic {by['classic']['settled_mean']:.3f}, "
        f"Glorot {by['glorot']['settled_mean']:.3f}", ok and by["glorot"]["settled_mean"] > by["classic"]["settled_mean"])]


# =========================================================================== 7. batchnorm and the init scale
def teacher_dataset(seed: int, n: int = 300, d: int = 20, classes: int = 3):
    """A generated, deterministic classification set: X ~ N(0, I_d), labels argmax(X T) of a random linear teacher T."""
    rng = np.random.default_rng([seed, 71])
    X = rng.normal(size=(n, d))
    return X, np.argmax(X @ rng.normal(size=(d, classes)), axis=1)


def _mlp_forward(P, X, bn: bool, dropout=None):
    """relu MLP with optional batchnorm after each hidden affine and an optional dropout mask per hidden layer."""
    A, cache = X, []
    for i, (W, b, g, be) in enumerate(P):
        Z = ref.affine_forward(A, W, b)
        if i == len(P) - 1:
            return Z, cache
        U = ref.batchnorm_forward(Z, g, be, BN_EPS) if bn else Z
        H = ref.relu_forward(U)
        A = ref.dropout_forward(H, dropout[i], dropout[-1]) if dropout is not None else H
        cache.append((Z, U, H))
    return None, cache


def _mlp_sgd_step(P, X, labels, lr: float, bn: bool, l2: float = 0.0, dropout=None) -> float:
    """One SGD step on the softmax cross-entropy (+ L2 penalty on the weights) through the reference ops; returns the loss."""
    Z, cache = _mlp_forward(P, X, bn, dropout)
    loss = ref.softmax_cross_entropy_forward(Z, labels) + (sum(ref.l2_penalty_forward(W, l2) for W, *_ in P) if l2 else 0.0)
    d = ref.softmax_cross_entropy_backward(Z, labels, 1.0)
    for i in range(len(P) - 1, -1, -1):
        W, b, g, be = P[i]
        A_in = X if i == 0 else (ref.dropout_forward(cache[i - 1][2], dropout[i - 1], dropout[-1]) if dropout is not None
                                 else cache[i - 1][2])
        d_in, dW, db = ref.affine_backward(A_in, W, b, d)
        if l2:
            dW = dW + ref.l2_penalty_backward(W, l2, 1.0)
        P[i][0], P[i][1] = W - lr * dW, b - lr * db
        if i == 0:
            break
        Zp, Up, Hp = cache[i - 1]
        if dropout is not None:
            d_in = ref.dropout_backward(Hp, dropout[i - 1], dropout[-1], d_in)
        dU = ref.relu_backward(Up, d_in)
        if bn:
            dZ, dg, dbe = ref.batchnorm_backward(Zp, P[i - 1][2], P[i - 1][3], BN_EPS, dU)
            P[i - 1][2], P[i - 1][3] = P[i - 1][2] - lr * dg, P[i - 1][3] - lr * dbe
        else:
            dZ = dU
        d = dZ
    return float(loss)


def _accuracy(P, X, labels, bn: bool) -> float:
    Z, _ = _mlp_forward(P, X, bn)
    return float(np.mean(np.argmax(Z, axis=1) == labels))


def _init_mlp(rng, sizes, std=None):
    """[W, b, γ, β] per layer; W ~ std·N(0, 1), or He normal when std is None."""
    return [[(std * rng.normal(size=(sizes[i], sizes[i + 1])) if std is not None else ref.init_he_normal((sizes[i], sizes[i + 1]), rng)),
             np.zeros(sizes[i + 1]), np.ones(sizes[i + 1]), np.zeros(sizes[i + 1])] for i in range(len(sizes) - 1)]


def train_scale_run(X, labels, std: float, bn: bool, seed_stream, iterations: int, batch: int, lr: float, width: int,
                    hidden: int) -> float | None:
    """Final training accuracy of one run; None when the training diverged (a non-finite value met the reference)."""
    rng = np.random.default_rng(seed_stream)
    P = _init_mlp(rng, [X.shape[1]] + [width] * hidden + [int(labels.max()) + 1], std)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(iterations):
                idx = rng.choice(len(X), batch, replace=False)
                if not math.isfinite(_mlp_sgd_step(P, X[idx], labels[idx], lr, bn)):
                    return None
            return _accuracy(P, X, labels, bn)
    except ValueError:  # the reference refuses non-finite inputs: the run diverged
        return None


def batchnorm_init_scale(seed: int, seeds: int = 3, iterations: int = 40, batch: int = 64, lr: float = 0.1, width: int = 100,
                         hidden: int = 5, stds=None, use_bn: bool = True, threshold: float = 0.8) -> dict:
    """Final training accuracy against the init std (16 values from 1 to 1e-4), with and without batchnorm, fixed budget."""
    stds = np.logspace(0.0, -4.0, 16).tolist() if stds is None else list(stds)
    X, labels = teacher_dataset(seed)
    curves = []
    for bn in (False, True):
        acc = [[train_scale_run(X, labels, sd, bn and use_bn, [seed, 73, s, j], iterations, batch, lr, width, hidden)
                for j, sd in enumerate(stds)] for s in range(seeds)]
        med = [float(np.median([a[j] if a[j] is not None else 0.0 for a in acc])) for j in range(len(stds))]
        curves.append({"batchnorm": bn, "accuracy": acc, "median": med,
                       "high": int(sum(m >= threshold for m in med))})
    res = {"setup": {"hidden_layers": hidden, "width": width, "activation": "relu", "iterations": iterations, "batch": batch,
                     "lr": lr, "optimizer": "sgd", "seeds": seeds, "stds": stds, "threshold": threshold,
                     "data": f"{len(X)} examples, X ~ N(0, I_{X.shape[1]}), {int(labels.max()) + 1} classes from a random linear "
                             "teacher (generated, no download)",
                     "chance": float(np.max(np.bincount(labels)) / len(labels))},
           "curves": curves}
    res["claims"] = bn_scale_claims(res)
    return res


def bn_scale_claims(res: dict) -> list[dict]:
    st = res["setup"]
    no, yes = res["curves"][0], res["curves"][1]
    n = len(st["stds"])
    return [claim(
        "bn_wide_init_range", "Saito 2016 (Deep Learning from Scratch) §6.3.2, Fig. 6-19; Ioffe & Szegedy 2015 §3.3",
        f"with batchnorm the final training accuracy stays high (≥ {st['threshold']}) over a much wider range of init stds "
        f"than without: at least {math.ceil(0.6 * n)} of the {n} values, and at least 6 more than without",
        f"with ≥ {math.ceil(0.6 * n)} of {n} and ≥ without + 6", yes["high"],
        f"std values with median accuracy ≥ {st['threshold']}: with batchnorm {yes['high']} of {n}, without {no['high']}",
        yes["high"] >= math.ceil(0.6 * n) and yes["high"] >= no["high"] + 6)]


# =========================================================================== 8. overfitting and regularisation
def overfitting(seed: int, seeds: int = 3, epochs: int = 150, n_train: int = 100, n_test: int = 500, d: int = 20,
                label_noise: float = 0.2, width: int = 100, hidden: int = 2, lr: float = 0.1, l2: float = 0.2,
                dropout: float = 0.7, record_every: int = 5, regularise: bool = True) -> dict:
    """A small noisy training set, a large relu MLP (He init), full-batch SGD for ``epochs``: train and test accuracy
    over the epochs with no regularisation, an L2 penalty (``l2_penalty_*``) and inverted dropout (``dropout_*``).

    ``regularise=False`` runs the L2 and dropout configurations without their regulariser (a broken measurement).
    """
    configs = {"none": {}, "l2": {"l2": l2}, "dropout": {"dropout": dropout}}
    out = []
    for name, reg in configs.items():
        train_acc, test_acc = [], []
        for s in range(seeds):
            rng = np.random.default_rng([seed, 79, s])
            X = rng.normal(size=(n_train + n_test, d))
            labels = np.argmax(X @ rng.normal(size=(d, 3)), axis=1)
            noisy = rng.random(n_train) < label_noise
            labels[:n_train][noisy] = rng.integers(0, 3, size=int(noisy.sum()))
            Xtr, ytr, Xte, yte = X[:n_train], labels[:n_train], X[n_train:], labels[n_train:]
            P = _init_mlp(rng, [d] + [width] * hidden + [3])
            tr, te = [], []
            for e in range(epochs + 1):
                if e % record_every == 0:
                    tr.append(_accuracy(P, Xtr, ytr, False))
                    te.append(_accuracy(P, Xte, yte, False))
                if e == epochs:
                    break
                masks = None
                if reg.get("dropout") and regularise:
                    masks = [ref.dropout_mask((n_train, width), reg["dropout"], rng) for _ in range(hidden)] + [reg["dropout"]]
                _mlp_sgd_step(P, Xtr, ytr, lr, False, l2=reg.get("l2", 0.0) if regularise else 0.0, dropout=masks)
            train_acc.append(tr)
            test_acc.append(te)
        tr_m, te_m = np.median(train_acc, axis=0), np.median(test_acc, axis=0)
        out.append({"name": name, "regulariser": {"none": "none", "l2": f"L2 penalty λ = {l2:g}",
                                                  "dropout": f"inverted dropout p = {dropout:g}"}[name],
                    "train": tr_m.tolist(), "test": te_m.tolist(), "train_per_seed": train_acc, "test_per_seed": test_acc,
                    "final_gap": [float(a[-1] - b[-1]) for a, b in zip(train_acc, test_acc)],
                    "final_gap_median": float(np.median([a[-1] - b[-1] for a, b in zip(train_acc, test_acc)]))})
    res = {"setup": {"n_train": n_train, "n_test": n_test, "d": d, "label_noise": label_noise, "hidden_layers": hidden,
                     "width": width, "lr": lr, "optimizer": "sgd, full batch", "epochs": epochs, "seeds": seeds,
                     "record_every": record_every, "l2": l2, "dropout": dropout,
                     "data": "X ~ N(0, I_d), 3 classes from a random linear teacher, a fraction of the training labels redrawn"},
           "configs": out}
    res["claims"] = overfitting_claims(res)
    return res


def overfitting_claims(res: dict) -> list[dict]:
    by = {c["name"]: c for c in res["configs"]}
    g = {k_: by[k_]["final_gap_median"] for k_ in by}
    return [claim(
        "regularisation_narrows_gap", "Saito 2016 (Deep Learning from Scratch) §6.4, Fig. 6-20, 6-21, 6-23; Srivastava et al. 2014",
        "with a small training set the unregularised net overfits (train accuracy far above test); weight decay and dropout "
        "each narrow the gap",
        "gap without > 0.15; L2 and dropout gaps each at most 0.8 of it", g["none"],
        f"final train − test accuracy (median over seeds): none {g['none']:.3f}, L2 {g['l2']:.3f}, dropout {g['dropout']:.3f}",
        g["none"] > 0.15 and g["l2"] <= 0.8 * g["none"] and g["dropout"] <= 0.8 * g["none"])]


# =========================================================================== the registry
#: name -> (function, keyword arguments per depth of the report ("full", "quick"), section title). The seed is passed as ``seed``.
EXPERIMENTS = {
    "optimizers": (optimizer_paths, {"full": {"seeds": 5}, "quick": {"seeds": 5}}, "Optimizer paths"),
    "xor": (xor_and_depth, {"full": {"seeds": 40, "iterations": 600}, "quick": {"seeds": 24, "iterations": 600,
                                                                               "parity_ns": tuple(range(2, 9))}},
            "XOR, the perceptron and depth"),
    "batchnorm": (batchnorm_remedy, {"full": {"seeds": 3, "batch": 200}, "quick": {"seeds": 3, "batch": 100}},
                  "Batchnorm as a remedy"),
    "residual": (residual_connections, {"full": {"seeds": 3, "batch": 200}, "quick": {"seeds": 3, "batch": 100}},
                 "Residual connections"),
    "dead_relu": (dead_relu, {"full": {"nets": 100}, "quick": {"nets": 50}}, "Dead ReLU"),
    "jacobian": (jacobian_singular_values, {"full": {"seeds": 3, "examples": 10}, "quick": {"seeds": 3, "examples": 5}},
                 "Jacobian singular values"),
    "bn_init_scale": (batchnorm_init_scale, {"full": {"seeds": 3, "iterations": 30}, "quick": {"seeds": 2, "iterations": 20}},
                      "Batchnorm and the init scale"),
    "overfitting": (overfitting, {"full": {"seeds": 3, "epochs": 150}, "quick": {"seeds": 2, "epochs": 100}}, "Overfitting"),
}


def run(name: str, seed: int, depth: str) -> dict:
    """Run the experiment ``name`` of :data:`EXPERIMENTS` at the sizes of the report's ``depth`` ("full" or "quick")."""
    fn, sizes, _ = EXPERIMENTS[name]
    return fn(seed, **sizes[depth])
