"""The high-precision oracle: every op's forward in mpmath at 50 digits, numerical
differentiation as the ground truth, and a float64 error-analysis tolerance model."""
