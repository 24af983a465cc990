"""Known variants of the initialisers (mutants only: the diagnosis names a wrong init by its measured variance)."""
from __future__ import annotations

import math

import numpy as np

from ..reference.init import fans
from . import Catalogue

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
