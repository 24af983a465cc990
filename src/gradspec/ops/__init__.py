"""The op records: one module per spec area, each with the :class:`~gradspec.spec.OpSpec` of its ops.

A record is the op's whole description: protocol functions, arguments, shape
rule, hyperparameters, kinks and conventions, its sampler family, and
references to its SymPy definition, mpmath forward, float64 error model,
golden-vector closed forms and kink cases. :mod:`gradspec.registry` collects
:data:`AREAS` in this order.
"""
from __future__ import annotations

from . import (activations, affine, attention, conv, embedding, init, losses, mlp, normalization, optim, perceptron,
               pooling, regularization, residual, rnn)

#: The record modules, in the registry's order.
AREAS = (activations, affine, losses, conv, pooling, normalization, regularization, optim, init, mlp, perceptron, embedding,
         residual, attention, rnn)
