"""Hypothesis strategies and properties for every op of the registry (issue 5)."""
