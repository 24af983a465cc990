"""Reference embedding: the lookup E[ids], the scatter-add backward, and the validation of ids."""
import numpy as np
import pytest

import gradspec.reference as ref
from gradspec import registry
from _impls import assert_no_mutation, op_vjp_mismatch, samples, strict

E = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])


def test_forward_hand_values_keep_the_shape_of_ids():
    ids = np.array([[2, 0], [0, 1]])
    with strict():
        y = ref.embedding_forward(ids, E)
    assert y.shape == (2, 2, 2) and y.dtype == np.float64
    np.testing.assert_array_equal(y, [[[5.0, 6.0], [1.0, 2.0]], [[1.0, 2.0], [3.0, 4.0]]])


def test_backward_adds_the_rows_of_a_repeated_id():
    # id 1 occurs three times: dE[1] = (1, 0) + (2, 0) + (4, 5) = (7, 5); id 0 once; row 2 unused stays 0
    ids = np.array([1, 1, 0, 1])
    dy = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [4.0, 5.0]])
    with strict():
        dE = ref.embedding_backward(ids, E, dy)
    np.testing.assert_array_equal(dE, [[0.0, 3.0], [7.0, 5.0], [0.0, 0.0]])
    assert dE[1].tolist() != dy[-1].tolist()  # not the last write


def test_backward_pairs_each_position_of_2d_ids_with_its_row_of_dy():
    ids = np.array([[0, 2, 0], [1, 0, 2]])
    dy = np.arange(12.0).reshape(2, 3, 2)
    with strict():
        dE = ref.embedding_backward(ids, E, dy)
    # row 0 at positions (0,0), (0,2), (1,1): dy rows 0, 2, 4 -> (0+4+8, 1+5+9); row 1 at (1,0): dy row 3; row 2 at 1, 5
    np.testing.assert_array_equal(dE, [[12.0, 15.0], [6.0, 7.0], [12.0, 14.0]])


def test_a_scalar_id_selects_one_row():
    with strict():
        assert ref.embedding_forward(np.int64(2), E).tolist() == [5.0, 6.0]
        np.testing.assert_array_equal(ref.embedding_backward(np.int64(2), E, np.array([1.0, -1.0])),
                                      [[0.0, 0.0], [0.0, 0.0], [1.0, -1.0]])


def test_backward_matches_central_differences_on_registry_samples():
    op = registry.get("embedding")
    for s in samples(op, 6):
        assert op_vjp_mismatch(op, s, np.random.default_rng(0)) <= 1.0


def test_no_input_is_modified():
    ids, dy = np.array([[1, 1], [0, 2]]), np.ones((2, 2, 2))
    assert_no_mutation(ref.embedding_forward, ids, E)
    assert_no_mutation(ref.embedding_backward, ids, E, dy)


@pytest.mark.parametrize("bad", [-1, 3])
def test_ids_outside_the_rows_of_E_are_rejected_naming_the_rule(bad):
    ids = np.array([0, bad, 1])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, V\) = \[0, 3\)") as exc:
        ref.embedding_forward(ids, E)
    assert str(bad) in str(exc.value)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, V\) = \[0, 3\)"):
        ref.embedding_backward(ids, E, np.ones((3, 2)))


def test_non_integer_ids_and_bad_shapes_are_rejected():
    with pytest.raises(TypeError, match="ids must be an integer array, got dtype float64"):
        ref.embedding_forward(np.array([0.0, 1.0]), E)
    with pytest.raises(TypeError, match="ids must be an integer array, got dtype bool"):
        ref.embedding_forward(np.array([True, False]), E)
    with pytest.raises(ValueError, match="E must have 2 dimensions"):
        ref.embedding_forward(np.array([0]), np.ones(3))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 2\), got \(2, 3\)"):
        ref.embedding_backward(np.array([0, 1]), E, np.ones((2, 3)))
