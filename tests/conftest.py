"""Shared test configuration: hypothesis profiles and the library-wide settings."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from bot.libraries import tune_libraries

# "default" keeps `make test` fast; HYPOTHESIS_PROFILE=thorough digs deeper before a release.
settings.register_profile("default", max_examples=150, deadline=None)
settings.register_profile(
    "thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The PostgreSQL leg: a throwaway server for the storage tests, and the banner if it is skipped;
# pytester runs small pytest sessions in a subprocess (the leg's own tests).
pytest_plugins = ["tests.postgres", "pytester"]


@pytest.fixture(autouse=True, scope="session")
def library_settings() -> None:
    """What every entry point sets at start-up (``bot.libraries``), for code run in-process.

    pytest owns the root logger here, so only the library-wide part: the SDKs' environment,
    their loggers' levels and filters.
    """
    tune_libraries()
