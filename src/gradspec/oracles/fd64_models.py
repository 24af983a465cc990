"""Building blocks of the fd64 oracle's models of ops (an op record's :class:`~gradspec.spec.FdModel`).

The relative difference step, the float64 epsilon and batchnorm's reduction groups, shared by
:mod:`gradspec.oracles.fd64` (the generic machinery) and the op-specific functions in the records
(steps on the scale at which an op varies, the forward on absolute values of the large sums, the
cancellation a correct forward may carry, the targeted samples where common bugs hide). It imports no
registry, so a record may use it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import reference as spec_impl
from ..reference.normalization import standardise  # the spec's overflow-free batch statistics

FD_REL_STEP = 6e-6  # ≈ ε^(1/3): balances truncation (h²) and rounding (ε/h)
EPS = float(np.finfo(np.float64).eps)


def bn_groups(x):
    """Axes over which batchnorm reduces, and the broadcast shape of per-feature values."""
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))


# --------------------------------------------------------------------------- steps


# --------------------------------------------------------------------------- magnitudes (large sums)


# --------------------------------------------------------------------------- conditioning and cancellation


# --------------------------------------------------------------------------- targeted samples


