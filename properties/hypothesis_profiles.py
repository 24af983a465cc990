"""Hypothesis settings profiles of gradspec: ``dev`` (default), ``ci``, ``thorough``.

These are Hypothesis' profiles (examples per property of the test suite and the property library); the run
profiles of ``gradspec check --profile`` are :mod:`gradspec.profiles`, and the report's ``--quick`` is its own
size.

=========  ============  ===========================================================
profile    examples      use
=========  ============  ===========================================================
dev        10            the default: the project's whole ``pytest`` run stays under 3 min on 2 cores
ci         10            derandomized (the same examples every run), no example database, no deadline
thorough   150           15× the examples, for a nightly run or before a release (minutes)
=========  ============  ===========================================================

Each count is the base number of examples per property; slow properties
(init statistics, perceptron training, 2000-mask dropout means, BP1–BP4 by
central differences) run a fixed fraction of it, never fewer than 2, instead of
being skipped. Select one with ``pytest --hypothesis-profile ci``; outside
pytest call :func:`load` (or set ``GRADSPEC_HYPOTHESIS_PROFILE`` before
calling :func:`register`). No profile has a deadline: the machine running the
suite may be shared, and a slow example is not a wrong one.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

DEV_EXAMPLES = 10
THOROUGH_EXAMPLES = 15 * DEV_EXAMPLES
PROFILES = ("dev", "ci", "thorough")
ENV_VAR = "GRADSPEC_HYPOTHESIS_PROFILE"

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def register() -> None:
    """Register the three profiles with Hypothesis (idempotent) and load ``$GRADSPEC_HYPOTHESIS_PROFILE`` or ``dev``.

    ``pytest --hypothesis-profile NAME`` then overrides the loaded one (Hypothesis'
    pytest plugin loads it after the conftest has registered the profiles).
    """
    settings.register_profile("dev", max_examples=DEV_EXAMPLES, **_COMMON)
    settings.register_profile("ci", max_examples=DEV_EXAMPLES, derandomize=True, database=None, print_blob=True, **_COMMON)
    settings.register_profile("thorough", max_examples=THOROUGH_EXAMPLES, **_COMMON)
    load(os.environ.get(ENV_VAR, "dev"))


def load(name: str) -> None:
    """Load a profile by name; ``ValueError`` names the known profiles."""
    if name not in PROFILES:
        raise ValueError(f"unknown Hypothesis profile {name!r}; gradspec's profiles are {PROFILES}")
    settings.load_profile(name)
