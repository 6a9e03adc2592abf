"""MIDI input from python-rtmidi into a :func:`~midibuffer.midi_buffer` (the ``rtmidi`` extra).

:class:`MidiInput` attaches an ``rtmidi.MidiIn`` to a
:class:`~midibuffer.MidiBufferProducer`. rtmidi calls it on its own thread
(ALSA's input thread, or the JACK process thread itself) for each message;
it validates the bytes into a :class:`~midibuffer.MidiMessage` stamped with
:func:`time.perf_counter` at callback entry and sends it with ``try_send``. rtmidi
prints and swallows any exception raised there, so nothing escapes: invalid
messages, drops and errors are counted in :meth:`MidiInput.stats` instead.

:func:`open_input` opens an existing port by (part of) its name and
:func:`open_virtual_input` creates a port that others connect to; the
backend is chosen by :mod:`midibuffer.io.midi_backend`. Users import both
modules through ``midibuffer.rtmidi``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from midibuffer.buffer.ends import claim_end, release_end
from midibuffer.buffer.shared import AnyProducer, not_an_end
from midibuffer.data.message import MidiMessage
from midibuffer.errors import InvalidMidiMessage, MidiPortNotFound
from midibuffer.io.midi_backend import api_name, current_api, new_midi_in

__all__ = ["MidiInput", "MidiInputStats", "open_input", "open_virtual_input"]

_INPUT_PORT_NAME = "input"  # the name of our own port when we connect to another one
_CLOSE_WAIT = 1.0  # seconds close() waits for a callback that is running
_CLOSE_GRACE = 0.005  # seconds close() lets callbacks already queued on the GIL finish

_perf_counter = time.perf_counter


@dataclass(frozen=True, slots=True)
class MidiInputStats:
    """A snapshot of a :class:`MidiInput`'s counters, returned by ``stats()``.

    Attributes:
        received: callbacks rtmidi made with a message since the input was
            attached (each one ends in exactly one of the four counters below).
        sent: messages put into the buffer.
        dropped: valid messages ``try_send`` refused: the buffer was full or
            the consumer is gone. The producer's own ``stats().dropped``
            counts them too.
        invalid: messages whose bytes were not one valid MIDI message
            (:class:`~midibuffer.InvalidMidiMessage` or :class:`TypeError`
            from :class:`~midibuffer.MidiMessage`); they are discarded.
        errors: any other exception in the callback, for example
            :class:`~midibuffer.ClosedEndpointError` when the producer was
            closed behind the input's back. The message is discarded.
        last_error: ``"ExceptionType: text"`` of the most recent invalid
            message or error, or ``None`` if there was none.

    The counters are written by rtmidi's callback thread only. Read from any
    other thread, each is exact, and ``received >= sent + dropped + invalid +
    errors``; the two sides are equal whenever no callback is running (after
    :meth:`MidiInput.close`, for instance).
    """

    received: int
    sent: int
    dropped: int
    invalid: int
    errors: int
    last_error: str | None


class MidiInput:
    """An ``rtmidi.MidiIn`` feeding a :class:`~midibuffer.MidiBufferProducer`.

    ``MidiInput(midi_in, producer, *, sysex=False, clock=False,
    active_sensing=False, port_name=None)`` sets rtmidi's filters and
    installs the callback on *midi_in*, whose port you open yourself (before
    or after; :func:`open_input` and :func:`open_virtual_input` do it all).
    SysEx, timing messages (MIDI clock, and on some backends MTC quarter
    frames too: rtmidi filters both under "timing") and active sensing pass
    only when the matching argument is ``True``: rtmidi filters them by
    default because they can be plentiful. *port_name* is only shown by ``repr()``.

    The callback runs on rtmidi's thread. For each message it takes
    :func:`time.perf_counter` first, builds a
    :class:`~midibuffer.MidiMessage` with that ``time`` and sends it with
    ``try_send``. It never raises: invalid messages, drops and errors are
    counted in :meth:`stats`. rtmidi's own timestamps (its delta times) are
    not used: with JACK they are rounded to the JACK period.

    With JACK, rtmidi runs the callback inside the JACK process cycle, on
    JACK's real-time thread, which must first take the GIL. If that makes
    the cycle overrun (an xrun: another thread held the GIL, or was
    descheduled while holding it), rtmidi's JACK input can deliver wrong
    messages (in tests: copies of their neighbours, the count unchanged)
    that no counter can notice. Keep GIL-heavy work out of this process, or
    at least short, when MIDI integrity matters; jackd logs every xrun.

    The input owns the producer from now on: the callback thread is its only
    user, so do not send to it yourself. :meth:`close` (or leaving a
    ``with`` block) closes the port and the producer, so the consumer sees
    the end of the stream.

    Raises:
        TypeError: *producer* is not a :class:`~midibuffer.MidiBufferProducer`.

    Example (it needs a JACK server, so it is not run as a doctest)::

        import rtmidi
        from midibuffer import midi_buffer
        from midibuffer.io.midi_input import MidiInput

        producer, consumer = midi_buffer(256)
        midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "my-synth")
        with MidiInput(midi_in, producer, sysex=True) as midi_input:
            midi_in.open_virtual_port("notes in")  # connect it with jack_connect
            ...
        print(midi_input.stats())
        midi_in.delete()  # a virtual port closes only with its MidiIn
    """

    __slots__ = (
        "__weakref__",
        "_api",
        "_busy",
        "_callback",
        "_closed",
        "_closing",
        "_dropped",
        "_errors",
        "_invalid",
        "_keepalive",
        "_last_error",
        "_midi_in",
        "_owns_midi_in",
        "_port_name",
        "_producer",
        "_received",
        "_sent",
    )

    def __init__(
        self,
        midi_in: Any,
        producer: AnyProducer,
        *,
        sysex: bool = False,
        clock: bool = False,
        active_sensing: bool = False,
        port_name: str | None = None,
    ) -> None:
        _check_producer(producer)
        self._midi_in: Any = midi_in
        self._producer = producer
        self._port_name = port_name
        self._owns_midi_in = False  # open_input()/open_virtual_input() set it
        self._api: int = current_api(midi_in)
        # Written by the callback thread only:
        self._received = 0
        self._sent = 0
        self._dropped = 0
        self._invalid = 0
        self._errors = 0
        self._last_error: str | None = None
        self._busy = False
        # Written by close() only:
        self._closing = False
        self._closed = False
        claim_end(producer, self)
        midi_in.ignore_types(sysex=not sysex, timing=not clock, active_sense=not active_sensing)
        self._callback = self._on_message  # one bound method, so it can be found again
        midi_in.set_callback(self._callback)
        self._keepalive = _callback_record(midi_in, self._callback)

    # --- the rtmidi thread -----------------------------------------------------------------

    def _on_message(self, event: tuple[list[int], float], _data: object = None) -> None:
        """rtmidi's callback. Runs on rtmidi's thread; raises nothing, ever."""
        now = _perf_counter()
        # The handshake with close(): mark this callback busy, *then* look at
        # the closing flag; close() sets the flag, *then* waits while busy.
        # One of them always sees the other, so no callback touches the
        # producer once close() has stopped waiting.
        self._busy = True
        try:
            if self._closing:
                return
            self._received += 1
            data = event[0]  # a malformed event is an error, not an invalid message
            try:
                message = MidiMessage(data, time=now)
            except (InvalidMidiMessage, TypeError) as error:
                self._last_error = f"{type(error).__name__}: {error}"
                self._invalid += 1
                return
            if self._producer.try_send(message):
                self._sent += 1
            else:
                self._dropped += 1
        except BaseException as error:  # rtmidi would print it and carry on
            self._last_error = f"{type(error).__name__}: {error}"
            self._errors += 1
        finally:
            self._busy = False

    # --- any thread ------------------------------------------------------------------------

    def stats(self) -> MidiInputStats:
        """Return a :class:`MidiInputStats` snapshot. Any thread; never raises; takes no lock.

        Still works after :meth:`close`.
        """
        # The callback counts a message as received before its outcome, so
        # reading the outcomes first keeps received >= their sum.
        sent = self._sent
        dropped = self._dropped
        invalid = self._invalid
        errors = self._errors
        last_error = self._last_error
        return MidiInputStats(
            received=self._received,
            sent=sent,
            dropped=dropped,
            invalid=invalid,
            errors=errors,
            last_error=last_error,
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
    def closed(self) -> bool:
        """``True`` once :meth:`close` has run. Any thread."""
        return self._closed

    def close(self) -> None:
        """Stop receiving, close the rtmidi port and close the producer. Idempotent.

        Call it from any thread except rtmidi's callback thread (which only
        runs this module's callback anyway). It waits, at most about a
        second, for a callback that is running to finish, so that the
        producer is never used by two threads at once. Messages already in
        the buffer stay there: the consumer pops them, then
        ``is_finished()`` returns ``True``. If :func:`open_input` or
        :func:`open_virtual_input` created the ``rtmidi.MidiIn``, it is
        deleted too (which closes its backend client); a ``MidiIn`` you
        passed yourself only has its callback removed and its port closed
        (python-rtmidi closes a virtual port only when the ``MidiIn`` is
        deleted).

        Raises whatever rtmidi raises while closing the port (nothing in
        practice); the producer is closed and the input marked closed even
        then.
        """
        if self._closing:
            return
        self._closing = True
        midi_in = self._midi_in
        try:
            deadline = time.monotonic() + _CLOSE_WAIT
            while self._busy and time.monotonic() < deadline:
                time.sleep(0.000_2)
            midi_in.close_port()  # also cancels the callback (python-rtmidi)
            # A callback that rtmidi started just before may still be waiting
            # for the GIL: let it run (it returns at once) before deleting the
            # MidiIn, which stops rtmidi's thread.
            time.sleep(_CLOSE_GRACE)
            if self._owns_midi_in:
                self._midi_in = None
                midi_in.delete()
        finally:
            self._producer.close()
            release_end(self._producer, self)
            self._closed = True

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
        return (
            f"<MidiInput{port} api={api_name(self._api)} received={stats.received} "
            f"dropped={stats.dropped} invalid={stats.invalid} errors={stats.errors} {state}>"
        )


# --- opening ports ---------------------------------------------------------------------------


def open_input(
    name: str,
    producer: AnyProducer,
    *,
    api: int | None = None,
    client_name: str = "midibuffer",
    sysex: bool = False,
    clock: bool = False,
    active_sensing: bool = False,
) -> MidiInput:
    """Connect to the first MIDI input port whose name contains *name*; feed *producer*.

    The match ignores case (``""`` matches the first port); the ports are
    the ones :func:`input_port_names` lists, in that order. *api* is an
    ``rtmidi.API_*`` constant, or ``None`` to let :func:`choose_api` pick
    one. *client_name* names this program's MIDI client (the JACK client
    or ALSA client). *sysex*, *clock* and *active_sensing* are passed to
    :class:`MidiInput`. Call from any thread; the returned input's callback
    runs on rtmidi's thread and the input owns *producer*.

    Raises:
        MidiPortNotFound: no port matches; the message lists the available
            ones. *producer* is left untouched.
        MidiBackendUnavailable: no MIDI backend works (see
            :func:`choose_api`), or the one asked for cannot start.
        TypeError: *name* is not a str or *producer* not a producer.
        rtmidi.RtMidiError: rtmidi could not open the port.

    Example (it needs a MIDI backend, so it is not run as a doctest)::

        with open_input("keystation", producer, sysex=True) as midi_input:
            ...
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    _check_producer(producer)
    midi_in = new_midi_in(api, client_name)
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
        sysex=sysex,
        clock=clock,
        active_sensing=active_sensing,
    )


def open_virtual_input(
    name: str,
    producer: AnyProducer,
    *,
    api: int | None = None,
    client_name: str = "midibuffer",
    sysex: bool = False,
    clock: bool = False,
    active_sensing: bool = False,
) -> MidiInput:
    """Create a virtual MIDI input port called *name* that other programs connect to.

    With JACK, the port is ``<client name>:<name>``; connect a source to it
    with ``jack_connect`` or a patchbay. The arguments are those of
    :func:`open_input`. Call from any thread; the returned input's callback
    runs on rtmidi's thread and the input owns *producer*.

    Raises:
        MidiBackendUnavailable: no MIDI backend works (see :func:`choose_api`),
            or the one asked for cannot start.
        TypeError: *name* is not a str or *producer* not a producer.
        NotImplementedError: the backend has no virtual ports (Windows MM).

    Example (it needs a MIDI backend, so it is not run as a doctest)::

        with open_virtual_input("notes in", producer) as midi_input:
            ...  # jack_connect some-client:out midibuffer:"notes in"
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    _check_producer(producer)
    midi_in = new_midi_in(api, client_name)
    return _owned_input(
        midi_in,
        producer,
        name,
        lambda: midi_in.open_virtual_port(name),
        sysex=sysex,
        clock=clock,
        active_sensing=active_sensing,
    )


def _owned_input(
    midi_in: Any,
    producer: AnyProducer,
    port_name: str,
    open_port: Callable[[], object],
    *,
    sysex: bool,
    clock: bool,
    active_sensing: bool,
) -> MidiInput:
    """Attach *midi_in*, which the returned input will own and delete, then
    open its port with *open_port*; on any failure, delete *midi_in*."""
    try:
        midi_input = MidiInput(
            midi_in,
            producer,
            sysex=sysex,
            clock=clock,
            active_sensing=active_sensing,
            port_name=port_name,
        )
        midi_input._owns_midi_in = True
        open_port()
    except BaseException:
        midi_in.delete()
        raise
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
