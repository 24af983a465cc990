r"""A small CNN composed from the reference layers, as an integration target.

conv2d → relu → max_pool2d → flatten → affine → softmax cross-entropy.
"""
from __future__ import annotations

import numpy as np

from .activations import relu_backward, relu_forward
from .affine import affine_backward, affine_forward
from .conv import conv2d_backward, conv2d_forward
from .losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .pooling import max_pool2d_backward, max_pool2d_forward


def cnn_loss_and_grads(params, X, labels, stride=1, pad=1, pool=2):
    """Loss and gradients of the small CNN.

    Shapes
    ------
    params : [(Wc (F, C, KH, KW), bc (F,)), (Wa (F·PH·PW, K), ba (K,))]
    X : (N, C, H, W); labels : (N,) in [0, K)
    Returns (loss, [(dWc, dbc), (dWa, dba)]).
    """
    (Wc, bc), (Wa, ba) = params
    z1 = conv2d_forward(X, Wc, bc, stride, pad)
    a1 = relu_forward(z1)
    p1 = max_pool2d_forward(a1, pool, pool, 0)
    flat = p1.reshape(p1.shape[0], -1)
    if Wa.shape[0] != flat.shape[1]:
        raise ValueError(f"cnn: affine W rows must equal the pooled features F·PH·PW = {flat.shape[1]}, got Wa {np.shape(Wa)}")
    z2 = affine_forward(flat, Wa, ba)
    loss = softmax_cross_entropy_forward(z2, labels)
    dz2 = softmax_cross_entropy_backward(z2, labels, 1.0)
    dflat, dWa, dba = affine_backward(flat, Wa, ba, dz2)
    dp1 = dflat.reshape(p1.shape)
    da1 = max_pool2d_backward(a1, pool, pool, 0, dp1)
    dz1 = relu_backward(z1, da1)
    _, dWc, dbc = conv2d_backward(X, Wc, bc, stride, pad, dz1)
    return loss, [(dWc, dbc), (dWa, dba)]
