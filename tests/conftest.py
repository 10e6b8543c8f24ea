"""Fixtures: a real Synapse (session), a Yakuba appservice process on top of it, test users.

The pieces live in tests/stack.py so benchmarks can start the same stack outside pytest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack import (  # noqa: F401  (re-exported for tests)
    PASSWORD,
    SERVER_NAME,
    WORKING_TIME,
    Homeserver,
    YakubaProcess,
    free_port,
    start_homeserver,
    start_yakuba,
    write_yakuba_config,
)


@pytest.fixture(scope="session")
def homeserver() -> Iterator[Homeserver]:
    hs = start_homeserver()
    try:
        yield hs
    finally:
        hs.close()


@pytest.fixture(scope="session")
def yakuba(homeserver: Homeserver) -> Iterator[YakubaProcess]:
    """One Yakuba for the whole session (the registration names one appservice URL)."""
    y = start_yakuba(homeserver)
    yield y
    y.stop()
