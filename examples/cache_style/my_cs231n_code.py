"""The codebase gradspec is pointed at: the layers and the update rules, as one module."""
from cs231n_layers import *  # noqa: F401,F403
from cs231n_optim import *  # noqa: F401,F403
