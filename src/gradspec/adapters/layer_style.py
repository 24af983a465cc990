"""Kit for layer classes (the fish book, *Deep Learning from Scratch*): ``gradspec check --style layers``.

=====================  ===============================================  ==========================================
op                     the code (class names detected)                  how the kit calls it
=====================  ===============================================  ==========================================
affine                 ``Affine(W, b)`` (``Linear``, ``Dense``)          a fresh layer per call; ``forward(x)``,
                                                                        ``backward(dy)`` returns dx; dW, db read
                                                                        from the layer (``dW``/``dw``/``grad_W``;
                                                                        the mapping's ``grads`` names them)
relu, sigmoid, tanh    ``Relu()`` (``ReLU``), ``Sigmoid()``, ``Tanh()``  ``forward(x)``, ``backward(dy)``
softmax_cross_entropy  ``SoftmaxWithLoss()``: ``forward(x, t)`` -> loss  ``backward(1)`` times dy: the book's
                                                                        backward ignores dout (a loss is linear
                                                                        in dy, so this is exact either way)
dropout                ``Dropout(dropout_ratio)``: ``forward(x,          the mask is recovered from the output
                       train_flg)`` draws from ``np.random``            over repeated draws (below)
batchnorm              ``BatchNormalization(gamma, beta, ...)``;        eps: a constructor argument named
                       ``dgamma``, ``dbeta``                            ``eps``/``epsilon``, or an attribute
                                                                        (mapping ``"hyper": {"eps": "name"}``);
                                                                        4-D input is fed as (N·H·W, C)
conv2d                 ``Convolution(W, b, stride, pad)``               as affine
max_pool2d, avg_pool2d ``Pooling(pool_h, pool_w, stride, pad)``         as the code's forward/backward; the pad
                       (``MaxPooling``); ``AvgPooling``                 is passed to the code
sgd, momentum,         ``SGD(lr)``, ``Momentum(lr, momentum)``,         ``update(params, grads)`` on
adagrad, rmsprop, adam ``AdaGrad``, ``RMSprop(lr, decay_rate)``,        ``params = {"w": copy of w}``; the
                       ``Adam(lr, beta1, beta2)``                       state is the object's attributes
=====================  ===============================================  ==========================================

Constructor and forward arguments are matched by name (``stride``, ``pad``, ``pool_h``/``pool_w``,
``dropout_ratio``, ``lr``, ``momentum``, ``decay_rate``, ``beta1``, ``beta2``, ``eps``; a forward
argument ``train_flg``/``train``/``training`` is passed True). The mapping's ``hyper`` renames them.

In place: the book's optimizers write into ``params`` — that is their contract, so the kit passes a
copy of w and reads the result out of it (and notes it). ``grads`` holds gradspec's own g, and a
layer receives gradspec's own x, W, b and dout: a write into any of them is a ``mutation`` finding
(the book's ``Relu.backward`` does ``dout[self.mask] = 0``, which is reported).

Dropout draws its own mask from ``np.random``: the kit calls ``forward``/``backward`` repeatedly,
seeding NumPy's global generator with 0, 1, ... before each draw (the global random state is saved
before and restored after; the kit notes that it does), and recovers each draw's mask from the
output (:mod:`.dropout_draws`). With ``"rng": "attr"`` in the mapping, the layer's own generator
attribute is set to ``np.random.default_rng(k)`` instead and the global state is not touched. The
ratio is the drop probability unless the argument's name says keep (``keep_prob``) or the mapping
says ``"p": "keep"``.
"""
from __future__ import annotations

import copy
import inspect

import numpy as np

from . import running_stats
from .dropout_draws import GlobalNumpyState, assemble
from .kits import Kit, MappingError, hyper_name

CLASSES = {
    "affine": ("Affine", "Linear", "Dense", "FullyConnected"),
    "relu": ("Relu", "ReLU"), "sigmoid": ("Sigmoid",), "tanh": ("Tanh",),
    "softmax_cross_entropy": ("SoftmaxWithLoss", "SoftmaxCrossEntropy", "SoftmaxLoss"),
    "dropout": ("Dropout",), "batchnorm": ("BatchNormalization", "BatchNorm"),
    "conv2d": ("Convolution", "Conv2d", "Conv"),
    "max_pool2d": ("Pooling", "MaxPooling", "MaxPool", "MaxPool2d"),
    "avg_pool2d": ("AvgPooling", "AvgPool", "AvgPool2d", "AveragePooling"),
    "sgd": ("SGD",), "momentum": ("Momentum",), "adagrad": ("AdaGrad", "Adagrad"),
    "rmsprop": ("RMSprop", "RMSProp"), "adam": ("Adam",),
}
#: protocol name -> names the code may use for it (constructor arguments and attributes)
ALIASES = {
    "lr": ("lr", "learning_rate", "eta"), "momentum": ("momentum", "mu"), "decay": ("decay_rate", "decay", "rho"),
    "eps": ("eps", "epsilon"), "beta1": ("beta1", "b1"), "beta2": ("beta2", "b2"),
    "stride": ("stride",), "pad": ("pad", "padding"),
    "pool_h": ("pool_h", "pool_height", "kernel_size", "pool_size", "kernel"), "pool_w": ("pool_w", "pool_width"),
    "p": ("dropout_ratio", "ratio", "p", "rate", "drop_prob", "keep_prob"),
}
GRAD_ATTRS = {"W": ("dW", "dw", "grad_W", "gW"), "b": ("db", "grad_b", "gb"),
              "gamma": ("dgamma", "grad_gamma"), "beta": ("dbeta", "grad_beta")}
TRAIN_FLAGS = ("train_flg", "train", "training", "is_training", "train_mode")


class LayerKit(Kit):
    style = "layers"


def build(target, name, mapping) -> LayerKit:
    kit = LayerKit(target, name, mapping)
    for op in CLASSES:
        if kit.entry(op) is None:
            kit.skipped[op] = "excluded by the mapping"
            continue
        cname, cls = kit.find(op, "class", CLASSES[op], what="class")
        if cls is None:
            continue
        BUILDERS[op](kit, op, cname, cls)
    return kit


def _params(fn) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _arg_name(kit, op, cls, proto: str):
    """The constructor argument of ``cls`` for the protocol's ``proto``: the mapping's, else an alias present."""
    mapped = hyper_name(kit, op, proto, "")
    if mapped:
        return mapped
    names = _params(cls.__init__)
    return next((a for a in ALIASES.get(proto, (proto,)) if a in names), None)


def _forward_kwargs(layer):
    names = _params(layer.forward)
    return {f: True for f in TRAIN_FLAGS if f in names}


def _grad(kit, op, layer, which: str, index: int, cname: str):
    entry = kit.entry(op) or {}
    if entry.get("grads"):
        names = (entry["grads"][index],)
    else:
        names = GRAD_ATTRS[which]
    for n in names:
        value = getattr(layer, n, None)
        if value is not None:
            return value
    raise AttributeError(f"{cname}.backward stored no gradient of {which} under {', '.join(names)} "
                         f"(name it with the mapping's \"grads\")")


def _simple(kit, op, cname, cls):
    """relu, sigmoid, tanh: no constructor arguments."""

    def forward(x):
        layer = cls()
        return layer.forward(x, **_forward_kwargs(layer))

    def backward(x, dy):
        layer = cls()
        layer.forward(x, **_forward_kwargs(layer))
        return layer.backward(dy)

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, cname)


def _with_params(kit, op, cname, cls):
    """affine, conv2d: ``cls(W, b, [stride, pad])``; dW, db stored on the layer."""
    hyper = {h: _arg_name(kit, op, cls, h) for h in (("stride", "pad") if op == "conv2d" else ())}
    missing = [h for h, a in hyper.items() if a is None]
    if missing:
        kit.skipped[op] = f"{cname}.__init__ takes no argument for {missing} (map it with \"hyper\")"
        return

    def make(W, b, stride=None, pad=None):
        kw = {}
        if op == "conv2d":
            kw = {hyper["stride"]: int(stride), hyper["pad"]: int(pad)}
        return cls(W, b, **kw)

    def forward(x, W, b, *hp):
        layer = make(W, b, *hp)
        return layer.forward(x, **_forward_kwargs(layer))

    def backward(x, W, b, *rest):
        *hp, dy = rest
        layer = make(W, b, *hp)
        layer.forward(x, **_forward_kwargs(layer))
        dx = layer.backward(dy)
        return dx, _grad(kit, op, layer, "W", 0, cname), _grad(kit, op, layer, "b", 1, cname)

    if op == "conv2d":
        def fwd(x, W, b, stride=1, pad=0):
            return forward(x, W, b, stride, pad)

        def bwd(x, W, b, stride, pad, dy):
            return backward(x, W, b, stride, pad, dy)
    else:
        def fwd(x, W, b):
            return forward(x, W, b)

        def bwd(x, W, b, dy):
            return backward(x, W, b, dy)

    kit.provide(op, {f"{op}_forward": fwd, f"{op}_backward": bwd}, cname)
    if hyper:
        kit.note(op, f"{cname}(W, b, " + ", ".join(f"{a}=..." for a in hyper.values()) + ")")


def _pool(kit, op, cname, cls):
    names = {h: _arg_name(kit, op, cls, h) for h in ("pool_h", "pool_w", "stride", "pad")}
    if names["pool_h"] is None or names["stride"] is None:
        kit.skipped[op] = f"{cname}.__init__: cannot tell its window-size and stride arguments (map them with \"hyper\")"
        return

    def make(kernel, stride, pad):
        kw = {names["pool_h"]: int(kernel), names["stride"]: int(kernel if stride is None else stride)}
        if names["pool_w"]:
            kw[names["pool_w"]] = int(kernel)
        if names["pad"]:
            kw[names["pad"]] = int(pad)
        elif int(pad):
            raise ValueError(f"{cname} takes no pad argument; the protocol asks for pad = {pad}")
        return cls(**kw)

    def forward(x, kernel, stride=None, pad=0):
        layer = make(kernel, stride, pad)
        return layer.forward(x, **_forward_kwargs(layer))

    def backward(x, kernel, stride, pad, dy):
        layer = make(kernel, stride, pad)
        layer.forward(x, **_forward_kwargs(layer))
        return layer.backward(dy)

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, cname)
    kit.note(op, f"{cname}(" + ", ".join(f"{a}=..." for a in names.values() if a) + ")")


def _softmax_loss(kit, op, cname, cls):
    def forward(z, labels):
        return float(cls().forward(z, labels))

    def backward(z, labels, dy):
        layer = cls()
        layer.forward(z, labels)
        return np.asarray(layer.backward(1)) * float(dy)

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, cname)
    kit.note(op, f"{cname}.backward(1) times dy (a loss is linear in dy; the book's backward ignores dout)")


def _batchnorm(kit, op, cname, cls):
    eps_arg = _arg_name(kit, op, cls, "eps")
    eps_attr = None
    if eps_arg is None or eps_arg not in _params(cls.__init__):
        eps_attr, eps_arg = eps_arg, None

    def make(gamma, beta, eps):
        D = np.shape(gamma)[0]
        layer = cls(gamma, beta, **({eps_arg: float(eps)} if eps_arg else {}))
        for stat in ("running_mean", "running_var"):  # fresh running statistics: no call leaks into the next
            if hasattr(layer, stat):
                setattr(layer, stat, np.zeros(D) if getattr(layer, stat) is not None else None)
        if eps_arg is None:
            attr = eps_attr or next((a for a in ALIASES["eps"] if hasattr(layer, a)), None)
            if attr is None:
                raise MappingError(f"{cname} takes no eps (no constructor argument or attribute named "
                                   f"{'/'.join(ALIASES['eps'])}); the spec's batchnorm has one: map it with "
                                   "\"hyper\": {\"eps\": \"<attribute>\"}")
            setattr(layer, attr, float(eps))
        return layer

    def run(x, gamma, beta, eps, dy=None):
        x = np.asarray(x)
        shape = x.shape
        if x.ndim == 4:
            x = x.transpose(0, 2, 3, 1).reshape(-1, shape[1])
        layer = make(gamma, beta, eps)
        out = layer.forward(x, **_forward_kwargs(layer))
        if dy is None:
            res = np.asarray(out)
        else:
            d = np.asarray(dy)
            if len(shape) == 4:
                d = d.transpose(0, 2, 3, 1).reshape(-1, shape[1])
            res = np.asarray(layer.backward(d))
        if len(shape) == 4:
            N, C, H, W = shape
            res = res.reshape(N, H, W, C).transpose(0, 3, 1, 2)
        if dy is None:
            return res
        return res, _grad(kit, op, layer, "gamma", 1, cname), _grad(kit, op, layer, "beta", 2, cname)

    def forward(x, gamma, beta, eps=1e-5):
        return run(x, gamma, beta, eps)

    def backward(x, gamma, beta, eps, dy):
        return run(x, gamma, beta, eps, dy)

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, cname)
    _running_statistics(kit, op, cname, cls, make)
    kit.note(op, f"{cname}(gamma, beta{', ' + eps_arg + '=eps' if eps_arg else ''}), train_flg=True, running "
                 "statistics reset to 0 for every call" + ("" if eps_arg else "; eps set as an attribute")
                 + "; 4-D input (N, C, H, W) is fed as (N·H·W, C)")


def _running_statistics(kit, op, cname, cls, make):
    """Register the running-statistics check of a batch-norm layer (:mod:`gradspec.adapters.running_stats`)."""
    mom_arg = _arg_name(kit, op, cls, "momentum")
    flags = [f for f in TRAIN_FLAGS if f in _params(cls.forward)]
    try:
        probe_layer = make(np.ones(1), np.zeros(1), 1e-5)
    except Exception as exc:  # noqa: BLE001 - the op's own checks report it; this check has nothing to run
        why = f"{cname} could not be constructed to look for running statistics: {type(exc).__name__}: {exc}"
        kit.add_check(op, lambda rng: running_stats.check(None, rng, why_not=why))
        return
    if not all(hasattr(probe_layer, s) for s in ("running_mean", "running_var")):
        why = f"{cname} has no running_mean/running_var attributes: there are no running statistics to check"
        kit.add_check(op, lambda rng: running_stats.check(None, rng, why_not=why))
        return
    if mom_arg is None and not hasattr(probe_layer, "momentum"):
        why = (f"{cname} takes no momentum (no constructor argument or attribute named "
               f"{'/'.join(ALIASES['momentum'])}): map it with \"hyper\": {{\"momentum\": ...}} to check its "
               "running statistics")
        kit.add_check(op, lambda rng: running_stats.check(None, rng, why_not=why))
        return

    def layer_with(gamma, beta, eps, momentum, rm, rv):
        layer = make(gamma, beta, eps)
        setattr(layer, mom_arg if mom_arg and hasattr(layer, mom_arg) else "momentum", float(momentum))
        layer.running_mean, layer.running_var = rm, rv
        return layer

    def train(x, gamma, beta, eps, momentum, rm, rv):
        layer = layer_with(gamma, beta, eps, momentum, rm, rv)
        layer.forward(x, **{f: True for f in flags})
        return layer.running_mean, layer.running_var

    infer = None
    if flags:
        def infer(x, gamma, beta, eps, rm, rv):
            return layer_with(gamma, beta, eps, 0.9, rm, rv).forward(x, **{f: False for f in flags})

    probe = running_stats.Probe(train, infer, f"{cname}.forward(x, {flags[0] if flags else 'train_flg'}=True/False)")
    kit.add_check(op, lambda rng: running_stats.check(probe, rng))
    kit.note(op, f"running statistics: {cname}.running_mean/running_var after a training forward, and an inference "
                 f"forward ({flags[0] + '=False' if flags else 'no training flag: update only'}), are checked "
                 "(the kit's running_statistics check)")


def _dropout(kit, op, cname, cls):
    entry = kit.entry(op) or {}
    ratio_arg = _arg_name(kit, op, cls, "p")
    if ratio_arg is None:
        kit.skipped[op] = f"{cname}.__init__: cannot tell its ratio argument (map it with \"hyper\": {{\"p\": ...}})"
        return
    meaning = entry.get("p") or ("keep" if "keep" in ratio_arg else "drop")
    rng_attr = entry.get("rng")
    memo: dict = {}

    def run(x, mask, p, dy=None):
        ratio = 1.0 - float(p) if meaning == "keep" else float(p)

        def draw(k):
            layer = cls(**{ratio_arg: ratio})
            if rng_attr:
                setattr(layer, rng_attr, np.random.default_rng(k))
            else:
                np.random.seed(k)
            out = layer.forward(x, **_forward_kwargs(layer))
            return out, (layer.backward(dy) if dy is not None else None)

        if rng_attr:
            out, dx, unseen = assemble(draw, x, mask, dy is not None, float(p), memo)
        else:
            with GlobalNumpyState():
                out, dx, unseen = assemble(draw, x, mask, dy is not None, float(p), memo)
        if unseen:
            kit.note(op, "at p = 0 the code never drops a unit: the dropped units of the protocol's mask are taken as 0")
        return out if dy is None else dx

    def forward(x, mask, p):
        return run(x, mask, p)

    def backward(x, mask, p, dy):
        return run(x, mask, p, dy)

    kit.provide(op, {f"{op}_forward": forward, f"{op}_backward": backward}, cname)
    kit.note(op, f"{cname}({ratio_arg}=...) read as the {meaning} probability; the mask is recovered from the output "
                 "over repeated draws, " + (f"with {rng_attr} = np.random.default_rng(k)" if rng_attr else
                                             "seeding NumPy's global generator with k = 0, 1, ... (its state is "
                                             "saved before and restored after)"))


OPT_HYPERS_OF = {"sgd": ("lr",), "momentum": ("lr", "momentum"), "adagrad": ("lr", "eps"),
                 "rmsprop": ("lr", "decay", "eps"), "adam": ("lr", "beta1", "beta2", "eps")}


def _optimizer(kit, op, cname, cls):
    init_names = _params(cls.__init__)
    args = {h: _arg_name(kit, op, cls, h) for h in OPT_HYPERS_OF[op]}

    def configure(opt, hyper, created):
        """Hyperparameters the constructor did not take (or that changed) are set as attributes."""
        for h, v in hyper.items():
            name = args.get(h)
            if created and name in init_names:
                continue
            attr = name if name and hasattr(opt, name) else next((a for a in ALIASES.get(h, (h,)) if hasattr(opt, a)), None)
            if attr is None:
                raise MappingError(f"{cname} takes no {h} (no constructor argument or attribute named "
                                   f"{'/'.join(ALIASES.get(h, (h,)))}); the spec's {op} has one: map it with "
                                   f"\"hyper\": {{\"{h}\": \"<name>\"}}")
            setattr(opt, attr, v)

    def init(w):
        return {}

    def update(w, g, state, **hyper):
        # the state is the optimizer object's attributes (arrays, dicts of arrays, numbers): plain data that
        # can be compared and copied; the object is rebuilt from a copy of it for every step
        created = not state
        if created:
            opt = cls(**{args[h]: v for h, v in hyper.items() if args.get(h) in init_names})
        else:
            opt = cls.__new__(cls)
            opt.__dict__.update(copy.deepcopy(dict(state)))
        configure(opt, hyper, created)
        w_copy = np.array(w, dtype=np.float64, copy=True)
        params, grads = {"w": w_copy}, {"w": g}
        opt.update(params, grads)
        new_w = params["w"]
        kit.note(op, f"{cname}.update(params, grads) " + ("wrote params in place" if new_w is w_copy else
                                                          "replaced params['w']")
                 + ": the kit passes a copy of w and reads the result out of params")
        return np.asarray(new_w), copy.deepcopy(vars(opt))

    kit.provide(op, {f"{op}_init": init, f"{op}_update": update}, cname)
    kit.note(op, f"{cname}(" + ", ".join(f"{a}={h}" for h, a in args.items() if a in init_names) + "); the state "
                 "is the object's attributes, copied before every step")


BUILDERS = {"affine": _with_params, "conv2d": _with_params, "relu": _simple, "sigmoid": _simple, "tanh": _simple,
            "softmax_cross_entropy": _softmax_loss, "dropout": _dropout, "batchnorm": _batchnorm,
            "max_pool2d": _pool, "avg_pool2d": _pool, "sgd": _optimizer, "momentum": _optimizer,
            "adagrad": _optimizer, "rmsprop": _optimizer, "adam": _optimizer}
