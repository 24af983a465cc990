"""gradspec: a verification suite and reference specification for backpropagation.

Public API::

    import gradspec
    result = gradspec.check("my_layers", ops=["affine", "conv2d"], seed=0)
    result.ok, result.to_dict()

The reference implementation is :mod:`gradspec.reference`, the op registry
:mod:`gradspec.registry`.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("gradspec")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"


def check(impl=None, ops=None, oracles=("fd64",), seed=0, examples=None, progress=None):
    """Check an implementation against the spec; see :func:`gradspec.runner.check`."""
    from .runner import check as _check

    return _check(impl=impl, ops=ops, oracles=oracles, seed=seed, examples=examples, progress=progress)


__all__ = ["__version__", "check"]
