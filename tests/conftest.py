"""Shared pytest configuration of gradspec's test suite."""
from gradspec.properties import profiles as _hypothesis_profiles

# Hypothesis profiles dev (default), ci, thorough: select with `pytest --hypothesis-profile NAME`.
_hypothesis_profiles.register()
