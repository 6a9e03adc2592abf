"""Test harness: a real consumer thread that polls like an audio callback, numbered
messages, and what jackd's xruns may excuse in a run through JACK."""

from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from midibuffer import MidiBufferConsumer, MidiMessage
from midibuffer.testing.arrivals import in_order
from midibuffer.testing.jackd import PERIOD_FRAMES, SAMPLE_RATE, JackServer

XRUN_ATTEMPTS = 5
T = TypeVar("T")

AUDIO_PERIOD = 64 / 48_000  # one 64-frame block at 48 kHz: 1.33 ms
JACK_PERIOD = PERIOD_FRAMES / SAMPLE_RATE  # the test server's period: 1.33 ms


class PollingConsumer:
    """Pops everything ready every *period* seconds on its own thread, as a
    sounddevice callback would, on absolute deadlines (no drift).

    The test thread may ``stall()`` and ``resume()`` it, or ask it to close
    the consumer (``close_consumer()``), which it does on its own thread, as
    the owner must. It records every message, when it was popped, and the
    time of every drain that popped something. ``stall()`` returns once the
    thread has seen it, so nothing is popped after it returns.
    """

    def __init__(self, consumer: MidiBufferConsumer, period: float = AUDIO_PERIOD) -> None:
        self.consumer = consumer
        self.period = period
        self.received: list[MidiMessage] = []
        self.popped_at: list[float] = []  # when each message was popped
        self.drain_times: list[float] = []
        self.stalled = False
        self._stall_seen = threading.Event()
        self.closed_at: float | None = None
        self._close_requested = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="polling-consumer", daemon=True)

    def start(self) -> PollingConsumer:
        self._thread.start()
        return self

    def stall(self) -> None:
        self._stall_seen.clear()
        self.stalled = True
        assert self._stall_seen.wait(10), "the polling thread never saw the stall"

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
                self.closed_at = time.monotonic()  # no later than the close itself
                self.consumer.close()
                return
            if self.stalled:
                self._stall_seen.set()
            else:
                drained = False
                while (message := self.consumer.try_pop()) is not None:
                    self.popped_at.append(time.perf_counter())
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


def wait_for(predicate: Callable[[], object], seconds: float = 10.0) -> float:
    """Poll *predicate* every half millisecond until it is true; return how long
    that took. Fails the test if it is still false after *seconds*."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < seconds, "never happened"
        time.sleep(0.0005)
    return time.monotonic() - started


def wait_for_arrivals(
    count: Callable[[], int], expected: int, quiet: float = 1.0, timeout: float = 10.0
) -> None:
    """Return once ``count()`` reaches *expected*, or has not grown for *quiet*
    seconds (the rest was lost: call this once everything was sent), or after
    *timeout* seconds."""
    deadline = time.monotonic() + timeout
    last, changed = count(), time.monotonic()
    while last < expected:
        now = time.monotonic()
        if now > deadline or now - changed > quiet:
            return
        time.sleep(0.002)
        current = count()
        if current != last:
            last, changed = current, time.monotonic()


XRUN_PERIODS = 5
"""The most JACK periods one logged xrun can disturb.

JACK2 lets a late client overrun for at most its timeout, 2 periods by
default (``JackEngineControl::UpdateTimeOut``), then starts the next cycle
anyway: the late client's cycles are skipped, and the clients upstream of it
are triggered again (a sender rewrites the port buffer that a late MIDI
receiver may still be reading). jackd logs every client still late in the
first cycle after each such switch (``JackEngine::ProcessCurrent``), so a
stall gets a line at least every 3 periods. One line thus covers at most
the 2 periods of the timeout, the cycle in which it is logged, the cycle
whose buffers were being read and the one queued before it: 5 periods.
"""

XRUN_LOG_DELAY = 0.1
"""Seconds to wait after a run for jackd to log its xruns (its logging thread
is not real-time, so on a busy machine a line can come some ms late)."""

_XRUN_LINE = re.compile(r"XRun(?::? client =? ?(?P<client>\S+)| = (?P<usec>\d+) usec)?")


@dataclass(frozen=True)
class Xruns:
    """The xruns jackd logged during a run.

    Attributes:
        clients: the client named by each "client ... was not finished" (or
            "finished after current callback") line, in order.
        driver_late: how late (seconds) the driver started a cycle, for each
            "JackTimedDriver::Process XRun = N usec" line: no client
            overran, but the cycle was that late.
    """

    clients: tuple[str, ...]
    driver_late: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.clients) + len(self.driver_late)

    def without(self, client_prefix: str) -> Xruns:
        """These xruns minus those of the clients whose names start with *client_prefix*."""
        kept = tuple(client for client in self.clients if not client.startswith(client_prefix))
        return Xruns(kept, self.driver_late)

    def spans(self, period: float = JACK_PERIOD) -> list[float]:
        """The most time (seconds) each xrun can have disturbed: XRUN_PERIODS
        periods, plus, for the driver's, the time the cycle started late."""
        span = XRUN_PERIODS * period
        return [span] * len(self.clients) + [span + late for late in self.driver_late]

    def periods(self, period: float = JACK_PERIOD) -> int:
        """How many periods these xruns may have disturbed, at most."""
        return sum(math.ceil(span / period - 1e-9) for span in self.spans(period))

    def budget(self, send_times: Sequence[float]) -> int:
        """The most messages, sent at *send_times*, that these xruns can disturb:
        ``periods()`` times the most sent in any one period (a span of n periods
        splits into n such windows). 0 without an xrun."""
        return self.periods() * most_within(send_times, JACK_PERIOD)

    def explain(self, disturbed: Sequence[float], send_times: Sequence[float]) -> bool:
        """Whether these xruns can account for messages disturbed (lost, copied,
        garbled) at the send times *disturbed*: no more than ``budget()``, and
        bunched as xruns bunch them, in at most one cluster per xrun, each no
        longer than the longest span an xrun can disturb. Scattered losses (a
        bug that drops one message in a thousand) are not explained."""
        if not disturbed:
            return True
        if self.count == 0 or len(disturbed) > self.budget(send_times):
            return False
        span = max(self.spans())
        clusters, start = 0, -math.inf
        for sent in sorted(disturbed):
            if sent - start > span:
                clusters, start = clusters + 1, sent
        return clusters <= self.count

    def __str__(self) -> str:
        names = {name: self.clients.count(name) for name in sorted(set(self.clients))}
        late = f"{sum(self.driver_late) * 1e3:.1f} ms" if self.driver_late else "0"
        return (
            f"{self.count} xrun(s) (clients {names}; driver {len(self.driver_late)}, late {late})"
        )


def parse_xruns(text: str) -> Xruns:
    """The xruns in *text*, a part of jackd's log."""
    clients: list[str] = []
    driver_late: list[float] = []
    for line in text.splitlines():
        match = _XRUN_LINE.search(line)
        if match is None:
            continue
        if match["usec"] is not None:
            driver_late.append(int(match["usec"]) * 1e-6)
        else:  # a client's, or an unknown kind: counted as a client's
            clients.append(match["client"] or "?")
    return Xruns(tuple(clients), tuple(driver_late))


def with_xruns(server: JackServer, run: Callable[[], T]) -> tuple[T, Xruns]:
    """``run()``'s result and the xruns jackd logged while it ran.

    Errs on the safe side: lines logged late for an earlier run, or after
    this one, are counted too.
    """
    with server.log.open("rb") as log:
        start = log.seek(0, 2)
    result = run()
    time.sleep(XRUN_LOG_DELAY)
    with server.log.open("rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    return result, parse_xruns(text)


@dataclass(frozen=True)
class Arrivals:
    """How numbered messages 0 .. *expected* - 1 arrived, judged against the xruns.

    ``lost``: messages that did not arrive intact and in order; ``spurious``:
    arrivals that are not part of the in-order sequence (copies, reorderings,
    garbled numbers); ``disturbed``: when each of those was sent (a spurious
    arrival counts at the send time of the intact message before it).
    """

    lost: int
    spurious: int
    budget: int
    xruns: Xruns
    disturbed: tuple[float, ...]
    send_times: tuple[float, ...]

    @classmethod
    def judge(
        cls, numbers: Sequence[int], expected: int, send_times: Sequence[float], xruns: Xruns
    ) -> Arrivals:
        """*numbers* arrived out of *expected* messages sent at *send_times*.

        The budget is what the xruns can disturb (``Xruns.budget``).
        """
        intact = in_order(numbers, expected)
        good = set(intact)
        arrived = {numbers[index] for index in intact}
        disturbed = [send_times[number] for number in range(expected) if number not in arrived]
        last_good = send_times[0] if send_times else 0.0
        for index, number in enumerate(numbers):
            if index in good:
                last_good = send_times[number]
            else:
                disturbed.append(last_good)
        return cls(
            lost=expected - len(intact),
            spurious=len(numbers) - len(intact),
            budget=xruns.budget(send_times),
            xruns=xruns,
            disturbed=tuple(disturbed),
            send_times=tuple(send_times),
        )

    def __str__(self) -> str:
        return f"lost {self.lost}, spurious {self.spurious}, budget {self.budget} for {self.xruns}"

    @property
    def exact(self) -> bool:
        return self.lost == self.spurious == 0

    def acceptable(self) -> bool:
        """Exact when there was no xrun; else every lost or spurious message explained by
        the xruns: within their budget, and bunched as they bunch (``Xruns.explain``)."""
        if self.xruns.count == 0:
            return self.exact
        return (
            self.lost <= self.budget
            and self.spurious <= self.budget
            and self.xruns.explain(self.disturbed, self.send_times)
        )


def most_within(times: Sequence[float], window: float) -> int:
    """The most of the sorted *times* that fall in any half-open window of *window* seconds."""
    most = first = 0
    for last, time_ in enumerate(times):
        while times[first] <= time_ - window:
            first += 1
        most = max(most, last - first + 1)
    return most


def midi_xruns(xruns: Xruns) -> Xruns:
    """The xruns that can touch messages between two rtmidi JACK clients: all
    but PortAudio's (its JACK client stays open while sounddevice is
    initialised). A late PortAudio client delays the next cycle but does not
    run while a sender rewrites a receiver's port buffer; a late MIDI client
    is logged under its own name, a late cycle as the driver's."""
    return xruns.without("PortAudio")


def unless_xruns_spoil_it(server: JackServer, run: Callable[[], T], ok: Callable[[T], bool]) -> T:
    """Return ``run()``'s result once it is ``ok``, or once it went wrong without an xrun.

    For short runs (a few messages), where a run untouched by xruns is likely
    after a few attempts: a run that went wrong while jackd reported an xrun
    is retried (a few times): an xrun interrupts the audio (JACK skips the
    late cycle), and rtmidi's JACK input garbles messages when its process
    cycle overruns (see ``test_rtmidi.py``); no code above JACK can prevent
    either. A run that went wrong *without* an xrun is returned at once, so
    the test's assertions fail on it. Long runs cannot wait for a run without
    xruns (a busy machine has some every second): they judge the run by the
    xruns it had (``with_xruns``, ``Arrivals``).
    """
    for attempt in range(1, XRUN_ATTEMPTS + 1):
        result, xruns = with_xruns(server, run)
        if ok(result) or xruns.count == 0 or attempt == XRUN_ATTEMPTS:
            return result
        print(f"\nattempt {attempt} spoiled by {xruns}: retrying")
    raise AssertionError("unreachable")


def _descends_from_us(pid: int) -> bool:
    """*pid* is this process, one of its descendants, or no longer exists."""
    me = os.getpid()
    while pid > 1:
        if pid == me:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True  # gone: it may have been ours (a killed child)
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the parent's pid
    return False


def own_segments() -> set[str]:
    """The shared rings in /dev/shm made by this process, its descendants, or processes
    that are gone; not those of another live process (say, a test run beside this one).
    Their names are ``midibuffer-<creator pid>-<random>``."""
    names = {name for name in os.listdir("/dev/shm") if name.startswith("midibuffer-")}
    return {name for name in names if _descends_from_us(int(name.split("-")[1]))}


def jack_connections(port: str) -> list[str]:
    """The ports connected to the first port whose name contains *port* (``jack_lsp -c``)."""
    listing = subprocess.run(
        ["jack_lsp", "-c"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    for index, line in enumerate(listing):
        if port in line and not line.startswith(" "):
            following = itertools.takewhile(
                lambda entry: entry.startswith(" "), listing[index + 1 :]
            )
            return [entry.strip() for entry in following]
    return []
