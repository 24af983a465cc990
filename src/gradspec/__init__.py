"""gradspec: a verification suite and reference specification for backpropagation.

Public API::

    import gradspec
    result = gradspec.check("my_layers", ops=["affine", "conv2d"], seed=0)
    result.ok, result.to_dict()
    gradspec.check(my_layers_module)               # a module object
    gradspec.check("my_layers:Layers", profile="ci")  # MODULE:OBJECT, 3x the examples

The reference implementation is :mod:`gradspec.reference`, the op registry
:mod:`gradspec.registry`.
"""
from .version import __version__


def check(impl=None, ops=None, oracles=None, seed=0, examples=None, progress=None, *, profile=None, limits=None,
          **options):
    """Check an implementation against the spec, op by op, and return a structured result.

    Parameters
    ----------
    impl : module, object, str or None
        What to check. A module object (``import my_layers; gradspec.check(my_layers)``),
        any object exposing protocol functions as attributes, or a string:
        ``"MODULE"``, ``"MODULE:OBJECT"`` (a class named there is instantiated
        with no arguments) or ``"path/to/file.py"``. None: the environment
        variable ``GRADSPEC_IMPL`` if set, else the reference :mod:`gradspec.reference`.
    ops : str or list of str, optional
        Op names of the registry (``gradspec ops``); default: every op.
    oracles : str or sequence of str, optional
        Oracle names (:data:`gradspec.oracles.ORACLES`); default
        :data:`gradspec.profiles.DEFAULT_ORACLES` (``fd64`` and ``mpmath``), the
        default of ``gradspec check`` and of the pytest plugin too.
    seed : int
        Seed of every random draw: the same seed gives the same verdicts.
    examples : int or dict, optional
        Samples per op and oracle (a dict maps oracle name to a count); overrides ``profile``.
    progress : callable, optional
        ``progress(op_name, index, total)`` is called before each op.
    profile : {"dev", "ci", "thorough"}, optional
        Example counts as a multiple of each oracle's default (1×, 3×, 10×); see
        :mod:`gradspec.profiles`. Default ``dev``.
    limits : dict or str, optional
        What the implementation supports, ``{op: {name: limit}}`` or a JSON file holding it (see
        :mod:`gradspec.limits`): each limited op is sampled within its limits. Default: the
        implementation's ``__gradspec_limits__``, if it declares any.
    **options
        Passed on to :func:`gradspec.runner.check` (e.g. options other areas add there).

    Returns
    -------
    gradspec.results.RunResult
        ``.ok``, ``.summary``, ``.ops[name].status`` / ``.checks`` / findings, and
        ``.to_dict()``: exactly what ``gradspec check --json`` writes.

    Raises
    ------
    KeyError
        An unknown op or oracle name (the message lists the known ones).
    ValueError
        An unknown profile; :class:`gradspec.limits.LimitsError` (a ValueError) for limits that cannot be used.
    gradspec.impl.ImplementationError
        The implementation cannot be imported or instantiated.

    Examples
    --------
    >>> import gradspec
    >>> r = gradspec.check("gradspec.reference", ops="affine")
    >>> r.ok, r.ops["affine"].status
    (True, 'pass')
    """
    from .impl import DEFAULT_TIMEOUT, Implementation
    from .profiles import DEFAULT_ORACLES, examples_for
    from .runner import check as _check

    if isinstance(ops, str):
        ops = [ops]
    if oracles is None:
        oracles = DEFAULT_ORACLES
    if isinstance(oracles, str):
        oracles = [oracles]
    oracles = list(oracles)
    if examples is None:
        examples = examples_for(profile, oracles)
    timeout = options.get("timeout")
    impl = Implementation.wrap(impl, DEFAULT_TIMEOUT if timeout is None else timeout)
    result = _check(impl=impl, ops=ops, oracles=oracles, seed=seed, examples=examples, progress=progress,
                    limits=limits, **options)
    from .registry import get as get_op

    for name, op_result in result.ops.items():
        warning = warnings_check(impl.take_warnings(get_op(name).functions))
        if warning is not None:
            op_result.checks.append(warning)
    return result


def warnings_check(raised: dict):
    """The warnings an op's functions raised (``{function: {"Category: message": count}}``) as one passing
    ``protocol/warnings`` check holding one finding, or None when there were none.

    A warning is not a wrong result (NumPy warns on an overflow that a correct algorithm may meet), so it never
    changes a verdict; it is reported so that it can be read, instead of being printed in the middle of a run.
    """
    from .results import CheckResult, Finding

    if not raised:
        return None
    parts = [f"{fn}: " + ", ".join(f"{key} ({n}×)" for key, n in counts.items()) for fn, counts in raised.items()]
    message = "warnings inside the implementation's calls: " + "; ".join(parts)
    total = sum(n for counts in raised.values() for n in counts.values())
    return CheckResult("protocol", "warnings", "pass", examples=0, message=message,
                       findings=[Finding("warning", message, {"warnings": raised, "count": total})])


__all__ = ["__version__", "check"]
