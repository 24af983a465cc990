"""gradspec's version, read from the installed package's metadata ("0+unknown" in a source tree never installed)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gradspec")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
