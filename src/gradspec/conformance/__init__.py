"""Conformance tests run against any implementation: ``pytest --pyargs gradspec.conformance --gradspec-impl MODULE``."""
