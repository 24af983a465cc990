"""Run profiles: how many examples each oracle draws per op.

A profile multiplies every oracle's own default (``DEFAULT_EXAMPLES`` of the
oracle module, 1 when it declares none), so adding a slow oracle with a small
default never makes a profile unaffordable:

============  ==========  ==============================================
profile       multiplier  use
============  ==========  ==============================================
``dev``       1           the default: a quick answer (fd64: 3 examples)
``ci``        3           continuous integration
``thorough``  10          before a release; at least 10× the examples
============  ==========  ==============================================

Used by ``gradspec check --profile``, ``gradspec.check(..., profile=)`` and the
pytest plugin's ``--gradspec-profile``. An explicit example count overrides it.
"Profile" in gradspec means this; Hypothesis' settings profiles of the property
tests are :mod:`gradspec.properties.hypothesis_profiles` (same three names, a
different count), and the report's ``--quick`` is the report's own size.
"""
from __future__ import annotations

PROFILES: dict[str, int] = {"dev": 1, "ci": 3, "thorough": 10}
DEFAULT_PROFILE = "dev"


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
