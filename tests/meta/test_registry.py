"""The op registry: one entry per protocol row, each with valid samples, the right shapes and margins."""
import dataclasses
import importlib
import json
import re

import numpy as np
import pytest

import gradspec.reference as ref
from gradspec import registry
from gradspec.spec import Hyper, OpSpec
from _impls import strict

#: The protocol table (README), row by row: op names and the functions each row names.
PROTOCOL = {
    "sigmoid": ["sigmoid_forward", "sigmoid_backward"],
    "tanh": ["tanh_forward", "tanh_backward"],
    "relu": ["relu_forward", "relu_backward"],
    "leaky_relu": ["leaky_relu_forward", "leaky_relu_backward"],
    "step": ["step_forward"],
    "softmax": ["softmax_forward", "softmax_backward"],
    "gelu": ["gelu_forward", "gelu_backward"],
    "gelu_tanh": ["gelu_tanh_forward", "gelu_tanh_backward"],
    "affine": ["affine_forward", "affine_backward"],
    "mse": ["mse_forward", "mse_backward"],
    "cross_entropy": ["cross_entropy_forward", "cross_entropy_backward"],
    "softmax_cross_entropy": ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward"],
    "binary_cross_entropy": ["binary_cross_entropy_forward", "binary_cross_entropy_backward"],
    "conv2d": ["conv2d_forward", "conv2d_backward"],
    "max_pool2d": ["max_pool2d_forward", "max_pool2d_backward"],
    "avg_pool2d": ["avg_pool2d_forward", "avg_pool2d_backward"],
    "batchnorm": ["batchnorm_forward", "batchnorm_backward"],
    "layernorm": ["layernorm_forward", "layernorm_backward"],
    "dropout": ["dropout_forward", "dropout_backward"],
    "l2_penalty": ["l2_penalty_forward", "l2_penalty_backward"],
    "clip_grad_norm": ["clip_grad_norm"],
    "clip_grad_value": ["clip_grad_value"],
    **{o: [f"{o}_init", f"{o}_update"] for o in ("sgd", "momentum", "adagrad", "rmsprop", "adam")},
    **{i: [i] for i in ("init_xavier_normal", "init_xavier_uniform", "init_he_normal", "init_he_uniform", "init_lecun_normal")},
    "mlp": ["mlp_loss_and_grads"],
    "perceptron": ["perceptron_update"],
    "rnn": ["rnn_forward", "rnn_backward"],
    "embedding": ["embedding_forward", "embedding_backward"],
    "residual": ["residual_forward", "residual_backward"],
    "attention": ["attention_forward", "attention_backward"],
}
#: Differentiable array arguments per the table's "backward returns" column.
DIFFERENTIABLE = {"sigmoid": ["x"], "tanh": ["x"], "relu": ["x"], "leaky_relu": ["x"], "softmax": ["x"], "gelu": ["x"], "gelu_tanh": ["x"], "affine": ["x", "W", "b"],
                  "mse": ["y"], "cross_entropy": ["p"], "softmax_cross_entropy": ["z"], "binary_cross_entropy": ["z"],
                  "conv2d": ["x", "W", "b"], "max_pool2d": ["x"], "avg_pool2d": ["x"], "batchnorm": ["x", "gamma", "beta"],
                  "layernorm": ["x", "gamma", "beta"],
                  "dropout": ["x"], "l2_penalty": ["W"],
                  "rnn": ["x", "h0", "Wx", "Wh", "b"], "embedding": ["E"], "residual": ["x", "W1", "b1", "W2", "b2"],
                  "attention": ["Q", "K", "V"]}

SAMPLES_PER_OP = 12


def test_every_protocol_row_has_exactly_one_entry():
    assert sorted(registry.REGISTRY) == sorted(PROTOCOL)
    assert len(registry.OPS) == len(PROTOCOL)


@pytest.mark.parametrize("name", list(PROTOCOL))
def test_entry_names_the_protocol_functions_and_the_reference_has_them(name):
    op = registry.get(name)
    assert list(op.functions) == PROTOCOL[name]
    area = importlib.import_module(f"gradspec.reference.{op.area}")
    for fn in op.functions:
        assert callable(getattr(ref, fn)) and getattr(area, fn) is getattr(ref, fn)


@pytest.mark.parametrize("name", list(DIFFERENTIABLE))
def test_differentiable_arguments_follow_the_table(name):
    op = registry.get(name)
    assert list(op.differentiable_args) == DIFFERENTIABLE[name]
    assert op.backward == PROTOCOL[name][1]


# --------------------------------------------------------------------------- per-entry validity
def _hyper_problems(op, s):
    out = []
    for h in op.hypers:
        values = [s[h.name]] if h.name in s else [s["hyper"][h.name]] if "hyper" in s and h.name in s["hyper"] else []
        for v in values:
            if h.low is not None and (v < h.low or (h.low_open and v == h.low)):
                out.append(f"{h.name} = {v} below {h.describe()}")
            if h.high is not None and (v > h.high or (h.high_open and v == h.high)):
                out.append(f"{h.name} = {v} above {h.describe()}")
            if h.integer and int(v) != v:
                out.append(f"{h.name} = {v} not an integer")
    return out


def entry_problems(op: OpSpec, rng, n=SAMPLES_PER_OP) -> list[str]:
    """Everything wrong with a registry entry on ``n`` samples (empty when the entry is sound)."""
    problems = []
    for k in range(n):
        s = op.sample(rng)
        # optimizer samples are (w, grads, hyper) and init samples (shape, seed); the others give every argument
        lacking = [a.name for a in op.args if a.name not in s] if op.kind not in ("optimizer", "init") else []
        if lacking:
            problems.append(f"sample {k} lacks {lacking}")
            continue
        problems += [f"sample {k}: {p}" for p in _hyper_problems(op, s)]
        d = op.kink_distance(s)
        if d <= registry.KINK_MARGIN and op.kind != "function" and op.name != "perceptron":
            problems.append(f"sample {k} is {d:.3g} from a kink (margin {registry.KINK_MARGIN})")
        try:
            with strict():
                if op.kind == "optimizer":
                    w, state = s["w"], getattr(ref, op.functions[0])(s["w"])
                    for g in s["grads"]:
                        w, state = getattr(ref, op.functions[1])(w, g, state, **s["hyper"])
                    out = w
                elif op.kind == "init":
                    out = getattr(ref, op.name)(s["shape"], np.random.default_rng(s["seed"]))
                    if out.shape != tuple(s["shape"]):
                        problems.append(f"sample {k}: init shape {out.shape} != {s['shape']}")
                else:
                    out = getattr(ref, op.functions[0])(*op.forward_args(s))
        except (ValueError, TypeError, FloatingPointError) as exc:
            problems.append(f"sample {k} is rejected by the reference: {type(exc).__name__}: {exc}")
            continue
        if op.output_shape is not None:
            want = tuple(op.output_shape(s))
            got = np.shape(out)
            if want != got:
                problems.append(f"sample {k}: output_shape says {want}, the reference returns {got}")
        for a in op.args:
            if a.differentiable and a.role in ("input", "param") and op.kind in ("differentiable", "loss"):
                v = s[a.name]
                if not (isinstance(v, np.ndarray) and v.dtype == np.float64):
                    problems.append(f"sample {k}: differentiable {a.name} is not a float64 array")
    return problems


@pytest.mark.parametrize("op", registry.OPS, ids=[op.name for op in registry.OPS])
def test_samples_are_valid_with_the_declared_output_shape_and_margins(op):
    assert entry_problems(op, np.random.default_rng([42, len(op.name)])) == []


def test_entry_problems_catches_broken_entries():
    rng = np.random.default_rng(0)
    conv = registry.get("conv2d")
    # an output_shape that forgets the padding
    no_pad = dataclasses.replace(conv, output_shape=lambda s: (
        s["x"].shape[0], s["W"].shape[0], (s["x"].shape[2] - s["W"].shape[2]) // s["stride"] + 1,
        (s["x"].shape[3] - s["W"].shape[3]) // s["stride"] + 1))
    assert any("output_shape says" in p for p in entry_problems(no_pad, rng, 30))
    # a relu sampler that lands on the kink
    relu = dataclasses.replace(registry.get("relu"), sample=lambda rng: {"x": np.array([0.0, 1.0])})
    assert any("from a kink" in p for p in entry_problems(relu, rng, 1))
    # a dropout sampler that draws p = 1 (outside [0, 1)) is out of range and rejected by the reference
    drop = registry.get("dropout")
    bad_p = dataclasses.replace(drop, sample=lambda rng: {**drop.sample(rng), "p": 1.0})
    probs = entry_problems(bad_p, rng, 1)
    assert any("above" in p for p in probs) and any("rejected by the reference" in p for p in probs)
    # a pooling sampler with pad > kernel//2
    pool = registry.get("max_pool2d")
    bad_pad = dataclasses.replace(pool, sample=lambda rng: {"x": np.arange(16.0).reshape(1, 1, 4, 4), "kernel": 2, "stride": 2, "pad": 2})
    assert any("pad must be <= kernel//2" in p for p in entry_problems(bad_pad, rng, 1))
    # integer samples of a differentiable argument
    aff = registry.get("affine")
    ints = dataclasses.replace(aff, sample=lambda rng: {"x": np.ones((1, 2), dtype=int), "W": np.ones((2, 1)), "b": np.ones(1)})
    assert any("not a float64 array" in p for p in entry_problems(ints, rng, 1))


# --------------------------------------------------------------------------- kinks and margins
def test_kink_distances_hand_values():
    relu = registry.get("relu")
    assert relu.kink_distance({"x": np.array([-0.3, 0.2, 1.0])}) == pytest.approx(0.2)
    assert registry.get("sigmoid").kink_distance({"x": np.zeros(3)}) == float("inf")
    # a pooling window (1, 1.5, −2, 0) has gap 0.5 between its two largest values
    x = np.array([[[[1.0, 1.5], [-2.0, 0.0]]]])
    assert registry.pool_gap({"x": x, "kernel": 2, "stride": 2, "pad": 0}) == pytest.approx(0.5)
    # padding (−inf) never counts as a competitor: a window holding one real value has no tie
    assert registry.pool_gap({"x": np.array([[[[3.0]]]]), "kernel": 2, "stride": 1, "pad": 1}) == float("inf")
    assert registry.pool_gap({"x": x, "kernel": 1, "stride": 1, "pad": 0}) == float("inf")


def test_mlp_kink_distance_sees_hidden_relu_pre_activations():
    # z¹ = x·W + b = 1·1 − 0.99 = 0.01: 0.01 from relu's kink
    s = {"params": [(np.array([[1.0]]), np.array([-0.99])), (np.array([[1.0]]), np.array([0.0]))], "X": np.array([[1.0]]),
         "T": np.array([[0.0]]), "hidden": "relu", "output": "identity_mse"}
    assert registry.get("mlp").kink_distance(s) == pytest.approx(0.01)
    assert registry.get("mlp").kink_distance({**s, "hidden": "tanh"}) == float("inf")


def test_step_and_perceptron_samples_include_the_boundary():
    # the convention step(0) = 0 is part of their check, so their samplers must hit 0 exactly
    rng = np.random.default_rng(1)
    assert any(np.any(registry.get("step").sample(rng)["x"] == 0.0) for _ in range(5))
    hits = 0
    for _ in range(50):
        s = registry.get("perceptron").sample(rng)
        hits += float(s["w"] @ s["x"] + s["b"]) == 0.0
    assert hits > 0


# --------------------------------------------------------------------------- API of the registry
def test_get_unknown_op_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown op 'no_such_op'; known ops: sigmoid, tanh"):
        registry.get("no_such_op")


def test_differentiable_ops_are_those_with_a_gradient():
    names = {op.name for op in registry.differentiable_ops()}
    assert names == set(DIFFERENTIABLE) | {"mlp"}


def test_describe_is_json_ready_for_every_entry():
    for op in registry.OPS:
        d = json.loads(json.dumps(op.describe()))
        assert d["name"] == op.name and d["functions"] == list(op.functions)


def test_opspec_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="OpSpec bad: kind must be one of"):
        OpSpec("bad", "magic", "x", "", (), ("f",), "", lambda rng: {})


def test_hyper_describe():
    assert Hyper("p", 0.0, 1.0, high_open=True).describe() == "0.0 <= p < 1.0"
    assert Hyper("stride", 1, integer=True).describe() == "1 <= stride (integer)"
    assert Hyper("eps", 0.0, low_open=True).describe() == "0.0 < eps"


# --------------------------------------------------------------------------- generic reference checks driven by the registry
GRAD_OPS = [op for op in registry.OPS if op.kind in ("differentiable", "loss")]


@pytest.mark.parametrize("op", GRAD_OPS, ids=[op.name for op in GRAD_OPS])
def test_every_forward_and_backward_rejects_a_non_finite_input(op):
    s = registry.get(op.name).sample(np.random.default_rng(0))
    first = op.differentiable_args[0]
    bad = dict(s, **{first: np.where(np.arange(np.size(s[first])).reshape(np.shape(s[first])) == 0, np.nan, s[first])})
    dy = 1.0 if op.kind == "loss" else np.ones(op.output_shape(s))
    with pytest.raises(ValueError, match=rf"{first} must be finite, got 1 non-finite value\(s\)"):
        getattr(ref, op.forward)(*op.forward_args(bad))
    with pytest.raises(ValueError, match=rf"{first} must be finite"):
        getattr(ref, op.backward)(*op.forward_args(bad), dy)


@pytest.mark.parametrize("op", GRAD_OPS, ids=[op.name for op in GRAD_OPS])
def test_every_backward_rejects_an_upstream_gradient_of_the_wrong_shape(op):
    s = registry.get(op.name).sample(np.random.default_rng(1))
    if op.kind == "loss":
        with pytest.raises(ValueError, match=r"dy of a scalar-valued function must be a scalar, got shape \(2,\)"):
            getattr(ref, op.backward)(*op.forward_args(s), np.ones(2))
    else:
        shape = tuple(op.output_shape(s))
        wrong = shape + (1,)
        with pytest.raises(ValueError, match=re.escape(f"dy must have the forward output's shape {shape}, got {wrong}")):
            getattr(ref, op.backward)(*op.forward_args(s), np.ones(wrong))


@pytest.mark.parametrize("op", [op for op in registry.OPS if op.hypers and op.kind in ("differentiable", "loss", "function", "rule")],
                         ids=[op.name for op in registry.OPS if op.hypers and op.kind in ("differentiable", "loss", "function", "rule")])
def test_every_hyperparameter_below_its_range_is_rejected_by_name(op):
    s = op.sample(np.random.default_rng(2))
    for h in op.hypers:
        if h.low is None:
            continue
        value = h.low - 1 if h.integer else (h.low if h.low_open else h.low - 0.5)
        with pytest.raises(ValueError, match=rf"{h.name} must be {'>' if h.low_open else '>='} {h.low}, got {value}"):
            getattr(ref, op.functions[0])(*op.forward_args({**s, h.name: value}))
