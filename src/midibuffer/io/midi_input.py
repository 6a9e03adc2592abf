"""MIDI input from python-rtmidi into a :func:`~midibuffer.midi_buffer` (the ``rtmidi`` extra).

:class:`MidiInput` attaches an ``rtmidi.MidiIn`` to a producer. By default a
thread of its own drains rtmidi's queue every :data:`DEFAULT_POLL_INTERVAL`
seconds (``poll_interval=None`` uses rtmidi's callback instead, which on JACK
runs Python on JACK's own thread). Each message is validated into a
:class:`~midibuffer.MidiMessage` whose ``time`` comes from rtmidi's delta
times (the backend's clock) mapped onto :func:`time.perf_counter`, and sent
through a :class:`~midibuffer.adapters.releases.ReleaseKeeper`, so a full
buffer drops note-ons but never a note-off. Nothing escapes the input
thread: invalid messages, drops and errors are counted in
:meth:`MidiInput.stats`.

:func:`open_input` opens an existing port by (part of) its name and
:func:`open_virtual_input` creates a port that others connect to; the
backend is chosen by :mod:`midibuffer.io.midi_backend`. Users import both
modules through ``midibuffer.rtmidi``.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypedDict

from typing_extensions import Unpack

from midibuffer.adapters.arrival_clock import ArrivalClock
from midibuffer.adapters.polling import IDLE_AFTER, PollPacer, checked_poll_intervals
from midibuffer.adapters.releases import ReleaseKeeper
from midibuffer.buffer.ends import claim_end, release_end
from midibuffer.buffer.shared import AnyProducer, not_an_end
from midibuffer.data.message import MidiMessage
from midibuffer.errors import InvalidMidiMessage, MidiPortNotFound
from midibuffer.io.midi_backend import api_name, current_api, new_midi_in

__all__ = [
    "DEFAULT_IDLE_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "IDLE_AFTER",
    "QUEUE_SIZE",
    "InputOptions",
    "InputSettings",
    "MidiInput",
    "MidiInputStats",
    "open_input",
    "open_virtual_input",
]

DEFAULT_POLL_INTERVAL = 0.001
"""Seconds between two looks at rtmidi's queue when it is empty (see
``docs/benchmarks.md``, "MIDI input": the idle cost and the latency it adds)."""

DEFAULT_IDLE_POLL_INTERVAL = 0.01
"""Seconds between polls once the input has been silent for :data:`IDLE_AFTER`
(an idle input then costs well under 1% of a core: ``docs/benchmarks.md``)."""

QUEUE_SIZE = 4096
"""rtmidi's queue size (messages) for the inputs :func:`open_input` and
:func:`open_virtual_input` create: 4 s of a dense 1,000 messages per second
while the polling thread waits for the GIL."""

_INPUT_PORT_NAME = "input"  # the name of our own port when we connect to another one
_CLOSE_WAIT = 1.0  # seconds close() waits for the input thread
_CLOSE_GRACE = 0.005  # seconds close() lets callbacks already queued on the GIL finish
_ERROR_PAUSE = 0.01  # seconds the polling thread rests after get_message() raised

_perf_counter = time.perf_counter


class InputOptions(TypedDict, total=False):
    """The keyword arguments :class:`MidiInput`, :func:`open_input` and
    :func:`open_virtual_input` share: the fields of :class:`InputSettings`."""

    sysex: bool
    clock: bool
    active_sensing: bool
    poll_interval: float | None
    idle_poll_interval: float | None


@dataclass(frozen=True, slots=True)
class InputSettings:
    """How a MIDI input receives, checked when it is made. Any thread.

    Attributes:
        sysex: let SysEx through.
        clock: let timing messages through (MIDI clock and MTC quarter frames).
        active_sensing: let active sensing through.
        poll_interval: seconds between two looks at rtmidi's queue when it is
            empty (finite, > 0), or ``None`` for rtmidi's callback.
        idle_poll_interval: seconds between two looks once no message came
            for :data:`IDLE_AFTER` (1 s), until the next one (finite, at least
            *poll_interval*), or ``None`` to poll every *poll_interval*
            always. The first message after a silence waits up to this long
            (its timestamp is unaffected).

    Raises:
        TypeError: an interval is not a number or ``None``, or an unknown
            option was given.
        ValueError: an interval is not finite and positive, or
            *idle_poll_interval* is shorter than *poll_interval*.

    >>> InputSettings(poll_interval=0.002).filtered == frozenset({0xF0, 0xF1, 0xF8, 0xFE})
    True
    """

    sysex: bool = False
    clock: bool = False
    active_sensing: bool = False
    poll_interval: float | None = DEFAULT_POLL_INTERVAL
    idle_poll_interval: float | None = DEFAULT_IDLE_POLL_INTERVAL

    def __post_init__(self) -> None:
        fast, idle = checked_poll_intervals(self.poll_interval, self.idle_poll_interval)
        object.__setattr__(self, "poll_interval", fast)
        object.__setattr__(self, "idle_poll_interval", idle)

    @property
    def filtered(self) -> frozenset[int]:
        """The status bytes the input discards."""
        return frozenset(
            (*(() if self.sysex else (0xF0,)), *(() if self.clock else (0xF1, 0xF8)))
            + (() if self.active_sensing else (0xFE,))
        )


@dataclass(frozen=True, slots=True)
class MidiInputStats:
    """A snapshot of a :class:`MidiInput`'s counters, returned by ``stats()``.

    Attributes:
        received: messages taken from rtmidi since the input was attached.
            Each one ends in exactly one of ``sent``, ``dropped``,
            ``invalid``, ``errors``, or is still ``pending``.
        sent: messages put into the buffer (held releases once they are in).
        dropped: valid messages that could not be sent and were not kept:
            the buffer was full and they end no sound, or the consumer is
            gone. The producer's own ``stats().dropped`` counts more: every
            refused attempt, retries of held releases included.
        invalid: messages whose bytes were not one valid MIDI message
            (:class:`~midibuffer.InvalidMidiMessage` or :class:`TypeError`
            from :class:`~midibuffer.MidiMessage`); they are discarded.
        errors: any other exception on the input thread, for example
            :class:`~midibuffer.ClosedEndpointError` when the producer was
            closed behind the input's back. The message is discarded.
        last_error: ``"ExceptionType: text"`` of the most recent invalid
            message or error, or ``None`` if there was none.
        held: releases (note-offs, sustain pedal released, all notes off:
            :func:`~midibuffer.adapters.releases.release_key`) that found
            the buffer full and were kept, to be sent before anything else
            as soon as there is room.
        pending: held releases not in the buffer yet.
        backend_errors: exceptions rtmidi raised when asked for a message
            (``get_message()``, polling only); no message is counted for
            them. ``last_error`` shows the latest.

    The counters are written by the input thread only. Read from any other
    thread, each is exact, and ``received >= sent + dropped + invalid +
    errors + pending``; the two sides are equal whenever the input thread
    is between messages (after :meth:`MidiInput.close`, for instance).
    """

    received: int
    sent: int
    dropped: int
    invalid: int
    errors: int
    last_error: str | None
    held: int
    pending: int
    backend_errors: int


class MidiInput:
    """An ``rtmidi.MidiIn`` feeding a :class:`~midibuffer.MidiBufferProducer`.

    ``MidiInput(midi_in, producer, *, port_name=None, **options)`` takes
    over *midi_in*, whose port you open yourself (before or after;
    :func:`open_input` and :func:`open_virtual_input` do it all), and
    starts receiving. The options are those of :class:`InputSettings`:
    ``sysex=False``, ``clock=False``, ``active_sensing=False``,
    ``poll_interval=DEFAULT_POLL_INTERVAL``,
    ``idle_poll_interval=DEFAULT_IDLE_POLL_INTERVAL``. SysEx, timing messages (MIDI
    clock and MTC quarter frames) and active sensing pass only when the
    matching option is ``True``: they can be plentiful. *port_name* is only
    shown by ``repr()``.

    **Polling** (the default): a daemon thread, ``midibuffer-midi-input``,
    takes every message waiting in rtmidi's queue with ``get_message()``,
    then sleeps *poll_interval* seconds; after :data:`IDLE_AFTER` (1 s)
    without a message, *idle_poll_interval* seconds (default 10 ms) until
    the next one, so the first message after a silence can wait that long
    (its timestamp is unaffected). A callback already set on
    *midi_in* is cancelled: rtmidi queues nothing while one is set. No
    Python code runs on the backend's thread, so a busy process cannot make
    JACK's cycle wait for the GIL (which loses and garbles messages:
    ``docs/benchmarks.md``). The
    messages wait in rtmidi's queue meanwhile: its size is fixed when the
    ``MidiIn`` is created (python-rtmidi's ``queue_size_limit``, 1024 by
    default, :data:`QUEUE_SIZE` for the inputs this module creates), and
    rtmidi drops what does not fit, printing a warning.

    **Callback** (``poll_interval=None``): rtmidi calls the input on its own
    thread; with JACK that is JACK's real-time thread, which must first take
    the GIL. Use it only in a process that keeps the GIL free.

    **Timestamps.** rtmidi gives each message the time since the previous one,
    measured by the backend when the message arrived (JACK: once per
    period). Their sum is the backend's clock, which an
    :class:`~midibuffer.adapters.arrival_clock.ArrivalClock` maps onto
    :func:`time.perf_counter`: each message Python takes bounds the offset
    between the clocks from above (it arrived before it was taken), and the
    input keeps the smallest bound seen. So a stamp is never later than the
    moment the input thread took the message, stamps never go backwards,
    and they converge to the backend's arrival times within the first few
    messages. The error of a stamp is at most the quickest take seen so far
    (with polling, about one poll interval at first, microseconds after a
    few messages), plus the backend's own rounding (JACK: one period), plus
    the drift between the two clocks (none between JACK and
    ``perf_counter`` on Linux: both read ``CLOCK_MONOTONIC``). If the
    backend's clock loses time (rtmidi drops a message when its queue is
    full, and its delta with it), the offset rises again after a second
    of messages that all contradict it (``ArrivalClock.resyncs``). For
    the same reason SysEx, clock and active sensing are filtered here, not
    by rtmidi: a message rtmidi filters takes its delta time with it.

    **No hanging notes.** Messages go through a
    :class:`~midibuffer.adapters.releases.ReleaseKeeper`: when the buffer is
    full, note-ons and other messages are dropped and counted, while
    releases (note-off, note-on with velocity 0, sustain pedal released,
    all notes off...) are kept in a store allocated once and sent first as
    soon as there is room. With polling, the input thread retries them at
    every poll; with the callback, only when the next message arrives.

    The input owns the producer from now on: the input thread is its only
    user, so do not send to it yourself. :meth:`close` (or leaving a
    ``with`` block) closes the port and the producer, so the consumer sees
    the end of the stream.

    Raises:
        TypeError: *producer* is not a producer, or *poll_interval* is not
            a number or ``None``.
        ValueError: *poll_interval* is not finite and positive.
        EndpointInUseError: another adapter holds *producer*.

    Example (it needs a JACK server, so it is not run as a doctest)::

        import rtmidi
        from midibuffer import midi_buffer
        from midibuffer.rtmidi import MidiInput

        producer, consumer = midi_buffer(256)
        midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "my-synth", queue_size_limit=4096)
        with MidiInput(midi_in, producer, sysex=True) as midi_input:
            midi_in.open_virtual_port("notes in")  # connect it with jack_connect
            ...
        print(midi_input.stats())
        midi_in.delete()  # a virtual port closes only with its MidiIn
    """

    __slots__ = (
        "__weakref__",
        "_api",
        "_backend_errors",
        "_busy",
        "_callback",
        "_clock",
        "_close_lock",
        "_closed",
        "_closing",
        "_done",
        "_errors",
        "_filtered",
        "_handover",
        "_idle_poll_interval",
        "_invalid",
        "_keepalive",
        "_keeper",
        "_last_error",
        "_midi_in",
        "_owns_midi_in",
        "_poll_interval",
        "_port_name",
        "_producer",
        "_received",
        "_thread",
        "_thread_done",
    )

    def __init__(
        self,
        midi_in: Any,
        producer: AnyProducer,
        *,
        port_name: str | None = None,
        **options: Unpack[InputOptions],
    ) -> None:
        _check_producer(producer)
        settings = InputSettings(**options)
        self._poll_interval = settings.poll_interval
        self._idle_poll_interval = settings.idle_poll_interval
        self._midi_in: Any = midi_in
        self._producer = producer
        self._port_name = port_name
        self._owns_midi_in = False  # open_input()/open_virtual_input() set it
        self._api: int = current_api(midi_in)
        # Written by the input thread only:
        self._received = 0
        self._invalid = 0
        self._errors = 0
        self._backend_errors = 0
        self._last_error: str | None = None
        self._busy = False
        self._clock = ArrivalClock()
        self._keeper = ReleaseKeeper(producer)
        # rtmidi passes everything (a message it filtered would take its delta
        # time with it, and the clock would lose that time); filtered here:
        self._filtered = settings.filtered
        # The closing handshake (close() and the polling thread):
        self._close_lock = threading.Lock()
        self._done = threading.Event()
        self._closing = False
        self._closed = False
        self._handover = False  # close() gave up waiting: the thread finishes up
        self._thread_done = False
        self._callback: Callable[..., None] | None = None
        self._keepalive: tuple[Any, ...] | None = None
        self._thread: threading.Thread | None = None
        claim_end(producer, self)
        midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
        if self._poll_interval is None:
            self._callback = self._on_message  # one bound method, so it can be found again
            midi_in.set_callback(self._callback)
            self._keepalive = _callback_record(midi_in, self._callback)
        else:
            midi_in.cancel_callback()  # with a callback set, rtmidi queues nothing
            self._thread = threading.Thread(
                target=self._poll, name="midibuffer-midi-input", daemon=True
            )
            self._thread.start()

    # --- the input thread ------------------------------------------------------------------

    def _take(self, event: tuple[list[int], float], now: float) -> None:
        """Stamp, filter, validate and send one ``(bytes, delta)`` event taken at *now*.

        Raises what sending raises, and :class:`TypeError` for an event that
        is not a pair (both counted as errors by the caller).
        """
        pair = type(event) is tuple and len(event) == 2
        data: Any
        data, delta = event if pair else (None, 0.0)
        stamp = self._clock.stamp(delta if type(delta) is float else 0.0, now)
        if type(data) is list and data and data[0] in self._filtered:
            return  # filtered, as rtmidi would have: not even counted
        self._received += 1
        if not pair:
            raise TypeError(f"rtmidi gave {event!r}, not a (message, delta) pair")
        try:
            message = MidiMessage(data, time=stamp)
        except (InvalidMidiMessage, TypeError) as error:
            self._last_error = f"{type(error).__name__}: {error}"
            self._invalid += 1
            return
        self._keeper.send(message)

    def _count_error(self, error: BaseException) -> None:
        self._last_error = f"{type(error).__name__}: {error}"
        self._errors += 1

    def _poll(self) -> None:
        """The polling thread: drain rtmidi's queue, retry held releases, sleep."""
        try:
            self._poll_until_closing()
        finally:
            with self._close_lock:
                self._thread_done = True
                handover = self._handover
            if handover:  # close() gave up waiting for us: finish its job
                try:
                    self._shut_down()
                except BaseException as error:
                    self._last_error = f"{type(error).__name__}: {error}"

    def _poll_until_closing(self) -> None:
        get_message = self._midi_in.get_message
        keeper = self._keeper
        assert self._poll_interval is not None
        pacer = PollPacer(self._poll_interval, self._idle_poll_interval)
        while not self._closing:
            try:
                event = get_message()
            except BaseException as error:  # rtmidi failed: note it, rest, go on
                self._last_error = f"{type(error).__name__}: {error}"
                self._backend_errors += 1
                time.sleep(_ERROR_PAUSE)
                continue
            if event is None:
                if keeper.pending:
                    keeper.flush()  # never raises: a closed producer drops what is held
                time.sleep(pacer.rest())
                continue
            pacer.found()
            now = _perf_counter()
            try:
                self._take(event, now)
            except BaseException as error:
                self._count_error(error)

    def _on_message(self, event: tuple[list[int], float], _data: object = None) -> None:
        """rtmidi's callback (``poll_interval=None``). Runs on rtmidi's thread; never raises."""
        now = _perf_counter()
        # The handshake with close(): mark this callback busy, *then* look at
        # the closing flag; close() sets the flag, *then* waits while busy.
        # One of them always sees the other, so no callback touches the
        # producer once close() has stopped waiting.
        self._busy = True
        try:
            if self._closing:
                return
            self._take(event, now)
        except BaseException as error:  # rtmidi would print it and carry on
            self._count_error(error)
        finally:
            self._busy = False

    # --- any thread ------------------------------------------------------------------------

    def stats(self) -> MidiInputStats:
        """Return a :class:`MidiInputStats` snapshot. Any thread; never raises; takes no lock.

        Still works after :meth:`close`.
        """
        # Outcomes first, pending after them, received last: a message moves
        # from received to an outcome, and from pending to sent or dropped,
        # so these reads never count one twice.
        keeper = self._keeper
        sent = keeper.sent
        dropped = keeper.dropped
        invalid = self._invalid
        errors = self._errors
        last_error = self._last_error
        pending = keeper.pending
        return MidiInputStats(
            received=self._received,
            sent=sent,
            dropped=dropped,
            invalid=invalid,
            errors=errors,
            last_error=last_error,
            held=keeper.held,
            pending=pending,
            backend_errors=self._backend_errors,
        )

    @property
    def api(self) -> int:
        """The rtmidi API in use, one of the ``rtmidi.API_*`` constants. Any thread."""
        return self._api

    @property
    def port_name(self) -> str | None:
        """The port this input listens to (or created), if known. Any thread."""
        return self._port_name

    @property
    def poll_interval(self) -> float | None:
        """Seconds between polls of rtmidi's queue, or ``None`` (rtmidi's callback). Any thread."""
        return self._poll_interval

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` has run. Any thread."""
        return self._closed

    def close(self) -> None:
        """Stop receiving, close the rtmidi port and close the producer. Idempotent.

        Call it from any thread except the input's own. It waits, at most
        about a second, for the input thread to finish the message in hand,
        so that the producer is never used by two threads at once. Then it
        sends the held releases that fit (those that do not are counted as
        dropped: the stream ends here). Messages already in the buffer stay
        there: the consumer pops them, then ``is_finished()`` returns
        ``True``. If :func:`open_input` or :func:`open_virtual_input`
        created the ``rtmidi.MidiIn``, it is deleted too (which closes its
        backend client); a ``MidiIn`` you passed yourself only has its port
        closed (and, with the callback, its callback removed; python-rtmidi
        closes a virtual port only when the ``MidiIn`` is deleted).

        If the input thread does not come back within that second (another
        thread holding the GIL in a long C call, say), ``close()`` returns
        and leaves the rest to it: the thread finishes the closing itself on
        its way out (:attr:`closed` turns ``True`` then). A second ``close()``
        while the first runs waits for it, up to about two seconds.

        Raises whatever rtmidi raises while closing the port (nothing in
        practice); the producer is closed and the input marked closed even
        then.
        """
        with self._close_lock:
            first = not self._closing
            self._closing = True
        if not first:
            self._done.wait(2 * _CLOSE_WAIT)
            return
        if self._thread is not None:
            self._thread.join(_CLOSE_WAIT)
            with self._close_lock:
                if not self._thread_done:
                    self._handover = True  # the thread will call _shut_down()
                    return
        else:
            deadline = time.monotonic() + _CLOSE_WAIT
            while self._busy and time.monotonic() < deadline:
                time.sleep(0.000_2)
        self._shut_down()

    def _shut_down(self) -> None:
        """Close the port (and the MidiIn if it is ours), send or drop what is held,
        close the producer. Runs once, on the thread that closes."""
        midi_in = self._midi_in
        try:
            midi_in.close_port()  # also cancels a callback (python-rtmidi)
            if self._thread is None:
                # A callback that rtmidi started just before may still be
                # waiting for the GIL: let it run (it returns at once) before
                # deleting the MidiIn, which stops rtmidi's thread.
                time.sleep(_CLOSE_GRACE)
            if self._owns_midi_in:
                self._midi_in = None
                midi_in.delete()
        finally:
            if not self._busy:  # else a stuck callback still owns the keeper
                self._keeper.flush()
                self._keeper.discard()
            self._producer.close()
            release_end(self._producer, self)
            self._closed = True
            self._done.set()

    def __enter__(self) -> MidiInput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        stats = self.stats()
        port = "" if self._port_name is None else f" {self._port_name!r}"
        state = "closed" if self._closed else "closing" if self._closing else "open"
        how = "callback" if self._poll_interval is None else f"polling {self._poll_interval:g} s"
        return (
            f"<MidiInput{port} api={api_name(self._api)} {how} received={stats.received} "
            f"held={stats.held} dropped={stats.dropped} invalid={stats.invalid} "
            f"errors={stats.errors} {state}>"
        )


# --- opening ports ---------------------------------------------------------------------------


def open_input(
    name: str,
    producer: AnyProducer,
    *,
    api: int | None = None,
    client_name: str = "midibuffer",
    **options: Unpack[InputOptions],
) -> MidiInput:
    """Connect to the first MIDI input port whose name contains *name*; feed *producer*.

    The match ignores case (``""`` matches the first port); the ports are
    the ones :func:`input_port_names` lists, in that order. *api* is an
    ``rtmidi.API_*`` constant, or ``None`` to let :func:`choose_api` pick
    one. *client_name* names this program's MIDI client (the JACK client
    or ALSA client). *options* (``sysex``, ``clock``, ``active_sensing``,
    ``poll_interval``: :class:`InputSettings`) are passed to
    :class:`MidiInput`; rtmidi's queue holds
    :data:`QUEUE_SIZE` messages. Call from any thread; the returned input
    owns *producer*.

    Raises:
        MidiPortNotFound: no port matches; the message lists the available
            ones. *producer* is left untouched.
        MidiBackendUnavailable: no MIDI backend works (see
            :func:`choose_api`), or the one asked for cannot start.
        TypeError: *name* is not a str, *producer* not a producer, or
            *poll_interval* not a number or ``None``.
        ValueError: *poll_interval* is not finite and positive.
        rtmidi.RtMidiError: rtmidi could not open the port.

    Example (it needs a MIDI backend, so it is not run as a doctest)::

        with open_input("keystation", producer, sysex=True) as midi_input:
            ...
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    _check_producer(producer)
    InputSettings(**options)  # bad options fail before anything is opened
    midi_in = new_midi_in(api, client_name, QUEUE_SIZE)
    try:
        ports: list[str] = midi_in.get_ports()
        wanted = name.casefold()
        index = next((i for i, port in enumerate(ports) if wanted in port.casefold()), None)
        if index is None:
            listing = ", ".join(repr(port) for port in ports) if ports else "none"
            raise MidiPortNotFound(
                f"no MIDI input port matches {name!r} "
                f"({api_name(current_api(midi_in))}); available input ports: {listing}"
            )
    except BaseException:
        midi_in.delete()
        raise
    return _owned_input(
        midi_in,
        producer,
        ports[index],
        lambda: midi_in.open_port(index, _INPUT_PORT_NAME),
        **options,
    )


def open_virtual_input(
    name: str,
    producer: AnyProducer,
    *,
    api: int | None = None,
    client_name: str = "midibuffer",
    **options: Unpack[InputOptions],
) -> MidiInput:
    """Create a virtual MIDI input port called *name* that other programs connect to.

    With JACK, the port is ``<client name>:<name>``; connect a source to it
    with ``jack_connect`` or a patchbay. The arguments are those of
    :func:`open_input`. Call from any thread; the returned input owns
    *producer*.

    Raises:
        MidiBackendUnavailable: no MIDI backend works (see :func:`choose_api`),
            or the one asked for cannot start.
        TypeError: *name* is not a str, *producer* not a producer, or
            *poll_interval* not a number or ``None``.
        ValueError: *poll_interval* is not finite and positive.
        NotImplementedError: the backend has no virtual ports (Windows MM).

    Example (it needs a MIDI backend, so it is not run as a doctest)::

        with open_virtual_input("notes in", producer) as midi_input:
            ...  # jack_connect some-client:out midibuffer:"notes in"
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    _check_producer(producer)
    InputSettings(**options)  # bad options fail before anything is opened
    midi_in = new_midi_in(api, client_name, QUEUE_SIZE)
    return _owned_input(
        midi_in,
        producer,
        name,
        lambda: midi_in.open_virtual_port(name),
        **options,
    )


def _owned_input(
    midi_in: Any,
    producer: AnyProducer,
    port_name: str,
    open_port: Callable[[], object],
    **options: Unpack[InputOptions],
) -> MidiInput:
    """Open *midi_in*'s port with *open_port*, then attach it to a new input,
    which owns it and deletes it on close; on any failure, delete *midi_in*
    (the port is opened first so that a failure leaves no thread running)."""
    try:
        open_port()
        midi_input = MidiInput(
            midi_in,
            producer,
            port_name=port_name,
            **options,
        )
    except BaseException:
        midi_in.delete()
        raise
    midi_input._owns_midi_in = True
    return midi_input


def _check_producer(producer: object) -> None:
    if not isinstance(producer, AnyProducer):
        raise not_an_end("producer", producer)


def _callback_record(midi_in: object, callback: object) -> tuple[Any, ...] | None:
    """Find the ``(callback, data)`` tuple python-rtmidi stores for *callback*.

    python-rtmidi gives rtmidi's thread a borrowed pointer to that tuple and
    drops it in ``cancel_callback()``/``close_port()``; a callback already
    waiting for the GIL then reads freed memory. Holding a reference of our
    own keeps the tuple alive as long as the :class:`MidiInput` lives.
    """
    for referent in gc.get_referents(midi_in):
        if type(referent) is tuple and referent and referent[0] is callback:
            return referent
    return None
