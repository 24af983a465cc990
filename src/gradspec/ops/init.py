"""Records of the initialisation schemes (``gradspec.reference.init``)."""
from __future__ import annotations

from ..spec import Arg, OpSpec, Sampler, no_structure
from . import refs

#: Shapes on which init schemes are checked: dense and conv with fan_in != fan_out,
#: so Glorot, LeCun and He give different variances.
INIT_SHAPES = ((300, 200), (64, 32, 3, 3))


def init_values(case, rng):
    return {"shape": INIT_SHAPES[int(rng.integers(0, len(INIT_SHAPES)))], "seed": int(rng.integers(0, 2**31))}


def init_scheme(name: str, summary: str, numerator: int, fan: str) -> OpSpec:
    """The record of one scheme, whose target variance is numerator / fan_in (``fan="in"``) or / (fan_in + fan_out)."""
    return OpSpec(name, "init", "init", summary, (Arg("shape", "shape"), Arg("rng", "rng")), (name,),
                  "returns an array of the given shape",
                  Sampler(no_structure, init_values, refs.strategy("init"), ("away",)),
                  conventions=("fan_in, fan_out: (D, M) -> D, M; (F, C, KH, KW) -> C·KH·KW, F·KH·KW",
                               "rng is a NumPy Generator; no global random state"),
                  vector_values=refs.vector_values("values_init", numerator=numerator, fan=fan),
                  variants=refs.variants("init"))


OPS = (
    init_scheme("init_xavier_normal", "N(0, 2/(fan_in+fan_out))", 2, "sum"),
    init_scheme("init_xavier_uniform", "U[−a, a], a = √(6/(fan_in+fan_out))", 2, "sum"),
    init_scheme("init_he_normal", "N(0, 2/fan_in)", 2, "in"),
    init_scheme("init_he_uniform", "U[−a, a], a = √(6/fan_in)", 2, "in"),
    init_scheme("init_lecun_normal", "N(0, 1/fan_in) (what some books call Xavier)", 1, "in"),
)
