"""Adapters: other frameworks' implementations exposed through the gradspec protocol."""
