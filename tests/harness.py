"""Test harness: a real consumer thread that polls like an audio callback, numbered
messages, and retries for runs that a JACK xrun spoiled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from midibuffer import MidiBufferConsumer, MidiMessage
from midibuffer.testing.jackd import JackServer

XRUN_ATTEMPTS = 5
T = TypeVar("T")

AUDIO_PERIOD = 64 / 48_000  # one 64-frame block at 48 kHz: 1.33 ms


class PollingConsumer:
    """Pops everything ready every *period* seconds on its own thread, as a
    sounddevice callback would, on absolute deadlines (no drift).

    The test thread may ``stall()`` and ``resume()`` it, or ask it to close
    the consumer (``close_consumer()``), which it does on its own thread, as
    the owner must. It records every message and the time of every pop that
    returned something.
    """

    def __init__(self, consumer: MidiBufferConsumer, period: float = AUDIO_PERIOD) -> None:
        self.consumer = consumer
        self.period = period
        self.received: list[MidiMessage] = []
        self.drain_times: list[float] = []
        self.stalled = False
        self.closed_at: float | None = None
        self._close_requested = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="polling-consumer", daemon=True)

    def start(self) -> PollingConsumer:
        self._thread.start()
        return self

    def stall(self) -> None:
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    def close_consumer(self) -> None:
        self._close_requested = True

    def stop(self) -> None:
        self._stop = True
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        deadline = time.perf_counter()
        while not self._stop:
            if self._close_requested:
                self.consumer.close()
                self.closed_at = time.monotonic()
                return
            if not self.stalled:
                drained = False
                while (message := self.consumer.try_pop()) is not None:
                    self.received.append(message)
                    drained = True
                if drained:
                    self.drain_times.append(time.perf_counter())
            deadline += self.period
            delay = deadline - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                deadline = time.perf_counter()  # late: start a new grid, like an xrun


def numbered(count: int, start: int = 0) -> list[MidiMessage]:
    """*count* distinct messages carrying their index in ``time``."""
    indices = range(start, start + count)
    return [MidiMessage.control_change(0, 1, i % 128, time=float(i)) for i in indices]


def numbers(messages: list[MidiMessage]) -> list[int]:
    return [int(message.time) for message in messages]  # type: ignore[arg-type]


def xrun_count(server: JackServer) -> int:
    """How many xruns jackd has reported so far (it logs each one)."""
    text = server.log.read_text(errors="replace")
    return sum("XRun" in line for line in text.splitlines())


def unless_xruns_spoil_it(server: JackServer, run: Callable[[], T], ok: Callable[[T], bool]) -> T:
    """Return ``run()``'s result once it is ``ok``, or once it went wrong without an xrun.

    A run that went wrong while jackd reported an xrun is retried (a few
    times): an xrun interrupts the audio (JACK skips the late cycle), so
    captured audio is no longer sample-exact, and rtmidi's JACK input garbles
    messages when its process cycle overruns (see ``test_rtmidi.py``); no
    code above JACK can prevent either. A run that went wrong *without* an
    xrun is returned at once, so the test's assertions fail on it.
    """
    for attempt in range(1, XRUN_ATTEMPTS + 1):
        before = xrun_count(server)
        result = run()
        time.sleep(0.01)  # let jackd log a late xrun
        xruns = xrun_count(server) - before
        if ok(result) or xruns == 0 or attempt == XRUN_ATTEMPTS:
            return result
        print(f"\nattempt {attempt} spoiled by {xruns} JACK xrun(s): retrying")
    raise AssertionError("unreachable")
