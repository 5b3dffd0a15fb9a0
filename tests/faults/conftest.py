"""Fixtures for the network fault suite: a fresh namespace pair per test, removed afterwards."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from .netns import NetPair, unavailable
from .scenario import Scenario


@pytest.fixture
def net() -> Iterator[NetPair]:
    """Two namespaces joined by a veth pair; skipped (with the reason) where they cannot be made."""
    reason = unavailable()
    if reason is not None:
        pytest.skip("network fault suite: %s" % reason)
    pair = NetPair()
    try:
        yield pair
    finally:
        pair.close()


@pytest.fixture
def scenario(net: NetPair, peers: Callable[..., Any]) -> Scenario:
    """A listener in namespace a and a connector in b (not started yet)."""
    return Scenario(net, peers)
