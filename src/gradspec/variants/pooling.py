"""Known variants of max_pool2d and avg_pool2d.

The diagnosis forms reuse the reference's window helpers; the witnesses (the mutants) are written
independently, on NumPy's sliding windows.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import reference as ref
from ..reference import pooling as ref_pool
from ..reference.conv import output_size
from . import Catalogue, f64

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
