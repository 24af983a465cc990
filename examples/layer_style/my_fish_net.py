"""The codebase gradspec is pointed at: the layer classes and the optimizers, as one module."""
from fish_layers import *  # noqa: F401,F403
from fish_optimizer import *  # noqa: F401,F403
