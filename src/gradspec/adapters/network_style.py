"""Kit for whole networks in the column layout (Nielsen's ``network.py``): ``gradspec check --style network``.

The code: a class (``Network``) built from the layer sizes, holding ``weights`` (list of (n_out, n_in))
and ``biases`` (list of (n_out, 1)), with ``feedforward(a)`` and ``backprop(x, y) -> (nabla_b,
nabla_w)`` for one example ``x`` (n_in, 1), ``y`` (n_out, 1); sigmoid units and the quadratic cost
C = ½‖a − y‖². The kit maps it to the protocol's ``mlp_loss_and_grads(params, X, T, hidden, output)``
(row layout, mean over the batch):

* the network is built as ``Network(sizes)`` while NumPy's global random state is saved and
  restored (Nielsen's constructor draws from ``np.random``), then given ``W.T`` and ``b[:, None]``
  of every protocol layer (the column layout of :func:`gradspec.reference.mlp.to_column_layout`);
* loss = Σₙ ½‖feedforward(xₙ) − tₙ‖² / N, from the code's ``feedforward``;
* gradients = the mean over the batch of ``backprop``'s per-example ``nabla_w``, ``nabla_b``,
  transposed back to the row layout (the column layout's BP3/BP4 with their 1/m, as
  :func:`gradspec.reference.mlp.mlp_col_loss_and_grads` computes them).

The code implements one architecture: sigmoid hidden units and the ``sigmoid_mse`` output unless
the mapping says otherwise (``"mlp": {"hidden": "tanh", "output": "identity_mse"}``). The protocol's
mlp op covers every (hidden, output) pair, so the kit declares that one pair as its limits
(``__gradspec_limits__``, see :mod:`gradspec.limits`): every check draws the registry's mlp samples with
it. Checked without its limits (``gradspec.check(kit, limits={})``), the other pairs are errors that
name the pair. The symbolic and properties oracles draw their own architectures and are reported not
applicable to the limited op.
Mapping keys: ``class``, ``backprop``, ``feedforward``, ``weights``, ``biases`` (names), ``hidden``,
``output``.
"""
from __future__ import annotations

import numpy as np

from .dropout_draws import GlobalNumpyState
from .kits import Kit, MappingError

MSE_OUTPUTS = ("identity_mse", "sigmoid_mse")


class NetworkKit(Kit):
    style = "network"


class ArchitectureError(ValueError):
    """The protocol asked for a (hidden, output) pair the wrapped network does not implement."""


def build(target, name, mapping) -> NetworkKit:
    kit = NetworkKit(target, name, mapping)
    entry = kit.entry("mlp")
    if entry is None:
        kit.skipped["mlp"] = "excluded by the mapping"
        return kit
    cname, cls = kit.find("mlp", "class", ("Network",), what="class")
    if cls is None:
        return kit
    hidden, output = entry.get("hidden", "sigmoid"), entry.get("output", "sigmoid_mse")
    from ..reference.mlp import HIDDEN

    if hidden not in HIDDEN or output not in MSE_OUTPUTS:
        raise MappingError(f"mapping: mlp hidden must be one of {HIDDEN} and output one of {MSE_OUTPUTS} "
                           f"(the quadratic cost), got hidden={hidden!r}, output={output!r}")
    bp, ff = entry.get("backprop", "backprop"), entry.get("feedforward", "feedforward")
    wname, bname = entry.get("weights", "weights"), entry.get("biases", "biases")
    for method in (bp, ff):
        if not callable(getattr(cls, method, None)):
            raise MappingError(f"{cname} has no method {method!r} (name it with the mapping's backprop/feedforward)")

    def make(params):
        sizes = [int(np.shape(params[0][0])[0])] + [int(np.shape(W)[1]) for W, _ in params]
        with GlobalNumpyState():
            net = cls(sizes)
        setattr(net, wname, [np.array(W, dtype=np.float64).T.copy() for W, _ in params])
        setattr(net, bname, [np.array(b, dtype=np.float64).reshape(-1, 1) for _, b in params])
        return net

    def mlp_loss_and_grads(params, X, T, hidden_, output_):
        if (hidden_, output_) != (hidden, output):
            raise ArchitectureError(f"{cname} implements hidden={hidden!r}, output={output!r} only; the protocol asked "
                                    f"for hidden={hidden_!r}, output={output_!r} (the kit declares its pair as its limits, "
                                    "__gradspec_limits__, which gradspec.check honours)")
        X, T = np.asarray(X, dtype=np.float64), np.asarray(T, dtype=np.float64)
        net = make(params)
        N = X.shape[0]
        loss = 0.0
        sum_w = [np.zeros(np.shape(W)[::-1]) for W, _ in params]
        sum_b = [np.zeros((np.shape(b)[0], 1)) for _, b in params]
        for n in range(N):
            x, y = X[n].reshape(-1, 1), T[n].reshape(-1, 1)
            a = np.asarray(getattr(net, ff)(x), dtype=np.float64)
            loss += 0.5 * float(np.sum((a - y) ** 2))
            res = getattr(net, bp)(x, y)
            if not isinstance(res, (tuple, list)) or len(res) != 2:
                raise TypeError(f"{cname}.{bp} must return (nabla_b, nabla_w), got {type(res).__name__}")
            nabla_b, nabla_w = res
            for l in range(len(params)):
                sum_w[l] += np.asarray(nabla_w[l], dtype=np.float64)
                sum_b[l] += np.asarray(nabla_b[l], dtype=np.float64).reshape(-1, 1)
        grads = [((sw / N).T, (sb / N).ravel()) for sw, sb in zip(sum_w, sum_b)]
        return loss / N, grads

    kit.provide("mlp", {"mlp_loss_and_grads": mlp_loss_and_grads}, f"{cname}.{bp}, {cname}.{ff}")
    kit.note("mlp", f"{cname}(sizes) with {wname}[l] = W.T, {biases_note(bname)}; the mean of {bp}'s per-example "
                    f"gradients, transposed to the row layout; loss from {ff}; hidden={hidden!r}, output={output!r} "
                    "(declared as the kit's limits: the op's samples are drawn with this pair)")
    kit.implied_limits = {"mlp": {"hidden": hidden, "output": output}}  # declared as the kit's limits
    return kit


def biases_note(bname):
    return f"{bname}[l] = b[:, None]"
