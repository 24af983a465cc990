"""The codebase gradspec is pointed at: the layer classes and the optimizers, as one module."""
from layers import *  # noqa: F401,F403
from optimizer import *  # noqa: F401,F403
