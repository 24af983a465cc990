"""HTML verification reports rendered from the checker's JSON (issue 7)."""
