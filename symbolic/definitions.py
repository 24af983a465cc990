r"""The building blocks of the ops written directly in SymPy, from their math definitions.

Each op's builder, ``<op>_sympy`` in its record module (:mod:`gradspec.ops`, named by ``op.sympy``), is built
from the blocks here (:class:`Definition`, :func:`sym_array`, :func:`ew`, the sigmoid and relu, the MLP). It takes a sample (a dict with the registry's argument names; only its *structure* is
used: shapes, integer hyperparameters, labels, masks) and returns a
:class:`Definition`:

* ``forward``: the op's output as SymPy expressions of symbols, one symbol per
  input element, parameter element, target element and float hyperparameter
  (``eps``, ``p``, ``lam``). Written from the mathematics (softmax as
  :math:`e^{x_i}/\sum_j e^{x_j}`, batchnorm from the mean and the biased
  variance, conv2d as the cross-correlation sum, ...). Nothing here imports or
  calls :mod:`gradspec.reference`.
* ``spec_backward(dy)``: the backward formula *as the spec states it* (the
  reference's docstrings), restated independently in SymPy. The oracle proves
  it equals the VJP that :mod:`gradspec.symbolic.derive` obtains by
  ``sympy.diff`` of the forward; it is never used as the truth.

Piecewise ops state their kink conventions in the definition itself:
relu is ``Piecewise((x, x > 0), (0, True))``, whose derivative SymPy gives as
``Piecewise((1, x > 0), (0, True))``: relu'(0) = 0, the registry's convention.
Max-pool output is a ``Piecewise`` over the window's real elements in
row-major order where element i wins when it is > every earlier element and
>= every later one: ties go to the first maximum and padding (not a
candidate) never wins, the registry's conventions.

The small shapes at which each op is derived (the smallest that exercise
every term: conv2d with stride 2 and padding 1, pooling with overlapping
padded windows, batchnorm in both (N, D) and (N, C, H, W) form) are the
record's ``sample.cases``, and ``sample.draw(case, rng)`` draws values for a
case with the registry's distributions and margins from every kink;
:mod:`gradspec.symbolic.lookup` reads them from the records.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp


#: Float hyperparameters that become SymPy symbols (the others are structural integers).
SYMBOLIC_HYPERS = ("eps", "p", "lam")
#: Argument roles whose arrays become arrays of symbols.
SYMBOLIC_ROLES = ("input", "param", "target")


@dataclass
class Definition:
    """The SymPy statement of one op at one structure.

    ``symbols``: argument name -> object array of Symbols (or one Symbol for a
    float hyperparameter), in the forward's argument order. ``forward``: object
    array of the output's shape, or one expression for a loss. ``diff_args``:
    the differentiable arguments, in order. ``spec_backward(dy)`` returns the
    spec's restated VJP, one object array per differentiable argument.
    ``identity``: how the oracle proves derived == spec: ``"expand"``
    (polynomial identity), ``"simplify"`` or ``"rational"`` (exact at random
    rational points, for ops whose simplification is too slow for the budget).
    """

    symbols: dict
    forward: object
    diff_args: tuple
    spec_backward: Callable
    identity: str = "expand"
    scalar: bool = False
    note: str = ""


# --------------------------------------------------------------------------- helpers
def sym_array(name: str, shape, **assumptions) -> np.ndarray:
    """Object array of Symbols ``name_i_j...`` of the given shape."""
    shape = tuple(int(s) for s in shape)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = sp.Symbol(name + "".join(f"_{i}" for i in idx), **assumptions)
    return out


def ew(fn, arr) -> np.ndarray:
    """Apply a SymPy function element-wise to an object array."""
    arr = np.asarray(arr, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = fn(arr[idx])
    return out


def sigmoid(z):
    r""":math:`1/(1 + e^{-z})`."""
    return 1 / (1 + sp.exp(-z))


def relu(z):
    r""":math:`\max(z, 0)` with the derivative's convention at 0 built in: Piecewise((z, z > 0), (0, True))."""
    return sp.Piecewise((z, z > 0), (0, True))


def shape_of(v):
    return tuple(np.shape(v))


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def window_positions(h0, w0, k_h, k_w, H, W):
    """Real (in-range) positions of a window with top-left (h0, w0), row-major."""
    return [(h0 + a, w0 + c) for a in range(k_h) for c in range(k_w) if 0 <= h0 + a < H and 0 <= w0 + c < W]


# --------------------------------------------------------------------------- shared by several ops (each op's own definition is in its record module)
def elementwise(s, fn, dfn_spec, identity) -> Definition:
    """The element-wise op ``fn`` at the shape of ``s["x"]``; the spec's derivative is ``dfn_spec``."""
    x = sym_array("x", shape_of(s["x"]), real=True)
    return Definition({"x": x}, ew(fn, x), ("x",), lambda dy: (dy * ew(dfn_spec, x),), identity)


def first_max(cands):
    """Piecewise max of ``cands`` whose branch i holds when cands[i] is the *first* maximum.

    Branch i: cands[i] > cands[j] for j < i and cands[i] >= cands[j] for j > i.
    """
    if len(cands) == 1:
        return cands[0], [sp.true]
    conds = []
    for i, ci in enumerate(cands):
        conds.append(sp.And(*[ci > cj for cj in cands[:i]], *[ci >= cj for cj in cands[i + 1:]]))
    return sp.Piecewise(*[(c, cond) for c, cond in zip(cands[:-1], conds[:-1])], (cands[-1], True)), conds


# --------------------------------------------------------------------------- cases and values
def structure_key(op_name: str, sample: dict) -> tuple:
    """What a derivation depends on: shapes, integer hyperparameters, labels and masks (not float values)."""
    parts = [op_name]
    for k in sorted(sample):
        v = sample[k]
        if k == "labels":
            parts.append((k, tuple(int(a) for a in np.asarray(v).ravel())))
        elif k == "mask":
            parts.append((k, np.asarray(v).shape, np.asarray(v, dtype=np.float64).tobytes()))
        elif isinstance(v, np.ndarray):
            parts.append((k, v.shape))
        elif k in SYMBOLIC_HYPERS:
            parts.append((k, "symbol"))
        else:
            parts.append((k, v))
    return tuple(parts)


# --------------------------------------------------------------------------- the network (op "mlp", row layout)
HIDDEN = {"sigmoid": sigmoid, "tanh": sp.tanh, "relu": relu}


def mlp_definition(widths, N: int, hidden: str, output: str):
    r"""The protocol's MLP loss in SymPy (row layout): :math:`z^l = a^{l-1} W^l + b^l`, hidden σ, mean cost over N.

    Outputs: ``identity_mse`` :math:`\frac{1}{2N}\sum (z^L - T)^2`; ``sigmoid_mse``
    :math:`\frac{1}{2N}\sum (\sigma(z^L) - T)^2`; ``softmax_cross_entropy``
    :math:`-\frac1N \sum_{n,k} Y_{nk}\log \mathrm{softmax}(z^L_n)_k` with Y the one-hot
    labels (a matrix of symbols, given 0/1 values at evaluation).

    Returns (symbols: dict name -> object array, loss expression, parameter names in order).
    """
    L = len(widths) - 1
    X = sym_array("X", (N, widths[0]), real=True)
    T = sym_array("T", (N, widths[-1]), real=True)
    syms = {"X": X}
    names = []
    a = X
    for l in range(1, L + 1):
        W = sym_array(f"W{l}", (widths[l - 1], widths[l]), real=True)
        b = sym_array(f"b{l}", (widths[l],), real=True)
        syms[f"W{l}"], syms[f"b{l}"] = W, b
        names += [f"W{l}", f"b{l}"]
        z = a.dot(W) + b
        a = ew(HIDDEN[hidden], z) if l < L else z
    syms["T"] = T
    if output == "identity_mse":
        C = sum((a[i] - T[i]) ** 2 for i in np.ndindex(a.shape)) / (2 * N)
    elif output == "sigmoid_mse":
        C = sum((sigmoid(a[i]) - T[i]) ** 2 for i in np.ndindex(a.shape)) / (2 * N)
    elif output == "softmax_cross_entropy":
        K = widths[-1]
        C = -sum(T[n, k] * sp.log(sp.exp(a[n, k]) / sum(sp.exp(a[n, j]) for j in range(K)))
                 for n in range(N) for k in range(K)) / N
    else:
        raise ValueError(f"mlp output must be identity_mse, sigmoid_mse or softmax_cross_entropy, got {output!r}")
    return syms, C, names


# --------------------------------------------------------------------------- clipping, step, perceptron
# The update rules that are no gradient: the SymPy statements the records of step, clip_grad_value, clip_grad_norm
# and perceptron evaluate (their ``sympy``), and the lambdified forms they evaluate at 50 digits.
def clip_norm_definition(gs, c):
    """Symbolic clip-by-global-norm of a flat list of symbols ``gs`` with threshold ``c``."""
    norm = sp.sqrt(sp.Add(*[g**2 for g in gs]))
    return [g * sp.Piecewise((c / norm, norm > c), (1, True)) for g in gs], norm


@functools.lru_cache(maxsize=None)
def prove_clip_norm(n: int = 3) -> bool:
    """On the clipping branch, the clipped vector has norm exactly c (exact identity for n symbols)."""
    gs = [sp.Symbol(f"g{i}", real=True) for i in range(n)]
    c = sp.Symbol("c", positive=True)
    norm = sp.sqrt(sp.Add(*[g**2 for g in gs]))
    clipped = [g * c / norm for g in gs]  # the active branch norm > c
    return sp.simplify(sp.Add(*[e**2 for e in clipped]) - c**2) == 0


def clip_value_definition(g, c):
    return sp.Min(sp.Max(g, -c), c)


def step_definition_fn(x):
    return sp.Piecewise((1, x > 0), (0, True))


def perceptron_definition(w, b, x, t, lr, boundary_zero: bool = False):
    """(w_new, b_new) of the rule; ``boundary_zero`` forces y = step(0) = 0 (a sample on the boundary)."""
    s = sp.Add(*[wi * xi for wi, xi in zip(w, x)]) + b
    y = sp.Integer(0) if boundary_zero else step_definition_fn(s)
    return [wi + lr * (t - y) * xi for wi, xi in zip(w, x)], b + lr * (t - y), s


@functools.lru_cache(maxsize=None)
def compiled_clip_norm(n: int):
    """mpmath function (g_0..g_{n-1}, c) -> the clipped g_i of :func:`clip_norm_definition`."""
    gs = [sp.Symbol(f"g{i}", real=True) for i in range(n)]
    c = sp.Symbol("c", positive=True)
    out, _ = clip_norm_definition(gs, c)
    return sp.lambdify(gs + [c], out, modules="mpmath")


@functools.lru_cache(maxsize=None)
def compiled_clip_value():
    """mpmath function (g, c) -> :func:`clip_value_definition`."""
    g, c = sp.Symbol("g", real=True), sp.Symbol("c", positive=True)
    return sp.lambdify([g, c], clip_value_definition(g, c), modules="mpmath")


@functools.lru_cache(maxsize=None)
def compiled_step():
    """mpmath function x -> :func:`step_definition_fn`."""
    x = sp.Symbol("x", real=True)
    return sp.lambdify([x], step_definition_fn(x), modules="mpmath")


@functools.lru_cache(maxsize=None)
def compiled_perceptron(D: int, boundary_zero: bool):
    """mpmath functions (w, b, x, t, lr) -> w_new + [b_new] and (w, b, x) -> w·x + b of :func:`perceptron_definition`."""
    w = [sp.Symbol(f"w{i}", real=True) for i in range(D)]
    x = [sp.Symbol(f"x{i}", real=True) for i in range(D)]
    b, t, lr = sp.Symbol("b", real=True), sp.Symbol("t", real=True), sp.Symbol("lr", positive=True)
    wn, bn, s = perceptron_definition(w, b, x, t, lr, boundary_zero)
    return sp.lambdify(w + [b] + x + [t, lr], wn + [bn], modules="mpmath"), sp.lambdify(w + [b] + x, s, modules="mpmath")
