"""The symbolic oracle: gradients derived with SymPy from each op's definition.

Modules: :mod:`.definitions` (each op's forward in SymPy, one place per op),
:mod:`.derive` (VJPs by ``sympy.diff``, cached; 50-digit evaluation; exact
identities), :mod:`.oracle` (the ``symbolic`` oracle of ``gradspec check``),
:mod:`.backprop` (BP1–BP4 proofs), :mod:`.dimensions` (the dimension-rule
table), :mod:`.rules` (optimizers, clipping, step, perceptron).
"""


def bp_proofs(*args, **kwargs):
    """The BP1–BP4 proof table; see :func:`gradspec.symbolic.backprop.bp_proofs`."""
    from .backprop import bp_proofs as run

    return run(*args, **kwargs)


def dimension_table(*args, **kwargs):
    """The dimension-rule table; see :func:`gradspec.symbolic.dimensions.dimension_table`."""
    from .dimensions import dimension_table as run

    return run(*args, **kwargs)
