"""lienthong: conformance harness and simulator for Vietnam's national e-document exchange hub."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lienthong")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
