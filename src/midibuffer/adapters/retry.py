"""Waiting for room without the consumer's help: the retry logic of the waiting senders.

The consumer runs in an audio callback and must never wake anybody: no
``call_soon_threadsafe``, no lock, no socket write. So a sender that finds
the buffer full has to find room by itself, by trying again later. This
module decides *when*, and it is shared by :class:`~midibuffer.AsyncMidiProducer`
(which sleeps with ``anyio.sleep``) and :class:`~midibuffer.BlockingMidiProducer`
(which sleeps with ``time.sleep``); ``docs/async.md`` explains the policy.

The only signal is the buffer's popped counter, which the consumer does
not even maintain: it is derived from the ring (see ``docs/design.md``).
Each time a waiting sender looks, it notes whether the counter moved; the
times between moves are the consumer's drain period, which it learns as an
exponentially weighted average. It then looks four times per period, so
room is noticed within about a quarter of a period, and backs off exponentially, up to
``max_interval``, while the counter does not move (a stalled or stopped
consumer), so that waiting costs almost no CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

from midibuffer.buffer.ends import claim_end, release_end
from midibuffer.buffer.shared import AnyProducer, not_an_end
from midibuffer.checks import checked_seconds
from midibuffer.data.message import MidiMessage
from midibuffer.errors import AbandonedError, not_a_message

__all__ = ["DEFAULT_MAX_INTERVAL", "DEFAULT_MIN_INTERVAL", "FAST_TURNS", "SenderStats"]

DEFAULT_MIN_INTERVAL = 0.000_25
"""Shortest pause between two tries, in seconds (0.25 ms)."""

DEFAULT_MAX_INTERVAL = 0.05
"""Longest pause between two tries, in seconds (50 ms): the bound on how late a
waiting sender notices room after a long stall, or notices the consumer is gone."""

FAST_TURNS = 64
"""How many sends (or receives) in a row an async adapter completes without yielding
to the event loop, when nobody waits and the buffer is ready, before it takes a turn
at its lock (which yields, before the insertion or the pop)."""

_LOOKS_PER_PERIOD = 4  # tries per learned consumer period while the consumer drains
_STALL_PERIODS = 2  # no drain for this many periods (or pauses) means stalled: back off
_SMOOTHING = 0.25  # weight of a new period sample in the moving average
_SLOWDOWN_SAMPLES = 3  # long samples in a row that make a new period


@dataclass(frozen=True, slots=True)
class SenderStats:
    """A snapshot of a waiting sender's counters (``stats()``).

    Attributes:
        sent: messages this sender put into the buffer (any method).
        dropped: messages its ``try_send`` refused (full, or consumer gone).
        waits: sends that found the buffer full and had to wait.
        retries: tries made after the first one, over all waits.
        total_wait: seconds spent waiting for room, over all waits.
        max_wait: the longest single wait, in seconds.
        consumer_period: the learned time between two drains by the
            consumer, in seconds, or ``None`` before any was observed.
    """

    sent: int
    dropped: int
    waits: int
    retries: int
    total_wait: float
    max_wait: float
    consumer_period: float | None


def _check_interval(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value!r}")
    return float(value)


class DrainTracker:
    """Learns the consumer's drain period from the popped counter and paces retries.

    Pure logic, driven by explicit ``(popped, now)`` observations, so that it
    can be tested on a virtual clock.
    """

    __slots__ = (
        "_interval",
        "_long_samples",
        "_max",
        "_min",
        "_popped",
        "_quiet_since",
        "_seen_at",
        "period",
    )

    def __init__(self, min_interval: float, max_interval: float) -> None:
        self._min = _check_interval("min_interval", min_interval)
        self._max = _check_interval("max_interval", max_interval)
        if self._max < self._min:
            raise ValueError(
                f"max_interval ({max_interval!r}) must not be less than min_interval "
                f"({min_interval!r})"
            )
        self.period: float | None = None
        self._popped = 0
        self._seen_at: float | None = None  # when the latest drain was observed
        self._quiet_since = 0.0
        self._interval = self._min
        self._long_samples = 0

    def _clamp(self, seconds: float) -> float:
        return min(max(seconds, self._min), self._max)

    def _base_interval(self) -> float:
        return self._min if self.period is None else self._clamp(self.period / _LOOKS_PER_PERIOD)

    def begin(self, popped: int, now: float) -> float:
        """A wait starts: the buffer was full at *now* with *popped* messages
        popped. Return the first pause.

        A wait usually ends at the first drain it sees. If the counter has
        not moved since, that drain is still the latest one, so the next
        drain seen gives a period sample; otherwise drains were missed and
        the next one seen starts a new measurement.
        """
        if popped != self._popped:
            self._popped = popped
            self._seen_at = None
        self._quiet_since = now
        self._interval = self._base_interval()
        return self._interval

    def _learn(self, sample: float) -> None:
        """Fold one time between two observed drains into the period estimate.

        A sample longer than ``_STALL_PERIODS`` periods spans a stall, not a
        period, and is left out; only ``_SLOWDOWN_SAMPLES`` such samples in a
        row mean the consumer really drains more slowly now (a larger audio
        block), and then the last one becomes the period.
        """
        period = self.period
        if period is None:
            self.period = sample
        elif sample > _STALL_PERIODS * period:
            self._long_samples += 1
            if self._long_samples >= _SLOWDOWN_SAMPLES:
                self.period = sample
                self._long_samples = 0
        else:
            self._long_samples = 0
            self.period = period + _SMOOTHING * (sample - period)

    def next_pause(self, popped: int, now: float) -> float:
        """Look at the counter after a pause: *popped* at *now*. Return how
        long to sleep before the next try, should this one fail."""
        if popped != self._popped:  # the consumer drained since the last look
            if self._seen_at is not None:
                self._learn(self._clamp(now - self._seen_at))
            self._popped = popped
            self._seen_at = self._quiet_since = now
            self._interval = self._base_interval()
        elif now - self._quiet_since > _STALL_PERIODS * max(self.period or 0.0, self._interval):
            self._interval = min(self._interval * 2, self._max)  # stalled: back off
        return self._interval


class RetryingSender:
    """What the waiting senders share: counters, the fast path, and the wait loop.

    Not public: use :class:`~midibuffer.AsyncMidiProducer` or
    :class:`~midibuffer.BlockingMidiProducer`.
    """

    def __init__(
        self,
        producer: AnyProducer,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        max_interval: float = DEFAULT_MAX_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(producer, AnyProducer):
            raise not_an_end("producer", producer)
        self._tracker = DrainTracker(min_interval, max_interval)
        claim_end(producer, self)  # last: nothing else can fail after the claim
        self._producer = producer
        self._clock = clock
        self._sent = self._dropped = self._waits = self._retries = 0
        self._total_wait = self._max_wait = 0.0

    @property
    def producer(self) -> AnyProducer:
        """The wrapped producer."""
        return self._producer

    @property
    def capacity(self) -> int:
        """The buffer's capacity."""
        return self._producer.capacity

    def try_send(self, message: MidiMessage) -> bool:
        """Send *message* if there is room, without waiting; ``False`` if dropped.

        Exactly :meth:`MidiBufferProducer.try_send`, counted in this sender's
        stats as well. Raises ``TypeError`` and ``ClosedEndpointError`` like it.
        """
        sent = self._producer.try_send(message)
        if sent:
            self._sent += 1
        else:
            self._dropped += 1
        return sent

    def is_abandoned(self) -> bool:
        """``True`` once the consumer was closed or garbage collected. Never raises."""
        return self._producer.is_abandoned()

    def _close(self) -> None:
        """Close the producer and let go of it (another adapter may wrap it now)."""
        self._producer.close()
        release_end(self._producer, self)

    def stats(self) -> SenderStats:
        """A :class:`SenderStats` snapshot. Never raises."""
        return SenderStats(
            sent=self._sent,
            dropped=self._dropped,
            waits=self._waits,
            retries=self._retries,
            total_wait=self._total_wait,
            max_wait=self._max_wait,
            consumer_period=self._tracker.period,
        )

    def _insert(self, message: MidiMessage) -> bool:
        """One try: ``True`` if *message* is now in the buffer, ``False`` if full.

        Counts no drop, except when the consumer goes away between the room
        check and the insertion. Raises ClosedEndpointError after close and
        AbandonedError once the consumer is gone.
        """
        producer = self._producer
        if producer.is_full():  # raises ClosedEndpointError once closed
            if producer.is_abandoned():
                raise AbandonedError("the consumer was closed or garbage collected")
            return False
        # Only this sender fills the buffer, so the room seen above is still
        # there; the send fails only if the consumer went away meanwhile,
        # which the next try reports.
        if not producer.try_send(message):
            return False
        self._sent += 1
        return True

    def _pauses(self, message: MidiMessage) -> Generator[float, None, None]:
        """Put *message* in the buffer, yielding each pause to sleep before a retry.

        Returns when the message is in; the caller sleeps for each yielded
        pause and may abandon the generator (timeout, cancellation), in which
        case the message was not inserted. Close it to record the wait.
        """
        if self._insert(message):
            return
        started = self._clock()
        self._waits += 1
        pause = self._tracker.begin(self._producer.stats().popped, started)
        try:
            while True:
                yield pause
                self._retries += 1
                # Look before trying: the drain that made room is a period sample.
                pause = self._tracker.next_pause(self._producer.stats().popped, self._clock())
                if self._insert(message):
                    return
        finally:
            waited = self._clock() - started
            self._total_wait += waited
            self._max_wait = max(self._max_wait, waited)


def checked_timeout(timeout: object) -> float | None:
    """*timeout* in seconds (``None``: wait as long as needed), checked before anything else.

    Raises:
        TypeError: not a number, or a ``bool`` (``True`` is not a duration).
        ValueError: NaN or negative.
    """
    return None if timeout is None else checked_seconds("timeout", timeout)


def timeout_error(
    timeout: float,
    waited: float,
    *,
    missing: str = "room in the buffer",
    outcome: str = "the message was not sent",
) -> TimeoutError:
    """The error a send (or, with its own *missing* and *outcome*, a receive) raises
    when *timeout* ran out after *waited* seconds."""
    return TimeoutError(f"no {missing}: waited {waited:.3f} s (timeout={timeout:g} s); {outcome}")


def require_messages(messages: list[MidiMessage]) -> None:
    """Raise TypeError for the first item of *messages* that is not a MidiMessage."""
    for message in messages:
        if not isinstance(message, MidiMessage):
            raise not_a_message(message)
