r"""A library of mutated implementations: the reference with one protocol function replaced.

The op-specific mutants are the entries of the records' catalogues of known variants
(:mod:`gradspec.variants`, ``OpSpec.variants``) that name a mutant, the same catalogue the diagnosis
recognises bugs from; a scaled gradient element is added for every op with a gradient.
Each :class:`Mutant` has a ``name``, the ``op`` it targets, a ``description``
of the bug, and ``impl``: a namespace holding every function of
:mod:`gradspec.reference` with one (or a consistent pair, e.g. a forward and
its backward) replaced by a plausible bug — a scaled gradient element, a
missing transpose, a missing activation derivative, a wrong factor of N or 2,
a convention flipped at a kink, eps in the wrong place, a wrong fan, normal
instead of uniform, a non-inverted dropout, Adam without bias correction...

``MUTANTS`` is the list; ``by_op(op)`` filters it. The meta-tests
(``tests/test_mutants.py``) show every one is caught by the properties, and
:mod:`gradspec.properties.mutation_score` reports caught / total per op.
Usable by any tool that needs known-wrong implementations (e.g. a diagnosis
engine)::

    from gradspec.properties.mutants import MUTANTS
    for m in MUTANTS:
        gradspec.check(m.impl, ops=[m.op])
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import reference as spec
from ..registry import REGISTRY
from ..variants import known

_BASE = {k: getattr(spec, k) for k in dir(spec) if not k.startswith("_") and callable(getattr(spec, k))}


@dataclass(frozen=True)
class Mutant:
    """A known-wrong implementation: the reference with ``op``'s functions mutated."""

    name: str
    op: str
    description: str
    impl: Any

    def __repr__(self):
        return f"Mutant({self.name!r}, op={self.op!r})"


def make_impl(name: str, **overrides) -> SimpleNamespace:
    """A namespace with every reference function, ``overrides`` replacing some."""
    unknown = [k for k in overrides if k not in _BASE]
    if unknown:
        raise KeyError(f"mutant {name}: {unknown} are not functions of gradspec.reference")
    ns = SimpleNamespace(**{**_BASE, **overrides})
    ns.__name__ = f"mutant:{name}"
    ns.__gradspec_name__ = f"mutant {name}"
    return ns


MUTANTS: list[Mutant] = []


def _add(name, op, description, **overrides):
    if op not in REGISTRY:
        raise KeyError(f"mutant {name}: unknown op {op!r}")
    MUTANTS.append(Mutant(name, op, description, make_impl(name, **overrides)))


# --------------------------------------------------------------------------- a scaled gradient element, for every op with a gradient
def _scaled_element(backward, factor=1.001):
    def mutated(*args):
        out = backward(*args)
        grads = list(out) if isinstance(out, tuple) else [out]
        g = np.array(grads[0], dtype=np.float64)
        if g.size:
            k = int(np.argmax(np.abs(g)))
            g.flat[k] *= factor
        grads[0] = g
        return tuple(grads) if isinstance(out, tuple) else grads[0]

    return mutated


for _op in REGISTRY.values():
    if _op.kind_facts.has_backward:
        _add(f"{_op.name}_scaled_gradient_element", _op.name,
             f"{_op.backward} multiplies its largest gradient element by 1.001",
             **{_op.backward: _scaled_element(getattr(spec, _op.backward))})


# --------------------------------------------------------------------------- the records' catalogues of known variants
for _op in REGISTRY.values():
    for _v in known(_op):
        if _v.mutant is not None:
            _add(_v.mutant, _v.op, _v.description, **_v.mutant_overrides())

#: For every property function, one (op, property name, mode, mutant name) it must catch by itself:
#: the proof that each property can fail (tests/test_mutants.py).
WITNESSES: dict[str, tuple[str, str, str, str]] = {
    "prop_forward_matches_spec": ("conv2d", "forward_matches_spec", "away", "conv2d_kernel_flipped"),
    "prop_shapes": ("tanh", "shapes", "away", "tanh_forward_float32"),
    "prop_gradient_fd64": ("sigmoid", "gradient_fd64", "away", "sigmoid_missing_derivative"),
    "prop_agrees_with_oracle": ("tanh", "agrees_with_fd64", "away", "tanh_derivative_not_squared"),
    "prop_linear_in_dy": ("relu", "linear_in_dy", "away", "relu_backward_clips_dy"),
    "prop_no_mutation": ("relu", "no_mutation", "away", "relu_forward_in_place"),
    "prop_deterministic": ("affine", "deterministic", "away", "affine_backward_accumulates_db"),
    "prop_no_global_random_state": ("init_he_normal", "no_global_random_state", "away", "init_he_normal_global_rng"),
    "prop_sigmoid_symmetry": ("sigmoid", "symmetry", "hard", "sigmoid_exp_overflow"),
    "prop_tanh_odd": ("tanh", "odd_and_bounded_derivative", "away", "tanh_derivative_not_squared"),
    "prop_relu_convention": ("relu", "convention", "on_kink", "relu_prime_at_zero_is_one"),
    "prop_step_convention": ("step", "convention", "on_kink", "step_at_zero_is_one"),
    "prop_softmax_rows_sum_to_one": ("softmax", "rows_sum_to_one", "away", "softmax_over_batch_axis"),
    "prop_softmax_shift_invariant": ("softmax", "shift_invariant", "away", "softmax_over_batch_axis"),
    "prop_softmax_backward_rows_sum_to_zero": ("softmax", "backward_rows_sum_to_zero", "away", "softmax_backward_diagonal_only"),
    "prop_affine_bias_grad_is_sum": ("affine", "bias_grad_is_sum", "away", "affine_bias_grad_averaged"),
    "prop_loss_nonnegative": ("cross_entropy", "nonnegative", "away", "cross_entropy_forward_missing_minus"),
    "prop_cross_entropy_grad_sign": ("cross_entropy", "grad_sign", "away", "cross_entropy_backward_sign_flipped"),
    "prop_sce_grad_rows_sum_to_zero": ("softmax_cross_entropy", "grad_rows_sum_to_zero", "away", "softmax_cross_entropy_missing_onehot"),
    "prop_bce_grad_bounded": ("binary_cross_entropy", "grad_bounded", "away", "binary_cross_entropy_backward_missing_1_over_N"),
    "prop_conv2d_is_cross_correlation": ("conv2d", "is_cross_correlation", "away", "conv2d_kernel_flipped"),
    "prop_conv2d_adjoint": ("conv2d", "backward_is_adjoint", "away", "conv2d_col2im_overwrites_overlaps"),
    "prop_im2col_adjoint": ("conv2d", "im2col_col2im_adjoint", "away", "conv2d_col2im_overwrites_overlaps"),
    "prop_pool_matches_definition": ("max_pool2d", "matches_definition", "on_kink", "max_pool2d_last_max_on_ties"),
    "prop_maxpool_routes_to_one_element": ("max_pool2d", "routes_to_one_element", "on_kink", "max_pool2d_splits_ties"),
    "prop_avgpool_total": ("avg_pool2d", "total_gradient", "on_kink", "avg_pool2d_excludes_padding"),
    "prop_batchnorm_normalises": ("batchnorm", "normalises", "away", "batchnorm_unbiased_variance"),
    "prop_batchnorm_grad_identities": ("batchnorm", "gradient_identities", "away", "batchnorm_dbeta_averaged"),
    "prop_dropout_same_mask": ("dropout", "same_mask_backward", "away", "dropout_backward_ignores_mask"),
    "prop_dropout_unbiased": ("dropout", "unbiased", "away", "dropout_not_inverted"),
    "prop_l2_gradient": ("l2_penalty", "gradient_is_lam_W", "away", "l2_penalty_backward_factor_2"),
    "prop_clip_norm": ("clip_grad_norm", "direction_and_bound", "away", "clip_grad_norm_per_array"),
    "prop_clip_value": ("clip_grad_value", "clamps", "away", "clip_grad_value_one_sided"),
    "prop_optimizer_closed_form": ("adam", "closed_form_constant_gradient", "away", "adam_no_bias_correction"),
    "prop_optimizer_matches_spec": ("momentum", "trajectory_matches_spec", "away", "momentum_dampened"),
    "prop_optimizer_decreases_quadratic": ("sgd", "decreases_convex_quadratic", "away", "sgd_sign_flipped"),
    "prop_sgd_step": ("sgd", "step_is_minus_lr_g", "away", "sgd_sign_flipped"),
    "prop_momentum_zero_is_sgd": ("momentum", "zero_momentum_is_sgd", "away", "momentum_stale_velocity"),
    "prop_adam_first_step_is_sign": ("adam", "first_step_is_sign", "away", "adam_no_bias_correction"),
    "prop_adagrad_step_shrinks": ("adagrad", "step_shrinks", "away", "adagrad_no_accumulation"),
    "prop_init_statistics": ("init_xavier_uniform", "statistics", "away", "init_xavier_uniform_draws_normal"),
    "prop_perceptron_rule": ("perceptron", "rule", "on_kink", "perceptron_step_at_zero_is_one"),
    "prop_perceptron_learns_gates": ("perceptron", "learns_and_nand_or", "away", "perceptron_sign_flipped"),
    "prop_perceptron_separability": ("perceptron", "separability", "away", "perceptron_sign_flipped"),
    "prop_two_layer_xor": ("perceptron", "two_layer_xor", "away", "perceptron_bias_not_updated"),
    "prop_mlp_gradients_fd64": ("mlp", "gradients_fd64", "away", "mlp_bias_grad_averaged"),
    "prop_mlp_bp1": ("mlp", "bp1_row", "away", "mlp_bp1_missing_output_derivative"),
    "prop_mlp_bp2": ("mlp", "bp2_column", "away", "mlp_missing_activation_derivative"),
    "prop_mlp_bp3": ("mlp", "bp3_row", "away", "mlp_bias_grad_averaged"),
    "prop_mlp_bp4": ("mlp", "bp4_column", "away", "mlp_column_dW_missing_1_over_m"),
    "prop_mlp_layouts_agree": ("mlp", "layouts_agree", "away", "mlp_column_dW_missing_1_over_m"),
    "prop_gradient_flow": ("mlp", "gradient_flow_row", "away", "mlp_missing_activation_derivative"),
    "prop_mlp_relu_convention": ("mlp", "relu_convention", "on_kink", "mlp_relu_prime_at_zero_is_one"),
}

_names = [m.name for m in MUTANTS]
assert len(set(_names)) == len(_names), "duplicate mutant names"


def by_op(op: str) -> list[Mutant]:
    """The mutants that target ``op``."""
    return [m for m in MUTANTS if m.op == op]


def get(name: str) -> Mutant:
    for m in MUTANTS:
        if m.name == name:
            return m
    raise KeyError(f"unknown mutant {name!r}; known: {', '.join(_names)}")


def __getattr__(name: str):
    """``gradspec check --impl gradspec.properties.mutants:<mutant name>`` loads that mutant's implementation."""
    for m in MUTANTS:
        if m.name == name:
            return m.impl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (mutants: {', '.join(_names)})")
