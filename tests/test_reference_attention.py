"""Unit tests of the reference's scaled dot-product attention (gradspec.reference.attention)."""
from __future__ import annotations

import numpy as np
import pytest

from gradspec.reference import attention_backward, attention_forward, causal_mask


def _one_query():
    """d = 4 (so 1/√d = 1/2): scores 0 and ln 3, weights 1/4 and 3/4."""
    Q = np.array([[2.0, 0.0, 0.0, 0.0]])
    K = np.array([[0.0, 0.0, 0.0, 0.0], [np.log(3.0), 0.0, 0.0, 0.0]])
    V = np.array([[4.0], [8.0]])
    return Q, K, V


def test_forward_at_a_hand_computed_point():
    Q, K, V = _one_query()
    assert attention_forward(Q, K, V) == pytest.approx(np.array([[0.25 * 4 + 0.75 * 8]]), rel=1e-15)


def test_without_the_scale_the_value_would_differ():
    """The 1/√d is applied: unscaled scores 0 and 2 ln 3 would weigh V by 1/10 and 9/10."""
    Q, K, V = _one_query()
    assert attention_forward(Q, K, V)[0, 0] != pytest.approx(0.1 * 4 + 0.9 * 8)


def test_backward_at_a_hand_computed_point():
    Q, K, V = _one_query()
    dy = np.array([[2.0]])
    dQ, dK, dV = attention_backward(Q, K, V, None, dy)
    p = np.array([0.25, 0.75])
    assert dV == pytest.approx(2.0 * p[:, None], rel=1e-15)
    # dP_j = dy·V_j = (8, 16); dS = p ⊙ (dP − ⟨p, dP⟩) = (0.25·(8 − 14), 0.75·(16 − 14)) = (−1.5, 1.5)
    dS = np.array([-1.5, 1.5])
    assert dQ == pytest.approx((dS @ K)[None, :] / 2, rel=1e-14)
    assert dK == pytest.approx(dS[:, None] * Q / 2, rel=1e-14, abs=1e-15)


def test_causal_mask_is_top_left_aligned():
    assert causal_mask(3, 3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 4).tolist() == [[True, False, False, False], [True, True, False, False]]
    assert causal_mask(3, 1).tolist() == [[True], [True], [True]]  # every row attends key 0
    assert causal_mask(2, 2).dtype == bool


@pytest.mark.parametrize("Tq, Tk", [(0, 2), (2, 0), (1.5, 2), (True, 2)])
def test_causal_mask_rejects_a_bad_size(Tq, Tk):
    with pytest.raises(ValueError, match="causal_mask: T[qk] must be an integer >= 1"):
        causal_mask(Tq, Tk)


def test_causal_first_row_is_the_first_value_exactly():
    rng = np.random.default_rng(0)
    Q, K, V = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2))
    Y = attention_forward(Q, K, V, causal_mask(3, 3))
    assert np.array_equal(Y[:, 0], V[:, 0])


def test_a_masked_key_has_exactly_zero_weight_at_any_score():
    """The masked score is replaced by −∞: a masked key with a score of 1e200 still gets no weight (an additive
    −1e9 would leave it the whole weight)."""
    Q, K, V = np.array([[1.0]]), np.array([[1e200], [0.0]]), np.array([[5.0], [7.0]])
    mask = np.array([[False, True]])
    assert attention_forward(Q, K, V, mask).tolist() == [[7.0]]
    dQ, dK, dV = attention_backward(Q, K, V, mask, np.array([[3.0]]))
    assert dK[0].tolist() == [0.0] and dV[0].tolist() == [0.0] and dV[1].tolist() == [3.0]
    assert np.all(np.isfinite(dQ))


def test_masked_positions_get_exactly_zero_gradient():
    rng = np.random.default_rng(1)
    Q, K, V = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    dy = np.zeros((3, 2))
    dy[0] = rng.normal(size=2)  # only query 0, which attends key 0 alone
    _, dK, dV = attention_backward(Q, K, V, causal_mask(3, 3), dy)
    assert np.all(dK[1:] == 0.0) and np.all(dV[1:] == 0.0)
    assert np.any(dV[0] != 0.0)


def test_no_mask_is_every_key_and_a_numeric_01_mask_is_the_boolean_one():
    rng = np.random.default_rng(2)
    Q, K, V = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 4, 3))
    full = np.ones((3, 4), dtype=bool)
    assert np.array_equal(attention_forward(Q, K, V), attention_forward(Q, K, V, full))
    m = causal_mask(3, 4)
    for numeric in (m.astype(np.float64), m.astype(np.int64)):
        assert np.array_equal(attention_forward(Q, K, V, numeric), attention_forward(Q, K, V, m))
        dy = rng.normal(size=(2, 3, 3))
        for a, b in zip(attention_backward(Q, K, V, numeric, dy), attention_backward(Q, K, V, m, dy)):
            assert np.array_equal(a, b)


def test_a_mask_broadcasts_over_the_batch_axes():
    rng = np.random.default_rng(3)
    Q, K, V = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 1))
    m = causal_mask(3, 3)
    full = np.broadcast_to(m, (2, 3, 3)).copy()
    assert np.array_equal(attention_forward(Q, K, V, m), attention_forward(Q, K, V, full))


def test_a_fully_masked_row_is_a_value_error_naming_the_rule():
    Q, K, V = np.ones((2, 2)), np.ones((3, 2)), np.ones((3, 1))
    mask = np.array([[True, False, False], [False, False, False]])
    with pytest.raises(ValueError, match="every query row must attend at least one key") as e:
        attention_forward(Q, K, V, mask)
    assert "(1,)" in str(e.value)  # the row
    with pytest.raises(ValueError, match="every query row must attend at least one key"):
        attention_backward(Q, K, V, mask, np.ones((2, 1)))


@pytest.mark.parametrize("Q, K, V, mask, rule", [
    (np.ones((2, 3)), np.ones((4, 2)), np.ones((4, 1)), None, "K must have Q's feature size d = 3"),
    (np.ones((2, 3)), np.ones((4, 3)), np.ones((5, 1)), None, "V must have one row per key, Tk = 4"),
    (np.ones((1, 2, 3)), np.ones((2, 4, 3)), np.ones((2, 4, 1)), None, "same leading"),
    (np.ones(3), np.ones((4, 3)), np.ones((4, 1)), None, "Q must have at least 2 dimensions"),
    (np.ones((0, 3)), np.ones((4, 3)), np.ones((4, 1)), None, "Q must have no empty axis"),
    (np.ones((2, 3)), np.ones((4, 3)), np.ones((4, 1)), np.ones((3, 4), dtype=bool), "mask must be broadcastable"),
    (np.ones((2, 3)), np.ones((4, 3)), np.ones((4, 1)), np.full((2, 4), 0.5), "must hold only 0 and 1"),
    (np.array([[np.nan, 1.0]]), np.ones((1, 2)), np.ones((1, 1)), None, "Q must be finite"),
])
def test_bad_input_raises_naming_the_rule(Q, K, V, mask, rule):
    with pytest.raises(ValueError, match=rule):
        attention_forward(Q, K, V, mask)


def test_a_mask_of_strings_is_a_type_error():
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        attention_forward(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 1)), np.array([["yes"]]))


def test_dy_must_have_the_output_shape():
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 1\)"):
        attention_backward(np.ones((2, 3)), np.ones((4, 3)), np.ones((4, 1)), None, np.ones((2, 3)))


def test_inputs_are_not_modified():
    rng = np.random.default_rng(4)
    args = [rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), causal_mask(3, 3)]
    dy = rng.normal(size=(3, 2))
    before = [a.copy() for a in args] + [dy.copy()]
    attention_forward(*args)
    attention_backward(*args, dy)
    assert all(np.array_equal(a, b) for a, b in zip(args + [dy], before))


def test_scores_of_size_1e4_stay_finite_and_rows_sum_to_one():
    rng = np.random.default_rng(5)
    Q, K = 100.0 * rng.normal(size=(4, 3)), 100.0 * rng.normal(size=(4, 3))
    V = np.ones((4, 2))
    Y = attention_forward(Q, K, V, causal_mask(4, 4))
    assert np.allclose(Y, 1.0, rtol=0, atol=4e-16)  # the weights sum to 1 in every row
    assert all(np.all(np.isfinite(g)) for g in attention_backward(Q, K, V, causal_mask(4, 4), np.ones((4, 2))))
