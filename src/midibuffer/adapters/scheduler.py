"""Sample-accurate block timing: which messages fall into this audio block, and where.

An audio callback renders one block of ``frames`` samples at a time. A
:class:`BlockScheduler` pops the messages due in the block from a
:class:`~midibuffer.MidiBufferConsumer` and gives each a sample offset
inside the block. It needs no audio library: it is driven by a frame count
and a ``time.perf_counter()`` reading, so it is tested on a virtual clock
and used by :mod:`midibuffer.io.audio` inside a real sounddevice callback.

Mapping ``time.perf_counter()`` to samples (:class:`StreamClock`)
------------------------------------------------------------------

PortAudio's callback time fields are wrong or zero on some host APIs
(JACK's start at 0, ALSA's are sometimes a different clock), so they are not
used. The stream's own clock is the count of frames rendered so far: block
``n`` (its first sample) is the ``n``-th sample of the stream. A callback
starts some small, variable delay after its block's nominal time, never
before. So each callback gives an upper bound on the stream's origin,
``perf_counter() - n / samplerate``, and the smallest bound seen so far is
the best estimate (the callback with the least scheduling jitter).

To follow the slow drift between the sound card's crystal and
``perf_counter``, the clock watches the floor of the bounds over windows of
``WINDOW`` (1 s) of stream time: if a whole window stayed above the
estimate, the estimate rises towards that window's floor during the next
window, at no more than ``DRIFT`` (20 ppm). Jitter alone hardly moves it,
since its floor stays put. Bounds more than one block above the estimate for
``RESYNC_BLOCKS`` (3) blocks in a row, without getting less late, mean the
stream skipped (an xrun that lost frames), and the clock re-synchronises. A
stream that was late and catches up (renders its late blocks back to back,
each less late than the one before) is not a skip, however late it was.

A device clock that runs *faster* than ``perf_counter`` is followed at once
(its bounds fall). One that runs slower by more than 20 ppm slowly falls
behind the estimate, and the clock re-synchronises each time the gap reaches
a block (for 64 frames at 48 kHz and 100 ppm: every 17 s), shifting later
events by up to one block once. On 6 s of real JACK callbacks (dummy driver,
64 frames at 48 kHz, +3 ppm, jitter 23 µs rms), the estimate moved by at most
0.7 samples within any second after the first half second (a plain lower
envelope creeping at 20 ppm: 1.2 samples; a delay-locked loop, the usual
alternative: 1.5 to 3 samples, because it follows the mean of the jitter
rather than its floor).

Placing messages (:class:`BlockScheduler`)
------------------------------------------

``mode="timed"`` (the default): a message whose ``time`` falls inside the
block gets the matching offset; a message due earlier (late) or without a
time goes at offset 0, late ones counted; a message due after the block
stays queued until its block comes. Messages keep their FIFO order: a
message waiting for a later block holds back the ones behind it, as in a
MIDI track. Messages sent at least one block ahead land on their exact
sample (to the nearest sample).

A message dated more than ``max_lead`` seconds (default
:data:`DEFAULT_MAX_LEAD`, 5 s) after the block is *misdated*: a wrong clock,
typically epoch seconds instead of ``time.perf_counter()``. Waiting for it
would hold back every message behind it, possibly for decades, so it is
played at offset 0 of the current block and counted in
``SchedulerStats.misdated``.

``mode="live"``: for live input, where ``time`` is the arrival time. Every
message is played exactly one block after it arrived, at the same relative
position (the idea of JUCE's ``MidiMessageCollector``). The latency is one
block, constant, so the jitter of the arrival thread disappears.

Real-time contract: :meth:`BlockScheduler.collect` takes no lock, makes no
system call (``perf_counter`` reads the vDSO clock on Linux), does no I/O,
and creates no container object: the messages and offsets go into lists
allocated once. The arithmetic makes short-lived ``float``/``int`` objects,
which CPython takes from its free lists and which are not tracked by the
cyclic garbage collector, so ``gc.get_count()`` does not move.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from midibuffer.buffer.ends import MAX_CAPACITY, claim_end, release_end
from midibuffer.buffer.shared import AnyConsumer, not_an_end
from midibuffer.checks import checked_int, checked_seconds
from midibuffer.data.message import MidiMessage

__all__ = [
    "DEFAULT_MAX_LEAD",
    "BlockEvents",
    "BlockScheduler",
    "SchedulerStats",
    "StreamClock",
    "merge_events",
]

DEFAULT_MAX_LEAD = 5.0
"""Seconds ahead of the current block beyond which a message counts as misdated."""

DRIFT = 20e-6
"""How fast (seconds per second, 20 ppm) the clock estimate may follow a later origin."""

WINDOW = 1.0
"""Seconds of stream time over which the floor of the callback times is watched."""

RESYNC_BLOCKS = 3
"""Consecutive blocks more than a block late after which the clock re-synchronises."""

Mode = Literal["timed", "live"]


class StreamClock:
    """Maps ``time.perf_counter()`` times to sample positions of an audio stream.

    Call :meth:`update` at the start of every block; see the module
    documentation for the method. Audio thread only; real-time safe.

    >>> clock = StreamClock(48_000)
    >>> clock.update(0, now=10.0)
    >>> clock.update(480, now=10.0102)   # 0.2 ms of callback jitter
    >>> round(clock.sample_at(10.005), 6)   # 5 ms after the stream's first sample
    240.0
    """

    __slots__ = (
        "_creep",
        "_last_bound",
        "_last_position",
        "_late_blocks",
        "_max_step",
        "_window_end",
        "_window_min",
        "origin",
        "resyncs",
        "samplerate",
    )

    def __init__(self, samplerate: float) -> None:
        if not samplerate > 0:
            raise ValueError(f"samplerate must be positive, got {samplerate!r}")
        self.samplerate = float(samplerate)
        self.origin: float | None = None
        """``perf_counter()`` time of the stream's sample 0, or None before the first block."""
        self.resyncs = 0
        """How often the clock jumped because the stream skipped (xruns)."""
        self._max_step = 0
        self._last_position = 0
        self._creep = 0.0  # how fast the estimate rises now, seconds per second
        self._window_min = math.inf  # the lowest bound of the current window
        self._window_end = 0  # stream position where the current window ends
        self._late_blocks = 0  # consecutive blocks more than a block late, not catching up
        self._last_bound = math.inf  # the previous block's bound

    def update(self, position: int, now: float) -> None:
        """A block starting at sample *position* is being rendered at *now*."""
        bound = now - position / self.samplerate
        origin = self.origin
        step = position - self._last_position
        if step > self._max_step:
            self._max_step = step  # the longest block: the re-synchronisation threshold
        elapsed = step / self.samplerate
        self._last_position = position
        if bound < self._window_min:
            self._window_min = bound
        if position >= self._window_end:  # a window ends: how far did its floor rise?
            if origin is not None and self._window_min > origin:
                creep = (self._window_min - origin) / WINDOW
                self._creep = creep if creep < DRIFT else DRIFT  # (min() would allocate)
            else:
                self._creep = 0.0
            self._window_min = math.inf
            self._window_end = position + round(WINDOW * self.samplerate)
        if origin is None or bound <= origin:
            self.origin = bound
            self._late_blocks = 0
        elif bound - origin > self._max_step / self.samplerate and elapsed > 0:
            # Later by more than a block. A stream that catches up (renders
            # its late blocks back to back) gets less late block by block; one
            # that stays late skipped frames (JACK drops a late client's
            # cycles): after RESYNC_BLOCKS such blocks, start over.
            if bound < self._last_bound - elapsed / 2:
                self._late_blocks = 0
            else:
                self._late_blocks += 1
                if self._late_blocks >= RESYNC_BLOCKS:
                    self.origin = bound
                    self.resyncs += 1
                    self._late_blocks = 0
        else:  # follow the floor's drift, slowly
            self._late_blocks = 0
            rise = self._creep * elapsed
            self.origin = bound if bound - origin < rise else origin + rise
        self._last_bound = bound

    def sample_at(self, when: float) -> float:
        """The (fractional) sample position that *when* maps to. Needs one update first."""
        origin = self.origin
        if origin is None:
            raise RuntimeError("StreamClock.sample_at() before the first update()")
        return (when - origin) * self.samplerate


class BlockEvents:
    """The messages of one block and their sample offsets, in preallocated storage.

    ``messages[i]`` plays at sample ``offsets[i]`` of the block, for ``i <
    count``, in order. The same object is refilled for every block; items
    at ``count`` and beyond are stale. Iterating yields ``(offset,
    message)`` pairs, which creates one tuple per message: for strict
    real-time code, index the lists instead.
    """

    __slots__ = ("count", "frames", "messages", "offsets")

    def __init__(self, max_events: int) -> None:
        self.count = 0
        self.frames = 0
        self.messages: list[MidiMessage | None] = [None] * max_events
        self.offsets: list[int] = [0] * max_events

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[int, MidiMessage]]:
        for index in range(self.count):
            message = self.messages[index]
            assert message is not None
            yield self.offsets[index], message

    def __repr__(self) -> str:
        return f"<BlockEvents count={self.count} frames={self.frames}>"


def merge_events(first: BlockEvents, second: BlockEvents, into: BlockEvents) -> BlockEvents:
    """Merge two blocks' events by offset into *into* (refilled) and return it.

    Each source keeps its own order; at equal offsets *first*'s events go
    first. *into* must hold ``first.count + second.count`` events. Real-time
    safe: it only moves references (index ints above 256 are the only
    objects it may create, with ``max_events`` that large). Any thread.

    Raises:
        ValueError: *into* is too small.

    >>> from midibuffer import MidiMessage
    >>> a, b, merged = BlockEvents(2), BlockEvents(2), BlockEvents(4)
    >>> a.count, a.offsets[:2], a.messages[:2] = 2, [0, 9], [MidiMessage.clock()] * 2
    >>> b.count, b.offsets[0], b.messages[0] = 1, 5, MidiMessage.note_on(0, 60)
    >>> merge_events(a, b, merged).offsets[: merged.count]
    [0, 5, 9]
    """
    total = first.count + second.count
    if total > len(into.messages):
        raise ValueError(f"into holds {len(into.messages)} events, {total} needed")
    i = j = index = 0
    messages, offsets = into.messages, into.offsets
    while index < total:
        if j == second.count or (i < first.count and first.offsets[i] <= second.offsets[j]):
            messages[index], offsets[index] = first.messages[i], first.offsets[i]
            i += 1
        else:
            messages[index], offsets[index] = second.messages[j], second.offsets[j]
            j += 1
        index += 1
    into.count = total
    into.frames = max(first.frames, second.frames)
    return into


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """Counters of a :class:`BlockScheduler` (``stats()``).

    Attributes:
        blocks: blocks collected.
        events: messages handed to the renderer.
        late: messages placed at offset 0 because their time had passed
            (for ``mode="live"``: they arrived more than one block ago).
        untimed: messages without a ``time``, placed at offset 0.
        misdated: messages dated more than ``max_lead`` seconds ahead (a
            wrong clock), placed at offset 0 instead of holding the stream.
        deferred_blocks: blocks that stopped at ``max_events`` with more
            messages ready; those stay in the buffer for the next block.
        resyncs: clock re-synchronisations after the stream skipped.
    """

    blocks: int
    events: int
    late: int
    untimed: int
    misdated: int
    deferred_blocks: int
    resyncs: int


class BlockScheduler:
    """Pops the messages due in each audio block and gives them sample offsets.

    Owns the consumer: call :meth:`collect` from the audio callback only (the
    consumer's owning thread). See the module documentation for the timing
    method and the two modes.

    Args:
        consumer: the consumer end of a :func:`~midibuffer.midi_buffer`.
        samplerate: the stream's sample rate.
        mode: ``"timed"`` (messages carry the time they should sound) or
            ``"live"`` (messages carry their arrival time; constant
            latency of one block).
        max_events: the most messages handed out per block; the storage
            is allocated once, here.
        max_lead: seconds; a message dated further ahead of the block than
            this is misdated: played at once and counted (``inf``: never).

    The scheduler holds the consumer (one adapter per end): :meth:`close`
    closes and releases it.

    Raises:
        TypeError: *consumer* is not a MidiBufferConsumer, or a number has
            the wrong type.
        ValueError: bad *samplerate*, *mode*, *max_events* or *max_lead*.
        EndpointInUseError: another adapter holds *consumer*.

    >>> from midibuffer import MidiMessage, midi_buffer
    >>> producer, consumer = midi_buffer(16)
    >>> scheduler = BlockScheduler(consumer, 48_000)
    >>> events = scheduler.collect(64, now=100.0)   # first block: the clock starts
    >>> producer.try_send(MidiMessage.note_on(0, 60, time=100.0 + 100 / 48_000))
    True
    >>> events = scheduler.collect(64, now=100.0 + 64 / 48_000)
    >>> events.count, events.offsets[0], events.messages[0].note
    (1, 36, 60)
    """

    __slots__ = (
        "__weakref__",
        "_blocks",
        "_consumer",
        "_deferred",
        "_events",
        "_late",
        "_live",
        "_max_lead",
        "_misdated",
        "_pending",
        "_position",
        "_untimed",
        "clock",
        "events",
        "max_events",
    )

    def __init__(
        self,
        consumer: AnyConsumer,
        samplerate: float,
        *,
        mode: Mode = "timed",
        max_events: int = 256,
        max_lead: float = DEFAULT_MAX_LEAD,
    ) -> None:
        if not isinstance(consumer, AnyConsumer):
            raise not_an_end("consumer", consumer)
        if mode not in ("timed", "live"):
            raise ValueError(f"mode must be 'timed' or 'live', got {mode!r}")
        max_events = checked_int("max_events", max_events, 1, MAX_CAPACITY)
        self.clock = StreamClock(samplerate)
        self._max_lead = checked_seconds("max_lead", max_lead, positive=True) * samplerate
        self._live = mode == "live"
        self.max_events = max_events
        self.events = BlockEvents(max_events)
        self._pending: MidiMessage | None = None  # popped, waiting for its block
        self._position = 0  # the first sample of the next block
        self._blocks = self._events = self._late = self._untimed = self._deferred = 0
        self._misdated = 0
        claim_end(consumer, self)  # last: nothing can fail after it
        self._consumer = consumer

    @property
    def position(self) -> int:
        """The stream position (in samples) of the next block's first sample."""
        return self._position

    def collect(self, frames: int, now: float | None = None) -> BlockEvents:
        """Collect the messages due in the next block of *frames* samples.

        *now* is the ``time.perf_counter()`` reading at the start of the
        callback (read here if omitted). Returns :attr:`events`, refilled.
        Audio thread only; real-time safe.

        Raises:
            ValueError: *frames* is negative.
            ClosedEndpointError: the consumer was closed.
        """
        if frames < 0:
            raise ValueError(f"frames must be >= 0, got {frames}")
        if now is None:
            now = time.perf_counter()
        clock = self.clock
        start = self._position
        clock.update(start, now)
        events = self.events
        messages, offsets = events.messages, events.offsets
        shift = frames if self._live else 0
        count = 0
        message = self._pending
        if message is None:
            message = self._consumer.try_pop()
        while message is not None:
            if count == self.max_events:
                self._deferred += 1
                break
            when = message.time
            if when is None:
                offset = 0
                self._untimed += 1
            else:
                offset = round(clock.sample_at(when)) + shift - start
                if offset >= frames:  # a later block's: keep it, and the order,
                    if offset <= self._max_lead:
                        break
                    offset = 0  # unless it is misdated: then it would hold the stream
                    self._misdated += 1
                elif offset < 0:
                    offset = 0
                    self._late += 1
            messages[count] = message
            offsets[count] = offset
            count += 1
            message = self._consumer.try_pop()
        self._pending = message
        events.count = count
        events.frames = frames
        self._position = start + frames
        self._blocks += 1
        self._events += count
        return events

    def stats(self) -> SchedulerStats:
        """A :class:`SchedulerStats` snapshot. Any thread; never raises."""
        return SchedulerStats(
            blocks=self._blocks,
            events=self._events,
            late=self._late,
            untimed=self._untimed,
            misdated=self._misdated,
            deferred_blocks=self._deferred,
            resyncs=self.clock.resyncs,
        )

    def close(self) -> None:
        """Close the consumer and let go of it. Idempotent. Owning thread, or
        any thread once :meth:`collect` is no longer called.

        The producer then sees ``is_abandoned()``; a waiting sender gets
        :class:`~midibuffer.AbandonedError`.
        """
        self._consumer.close()
        release_end(self._consumer, self)
