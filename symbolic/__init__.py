"""The symbolic oracle: gradients derived with SymPy from each op's definition (issue 3)."""
