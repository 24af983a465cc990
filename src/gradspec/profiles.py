"""Run profiles: how many examples each oracle draws per op.

A profile multiplies every oracle's own default (``DEFAULT_EXAMPLES`` of the
oracle module, 1 when it declares none), so adding a slow oracle with a small
default never makes a profile unaffordable:

============  ==========  =======================================
profile       multiplier  use
============  ==========  =======================================
``dev``       1           the default: a quick answer (fd64: 3 examples)
``ci``        3           continuous integration
``thorough``  10          before a release; at least 10× the examples
============  ==========  =======================================

Used by ``gradspec check --profile``, ``gradspec.check(..., profile=)`` and the
pytest plugin's ``--gradspec-profile``. An explicit example count overrides it.

:data:`DEFAULT_ORACLES` is the oracle set of all three when none is named
(``gradspec check`` without ``--oracle``, ``gradspec.check(oracles=None)``, the
plugin without ``--gradspec-oracle``): ``fd64`` (forward against the spec,
backward against central differences, the conventions on the kinks, and its
targeted samples: a square W for affine and conv2d, logits of ±1000) and
``mpmath`` (a 50-digit truth on two small samples per op, which sees a 1e-8
relative error in one element, where float64 differences resolve about 1e-6).
Both are cheap at the registry's small shapes; ``symbolic`` (SymPy) and
``properties`` (Hypothesis) cost seconds to import and run, and are run by name.

"Profile" in gradspec means this; Hypothesis' settings profiles of the property
tests are :mod:`gradspec.properties.hypothesis_profiles` (same three names, a
different count), and the report's ``--quick`` is the report's own size.
"""
from __future__ import annotations

PROFILES: dict[str, int] = {"dev": 1, "ci": 3, "thorough": 10}
DEFAULT_PROFILE = "dev"
#: The oracles run when none is named (CLI, Python API and pytest plugin alike).
DEFAULT_ORACLES: tuple[str, ...] = ("fd64", "mpmath")


def examples_for(profile: str | None, oracles) -> dict[str, int] | None:
    """Examples per oracle name for ``profile``; None for ``dev`` (every oracle's default).

    Raises ``ValueError`` naming the known profiles for an unknown one.
    """
    profile = profile or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    factor = PROFILES[profile]
    if factor == 1:
        return None
    from . import oracles as oracle_registry

    return {name: factor * int(getattr(oracle_registry.get(name), "DEFAULT_EXAMPLES", 1) or 1) for name in oracles}


def option_problem(command: str, timeout, examples) -> str | None:
    """The usage error of a command line's ``--timeout`` and ``--examples`` (``gradspec check``, ``compare``), or
    None when both are usable: a timeout is a number of seconds >= 0, an example count >= 1."""
    if timeout is not None and not timeout >= 0:
        return f"gradspec {command}: --timeout must be a number of seconds >= 0 (0: no timeout), got {timeout}"
    if examples is not None and examples < 1:
        return f"gradspec {command}: --examples must be >= 1, got {examples}"
    return None
