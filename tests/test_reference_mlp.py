"""Reference MLP: BP1–BP4 in the row layout (the protocol's) and the column layout (Nielsen, Ng)."""
import itertools

import numpy as np
import pytest

import gradspec.reference as ref
from gradspec import registry
from gradspec.oracles.fd64 import central_difference
from _impls import assert_no_mutation, strict

HIDDEN = ("sigmoid", "tanh", "relu")
OUTPUTS = ("identity_mse", "sigmoid_mse", "softmax_cross_entropy")
COMBOS = list(itertools.product(HIDDEN, OUTPUTS))


# --------------------------------------------------------------------------- an independent forward pass
def sigma(name, z):
    return {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[name](z)


def sigma_prime(name, z):
    if name == "sigmoid":
        s = sigma("sigmoid", z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    return (z > 0).astype(float)


def cost(zL, T, output):
    """Mean cost of the output layer given z^L (row layout)."""
    N = zL.shape[0]
    if output == "softmax_cross_entropy":
        e = np.exp(zL - zL.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        return float(-np.sum(np.log(p[np.arange(N), T])) / N)
    a = zL if output == "identity_mse" else sigma("sigmoid", zL)
    return float(0.5 * np.sum((a - T) ** 2) / N)


def forward(params, X, hidden):
    zs, acts, a = [], [X], X
    for l, (W, b) in enumerate(params):
        z = a @ W + b
        zs.append(z)
        if l < len(params) - 1:
            a = sigma(hidden, z)
            acts.append(a)
    return zs, acts


def draw(rng, widths, N, output, relu_margin=0.05, hidden="tanh"):
    for _ in range(200):
        params = [(rng.normal(0, 1 / np.sqrt(widths[l]), size=(widths[l], widths[l + 1])), rng.normal(0, 0.5, size=widths[l + 1]))
                  for l in range(len(widths) - 1)]
        X = rng.normal(size=(N, widths[0]))
        T = rng.integers(0, widths[-1], size=N) if output == "softmax_cross_entropy" else rng.normal(size=(N, widths[-1]))
        zs, _ = forward(params, X, hidden)
        if hidden != "relu" or all(np.min(np.abs(z)) > relu_margin for z in zs[:-1]):
            return params, X, T
    raise AssertionError("no sample away from relu's kink")


# --------------------------------------------------------------------------- hand-computed
def test_hand_computed_one_layer():
    # z = 2·3 + 1 = 7, T = 4: C = ½(7 − 4)² = 4.5; δ = 3; dW = a⁰δ = 3·3 = 9; db = 3
    loss, grads, deltas = ref.mlp_backprop([(np.array([[2.0]]), np.array([1.0]))], np.array([[3.0]]), np.array([[4.0]]),
                                           "sigmoid", "identity_mse")
    assert loss == 4.5
    np.testing.assert_array_equal(deltas[0], [[3.0]])
    np.testing.assert_array_equal(grads[0][0], [[9.0]])
    np.testing.assert_array_equal(grads[0][1], [3.0])


@pytest.mark.parametrize("layout", ["row", "column"])
def test_hand_computed_two_layers_relu(layout):
    # x = 1; z¹ = 2·1 − 1 = 1, a¹ = relu(1) = 1; z² = 3·1 + 0 = 3; T = 1: C = ½(3 − 1)² = 2
    # BP1: δ² = 3 − 1 = 2; BP2: δ¹ = 3·2·relu'(1) = 6; BP3: db² = 2, db¹ = 6; BP4: dW² = a¹δ² = 2, dW¹ = xδ¹ = 6
    params = [(np.array([[2.0]]), np.array([-1.0])), (np.array([[3.0]]), np.array([0.0]))]
    if layout == "column":
        params = ref.to_column_layout(params)
    loss, grads, deltas = ref.mlp_backprop(params, np.array([[1.0]]), np.array([[1.0]]), "relu", "identity_mse", layout=layout)
    assert loss == 2.0
    assert [float(d.ravel()[0]) for d in deltas] == [6.0, 2.0]
    assert [(float(dW.ravel()[0]), float(db.ravel()[0])) for dW, db in grads] == [(6.0, 6.0), (2.0, 2.0)]


def test_hand_computed_softmax_output():
    # one layer, z = (0, 0) for any x when W = 0, b = 0: C = ln 2; δ = softmax − onehot = (−½, ½)
    loss, grads = ref.mlp_loss_and_grads([(np.zeros((3, 2)), np.zeros(2))], np.array([[1.0, 2.0, 3.0]]), np.array([0]),
                                         "relu", "softmax_cross_entropy")
    assert loss == pytest.approx(np.log(2.0), rel=1e-15)
    # dW = xᵀδ = (1, 2, 3)ᵀ(−½, ½)
    np.testing.assert_allclose(grads[0][0], np.outer([1.0, 2.0, 3.0], [-0.5, 0.5]), rtol=1e-15)
    np.testing.assert_allclose(grads[0][1], [-0.5, 0.5], rtol=1e-15)


# --------------------------------------------------------------------------- BP1–BP4 for every layer
@pytest.mark.parametrize("hidden,output", COMBOS)
def test_deltas_obey_bp1_to_bp4_row_layout(hidden, output):
    rng = np.random.default_rng(1)
    params, X, T = draw(rng, [3, 4, 3, 2], 5, output, hidden=hidden)
    loss, grads, deltas = ref.mlp_backprop(params, X, T, hidden, output)
    zs, acts = forward(params, X, hidden)
    N = X.shape[0]
    assert loss == pytest.approx(cost(zs[-1], T, output), rel=1e-13)
    # BP1: δ^L = ∇_a C ⊙ σ'(z^L), with the 1/N of the mean cost
    zL = zs[-1]
    if output == "identity_mse":
        bp1 = (zL - T) / N
    elif output == "sigmoid_mse":
        a = sigma("sigmoid", zL)
        bp1 = (a - T) * a * (1 - a) / N
    else:
        e = np.exp(zL - zL.max(axis=1, keepdims=True))
        bp1 = (e / e.sum(axis=1, keepdims=True) - np.eye(zL.shape[1])[T]) / N
    np.testing.assert_allclose(deltas[-1], bp1, rtol=1e-12, atol=1e-15)
    for l in range(len(params)):
        if l < len(params) - 1:  # BP2: δ^l = (δ^{l+1} (W^{l+1})ᵀ) ⊙ σ'(z^l)
            np.testing.assert_allclose(deltas[l], (deltas[l + 1] @ params[l + 1][0].T) * sigma_prime(hidden, zs[l]),
                                       rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grads[l][1], deltas[l].sum(axis=0), rtol=1e-12, atol=1e-15)  # BP3
        np.testing.assert_allclose(grads[l][0], acts[l].T @ deltas[l], rtol=1e-12, atol=1e-15)  # BP4


@pytest.mark.parametrize("hidden,output", [("tanh", "sigmoid_mse"), ("relu", "softmax_cross_entropy"), ("sigmoid", "identity_mse")])
def test_delta_is_the_gradient_of_the_cost_with_respect_to_z(hidden, output):
    # δ^l = ∂C/∂z^l, checked by central differences of the cost as a function of z^l
    rng = np.random.default_rng(2)
    params, X, T = draw(rng, [2, 3, 3, 2], 3, output, hidden=hidden)
    _, _, deltas = ref.mlp_backprop(params, X, T, hidden, output)
    zs, _ = forward(params, X, hidden)
    for l in range(len(params)):
        def C_of_z(z, l=l):
            for k in range(l + 1, len(params)):
                z = sigma(hidden, z) @ params[k][0] + params[k][1]
            return cost(z, T, output)

        d1, d2, _ = central_difference(C_of_z, zs[l])
        np.testing.assert_allclose(deltas[l], d1, rtol=1e-6, atol=1e-9 + float(np.max(np.abs(d1 - d2))))


# --------------------------------------------------------------------------- the two layouts
@pytest.mark.parametrize("hidden,output", COMBOS)
def test_row_and_column_layouts_agree_up_to_transposition(hidden, output):
    rng = np.random.default_rng(3)
    params, X, T = draw(rng, [4, 3, 5, 3], 6, output, hidden=hidden)
    loss_r, grads_r, deltas_r = ref.mlp_backprop(params, X, T, hidden, output, layout="row")
    cparams = ref.to_column_layout(params)
    Tc = T if output == "softmax_cross_entropy" else T.T
    loss_c, grads_c, deltas_c = ref.mlp_backprop(cparams, X.T, Tc, hidden, output, layout="column")
    assert loss_c == pytest.approx(loss_r, rel=1e-13)
    for (dWr, dbr), (dWc, dbc) in zip(grads_r, grads_c):
        assert dWc.shape == dWr.T.shape and dbc.shape == (dbr.size, 1)
        np.testing.assert_allclose(dWc, dWr.T, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dbc, dbr[:, None], rtol=1e-12, atol=1e-15)
    # row δ carries the 1/N of the mean cost; the column δ is per example, without 1/m
    m = X.shape[0]
    for dr, dc in zip(deltas_r, deltas_c):
        np.testing.assert_allclose(dr, dc.T / m, rtol=1e-12, atol=1e-15)
    # the column entry point returns the same as mlp_backprop(layout="column")
    lc, gc = ref.mlp_col_loss_and_grads(cparams, X.T, Tc, hidden, output)
    assert lc == loss_c and all(np.array_equal(a[0], b[0]) for a, b in zip(gc, grads_c))


@pytest.mark.parametrize("output", OUTPUTS)
def test_column_layout_puts_1_over_m_in_bp3_and_bp4(output):
    rng = np.random.default_rng(4)
    params, X, T = draw(rng, [3, 4, 2], 4, output)
    cparams = ref.to_column_layout(params)
    Tc = T if output == "softmax_cross_entropy" else T.T
    _, grads, deltas = ref.mlp_backprop(cparams, X.T, Tc, "tanh", output, layout="column")
    # each column of δ is that example's own δ (a batch of one, where m = 1)
    for j in range(X.shape[0]):
        Tj = T[[j]] if output == "softmax_cross_entropy" else T[[j]].T
        _, _, dj = ref.mlp_backprop(cparams, X[[j]].T, Tj, "tanh", output, layout="column")
        for l in range(len(params)):
            np.testing.assert_allclose(deltas[l][:, [j]], dj[l], rtol=1e-12, atol=1e-15)
    # BP3/BP4 with the 1/m: the mean of the per-example gradients
    m = X.shape[0]
    _, acts = forward(params, X, "tanh")
    for l, (dW, db) in enumerate(grads):
        np.testing.assert_allclose(dW, deltas[l] @ acts[l] / m, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(db, deltas[l].sum(axis=1, keepdims=True) / m, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("layout", ["row", "column"])
def test_duplicating_the_batch_leaves_the_gradient_unchanged(layout):
    # the cost is a batch mean: [x, x] has the same gradient as [x]
    rng = np.random.default_rng(5)
    params, X, T = draw(rng, [2, 3, 2], 1, "identity_mse")
    X2, T2 = np.concatenate([X, X]), np.concatenate([T, T])
    if layout == "column":
        params, X, T, X2, T2 = ref.to_column_layout(params), X.T, T.T, X2.T, T2.T
    _, g1, _ = ref.mlp_backprop(params, X, T, "sigmoid", "identity_mse", layout=layout)
    _, g2, _ = ref.mlp_backprop(params, X2, T2, "sigmoid", "identity_mse", layout=layout)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-13)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-13)


# --------------------------------------------------------------------------- gradients, purity, stability
@pytest.mark.parametrize("hidden,output", COMBOS)
def test_gradients_match_central_differences(hidden, output):
    rng = np.random.default_rng(6)
    params, X, T = draw(rng, [3, 3, 2], 3, output, hidden=hidden)
    _, grads = ref.mlp_loss_and_grads(params, X, T, hidden, output)
    for l, (W, b) in enumerate(params):
        for j, p in enumerate((W, b)):
            def f(x, l=l, j=j):
                ps = [list(q) for q in params]
                ps[l][j] = x
                return ref.mlp_loss_and_grads([tuple(q) for q in ps], X, T, hidden, output)[0]

            d1, d2, _ = central_difference(f, p)
            np.testing.assert_allclose(grads[l][j], d1, rtol=1e-6, atol=1e-9 + float(np.max(np.abs(d1 - d2))))


def test_registry_samples_are_valid_and_pure():
    op = registry.get("mlp")
    rng = np.random.default_rng(7)
    for _ in range(5):
        s = op.sample(rng)
        with strict():
            loss, grads = assert_no_mutation(ref.mlp_loss_and_grads, *op.forward_args(s))
        assert type(loss) is float
        assert [(dW.shape, db.shape) for dW, db in grads] == [(W.shape, b.shape) for W, b in s["params"]]


@pytest.mark.parametrize("hidden,output", COMBOS)
def test_errstate_with_saturating_weights(hidden, output):
    # pre-activations of ±1000s: sigmoid/tanh saturate and the fused softmax cross-entropy stays finite
    rng = np.random.default_rng(8)
    params, X, T = draw(rng, [3, 4, 3], 4, output, hidden=hidden)
    params = [(W * 1000, b * 1000) for W, b in params]
    with strict():
        loss, grads = ref.mlp_loss_and_grads(params, X, T, hidden, output)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for pair in grads for g in pair)


def test_softmax_output_at_the_edge_of_float64():
    # z = (1e308, −1e308) with label 0: the loss is 0 and δ = softmax − onehot = (0, 0); nothing may overflow
    params = [(np.array([[1e308, -1e308]]), np.zeros(2))]
    with strict():
        loss, grads = ref.mlp_loss_and_grads(params, np.array([[1.0]]), np.array([0]), "relu", "softmax_cross_entropy")
    assert loss == 0.0
    np.testing.assert_array_equal(grads[0][0], [[0.0, 0.0]])


# --------------------------------------------------------------------------- bad input
PARAMS = [(np.zeros((3, 4)), np.zeros(4)), (np.zeros((4, 2)), np.zeros(2))]


def test_choices_are_validated():
    with pytest.raises(ValueError, match=r"mlp: hidden must be one of \('sigmoid', 'tanh', 'relu'\), got 'softplus'"):
        ref.mlp_loss_and_grads(PARAMS, np.zeros((2, 3)), np.zeros((2, 2)), "softplus", "identity_mse")
    with pytest.raises(ValueError, match=r"mlp: output must be one of .*got 'hinge'"):
        ref.mlp_loss_and_grads(PARAMS, np.zeros((2, 3)), np.zeros((2, 2)), "relu", "hinge")
    with pytest.raises(ValueError, match=r"mlp: layout must be 'row' or 'column', got 'diagonal'"):
        ref.mlp_backprop(PARAMS, np.zeros((2, 3)), np.zeros((2, 2)), "relu", "identity_mse", layout="diagonal")


def test_layer_widths_must_chain():
    with pytest.raises(ValueError, match=r"mlp \(row layout\): W1 rows must equal the width 5 of layer 0, got W1 \(3, 4\)"):
        ref.mlp_loss_and_grads(PARAMS, np.zeros((2, 5)), np.zeros((2, 2)), "relu", "identity_mse")
    bad = [PARAMS[0], (np.zeros((3, 2)), np.zeros(2))]
    with pytest.raises(ValueError, match=r"W2 rows must equal the width 4 of layer 1, got W2 \(3, 2\)"):
        ref.mlp_loss_and_grads(bad, np.zeros((2, 3)), np.zeros((2, 2)), "relu", "identity_mse")
    with pytest.raises(ValueError, match=r"mlp \(column layout\): W1 columns must equal the width 5 of layer 0, got W1 \(4, 3\)"):
        ref.mlp_col_loss_and_grads(ref.to_column_layout(PARAMS), np.zeros((5, 2)), np.zeros((2, 2)), "relu", "identity_mse")


def test_bias_and_target_shapes():
    with pytest.raises(ValueError, match=r"b1 must have shape \(4,\), got \(3,\)"):
        ref.mlp_loss_and_grads([(np.zeros((3, 4)), np.zeros(3))], np.zeros((2, 3)), np.zeros((2, 4)), "relu", "identity_mse")
    with pytest.raises(ValueError, match=r"T must have the output's shape \(2, 2\), got \(2, 3\)"):
        ref.mlp_loss_and_grads(PARAMS, np.zeros((2, 3)), np.zeros((2, 3)), "relu", "identity_mse")
    with pytest.raises(ValueError, match=r"T must lie in \[0, K\) = \[0, 2\), got values in \[0, 2\]"):
        ref.mlp_loss_and_grads(PARAMS, np.zeros((2, 3)), np.array([0, 2]), "relu", "softmax_cross_entropy")
    with pytest.raises(ValueError, match=r"params must be a non-empty list of \(W, b\) pairs"):
        ref.mlp_loss_and_grads([], np.zeros((2, 3)), np.zeros((2, 2)), "relu", "identity_mse")
