"""Load runs of the simulated hub and a system under test: profiles, pre-signed corpora, hub-side
service levels, and the runner behind ``lienthong load`` (Locust file: ``loadtests/agency_users.py``)."""

from simulator.load.profiles import LoadProfile, ProfileError, load_profile
from simulator.load.runner import LoadError, LoadExit, LoadOptions, LoadResult, run_load

__all__ = [
    "LoadError",
    "LoadExit",
    "LoadOptions",
    "LoadProfile",
    "LoadResult",
    "ProfileError",
    "load_profile",
    "run_load",
]
