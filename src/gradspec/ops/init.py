"""Records of the initialisation schemes (``gradspec.reference.init``)."""
from __future__ import annotations

import math
import numpy as np
from ..spec import Arg, OpSpec, Ref, Sampler, no_structure
from ..reference.init import fans
from ..variants import Catalogue

#: Shapes on which init schemes are checked: dense and conv with fan_in != fan_out,
#: so Glorot, LeCun and He give different variances.
INIT_SHAPES = ((300, 200), (64, 32, 3, 3))


def init_values(case, rng):
    return {"shape": INIT_SHAPES[int(rng.integers(0, len(INIT_SHAPES)))], "seed": int(rng.integers(0, 2**31))}


def init_scheme(name: str, summary: str, numerator: int, fan: str) -> OpSpec:
    """The record of one scheme, whose target variance is numerator / fan_in (``fan="in"``) or / (fan_in + fan_out)."""
    return OpSpec(name, "init", "init", summary, (Arg("shape", "shape"), Arg("rng", "rng")), (name,),
                  "returns an array of the given shape",
                  Sampler(no_structure, init_values, Ref(__name__, "None_strategy"), ("away",)),
                  conventions=("fan_in, fan_out: (D, M) -> D, M; (F, C, KH, KW) -> C·KH·KW, F·KH·KW",
                               "rng is a NumPy Generator; no global random state"),
                  vector_values=Ref("gradspec.mpmath_oracle.vectors_mp", "values_init", (("numerator", numerator), ("fan", fan))),
                  variants=Ref(__name__, "CATALOGUE"))


# ====================================================================== the ops' pieces for each oracle (named by the records' Refs)


# --------------------------------------------------------------------------- Hypothesis strategies (the property library)
def None_strategy(*args, **kwargs):
    """The Hypothesis strategy ``build(*args, **kwargs)`` below (Hypothesis is imported when called)."""
    from ..properties.strategies import seeds
    from hypothesis import event
    from hypothesis import strategies as st

    @st.composite
    def build(draw, mode):
        """Dense (D, M) or conv (F, C, KH, KW) shapes with fan_in != fan_out and >= 4000 weights."""
        if draw(st.booleans()):
            D, M = draw(st.sampled_from([(200, 60), (64, 256), (500, 30), (100, 300)]))
            shape = (D, M)
        else:
            F, C = draw(st.sampled_from([(64, 16), (16, 64), (32, 8)]))
            k = draw(st.sampled_from([3, 5]))
            shape = (F, C, k, k)
        event(f"init: {len(shape)}-D shape")
        return {"shape": shape, "seed": draw(seeds())}

    return build(*args, **kwargs)


OPS = (
    init_scheme("init_xavier_normal", "N(0, 2/(fan_in+fan_out))", 2, "sum"),
    init_scheme("init_xavier_uniform", "U[−a, a], a = √(6/(fan_in+fan_out))", 2, "sum"),
    init_scheme("init_he_normal", "N(0, 2/fan_in)", 2, "in"),
    init_scheme("init_he_uniform", "U[−a, a], a = √(6/fan_in)", 2, "in"),
    init_scheme("init_lecun_normal", "N(0, 1/fan_in) (what some books call Xavier)", 1, "in"),
)


# ====================================================================== known wrong variants (the diagnosis and the mutants)
# Known variants of the initialisers (mutants only: the diagnosis names a wrong init by its measured variance).
CATALOGUE = Catalogue()
C = CATALOGUE


def normal(var_fn):
    return lambda shape, rng: rng.normal(0.0, math.sqrt(var_fn(*fans(shape))), size=tuple(shape))


def uniform(var_fn):
    return lambda shape, rng: (lambda a: rng.uniform(-a, a, size=tuple(shape)))(math.sqrt(3 * var_fn(*fans(shape))))


def he_conv_channels_only(shape, rng):
    shape = tuple(shape)
    fan_in = shape[1] if len(shape) == 4 else shape[0]  # forgets the receptive field KH·KW
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)


C.mutant("init_xavier_normal_lecun_fan", "init_xavier_normal", "Xavier normal with LeCun's variance 1/fan_in instead of 2/(fan_in + fan_out)",
         init_xavier_normal=normal(lambda fi, fo: 1.0 / fi))
C.mutant("init_xavier_uniform_draws_normal", "init_xavier_uniform", "Xavier 'uniform' drawn from a normal of the right variance",
         init_xavier_uniform=normal(lambda fi, fo: 2.0 / (fi + fo)))
C.mutant("init_he_normal_fan_out", "init_he_normal", "He normal with fan_out instead of fan_in", init_he_normal=normal(lambda fi, fo: 2.0 / fo))
C.mutant("init_he_uniform_lecun_bound", "init_he_uniform", "He uniform with the LeCun bound √(3/fan_in) instead of √(6/fan_in)",
         init_he_uniform=uniform(lambda fi, fo: 1.0 / fi))
C.mutant("init_lecun_normal_glorot_fans", "init_lecun_normal", "LeCun normal with Glorot's 2/(fan_in + fan_out)",
         init_lecun_normal=normal(lambda fi, fo: 2.0 / (fi + fo)))
C.mutant("init_he_normal_global_rng", "init_he_normal", "He normal drawn from NumPy's global random state, ignoring the Generator",
         init_he_normal=lambda shape, rng: np.random.normal(0.0, math.sqrt(2.0 / fans(shape)[0]), size=tuple(shape)))
C.mutant("init_he_normal_conv_fan_without_kernel", "init_he_normal", "for conv weights fan_in = C, forgetting the receptive field KH·KW",
         init_he_normal=he_conv_channels_only)
