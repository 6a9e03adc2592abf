"""Fixtures shared by the whole suite."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

from midibuffer.testing.jackd import JackServer, jack_missing_reason

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


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every ``@pytest.mark.anyio`` test runs on asyncio and on trio."""
    backend: str = request.param
    return backend


@pytest.fixture
def gc_disabled() -> Iterator[None]:
    """The cyclic GC paused, so that ``gc.get_count()[0]`` counts tracked
    allocations minus frees. A ballast of live objects keeps the counter
    above zero: CPython stops decrementing it at zero, which would hide a
    free and show a later allocation as growth."""
    gc.collect()
    gc.disable()
    ballast = [[] for _ in range(100)]
    try:
        yield
    finally:
        del ballast
        gc.enable()


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JackServer]:
    """A real JACK server (dummy driver, 48 kHz, 64-frame periods) for the session.

    Skips where jackd is not installed, unless MIDIBUFFER_REQUIRE_JACK=1
    (set by .ci/run), where it fails instead.
    """
    reason = jack_missing_reason()
    if reason is not None:
        if os.environ.get("MIDIBUFFER_REQUIRE_JACK") == "1":
            pytest.fail(f"JACK is required here but {reason}")
        pytest.skip(reason)
    server = JackServer.start(tmp_path_factory.mktemp("jack"))
    try:
        yield server
    finally:
        server.stop()


def pytest_report_header() -> str:
    from midibuffer.buffer import CORE

    return f"midibuffer core: {CORE}"
