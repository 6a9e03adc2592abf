"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import PollingConsumer


@pytest.fixture
def polling_consumer() -> Iterator[type[PollingConsumer]]:
    """Factory for PollingConsumer threads; stops every one started by the test."""
    started: list[PollingConsumer] = []

    class Tracked(PollingConsumer):
        def start(self) -> PollingConsumer:
            started.append(self)
            return super().start()

    yield Tracked
    for consumer in started:
        consumer.stop()
