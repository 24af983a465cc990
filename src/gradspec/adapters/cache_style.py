"""Kit for cache-style code (cs231n's ``layers.py`` and ``optim.py``): ``gradspec check --style cache``.

========================  ===================================================  ===================================
op                        the code (names detected without a mapping)           how the kit calls it
========================  ===================================================  ===================================
sigmoid, tanh, relu       ``relu_forward(x) -> (out, cache)``,                 ``<op>_backward(x, dy)`` runs the
                          ``relu_backward(dout, cache) -> dx``                 forward, then the backward on its cache
affine                    ``affine_forward(x, w, b)``, ``affine_backward``     dx, dw, db as returned
conv2d                    ``conv_forward_fast``/``conv_forward_naive``/        ``conv_param = {"stride", "pad"}``
                          ``conv_forward(x, w, b, conv_param)``
max_pool2d, avg_pool2d    ``max_pool_forward_fast``/``..._naive``/             ``pool_param = {"pool_height",
                          ``max_pool_forward(x, pool_param)`` (``avg_...``)     "pool_width", "stride"}``; the
                                                                               protocol's pad is applied by the kit
                                                                               (−inf for max, 0 for avg: the spec's
                                                                               padding) and cropped from dx
batchnorm                 ``batchnorm_forward(x, gamma, beta, bn_param)``;     ``bn_param = {"mode": "train", "eps",
                          ``spatial_batchnorm_forward`` for (N, C, H, W)        "momentum": 0.9}``, a fresh dict per
                                                                               call (running statistics start at 0
                                                                               and never leak between calls); 4-D
                                                                               input without a spatial function is
                                                                               fed as (N·H·W, C)
dropout                   ``dropout_forward(x, dropout_param)``,               ``dropout_param = {"p", "mode":
                          ``dropout_backward(dout, cache)``                    "train", "seed": k}``, see below
softmax_cross_entropy     ``softmax_loss(x, y) -> (loss, dx)``                 forward: loss; backward: dx · dy
sgd, momentum, rmsprop,   ``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam``,     ``update(w, dw, config) -> (next_w,
adam, adagrad             ``adagrad``: ``update(w, dw, config)``               config)``; config keys
                                                                               ``learning_rate``, ``momentum``,
                                                                               ``decay_rate``, ``epsilon``,
                                                                               ``beta1``, ``beta2``
========================  ===================================================  ===================================

``svm_loss`` (multiclass hinge) has no op in the spec: the kit says so and does not check it.

Dropout: cs231n's ``p`` is the keep probability in recent versions and the drop probability in
older ones. The mapping says which (``"dropout": {"p": "keep"}``); without it the kit measures it
once (the fraction of units of a 20 000-element input the code keeps at p = 0.8) and notes what it
found. The mask is recovered from the code's output (:mod:`.dropout_draws`); each draw passes
``dropout_param["seed"] = k`` (the mapping's ``seed`` renames the key, ``null`` leaves it out).
cs231n's code seeds NumPy's global generator with it: the kit saves NumPy's global random state
before its draws and restores it after, and notes that it does.

In place: the kit passes gradspec's own arrays (x, w, b, dout, w and dw of an update) to the code,
so a write into one of them is gradspec's ``mutation`` finding (an ``update`` that does
``w -= lr * dw; return w, config`` is reported, not hidden). The dicts the style writes into
(``bn_param``, ``dropout_param``, ``config``) are the kit's fresh copies.
"""
from __future__ import annotations

import copy

import numpy as np

from . import running_stats
from .dropout_draws import GlobalNumpyState, assemble, keep_fraction
from .kits import Kit, hyper_name

UNARY = ("sigmoid", "tanh", "relu")
OPTIMIZERS = {"sgd": ("sgd",), "momentum": ("sgd_momentum", "momentum"), "rmsprop": ("rmsprop",),
              "adam": ("adam",), "adagrad": ("adagrad",)}
#: protocol hyperparameter -> cs231n's config key
CONFIG_KEYS = {"lr": "learning_rate", "momentum": "momentum", "decay": "decay_rate", "eps": "epsilon",
               "beta1": "beta1", "beta2": "beta2"}


def _pair(value, fn_name, what="(out, cache)"):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{fn_name} must return {what} (cache style), got {type(value).__name__}")
    return value


class CacheKit(Kit):
    style = "cache"


def build(target, name, mapping) -> CacheKit:
    kit = CacheKit(target, name, mapping)
    for op in UNARY:
        _unary(kit, op)
    _affine(kit)
    _conv(kit)
    for op in ("max_pool2d", "avg_pool2d"):
        _pool(kit, op)
    _batchnorm(kit)
    _dropout(kit)
    _softmax_loss(kit)
    for op in OPTIMIZERS:
        _optimizer(kit, op)
    if kit.find("svm", "function", ("svm_loss",))[0]:
        kit.skipped["svm_loss"] = "svm_loss (multiclass hinge loss) has no op in the spec: not checked"
    return kit


def _pair_fns(kit, op, fwd_defaults, bwd_defaults):
    if kit.entry(op) is None:
        kit.skipped[op] = "excluded by the mapping"
        return None
    fname, fwd = kit.find(op, "forward", fwd_defaults)
    bname, bwd = kit.find(op, "backward", bwd_defaults)
    if fwd is None and bwd is None:
        return None
    if fwd is None or bwd is None:
        kit.skipped[op] = f"found {fname or bname} but not its {'backward' if fwd else 'forward'}"
        return None
    return fname, fwd, bname, bwd


def _unary(kit, op):
    found = _pair_fns(kit, op, (f"{op}_forward",), (f"{op}_backward",))
    if not found:
        return
    fname, fwd, bname, bwd = found

    def forward(x):
        return _pair(fwd(x), fname)[0]

    def backward(x, dy):
        _, cache = _pair(fwd(x), fname)
        return bwd(dy, cache)

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, f"{fname}, {bname}")


def _affine(kit):
    found = _pair_fns(kit, "affine", ("affine_forward",), ("affine_backward",))
    if not found:
        return
    fname, fwd, bname, bwd = found

    def forward(x, W, b):
        return _pair(fwd(x, W, b), fname)[0]

    def backward(x, W, b, dy):
        _, cache = _pair(fwd(x, W, b), fname)
        return tuple(bwd(dy, cache))

    kit.provide("affine", {"affine_forward": forward, "affine_backward": backward}, f"{fname}, {bname}")


def _conv(kit):
    found = _pair_fns(kit, "conv2d", ("conv_forward_fast", "conv_forward_naive", "conv_forward"),
                      ("conv_backward_fast", "conv_backward_naive", "conv_backward"))
    if not found:
        return
    fname, fwd, bname, bwd = found
    ks, kp = hyper_name(kit, "conv2d", "stride", "stride"), hyper_name(kit, "conv2d", "pad", "pad")

    def param(stride, pad):
        return {ks: int(stride), kp: int(pad)}

    def forward(x, W, b, stride=1, pad=0):
        return _pair(fwd(x, W, b, param(stride, pad)), fname)[0]

    def backward(x, W, b, stride, pad, dy):
        _, cache = _pair(fwd(x, W, b, param(stride, pad)), fname)
        return tuple(bwd(dy, cache))

    kit.provide("conv2d", {"conv2d_forward": forward, "conv2d_backward": backward}, f"{fname}, {bname}")
    kit.note("conv2d", f"conv_param = {{{ks!r}: stride, {kp!r}: pad}}")


def _pool(kit, op):
    kind = "max" if op == "max_pool2d" else "avg"
    found = _pair_fns(kit, op, tuple(f"{kind}_pool_forward{s}" for s in ("_fast", "_naive", "")),
                      tuple(f"{kind}_pool_backward{s}" for s in ("_fast", "_naive", "")))
    if not found:
        return
    fname, fwd, bname, bwd = found
    kh, kw, kst = (hyper_name(kit, op, "pool_height", "pool_height"), hyper_name(kit, op, "pool_width", "pool_width"),
                   hyper_name(kit, op, "stride", "stride"))
    fill = -np.inf if kind == "max" else 0.0

    def padded(x, pad):
        pad = int(pad)
        if pad == 0:
            return x
        return np.pad(np.asarray(x, dtype=np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)

    def param(kernel, stride):
        return {kh: int(kernel), kw: int(kernel), kst: int(kernel if stride is None else stride)}

    def forward(x, kernel, stride=None, pad=0):
        return _pair(fwd(padded(x, pad), param(kernel, stride)), fname)[0]

    def backward(x, kernel, stride, pad, dy):
        _, cache = _pair(fwd(padded(x, pad), param(kernel, stride)), fname)
        dx = np.asarray(bwd(dy, cache))
        pad = int(pad)
        return dx[:, :, pad:dx.shape[2] - pad, pad:dx.shape[3] - pad] if pad else dx

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, f"{fname}, {bname}")
    kit.note(op, f"pool_param = {{{kh!r}: k, {kw!r}: k, {kst!r}: stride}}; the kit pads x itself "
                 f"({'−inf' if kind == 'max' else '0'}, the spec's padding) and crops dx: the code never sees pad")


def _batchnorm(kit):
    found = _pair_fns(kit, "batchnorm", ("batchnorm_forward",), ("batchnorm_backward", "batchnorm_backward_alt"))
    if not found:
        return
    fname, fwd, bname, bwd = found
    sname, sfwd = kit.find("batchnorm", "spatial_forward", ("spatial_batchnorm_forward",))
    _, sbwd = kit.find("batchnorm", "spatial_backward", ("spatial_batchnorm_backward",))
    keps = hyper_name(kit, "batchnorm", "eps", "eps")

    def param(x, eps):
        D = x.shape[1]
        return {"mode": "train", keps: float(eps), "momentum": 0.9,
                "running_mean": np.zeros(D), "running_var": np.zeros(D)}

    def to2d(x):
        N, C, H, W = x.shape
        return np.asarray(x).transpose(0, 2, 3, 1).reshape(-1, C)

    def from2d(y, shape):
        N, C, H, W = shape
        return np.asarray(y).reshape(N, H, W, C).transpose(0, 3, 1, 2)

    def run(x, gamma, beta, eps, dy=None):
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if x.ndim == 4 and sfwd is not None and sbwd is not None:
            out, cache = _pair(sfwd(x, gamma, beta, param(x, eps)), sname)
            return out if dy is None else tuple(sbwd(dy, cache))
        if x.ndim == 4:
            out, cache = _pair(fwd(to2d(x), gamma, beta, param(x, eps)), fname)
            if dy is None:
                return from2d(out, x.shape)
            dx, dg, db = bwd(to2d(dy), cache)
            return from2d(dx, x.shape), dg, db
        out, cache = _pair(fwd(x, gamma, beta, param(x, eps)), fname)
        return out if dy is None else tuple(bwd(dy, cache))

    def forward(x, gamma, beta, eps=1e-5):
        return run(x, gamma, beta, eps)

    def backward(x, gamma, beta, eps, dy):
        return run(x, gamma, beta, eps, dy)

    kit.provide("batchnorm", {"batchnorm_forward": forward, "batchnorm_backward": backward}, f"{fname}, {bname}"
                + (f" ({sname} for 4-D input)" if sfwd is not None and sbwd is not None else ""))
    kit.note("batchnorm", f"bn_param = {{'mode': 'train', {keps!r}: eps, 'momentum': 0.9, running statistics at 0}}, "
                          "fresh for every call")
    kmom = hyper_name(kit, "batchnorm", "momentum", "momentum")

    def stats_param(mode, eps, momentum, rm, rv):
        return {"mode": mode, keps: float(eps), kmom: float(momentum), "running_mean": rm, "running_var": rv}

    def train(x, gamma, beta, eps, momentum, rm, rv):
        bn = stats_param("train", eps, momentum, rm, rv)
        _pair(fwd(x, gamma, beta, bn), fname)
        return bn["running_mean"], bn["running_var"]

    def infer(x, gamma, beta, eps, rm, rv):
        return _pair(fwd(x, gamma, beta, stats_param("test", eps, 0.9, rm, rv)), fname)[0]

    probe = running_stats.Probe(train, infer, f"{fname}(x, gamma, beta, bn_param) with mode 'train' and 'test'")
    kit.add_check("batchnorm", lambda rng: running_stats.check(probe, rng))
    kit.note("batchnorm", f"running statistics: bn_param[{kmom!r}] and bn_param['running_mean'/'running_var'] are "
                          "checked after a 'train' call and used by a 'test' call (the kit's running_statistics check)")
    if sfwd is None or sbwd is None:
        kit.note("batchnorm", "no spatial_batchnorm_forward/backward: 4-D input (N, C, H, W) is fed as (N·H·W, C)")


def _dropout(kit):
    found = _pair_fns(kit, "dropout", ("dropout_forward",), ("dropout_backward",))
    if not found:
        return
    fname, fwd, bname, bwd = found
    entry = kit.entry("dropout") or {}
    seed_key = entry.get("seed", "seed")
    meaning = {"p": entry.get("p")}
    memo: dict = {}

    def param(p_user, k):
        d = {"p": float(p_user), "mode": "train"}
        if seed_key:
            d[seed_key] = int(k)
        return d

    def p_meaning():
        if meaning["p"] is None:
            with GlobalNumpyState():
                kept = keep_fraction(lambda x: _pair(fwd(x, param(0.8, 12345)), fname)[0])
            meaning["p"] = "keep" if kept > 0.5 else "drop"
            kit.note("dropout", f"p read as the {meaning['p']} probability (measured: the code kept {kept:.3f} of "
                                "20000 units at p = 0.8); the mapping's \"p\" overrides")
        return meaning["p"]

    def run(x, mask, p, dy=None):
        p_user = 1.0 - float(p) if p_meaning() == "keep" else float(p)

        def draw(k):
            out, cache = _pair(fwd(x, param(p_user, k)), fname)
            return out, (bwd(dy, cache) if dy is not None else None)

        with GlobalNumpyState():
            out, dx, unseen = assemble(draw, x, mask, dy is not None, float(p), memo)
        if unseen:
            kit.note("dropout", "at p = 0 the code never drops a unit: the dropped units of the protocol's mask are "
                                "taken as 0")
        return out if dy is None else dx

    def forward(x, mask, p):
        return run(x, mask, p)

    def backward(x, mask, p, dy):
        return run(x, mask, p, dy)

    kit.provide("dropout", {"dropout_forward": forward, "dropout_backward": backward}, f"{fname}, {bname}")
    if entry.get("p"):
        kit.note("dropout", f"p read as the {entry['p']} probability (mapping)")
    kit.note("dropout", "the mask is recovered from the code's output over repeated draws"
                        + (f" (dropout_param[{seed_key!r}] = 0, 1, ...)" if seed_key else "")
                        + "; NumPy's global random state is saved before and restored after the draws")


def _softmax_loss(kit):
    op = "softmax_cross_entropy"
    if kit.entry(op) is None:
        kit.skipped[op] = "excluded by the mapping"
        return
    name, fn = kit.find(op, "function", ("softmax_loss",))
    if fn is None:
        return

    def forward(z, labels):
        loss, _ = _pair(fn(z, labels), name, "(loss, dx)")
        return float(loss)

    def backward(z, labels, dy):
        _, dx = _pair(fn(z, labels), name, "(loss, dx)")
        return np.asarray(dx) * float(dy)

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, name)
    kit.note(op, f"{name}(x, y) -> (loss, dx); the backward is dx · dy (a loss is linear in dy)")


def _optimizer(kit, op):
    if kit.entry(op) is None:
        kit.skipped[op] = "excluded by the mapping"
        return
    name, fn = kit.find(op, "function", OPTIMIZERS[op])
    if fn is None:
        return
    keys = {h: hyper_name(kit, op, h, CONFIG_KEYS[h]) for h in CONFIG_KEYS}

    def init(w):
        return {}

    def update(w, g, state, **hyper):
        config = copy.deepcopy(dict(state))  # the style writes into config: a copy, never gradspec's state
        for h, v in hyper.items():
            config[keys.get(h, h)] = v
        next_w, config = _pair(fn(w, g, config), name, "(next_w, config)")
        return next_w, config

    kit.provide(op, {f"{op}_init": init, f"{op}_update": update}, name)
    used = ", ".join(f"{h} -> {keys[h]!r}" for h in CONFIG_KEYS if h in _hypers(op))
    kit.note(op, f"{name}(w, dw, config) -> (next_w, config); config keys: {used}; config starts empty (the code's "
                 "defaults fill the state) and is copied before each step")


def _hypers(op):
    from ..registry import OPT_HYPERS

    return OPT_HYPERS[op]
