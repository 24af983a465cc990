"""Records of max and average pooling (``gradspec.reference.pooling``)."""
from __future__ import annotations

import numpy as np

from ..spec import Arg, FdModel, Hyper, Kink, OpProperty, OpSpec, Ref, Sampler
from ..sampling import distinct, out_size, pool_gap, window_geometry
from numpy.lib.stride_tricks import sliding_window_view
from .. import reference as ref
from ..reference import pooling as ref_pool
from ..reference.conv import output_size
from ..variants import Catalogue, f64


def pool_structure(rng):
    """``{"geom": (N, C, H, W, kernel, stride, pad)}`` with pad <= kernel//2."""
    H, W, K, stride, pad = window_geometry(rng, pool=True)
    N, C = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    return {"geom": (N, C, H, W, K, stride, pad)}


def max_pool2d_values(case, rng):
    N, C, H, W, k, st, pd = case["geom"]
    return {"x": distinct(rng, (N, C, H, W)), "kernel": k, "stride": st, "pad": pd}  # no ties: away from the kink


def avg_pool2d_values(case, rng):
    N, C, H, W, k, st, pd = case["geom"]
    return {"x": rng.normal(size=(N, C, H, W)), "kernel": k, "stride": st, "pad": pd}


def pool_out(s) -> tuple:
    N, C, H, W = np.shape(s["x"])
    k, st, p = s["kernel"], s["stride"], s["pad"]
    return (N, C, out_size(H, k, st, p), out_size(W, k, st, p))


POOL_ARGS = (Arg("x", "input", True, "(N, C, H, W)"), Arg("kernel", "hyper"), Arg("stride", "hyper"), Arg("pad", "hyper"))
POOL_HYPERS = (Hyper("kernel", 1, integer=True), Hyper("stride", 1, integer=True),
               Hyper("pad", 0, integer=True, doc="pad <= kernel//2"))
POOL_RULE = "x (N,C,H,W) -> (N,C,OH,OW), OH = (H+2·pad-kernel)//stride+1, pad <= kernel//2"
#: overlapping padded windows; then tiling windows
POOL_CASES = ({"geom": (1, 2, 3, 3, 3, 2, 1)}, {"geom": (1, 1, 4, 4, 2, 2, 0)})

# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- SymPy definitions (the symbolic oracle)
def _sympy_pool_geometry(s):
    from ..symbolic.definitions import out_size, shape_of
    N, C, H, W = shape_of(s["x"])
    k, st, pd = int(s["kernel"]), int(s["stride"]), int(s["pad"])
    return N, C, H, W, k, st, pd, out_size(H, k, st, pd), out_size(W, k, st, pd)


def max_pool2d_sympy(s):
    import sympy as sp
    from ..symbolic.definitions import Definition, first_max, sym_array, window_positions
    N, C, H, W, k, st, pd, OH, OW = _sympy_pool_geometry(s)
    x = sym_array("x", (N, C, H, W), real=True)
    y = np.empty((N, C, OH, OW), dtype=object)
    routes = {}
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        pos = window_positions(i * st - pd, j * st - pd, k, k, H, W)  # padding is not a candidate: it never wins
        y[n, c, i, j], conds = first_max([x[n, c, h, w] for h, w in pos])
        routes[(n, c, i, j)] = list(zip(pos, conds))

    def spec(dy):  # max_pool2d_backward docstring: route dy to the first maximum of each window; overlaps add
        dx = np.zeros(x.shape, dtype=object)
        for (n, c, i, j), pc in routes.items():
            for (h, w), cond in pc:
                dx[n, c, h, w] = dx[n, c, h, w] + sp.Piecewise((dy[n, c, i, j], cond), (0, True))
        return (dx,)

    return Definition({"x": x}, y, ("x",), spec, note="ties: the first maximum in row-major window order; padding never wins")


def avg_pool2d_sympy(s):
    from ..symbolic.definitions import Definition, sym_array, window_positions
    N, C, H, W, k, st, pd, OH, OW = _sympy_pool_geometry(s)
    x = sym_array("x", (N, C, H, W), real=True)
    y = np.empty((N, C, OH, OW), dtype=object)
    for n, c, i, j in np.ndindex(N, C, OH, OW):  # zero padding counts in the divisor k²
        y[n, c, i, j] = sum(x[n, c, h, w] for h, w in window_positions(i * st - pd, j * st - pd, k, k, H, W)) / k**2

    def spec(dy):  # avg_pool2d_backward docstring: spread dy/k² over the window
        dx = np.zeros(x.shape, dtype=object)
        for n, c, i, j in np.ndindex(N, C, OH, OW):
            for h, w in window_positions(i * st - pd, j * st - pd, k, k, H, W):
                dx[n, c, h, w] = dx[n, c, h, w] + dy[n, c, i, j] / k**2
        return (dx,)

    return Definition({"x": x}, y, ("x",), spec)


# --------------------------------------------------------------------------- mpmath forwards (the mpmath oracle)
def _mp_pool_geometry(s):
    from ..mpmath_oracle.forward import out_size
    k, st, p = int(s["kernel"]), int(s["stride"]), int(s["pad"])
    N, C, H, W = s["x"].shape
    return k, st, p, out_size(H, k, st, p), out_size(W, k, st, p)


def max_pool2d_mp(s, pattern=None):
    """Window maxima; pattern = flat index of the first maximum of each window (padding never wins)."""
    from ..mpmath_oracle.forward import guard, pad_mp, windows
    x = s["x"]
    k, st, p, OH, OW = _mp_pool_geometry(s)
    win = windows(pad_mp(x, p, None), k, k, st, OH, OW).reshape(*x.shape[:2], OH, OW, k * k)
    if pattern is None:
        pattern = np.empty(win.shape[:4], dtype=np.int64)
        for idx in np.ndindex(*win.shape[:4]):
            best = None
            for j, v in enumerate(win[idx]):
                if v is not None and (best is None or v > win[idx][best]):  # strict: ties keep the first
                    best = j
            pattern[idx] = best
    y = np.empty(win.shape[:4], dtype=object)
    for idx in np.ndindex(*win.shape[:4]):
        y[idx] = win[idx][pattern[idx]]
    return guard(y, "max_pool2d"), pattern


def avg_pool2d_mp(s, pattern=None):
    import mpmath
    from ..mpmath_oracle.forward import guard, msum, pad_mp, windows
    x = s["x"]
    k, st, p, OH, OW = _mp_pool_geometry(s)
    win = windows(pad_mp(x, p, mpmath.mpf(0)), k, k, st, OH, OW).reshape(*x.shape[:2], OH, OW, k * k)
    return guard(msum(win, axis=-1) / (k * k), "avg_pool2d"), None


# --------------------------------------------------------------------------- float64 running-error models (the mpmath oracle's tolerance)
def max_pool2d_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, gamma, overlap, pool_geometry
    from ..reference import pooling as _pool
    x, k, st, p, OH, OW = pool_geometry(s)
    win = _pool.window_view(x, k, st, p, OH, OW, -np.inf)
    y = Bounded(win.max(axis=-1))
    onehot = np.arange(k * k) == win.argmax(axis=-1)[..., None]
    g = (onehot * np.asarray(dy)[..., None]).reshape(*np.shape(dy), k, k)
    scatter = lambda a: _pool.scatter_windows(a, x.shape, k, st, p, OH, OW)  # noqa: E731
    T = overlap(k, st) ** 2
    return Model(y, {"x": Bounded(scatter(g), gamma(T - 1) * scatter(np.abs(g)))})


def avg_pool2d_error_model(s, dy):
    from ..mpmath_oracle.tolerance import Bounded, Model, bsum, gamma, overlap, pool_geometry
    from ..reference import pooling as _pool
    x, k, st, p, OH, OW = pool_geometry(s)
    y = bsum(Bounded(_pool.window_view(x, k, st, p, OH, OW, 0.0)), axis=-1) / (k * k)
    g = Bounded(dy) / (k * k)
    g = g.map(lambda a: np.broadcast_to(a[..., None, None], (*a.shape, k, k)))
    scatter = lambda a: _pool.scatter_windows(a, x.shape, k, st, p, OH, OW)  # noqa: E731
    T = overlap(k, st) ** 2
    return Model(y, {"x": Bounded(scatter(g.v), scatter(g.e) + gamma(T - 1) * scatter(np.abs(g.v)))})


# --------------------------------------------------------------------------- 50-digit closed forms (the golden vectors)
def _vec_max_pool(x, k, s, p, dy=None):
    """Forward, and with dy the VJP: the first maximum in row-major order wins; padding never wins."""
    from ..mpmath_oracle.vectors_mp import mpad, mzeros, out_size
    N, C, H, W = x.shape
    OH, OW = out_size(H, k, s, p), out_size(W, k, s, p)
    xp = mpad(x, p, None)
    y = mzeros((N, C, OH, OW))
    dxp = mzeros(xp.shape)
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        best, where = None, None
        for u in range(k):
            for v in range(k):
                val = xp[n, c, i * s + u, j * s + v]
                if val is not None and (best is None or val > best):
                    best, where = val, (i * s + u, j * s + v)
        y[n, c, i, j] = best
        if dy is not None:
            dxp[n, c, where[0], where[1]] += dy[n, c, i, j]
    return y if dy is None else dxp[:, :, p:p + H, p:p + W]


def _vec_avg_pool(x, k, s, p, dy=None):
    from ..mpmath_oracle.vectors_mp import mpad, mpf, msum, mzeros, out_size
    N, C, H, W = x.shape
    OH, OW = out_size(H, k, s, p), out_size(W, k, s, p)
    xp = mpad(x, p, mpf(0))
    y, dxp = mzeros((N, C, OH, OW)), mzeros(xp.shape)
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        y[n, c, i, j] = msum(xp[n, c, i * s:i * s + k, j * s:j * s + k]) / (k * k)
        if dy is not None:
            dxp[n, c, i * s:i * s + k, j * s:j * s + k] += dy[n, c, i, j] / (k * k)
    return y if dy is None else dxp[:, :, p:p + H, p:p + W]


def _vec_pool_values(fn, s, A, d):
    k, st, p = int(s["kernel"]), int(s["stride"]), int(s["pad"])
    return {"outputs": {"forward": fn(A["x"], k, st, p)}, "gradients": {"x": fn(A["x"], k, st, p, d)}}


def max_pool2d_vectors(s, A, d):
    return _vec_pool_values(_vec_max_pool, s, A, d)


def avg_pool2d_vectors(s, A, d):
    return _vec_pool_values(_vec_avg_pool, s, A, d)


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def _st_pool(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import REL_MARGIN, arrays, distinct, scales, seeds, window_geometry
    from hypothesis import event
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def build(draw, mode, is_max: bool, limits=None):
        """``limits``: declared limits of kernel, stride and pad, drawn within (``Sampler.strategy_limits``)."""
        on_kink = mode == "on_kink"
        H, W, K, _, stride, pad = draw(window_geometry(pool=True, require_pad=on_kink and not is_max, limits=limits))
        N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        shape = (N, C, H, W)
        s = draw(scales())
        if is_max and on_kink:
            kind = draw(st.sampled_from(["ties", "all_negative"]))
            event(f"on kink: max-pool {kind}")
            if kind == "ties":  # few distinct values: windows tie for their maximum
                x = s * draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.0, 1.0]), fill=st.nothing()))
            else:  # every value negative: a zero padding would (wrongly) win
                x = draw(arrays(shape, -s, -REL_MARGIN * s))
                if draw(st.booleans()):
                    x = np.full(shape, -s)  # every window a full tie
        elif is_max:
            x = draw(distinct(shape, s))
            if pad > 0 and np.all(x < 0):
                event("max-pool: negative values beside the padding")
        else:
            x = draw(arrays(shape, -s, s))
            if on_kink:
                event("on kink: avg-pool with padding")
        return {"x": x, "kernel": K, "stride": stride, "pad": pad, "seed": draw(seeds())}

    return build(*args, **kwargs)


def max_pool2d_strategy(mode, limits=None):
    return _st_pool(mode, True, limits)


def avg_pool2d_strategy(mode, limits=None):
    return _st_pool(mode, False, limits)


# --------------------------------------------------------------------------- cases exactly on the kinks
def max_pool2d_kink_cases():
    from ..spec import KinkCase
    tie = np.array([[[[1.0, 1.0, 0.5, 2.0],
                      [0.5, 1.0, 2.0, 2.0],
                      [3.0, 0.0, -1.0, -1.0],
                      [0.0, 3.0, -1.0, -1.0]]]])
    neg = -np.arange(1.0, 17.0).reshape(1, 1, 4, 4) / 4.0  # all negative, all distinct
    return [
        KinkCase("max_pool2d", "windows with tied maxima (kernel 2, stride 2)",
             "a tie sends the whole gradient to the first maximum in row-major window order",
             {"x": tie, "kernel": 2, "stride": 2, "pad": 0}, 3),
        KinkCase("max_pool2d", "overlapping windows with tied maxima (kernel 2, stride 1)",
             "a tie sends the whole gradient to the first maximum in row-major window order",
             {"x": tie, "kernel": 2, "stride": 1, "pad": 0}, 4),
        KinkCase("max_pool2d", "negative values next to the padding (kernel 3, stride 1, pad 1)",
             "padding never wins a window (it is −inf), even when every real value is negative",
             {"x": neg, "kernel": 3, "stride": 1, "pad": 1}, 5),
    ]


def avg_pool2d_kink_cases():
    from ..spec import KinkCase
    x = np.arange(1.0, 26.0).reshape(1, 1, 5, 5) / 5.0
    return [KinkCase("avg_pool2d", "windows that overlap the padding (kernel 3, stride 2, pad 1)",
                 "zero padding counts in the divisor, which is always kernel²",
                 {"x": x, "kernel": 3, "stride": 2, "pad": 1}, 6)]


# --------------------------------------------------------------------------- the fd64 oracle's model (steps, conditioning, targeted samples)
def max_pool2d_backward_magnitude(sample: dict, dy) -> list:
    """The backward of |dy|: a bound on the terms each input's gradient sums."""
    from .. import reference as ref
    return [ref.max_pool2d_backward(sample["x"], sample["kernel"], sample["stride"], sample["pad"], np.abs(dy))]


def avg_pool2d_backward_magnitude(sample: dict, dy) -> list:
    """The backward of |dy|: a bound on the terms each input's gradient sums."""
    from .. import reference as ref
    return [ref.avg_pool2d_backward(sample["x"], sample["kernel"], sample["stride"], sample["pad"], np.abs(dy))]



OPS = (
    OpSpec("max_pool2d", "differentiable", "pooling", "max over square windows", POOL_ARGS,
           ("max_pool2d_forward", "max_pool2d_backward"), POOL_RULE,
           Sampler(pool_structure, max_pool2d_values, Ref(__name__, "max_pool2d_strategy"), ("away", "on_kink"), cases=POOL_CASES,
                   strategy_limits=("kernel", "stride", "pad")),
           pool_out, hypers=POOL_HYPERS,
           kinks=(Kink("x", "a tie for the maximum of a window",
                       "the gradient goes to the first maximum in row-major window order", pool_gap),),
           conventions=("padding never wins (it is -inf)", "a tie sends the gradient to the first maximum"),
           sympy=Ref(__name__, "max_pool2d_sympy"), mp_forward=Ref(__name__, "max_pool2d_mp"),
           error_model=Ref(__name__, "max_pool2d_error_model"), vector_values=Ref(__name__, "max_pool2d_vectors"),
           kink_cases=Ref(__name__, "max_pool2d_kink_cases"),
           fd_model=FdModel(backward_magnitude=Ref(__name__, "max_pool2d_backward_magnitude")),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("matches_definition", Ref("gradspec.properties.props", "prop_pool_matches_definition", (("op", 'max_pool2d'), ("pool", "max"))), ('away', 'on_kink')),
                       OpProperty("routes_to_one_element", Ref("gradspec.properties.props", "prop_maxpool_routes_to_one_element"), ('away', 'on_kink')))),
    OpSpec("avg_pool2d", "differentiable", "pooling", "mean over square windows", POOL_ARGS,
           ("avg_pool2d_forward", "avg_pool2d_backward"), POOL_RULE,
           Sampler(pool_structure, avg_pool2d_values, Ref(__name__, "avg_pool2d_strategy"), ("away", "on_kink"), cases=POOL_CASES,
                   strategy_limits=("kernel", "stride", "pad")),
           pool_out, hypers=POOL_HYPERS,
           conventions=("zero padding counts in the divisor (kernel²)",),
           sympy=Ref(__name__, "avg_pool2d_sympy"), mp_forward=Ref(__name__, "avg_pool2d_mp"),
           error_model=Ref(__name__, "avg_pool2d_error_model"), vector_values=Ref(__name__, "avg_pool2d_vectors"),
           kink_cases=Ref(__name__, "avg_pool2d_kink_cases"),
           fd_model=FdModel(backward_magnitude=Ref(__name__, "avg_pool2d_backward_magnitude")),
           variants=Ref(__name__, "CATALOGUE"),
           properties=(OpProperty("matches_definition", Ref("gradspec.properties.props", "prop_pool_matches_definition", (("op", 'avg_pool2d'), ("pool", "avg"))), ('away', 'on_kink')),
                       OpProperty("total_gradient", Ref("gradspec.properties.props", "prop_avgpool_total"), ('away', 'on_kink')))),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of max_pool2d and avg_pool2d.
CATALOGUE = Catalogue()
C = CATALOGUE


# --- the diagnosis forms
def max_pool_variant(select, fill=-np.inf):
    def fwd(x, kernel, stride=None, pad=0):
        stride = kernel if stride is None else stride
        x, kernel, stride, pad, OH, OW = ref_pool.check_pool("max_pool2d", x, kernel, stride, pad)
        return ref_pool.window_view(x, kernel, stride, pad, OH, OW, fill).max(axis=-1)

    def bwd(x, kernel, stride, pad, dy):
        stride = kernel if stride is None else stride
        x, kernel, stride, pad, OH, OW = ref_pool.check_pool("max_pool2d", x, kernel, stride, pad)
        win = ref_pool.window_view(x, kernel, stride, pad, OH, OW, fill)
        g = (select(win) * f64(dy)[..., None]).reshape(*np.shape(dy), kernel, kernel)
        return ref_pool.scatter_windows(g, x.shape, kernel, stride, pad, OH, OW)

    return fwd, bwd


def first(win):
    return (np.arange(win.shape[-1]) == win.argmax(axis=-1)[..., None]).astype(np.float64)


def last(win):
    kk = win.shape[-1]
    return (np.arange(kk) == (kk - 1 - np.argmax(win[..., ::-1], axis=-1))[..., None]).astype(np.float64)


def split(win):
    m = (win == win.max(axis=-1, keepdims=True)).astype(np.float64)
    return m / m.sum(axis=-1, keepdims=True)


def avg_excl(x, kernel, stride, pad):
    stride = kernel if stride is None else stride
    x, kernel, stride, pad, OH, OW = ref_pool.check_pool("avg_pool2d", x, kernel, stride, pad)
    cnt = ref_pool.window_view(np.ones_like(x), kernel, stride, pad, OH, OW, 0.0).sum(axis=-1)
    return x, kernel, stride, pad, OH, OW, cnt


def avg_excl_fwd(x, kernel, stride=None, pad=0):
    x, kernel, stride, pad, OH, OW, cnt = avg_excl(x, kernel, stride, pad)
    return ref_pool.window_view(x, kernel, stride, pad, OH, OW, 0.0).sum(axis=-1) / cnt


def avg_excl_bwd(x, kernel, stride, pad, dy):
    x, kernel, stride, pad, OH, OW, cnt = avg_excl(x, kernel, stride, pad)
    g = np.broadcast_to((f64(dy) / cnt)[..., None, None], (*np.shape(dy), kernel, kernel))
    return ref_pool.scatter_windows(g, x.shape, kernel, stride, pad, OH, OW)


# --- the witnesses
def pool_windows(x, k, s, p, fill):
    x = np.asarray(x, dtype=np.float64)
    OH, OW = output_size(x.shape[2], k, s, p), output_size(x.shape[3], k, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :OH, :OW]
    return win.reshape(*win.shape[:4], k * k), OH, OW


def pool_scatter(g, x_shape, k, s, p, OH, OW):
    N, C_, H, W = x_shape
    gp = np.zeros((N, C_, H + 2 * p, W + 2 * p))
    g = g.reshape(*g.shape[:4], k, k)
    for i in range(k):
        for j in range(k):
            gp[:, :, i: i + s * OH: s, j: j + s * OW: s] += g[..., i, j]
    return gp[:, :, p: p + H, p: p + W].copy()


def maxpool_backward(choose, fill=-np.inf):
    def backward(x, kernel, stride, pad, dy):
        win, OH, OW = pool_windows(x, kernel, stride, pad, fill)
        weights = choose(win)
        return pool_scatter(weights * np.asarray(dy)[..., None], np.shape(x), kernel, stride, pad, OH, OW)

    return backward


def last_max(win):
    kk = win.shape[-1]
    idx = kk - 1 - np.argmax(win[..., ::-1], axis=-1)
    return (np.arange(kk) == idx[..., None]).astype(np.float64)


def split_ties(win):
    m = win == win.max(axis=-1, keepdims=True)
    return m / m.sum(axis=-1, keepdims=True)


def first_max(win):
    return (np.arange(win.shape[-1]) == win.argmax(axis=-1)[..., None]).astype(np.float64)


def avg_exclude_windows(x, kernel, stride, pad):
    win, OH, OW = pool_windows(x, kernel, stride, pad, np.nan)
    return win, np.sum(~np.isnan(win), axis=-1), OH, OW


def avg_exclude_forward(x, kernel, stride=None, pad=0):
    win, count, _, _ = avg_exclude_windows(x, kernel, kernel if stride is None else stride, pad)
    return np.nansum(win, axis=-1) / count


def avg_exclude_backward(x, kernel, stride, pad, dy):
    win, count, OH, OW = avg_exclude_windows(x, kernel, stride, pad)
    g = np.broadcast_to((np.asarray(dy) / count)[..., None], win.shape)
    return pool_scatter(g, np.shape(x), kernel, stride, pad, OH, OW)


C.variant("max_pool_tie_to_last_max", "max_pool2d", "on a tie the gradient goes to the last maximum of the window; the spec "
          "sends it to the first maximum in row-major order", mutant="max_pool2d_last_max_on_ties",
          description="a tie sends the gradient to the last maximum of the window",
          witness={"max_pool2d_backward": maxpool_backward(last_max)},
          max_pool2d_backward=max_pool_variant(last)[1])
C.variant("max_pool_tie_split", "max_pool2d", "on a tie the gradient is split evenly among the maxima; the spec sends it "
          "all to the first maximum", mutant="max_pool2d_splits_ties",
          description="a tie splits the gradient evenly among the maxima",
          witness={"max_pool2d_backward": maxpool_backward(split_ties)},
          max_pool2d_backward=max_pool_variant(split)[1])
_f, _b = max_pool_variant(first, fill=0.0)
C.variant("max_pool_padding_wins", "max_pool2d", "the padding is 0 instead of −inf, so it wins windows whose real values are "
          "all negative; the spec's padding never wins", mutant="max_pool2d_zero_padding",
          description="pads with 0 instead of −inf, so the padding wins windows of negative values",
          witness={"max_pool2d_forward": lambda x, kernel, stride=None, pad=0: pool_windows(
                       x, kernel, kernel if stride is None else stride, pad, 0.0)[0].max(axis=-1),
                   "max_pool2d_backward": maxpool_backward(first_max, fill=0.0)},
          max_pool2d_forward=_f, max_pool2d_backward=_b)
C.variant("avg_pool_excludes_padding", "avg_pool2d", "the divisor counts only the real cells of a window "
          "(count_include_pad=False); the spec divides by kernel², padding included", mutant="avg_pool2d_excludes_padding",
          description="divides by the number of real cells (count_include_pad=False) instead of kernel²",
          witness={"avg_pool2d_forward": avg_exclude_forward, "avg_pool2d_backward": avg_exclude_backward},
          avg_pool2d_forward=avg_excl_fwd, avg_pool2d_backward=avg_excl_bwd)
C.mutant("avg_pool2d_backward_missing_divisor", "avg_pool2d", "avg_pool2d_backward spreads dy without dividing by kernel²",
         avg_pool2d_backward=lambda x, kernel, stride, pad, dy: ref.avg_pool2d_backward(x, kernel, stride, pad, dy) * kernel * kernel)


def kernel_area_ratios(s, what):
    """A missing or doubled 1/kernel² (kernel > 1)."""
    if int(s.get("kernel", 1)) <= 1:
        return []
    k2 = int(s["kernel"]) ** 2
    return [(float(k2), "scaled_by_kernel_area", f"{what} is kernel² = {k2} times the spec's (the 1/kernel² missing)"),
            (1.0 / k2, "scaled_by_1_over_kernel_area", f"{what} is divided by kernel² = {k2} once too often")]


C.ratio("max_pool2d", kernel_area_ratios)
C.ratio("avg_pool2d", kernel_area_ratios)
