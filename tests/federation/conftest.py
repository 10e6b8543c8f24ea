"""The federated stack for this directory's tests: city-a and city-b (each Synapse + Yakuba,
partners of each other) and city-c (a plain Synapse on nobody's allow-list), one per run of
this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.federation_stack import FederatedStack, start_federation


@pytest.fixture(scope="package")  # torn down before the rest of the suite runs
def cities() -> Iterator[FederatedStack]:
    stack = start_federation()
    try:
        yield stack
    finally:
        stack.close()
