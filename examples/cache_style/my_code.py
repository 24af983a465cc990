"""The codebase gradspec is pointed at: the layers and the update rules, as one module."""
from layers import *  # noqa: F401,F403
from optim import *  # noqa: F401,F403
