"""Shared pytest configuration of gradspec's test suite."""
from gradspec.properties import hypothesis_profiles

# Hypothesis profiles dev (default), ci, thorough: select with `pytest --hypothesis-profile NAME`.
hypothesis_profiles.register()
