"""gradspec's float64 NumPy reference implementation of the spec.

This package *is* an implementation of the protocol: every function the
protocol names is importable from here, so ``gradspec check`` (whose default
``--impl`` is ``gradspec.reference``) treats it like any other implementation.
One module per spec area; each function validates its inputs and raises
``ValueError`` naming the rule and the values seen.
"""
from .activations import (
    gelu_backward, gelu_forward, gelu_tanh_backward, gelu_tanh_forward, leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward, sigmoid_backward, sigmoid_forward, softmax_backward, softmax_forward,
    step_forward, tanh_backward, tanh_forward,
)
from .affine import affine_backward, affine_forward
from .attention import attention_backward, attention_forward, causal_mask
from .cnn import cnn_loss_and_grads
from .conv import col2im, conv2d_backward, conv2d_forward, im2col
from .embedding import embedding_backward, embedding_forward
from .init import (
    fans, init_he_normal, init_he_uniform, init_lecun_normal, init_xavier_normal, init_xavier_uniform,
)
from .losses import (
    binary_cross_entropy_backward, binary_cross_entropy_forward, cross_entropy_backward, cross_entropy_forward,
    mse_backward, mse_forward, softmax_cross_entropy_backward, softmax_cross_entropy_forward,
)
from .mlp import mlp_backprop, mlp_col_loss_and_grads, mlp_loss_and_grads, to_column_layout
from .normalization import batchnorm_backward, batchnorm_forward, layernorm_backward, layernorm_forward
from .optim import (
    adagrad_init, adagrad_update, adam_init, adam_update, momentum_init, momentum_update, rmsprop_init,
    rmsprop_update, sgd_init, sgd_update,
)
from .perceptron import perceptron_predict, perceptron_train, perceptron_update
from .pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from .regularization import (
    clip_grad_norm, clip_grad_value, dropout_backward, dropout_forward, dropout_mask, global_norm,
    l2_penalty_backward, l2_penalty_forward,
)
from .rnn import rnn_backward, rnn_forward
from .residual import residual_backward, residual_forward

__gradspec_name__ = "gradspec reference (float64 NumPy)"
