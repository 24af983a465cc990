r"""First-order optimisers as pure (init, update) pairs, in the style of optax.

``<name>_init(w) -> state`` and ``<name>_update(w, g, state, **hyper) ->
(w_new, state_new)``. Nothing is mutated: the state is a new dict every step.
The state is opaque to the spec: implementations are compared by the parameter
trajectory they produce over several steps.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_float_array, same_shape, scalar


def _wg(w, g):
    w = as_float_array("w", w)
    g = as_float_array("g", g)
    same_shape("g", g, "w", w)
    return w, g


def _state(state, keys, w, name):
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise ValueError(f"{name}: state must be the dict returned by {name}_init (keys {list(keys)}), got {state!r:.80}")
    for k in keys:
        if k != "t" and np.shape(state[k]) != w.shape:
            raise ValueError(f"{name}: state[{k!r}] has shape {np.shape(state[k])}, expected w's shape {w.shape}")


def sgd_init(w):
    """SGD keeps no state."""
    as_float_array("w", w)
    return {}


def sgd_update(w, g, state, lr):
    r"""Plain gradient descent, :math:`w \leftarrow w - \eta g`.

    Shapes
    ------
    w, g : same shape. Returns (w_new of that shape, state).
    """
    w, g = _wg(w, g)
    lr = scalar("lr", lr, low=0.0, low_open=True)
    return w - lr * g, {}


def momentum_init(w):
    """Velocity starts at zero."""
    w = as_float_array("w", w)
    return {"v": np.zeros_like(w)}


def momentum_update(w, g, state, lr, momentum=0.9):
    r"""Heavy-ball momentum: :math:`v \leftarrow \mu v - \eta g,\; w \leftarrow w + v`.

    Shapes
    ------
    w, g : same shape. Returns (w_new, {"v": v_new}).
    """
    w, g = _wg(w, g)
    lr = scalar("lr", lr, low=0.0, low_open=True)
    mu = scalar("momentum", momentum, low=0.0, high=1.0, high_open=True)
    _state(state, ("v",), w, "momentum")
    v = mu * np.asarray(state["v"], dtype=np.float64) - lr * g
    return w + v, {"v": v}


def adagrad_init(w):
    """Accumulated squared gradients start at zero."""
    w = as_float_array("w", w)
    return {"cache": np.zeros_like(w)}


def adagrad_update(w, g, state, lr, eps=1e-7):
    r"""AdaGrad: :math:`r \leftarrow r + g^2,\; w \leftarrow w - \eta g/(\sqrt r + \epsilon)`.

    eps is outside the square root.

    Shapes
    ------
    w, g : same shape. Returns (w_new, {"cache": r_new}).
    """
    w, g = _wg(w, g)
    lr = scalar("lr", lr, low=0.0, low_open=True)
    eps = scalar("eps", eps, low=0.0, low_open=True)
    _state(state, ("cache",), w, "adagrad")
    cache = np.asarray(state["cache"], dtype=np.float64) + g * g
    return w - lr * g / (np.sqrt(cache) + eps), {"cache": cache}


def rmsprop_init(w):
    """The running mean of squared gradients starts at zero."""
    w = as_float_array("w", w)
    return {"cache": np.zeros_like(w)}


def rmsprop_update(w, g, state, lr, decay=0.99, eps=1e-7):
    r"""RMSprop: :math:`r \leftarrow \rho r + (1-\rho) g^2,\; w \leftarrow w - \eta g/(\sqrt r + \epsilon)`.

    eps is outside the square root.

    Shapes
    ------
    w, g : same shape. Returns (w_new, {"cache": r_new}).
    """
    w, g = _wg(w, g)
    lr = scalar("lr", lr, low=0.0, low_open=True)
    decay = scalar("decay", decay, low=0.0, high=1.0, high_open=True)
    eps = scalar("eps", eps, low=0.0, low_open=True)
    _state(state, ("cache",), w, "rmsprop")
    cache = decay * np.asarray(state["cache"], dtype=np.float64) + (1.0 - decay) * g * g
    return w - lr * g / (np.sqrt(cache) + eps), {"cache": cache}


def adam_init(w):
    """First and second moments start at zero; the step counter at 0."""
    w = as_float_array("w", w)
    return {"m": np.zeros_like(w), "v": np.zeros_like(w), "t": 0}


def adam_update(w, g, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    r"""Adam with bias correction (Kingma & Ba, Algorithm 1).

    .. math:: t \leftarrow t+1,\; m \leftarrow \beta_1 m + (1-\beta_1) g,\;
              v \leftarrow \beta_2 v + (1-\beta_2) g^2,\;
              w \leftarrow w - \eta\,\frac{m/(1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}

    The first update uses t = 1; eps is outside the square root.

    Shapes
    ------
    w, g : same shape. Returns (w_new, {"m", "v", "t"}).
    """
    w, g = _wg(w, g)
    lr = scalar("lr", lr, low=0.0, low_open=True)
    b1 = scalar("beta1", beta1, low=0.0, high=1.0, high_open=True)
    b2 = scalar("beta2", beta2, low=0.0, high=1.0, high_open=True)
    eps = scalar("eps", eps, low=0.0, low_open=True)
    _state(state, ("m", "v", "t"), w, "adam")
    t = int(state["t"]) + 1
    m = b1 * np.asarray(state["m"], dtype=np.float64) + (1.0 - b1) * g
    v = b2 * np.asarray(state["v"], dtype=np.float64) + (1.0 - b2) * g * g
    m_hat = m / (1.0 - b1**t)
    v_hat = v / (1.0 - b2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "t": t}
