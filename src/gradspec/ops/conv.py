"""Record of conv2d (``gradspec.reference.conv``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, Hyper, OpProperty, OpSpec, Ref, Sampler
from ..sampling import out_size, window_geometry
from .. import reference as ref
from ..reference.conv import check_window
from ..variants import Catalogue, f64


def conv2d_structure(rng):
    """``{"geom": (N, C, H, W, F, KH, KW, stride, pad)}`` with the kernel fitting the padded input."""
    H, W, K, stride, pad = window_geometry(rng)
    N, C, F = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    KW = int(rng.integers(1, min(4, W + 2 * pad + 1)))
    return {"geom": (N, C, H, W, F, K, KW, stride, pad)}


def conv2d_values(case, rng):
    N, C, H, W, F, KH, KW, st, pd = case["geom"]
    return {"x": rng.normal(size=(N, C, H, W)), "W": rng.normal(size=(F, C, KH, KW)), "b": rng.normal(size=F),
            "stride": st, "pad": pd}


def conv2d_out(s) -> tuple:
    N, _, H, W = np.shape(s["x"])
    F, _, KH, KW = np.shape(s["W"])
    return (N, F, out_size(H, KH, s["stride"], s["pad"]), out_size(W, KW, s["stride"], s["pad"]))


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def conv2d_sympy(s):
    from ..symbolic.definitions import Definition, out_size, shape_of, sym_array
    N, C, H, Wd = shape_of(s["x"])
    F, _, KH, KW = shape_of(s["W"])
    st, pd = int(s["stride"]), int(s["pad"])
    OH, OW = out_size(H, KH, st, pd), out_size(Wd, KW, st, pd)
    x, W, b = sym_array("x", (N, C, H, Wd), real=True), sym_array("W", (F, C, KH, KW), real=True), sym_array("b", (F,), real=True)

    def xpad(n, c, h, w):  # zero padding
        return x[n, c, h, w] if 0 <= h < H and 0 <= w < Wd else 0

    # y_{nfij} = b_f + Σ_{c,k,l} W_{fckl} x^{pad}_{n,c,i·s+k−pad,j·s+l−pad}: cross-correlation, no flip
    y = np.empty((N, F, OH, OW), dtype=object)
    for n, f, i, j in np.ndindex(N, F, OH, OW):
        y[n, f, i, j] = b[f] + sum(W[f, c, k, l] * xpad(n, c, i * st + k - pd, j * st + l - pd)
                                   for c in range(C) for k in range(KH) for l in range(KW))

    def spec(dy):  # conv2d_backward docstring: dW = dYᵀ im2col(x), db = Σ dy, dx = col2im(dY W) (restated as sums)
        dW = np.empty(W.shape, dtype=object)
        for f, c, k, l in np.ndindex(W.shape):
            dW[f, c, k, l] = sum(dy[n, f, i, j] * xpad(n, c, i * st + k - pd, j * st + l - pd)
                                 for n in range(N) for i in range(OH) for j in range(OW))
        db = np.array([sum(dy[:, f].ravel()) for f in range(F)], dtype=object)
        dx = np.zeros(x.shape, dtype=object)
        for n, f, i, j in np.ndindex(N, F, OH, OW):
            for c, k, l in np.ndindex(C, KH, KW):
                h, w = i * st + k - pd, j * st + l - pd
                if 0 <= h < H and 0 <= w < Wd:  # col2im discards what lands in the padding
                    dx[n, c, h, w] = dx[n, c, h, w] + dy[n, f, i, j] * W[f, c, k, l]
        return dx, dW, db

    return Definition({"x": x, "W": W, "b": b}, y, ("x", "W", "b"), spec)


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def conv2d_mp(s, pattern=None):
    r"""y_{nfij} = b_f + Σ_{c,k,l} W_{fckl} x^{pad}_{n,c,is+k,js+l} (cross-correlation, zero padding)."""
    import mpmath
    from ..mpmath_oracle.forward import guard, mdot, out_size, pad_mp, windows
    x, Wt, b = s["x"], s["W"], s["b"]
    stride, pad = int(s["stride"]), int(s["pad"])
    N, C, H, W = x.shape
    F, _, KH, KW = Wt.shape
    OH, OW = out_size(H, KH, stride, pad), out_size(W, KW, stride, pad)
    win = windows(pad_mp(x, pad, mpmath.mpf(0)), KH, KW, stride, OH, OW)  # (N, C, OH, OW, KH, KW)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * KH * KW)
    y = mdot(cols, Wt.reshape(F, -1).T) + b[None, :]
    return guard(y.reshape(N, OH, OW, F).transpose(0, 3, 1, 2).copy(), "conv2d"), None


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def conv2d_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bmatmul, bsum, gamma, overlap
    from ..reference import conv as _conv
    x, Wt, b = s["x"], s["W"], s["b"]
    stride, pad = int(s["stride"]), int(s["pad"])
    N, C, H, W = x.shape
    F, _, KH, KW = Wt.shape
    OH, OW = _conv.output_size(H, KH, stride, pad), _conv.output_size(W, KW, stride, pad)
    cols = Bounded(_conv.im2col(x, KH, KW, stride, pad))
    Wm = Bounded(Wt.reshape(F, -1))
    y = (bmatmul(cols, Wm.T) + Bounded(b)).map(lambda a: a.reshape(N, OH, OW, F).transpose(0, 3, 1, 2))
    dcol = Bounded(np.asarray(dy, dtype=np.float64).transpose(0, 2, 3, 1).reshape(N * OH * OW, F))
    dW = bmatmul(dcol.T, cols).reshape(Wt.shape)
    db = bsum(Bounded(dy), axis=(0, 2, 3))
    P = bmatmul(dcol, Wm)  # (N·OH·OW, C·KH·KW) contributions, then col2im adds overlapping ones
    T = overlap(KH, stride) * overlap(KW, stride)
    c2i = lambda a: _conv.col2im(a, x.shape, KH, KW, stride, pad)  # noqa: E731
    dx = Bounded(c2i(P.v), c2i(P.e) + gamma(T - 1) * c2i(np.abs(P.v)))
    return Model(y, {"x": dx, "W": dW, "b": db})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def _vec_conv(x, W, b, s, p):
    from ..mpmath_oracle.vectors_mp import mpad, mpf, msum, mzeros, out_size
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = out_size(H, KH, s, p), out_size(Wd, KW, s, p)
    xp = mpad(x, p, mpf(0))
    y = mzeros((N, F, OH, OW))
    for n, f, i, j in np.ndindex(N, F, OH, OW):
        win = xp[n, :, i * s:i * s + KH, j * s:j * s + KW]
        y[n, f, i, j] = msum(win * W[f]) + b[f]
    return y, xp


def _vec_conv_bwd(x, W, b, s, p, dy):
    from ..mpmath_oracle.vectors_mp import msum, mzeros
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    _, xp = _vec_conv(x, W, b, s, p)
    dxp, dW = mzeros(xp.shape), mzeros(W.shape)
    for n, f, i, j in np.ndindex(dy.shape):
        g = dy[n, f, i, j]
        dxp[n, :, i * s:i * s + KH, j * s:j * s + KW] += g * W[f]
        dW[f] += g * xp[n, :, i * s:i * s + KH, j * s:j * s + KW]
    db = np.array([msum(dy[:, f]) for f in range(F)], dtype=object)
    return dxp[:, :, p:p + H, p:p + Wd], dW, db


def conv2d_vectors(s, A, d):
    st, p = int(s["stride"]), int(s["pad"])
    y, _ = _vec_conv(A["x"], A["W"], A["b"], st, p)
    dx, dW, db = _vec_conv_bwd(A["x"], A["W"], A["b"], st, p, d)
    return {"outputs": {"forward": y}, "gradients": {"x": dx, "W": dW, "b": db}}


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def conv2d_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import arrays, scales, seeds, window_geometry
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode, limits=None):
        """``limits``: declared limits of stride and pad, drawn within (``Sampler.strategy_limits``)."""
        H, W, KH, KW, stride, pad = draw(window_geometry(limits=limits))
        N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        s = 1e3 if mode == "hard" else draw(scales())
        return {"x": draw(arrays((N, C, H, W), -s, s)), "W": draw(arrays((F, C, KH, KW), -s, s)),
                "b": draw(arrays((F,), -s, s)), "stride": stride, "pad": pad, "seed": draw(seeds())}

    return build(*args, **kwargs)


# --------------------------------------------------------------------------- the fd64 oracle's model (steps, conditioning, targeted samples)
def conv2d_backward_magnitude(sample: dict, dy) -> list:
    """The backward on absolute values: a bound on the terms each gradient sums."""
    from .. import reference as ref
    return list(ref.conv2d_backward(np.abs(sample["x"]), np.abs(sample["W"]), np.abs(sample["b"]), sample["stride"],
                                    sample["pad"], np.abs(dy)))


def conv2d_magnitude(sample: dict):
    from .. import reference as spec_impl
    return spec_impl.conv2d_forward(np.abs(sample["x"]), np.abs(sample["W"]), np.abs(sample["b"]),
                                    sample["stride"], sample["pad"])


def conv2d_targeted(op, rng: np.random.Generator) -> list[tuple[str, dict]]:
    """W with F = C >= 2 and KH = KW >= 2, where dW with its filter/channel or kernel axes swapped keeps its shape."""
    N, C, K = int(rng.integers(1, 3)), 2, int(rng.integers(2, 4))
    pad, stride = int(rng.integers(0, 2)), int(rng.integers(1, 3))
    H, W = (int(v) for v in rng.integers(K, 6, size=2))
    return [("square W (F = C, KH = KW)", {"x": rng.normal(size=(N, C, H, W)), "W": rng.normal(size=(C, C, K, K)),
                                           "b": rng.normal(size=C), "stride": stride, "pad": pad})]


OPS = (
    OpSpec("conv2d", "differentiable", "conv", "cross-correlation with zero padding (im2col)",
           (Arg("x", "input", True, "(N, C, H, W)"), Arg("W", "param", True, "(F, C, KH, KW)"),
            Arg("b", "param", True, "(F,)"), Arg("stride", "hyper"), Arg("pad", "hyper")),
           ("conv2d_forward", "conv2d_backward"),
           "x (N,C,H,W), W (F,C,KH,KW), b (F,) -> (N,F,OH,OW), OH = (H+2·pad−KH)//stride+1",
           # stride 2 with padding 1 and a non-square kernel; then overlapping windows
           Sampler(conv2d_structure, conv2d_values, Ref(__name__, "conv2d_strategy"), ("away", "hard"),
                   cases=({"geom": (1, 2, 3, 3, 2, 3, 2, 2, 1)}, {"geom": (2, 1, 3, 4, 1, 2, 2, 1, 0)}),
                   strategy_limits=("stride", "pad")),
           conv2d_out,
           hypers=(Hyper("stride", 1, integer=True), Hyper("pad", 0, integer=True)),
           conventions=("cross-correlation (no kernel flip)", "zero padding"),
           sympy=Ref(__name__, "conv2d_sympy"), mp_forward=Ref(__name__, "conv2d_mp"),
           error_model=Ref(__name__, "conv2d_error_model"), vector_values=Ref(__name__, "conv2d_vectors"),
           fd_model=FdModel(magnitude=Ref(__name__, "conv2d_magnitude"), targeted=Ref(__name__, "conv2d_targeted"),
                             backward_magnitude=Ref(__name__, "conv2d_backward_magnitude")),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("is_cross_correlation", Ref("gradspec.properties.props", "prop_conv2d_is_cross_correlation"), ('away', 'hard')),
                       OpProperty("backward_is_adjoint", Ref("gradspec.properties.props", "prop_conv2d_adjoint"), ('away', 'hard')),
                       OpProperty("im2col_col2im_adjoint", Ref("gradspec.properties.props", "prop_im2col_adjoint"), requires=('im2col', 'col2im')))),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of conv2d.
CATALOGUE = Catalogue()
C = CATALOGUE


def conv_flipped_fwd(x, W, b, stride, pad):
    return ref.conv2d_forward(x, f64(W)[:, :, ::-1, ::-1], b, stride, pad)


def conv_flipped_bwd(x, W, b, stride, pad, dy):
    dx, dW, db = ref.conv2d_backward(x, f64(W)[:, :, ::-1, ::-1], b, stride, pad, dy)
    return dx, dW[:, :, ::-1, ::-1], db


def flip(W):
    return np.asarray(W)[..., ::-1, ::-1].copy()


def witness_flipped_backward(x, W, b, stride, pad, dy):
    dx, dW, db = ref.conv2d_backward(x, flip(W), b, stride, pad, dy)
    return dx, flip(dW), db


C.variant("conv_kernel_flipped", "conv2d", "a true convolution (the kernel flipped) instead of the cross-correlation the spec uses",
          mutant="conv2d_kernel_flipped",
          description="a true convolution (flipped kernel) instead of cross-correlation, forward and backward consistent",
          witness={"conv2d_forward": lambda x, W, b, stride=1, pad=0: ref.conv2d_forward(x, flip(W), b, stride, pad),
                   "conv2d_backward": witness_flipped_backward},
          conv2d_forward=conv_flipped_fwd, conv2d_backward=conv_flipped_bwd)


def col2im_overwrite(cols, x_shape, KH, KW, stride, pad):
    N, C_, H, W = (int(s) for s in x_shape)
    stride, pad, OH, OW = check_window("col2im", H, W, KH, KW, stride, pad)
    c6 = np.asarray(cols).reshape(N, OH, OW, C_, KH, KW).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((N, C_, H + 2 * pad, W + 2 * pad))
    for i in range(KH):
        for j in range(KW):
            xp[:, :, i: i + stride * OH: stride, j: j + stride * OW: stride] = c6[:, :, i, j]  # overwrites overlaps
    return xp[:, :, pad: pad + H, pad: pad + W].copy()


def conv_backward_overwrite(x, W, b, stride, pad, dy):
    x, W, dy = (np.asarray(v, dtype=np.float64) for v in (x, W, dy))
    N, F, KH, KW = x.shape[0], W.shape[0], W.shape[2], W.shape[3]
    OH, OW = dy.shape[2], dy.shape[3]
    dcol = dy.transpose(0, 2, 3, 1).reshape(N * OH * OW, F)
    cols = ref.im2col(x, KH, KW, stride, pad)
    return (col2im_overwrite(dcol @ W.reshape(F, -1), x.shape, KH, KW, stride, pad),
            (dcol.T @ cols).reshape(W.shape), dy.sum(axis=(0, 2, 3)))


C.mutant("conv2d_col2im_overwrites_overlaps", "conv2d", "col2im assigns instead of adding, losing gradient where windows overlap (stride < kernel)",
         col2im=col2im_overwrite, conv2d_backward=conv_backward_overwrite)
C.mutant("conv2d_bias_grad_averaged", "conv2d", "conv2d_backward averages db over batch and positions instead of summing",
         conv2d_backward=lambda x, W, b, stride, pad, dy: ref.conv2d_backward(x, W, b, stride, pad, dy)[:2] + (np.asarray(dy).mean(axis=(0, 2, 3)),))


def conv2d_bias_terms(s, key, out):
    y = out.get("forward")
    if key != "db":
        return None
    return int(y.shape[0] * y.shape[2] * y.shape[3]) if isinstance(y, np.ndarray) else None


C.bias_sum("conv2d", conv2d_bias_terms, "the batch and positions")
