"""Reference weight initialisers: Glorot/Xavier, He, LeCun, from an explicit Generator."""
import math

import numpy as np
import pytest

import gradspec.reference as ref
from gradspec.statistics import ks_test, normal_cdf, uniform_cdf
from _impls import strict

SCHEMES = ["init_xavier_normal", "init_xavier_uniform", "init_he_normal", "init_he_uniform", "init_lecun_normal"]


def expected(scheme, fan_in, fan_out):
    """(family, variance) written out from the literature, independently of reference.init.target."""
    return {
        "init_xavier_normal": ("normal", 2.0 / (fan_in + fan_out)),  # Glorot & Bengio 2010
        "init_xavier_uniform": ("uniform", 2.0 / (fan_in + fan_out)),  # U[−a, a], a² / 3 = 2/(in + out)
        "init_he_normal": ("normal", 2.0 / fan_in),  # He et al. 2015
        "init_he_uniform": ("uniform", 2.0 / fan_in),
        "init_lecun_normal": ("normal", 1.0 / fan_in),  # LeCun 1998
    }[scheme]


def test_fans_hand_values():
    # dense (D, M) -> (D, M); conv (F, C, KH, KW) -> (C·KH·KW, F·KH·KW) = (32·9, 64·9)
    assert ref.fans((300, 200)) == (300, 200)
    assert ref.fans((64, 32, 3, 3)) == (288, 576)
    assert ref.fans((1, 1, 5, 1)) == (5, 5)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("shape,fan_in,fan_out", [((300, 200), 300, 200), ((64, 32, 3, 3), 288, 576)])
def test_statistics_match_the_scheme(scheme, shape, fan_in, fan_out):
    family, var = expected(scheme, fan_in, fan_out)
    W = getattr(ref, scheme)(shape, np.random.default_rng(12345))
    assert W.shape == shape and W.dtype == np.float64
    n = W.size
    # mean within 5 standard errors of 0; variance within 5 standard errors of the target
    assert abs(W.mean()) < 5 * math.sqrt(var / n)
    kurt = 2.0 if family == "normal" else 0.8  # Var(s²) ≈ (μ4 − σ⁴)/n
    assert abs(W.var() - var) < 5 * var * math.sqrt(kurt / n)
    std = math.sqrt(var)
    cdf = normal_cdf(std) if family == "normal" else uniform_cdf(math.sqrt(3 * var))
    other = uniform_cdf(math.sqrt(3 * var)) if family == "normal" else normal_cdf(std)
    assert ks_test(W, cdf)[1] > 1e-6
    assert ks_test(W, other)[1] < 1e-6  # and the other family is rejected: the test has power here
    if family == "uniform":
        assert np.max(np.abs(W)) <= math.sqrt(3 * var)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_deterministic_and_no_global_state(scheme):
    before = np.random.get_state()[1].copy()
    a = getattr(ref, scheme)((20, 10), np.random.default_rng(3))
    b = getattr(ref, scheme)((20, 10), np.random.default_rng(3))
    c = getattr(ref, scheme)((20, 10), np.random.default_rng(4))
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_errstate_and_tiny_and_huge_fans(scheme):
    with strict():
        for shape in [(1, 1), (1, 1, 1, 1), (5000, 1), (1, 512, 7, 7)]:
            W = getattr(ref, scheme)(shape, np.random.default_rng(0))
            assert W.shape == shape and np.all(np.isfinite(W))


def test_lecun_is_not_xavier():
    # the std √(1/fan_in) that some books call Xavier differs from Glorot's √(2/(in + out)) when in ≠ out
    rng = np.random.default_rng(0)
    lecun = ref.init_lecun_normal((400, 100), rng).var()
    glorot = ref.init_xavier_normal((400, 100), rng).var()
    assert lecun == pytest.approx(1 / 400, rel=0.05) and glorot == pytest.approx(2 / 500, rel=0.05)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("scheme", SCHEMES)
def test_rng_must_be_a_generator(scheme):
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator \(np.random.default_rng\(seed\)\), got RandomState"):
        getattr(ref, scheme)((3, 2), np.random.RandomState(0))
    with pytest.raises(TypeError, match="got int"):
        getattr(ref, scheme)((3, 2), 0)


@pytest.mark.parametrize("shape,pattern", [
    ((3,), r"init: shape must be dense \(D, M\) or conv \(F, C, KH, KW\), got \(3,\)"),
    ((2, 3, 4), r"got \(2, 3, 4\)"),
    ((0, 3), r"init: every dimension must be >= 1, got \(0, 3\)"),
])
def test_bad_shapes(shape, pattern):
    with pytest.raises(ValueError, match=pattern):
        ref.init_he_normal(shape, np.random.default_rng(0))


def test_shape_must_be_a_tuple_of_ints():
    with pytest.raises(TypeError, match="shape must be a tuple of ints, got 5"):
        ref.init_he_normal(5, np.random.default_rng(0))
