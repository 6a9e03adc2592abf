"""Round-2 hardening: one adapter per end, timeouts checked first, misdated messages,
outputs that close their consumer, real-time modes that nest, final messages."""

from __future__ import annotations

import gc
import math
import pickle
import sys
import threading
import time

import anyio
import pytest

from midibuffer import (
    AbandonedError,
    AsyncMidiProducer,
    BlockingMidiProducer,
    EndpointInUseError,
    InvalidMidiMessage,
    MidiBufferError,
    MidiMessage,
    midi_buffer,
)
from midibuffer.audio import AudioStats, OutputOptions, OutputSettings
from midibuffer.offline import OfflineOutput
from midibuffer.realtime import RealtimeMode
from midibuffer.scheduler import BlockEvents, BlockScheduler
from midibuffer.synth import PolySynth

from harness import wait_for

RATE = 48_000
FRAMES = 64


def silence(outdata: object, events: BlockEvents) -> None:
    outdata.fill(0)  # type: ignore[attr-defined]


# --- MidiMessage: final, and unpickling validates ----------------------------------------


def test_midi_message_cannot_be_subclassed() -> None:
    with pytest.raises(TypeError, match="MidiMessage is final"):

        class Loud(MidiMessage):  # type: ignore[misc]
            pass


@pytest.mark.parametrize(
    "data", [b"\x90\x3c\xff", b"\x90\x3c", b"\xf4", b"", b"\xf0\x01\x02", "text", None]
)
def test_a_crafted_pickle_cannot_make_an_invalid_message(data: object) -> None:
    """A pickle built by hand with the reconstructor that pickling uses, around bad bytes."""
    reconstruct = MidiMessage.note_on(0, 60, 100).__reduce__()[0]

    class Crafted:
        def __reduce__(self) -> tuple[object, tuple[object, None]]:
            return (reconstruct, (data, None))

    payload = pickle.dumps(Crafted())
    with pytest.raises((InvalidMidiMessage, TypeError)) as raised:
        pickle.loads(payload)
    if isinstance(data, bytes):
        assert raised.type is InvalidMidiMessage


def test_a_crafted_pickle_cannot_give_a_message_a_bad_time() -> None:
    reconstruct = MidiMessage.clock().__reduce__()[0]

    class Crafted:
        def __reduce__(self) -> tuple[object, tuple[bytes, float]]:
            return (reconstruct, (b"\xf8", math.nan))

    with pytest.raises(ValueError, match="time must be finite"):
        pickle.loads(pickle.dumps(Crafted()))


def test_pickling_still_round_trips() -> None:
    message = MidiMessage.sysex(b"\x01\x02", time=12.5)
    assert pickle.loads(pickle.dumps(message)) == message


# --- one adapter per end -----------------------------------------------------------------


def test_endpoint_in_use_error_is_exported_and_a_midibuffer_error() -> None:
    assert issubclass(EndpointInUseError, MidiBufferError)


@pytest.mark.parametrize("first", [AsyncMidiProducer, BlockingMidiProducer])
@pytest.mark.parametrize("second", [AsyncMidiProducer, BlockingMidiProducer])
def test_a_producer_takes_one_sender(first: type, second: type) -> None:
    producer, consumer = midi_buffer(4)
    sender = first(producer)
    with pytest.raises(EndpointInUseError, match=f"belongs to a {first.__name__}"):
        second(producer)
    assert sender.try_send(MidiMessage.clock())
    assert consumer.try_pop() == MidiMessage.clock()


def test_closing_a_sender_releases_its_producer() -> None:
    producer, _consumer = midi_buffer(4)
    sender = BlockingMidiProducer(producer)
    sender.close()
    BlockingMidiProducer(producer)  # the end is free again (and closed)


def test_a_dropped_sender_releases_its_producer() -> None:
    producer, _consumer = midi_buffer(4)
    BlockingMidiProducer(producer)
    gc.collect()
    assert BlockingMidiProducer(producer).try_send(MidiMessage.clock())


def test_a_consumer_takes_one_scheduler_and_one_output() -> None:
    _producer, consumer = midi_buffer(4)
    scheduler = BlockScheduler(consumer, RATE)
    with pytest.raises(EndpointInUseError, match="belongs to a BlockScheduler"):
        BlockScheduler(consumer, RATE)
    with pytest.raises(EndpointInUseError):
        OfflineOutput(consumer, silence)
    scheduler.close()
    output = OfflineOutput(consumer, silence)  # released by close()
    with pytest.raises(EndpointInUseError):
        OfflineOutput(consumer, silence)
    output.close()


# --- timeouts are checked first, in both senders alike ------------------------------------

BAD_TIMEOUTS = [
    (math.nan, ValueError),
    (-0.5, ValueError),
    (-math.inf, ValueError),
    (True, TypeError),
    (False, TypeError),
    ("1", TypeError),
    ([1], TypeError),
]


@pytest.mark.parametrize(("timeout", "error"), BAD_TIMEOUTS)
def test_blocking_send_checks_timeout_before_anything_else(timeout: object, error: type) -> None:
    producer, consumer = midi_buffer(1)
    sender = BlockingMidiProducer(producer)
    sender.send(MidiMessage.clock())  # full now: a bad timeout must not make it wait
    started = time.monotonic()
    with pytest.raises(error, match="timeout"):
        sender.send(MidiMessage.start(), timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(error, match="timeout"):  # checked before the message, too
        sender.send("not a message", timeout=timeout)  # type: ignore[arg-type]
    assert time.monotonic() - started < 1.0
    assert sender.stats().waits == 0
    assert consumer.try_pop() == MidiMessage.clock() and consumer.try_pop() is None


@pytest.mark.parametrize(("timeout", "error"), BAD_TIMEOUTS)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_send_checks_timeout_before_anything_else(
    timeout: object, error: type, backend: str
) -> None:
    producer, consumer = midi_buffer(1)
    sender = AsyncMidiProducer(producer)

    async def main() -> None:
        await sender.send(MidiMessage.clock())
        with anyio.fail_after(5):  # timeout=nan hung before
            with pytest.raises(error, match="timeout"):
                await sender.send(MidiMessage.start(), timeout=timeout)  # type: ignore[arg-type]
            with pytest.raises(error, match="timeout"):
                await sender.send_many([MidiMessage.start()], timeout=timeout)  # type: ignore[arg-type]

    anyio.run(main, backend=backend)
    assert sender.stats().waits == 0
    assert consumer.try_pop() == MidiMessage.clock() and consumer.try_pop() is None


def test_a_blocking_timeout_says_how_long_it_waited() -> None:
    producer, _consumer = midi_buffer(1)
    sender = BlockingMidiProducer(producer)
    sender.send(MidiMessage.clock())
    with pytest.raises(TimeoutError, match=r"waited \d+\.\d{3} s \(timeout=0\.02 s\)") as error:
        sender.send(MidiMessage.start(), timeout=0.02)
    assert float(str(error.value).split("waited ")[1].split(" s")[0]) >= 0.02


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_async_timeout_says_how_long_it_waited(backend: str) -> None:
    producer, _consumer = midi_buffer(1)
    sender = AsyncMidiProducer(producer)

    async def main() -> str:
        await sender.send(MidiMessage.clock())
        with pytest.raises(TimeoutError) as raised:
            await sender.send(MidiMessage.start(), timeout=0.02)
        return str(raised.value)

    text = anyio.run(main, backend=backend)
    waited = float(text.split("waited ")[1].split(" s")[0])
    assert waited >= 0.02 and "(timeout=0.02 s)" in text


# --- misdated messages do not freeze a timed stream ---------------------------------------


def test_a_message_dated_beyond_max_lead_is_played_at_once_and_counted() -> None:
    producer, consumer = midi_buffer(8)
    scheduler = BlockScheduler(consumer, RATE, max_lead=2.0)
    now = 1000.0
    scheduler.collect(FRAMES, now=now)
    epoch = MidiMessage.note_on(0, 60, time=1.7e9)  # epoch seconds: the wrong clock
    soon = MidiMessage.note_on(0, 62, time=now + 1.5)  # ahead, but within max_lead
    behind = MidiMessage.note_on(0, 64, time=now)
    for message in (epoch, behind, soon):
        producer.try_send(message)
    events = scheduler.collect(FRAMES, now=now + FRAMES / RATE)
    assert list(events) == [(0, epoch), (0, behind)]  # soon waits for its block
    stats = scheduler.stats()
    assert (stats.misdated, stats.late, stats.untimed) == (1, 1, 0)


def test_the_default_max_lead_is_a_few_seconds() -> None:
    producer, consumer = midi_buffer(8)
    scheduler = BlockScheduler(consumer, RATE)
    scheduler.collect(FRAMES, now=0.0)
    producer.try_send(MidiMessage.clock(time=4.0))  # 4 s ahead: kept
    producer.try_send(MidiMessage.clock(time=6.0))
    assert scheduler.collect(FRAMES, now=FRAMES / RATE).count == 0
    assert scheduler.stats().misdated == 0


@pytest.mark.parametrize(
    ("max_lead", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (math.nan, ValueError),
        ("5", TypeError),
        (True, TypeError),
    ],
)
def test_max_lead_is_checked(max_lead: object, error: type) -> None:
    _producer, consumer = midi_buffer(8)
    with pytest.raises(error, match="max_lead"):
        BlockScheduler(consumer, RATE, max_lead=max_lead)  # type: ignore[arg-type]


def test_collecting_a_negative_number_of_frames_is_a_value_error() -> None:
    _producer, consumer = midi_buffer(8)
    scheduler = BlockScheduler(consumer, RATE)
    with pytest.raises(ValueError, match="frames must be >= 0, got -1"):
        scheduler.collect(-1, now=0.0)
    assert scheduler.position == 0


def test_an_output_counts_misdated_and_untimed_messages() -> None:
    producer, consumer = midi_buffer(8)
    with OfflineOutput(consumer, silence, blocksize=FRAMES, max_lead=1.0) as output:
        producer.try_send(MidiMessage.note_on(0, 60, time=time.perf_counter() + 3600))
        producer.try_send(MidiMessage.note_off(0, 60))  # no time, in timed mode
        deadline = time.monotonic() + 10
        while output.stats().events < 2 and time.monotonic() < deadline:
            output.wait(0.01)
    stats = output.stats()
    assert (stats.events, stats.misdated, stats.untimed) == (2, 1, 1)
    assert {"misdated", "untimed"} <= set(AudioStats.__dataclass_fields__)


# --- an output owns its consumer ----------------------------------------------------------


def test_closing_an_output_abandons_the_producer_and_frees_a_waiting_sender() -> None:
    producer, consumer = midi_buffer(1)
    sender = BlockingMidiProducer(producer)
    output = OfflineOutput(consumer, silence, blocksize=FRAMES)
    output.start()
    later = time.perf_counter() + 3.0
    sender.send(MidiMessage.clock(time=later))  # the scheduler pops it and holds it back,
    sender.send(MidiMessage.clock(time=later))  # so this one stays: the buffer is full
    waited = sender.stats().waits  # 1 if the second send came before the first was popped
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            sender.send(MidiMessage.start())
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=send)
    thread.start()
    wait_for(lambda: sender.stats().waits > waited)
    output.close()
    assert producer.is_abandoned()  # at once
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], AbandonedError)
    assert output.error is None


class Boom(RuntimeError):
    pass


def test_render_raising_closes_the_consumer_and_keeps_the_error() -> None:
    producer, consumer = midi_buffer(4)

    def broken(outdata: object, events: BlockEvents) -> None:
        if events.count:
            raise Boom("render failed on purpose")
        silence(outdata, events)

    output = OfflineOutput(consumer, broken, blocksize=FRAMES)
    output.start()
    producer.try_send(MidiMessage.clock())
    took = wait_for(lambda: output.error is not None)
    assert took < 5.0  # the render thread closes the consumer itself, after the failing block
    assert producer.is_abandoned()  # before it publishes the error
    assert isinstance(output.error, Boom)
    with pytest.raises(Boom, match="on purpose"):
        output.raise_if_failed()
    with pytest.raises(Boom, match="on purpose"):
        output.close()
    assert isinstance(output.error, Boom)  # kept


def test_a_render_that_is_not_callable_is_a_type_error() -> None:
    _producer, consumer = midi_buffer(4)
    with pytest.raises(TypeError, match="render must be callable, not int"):
        OfflineOutput(consumer, 42)  # type: ignore[arg-type]
    OfflineOutput(consumer, silence).close()  # the failed one did not take the consumer


BAD_OPTIONS: list[tuple[OutputOptions, type, str]] = [
    ({"samplerate": 0}, ValueError, "samplerate"),
    ({"samplerate": 48_000.0}, TypeError, "samplerate"),  # type: ignore[typeddict-item]
    ({"samplerate": True}, TypeError, "samplerate"),
    ({"blocksize": 0}, ValueError, "blocksize"),
    ({"blocksize": "64"}, TypeError, "blocksize"),  # type: ignore[typeddict-item]
    ({"channels": 0}, ValueError, "channels"),
    ({"channels": 2.5}, TypeError, "channels"),  # type: ignore[typeddict-item]
    ({"max_events": 0}, ValueError, "max_events"),
    ({"max_events": None}, TypeError, "max_events"),  # type: ignore[typeddict-item]
    ({"mode": "sometimes"}, ValueError, "mode"),  # type: ignore[typeddict-item]
    ({"max_lead": -1.0}, ValueError, "max_lead"),
    ({"realtime": 1}, TypeError, "realtime"),  # type: ignore[typeddict-item]
]


@pytest.mark.parametrize(("options", "error", "name"), BAD_OPTIONS)
def test_output_settings_are_checked_at_construction_naming_the_parameter(
    options: OutputOptions, error: type, name: str
) -> None:
    _producer, consumer = midi_buffer(4)
    with pytest.raises(error, match=name):
        OutputSettings(**options)
    with pytest.raises(error, match=name):
        OfflineOutput(consumer, silence, **options)


def test_every_output_option_is_a_field_of_output_settings() -> None:
    assert list(OutputOptions.__annotations__) == list(OutputSettings.__dataclass_fields__)


# --- real-time modes nest -----------------------------------------------------------------


@pytest.fixture
def pristine_gc() -> object:
    gc.unfreeze()
    before = sys.getswitchinterval()
    yield
    gc.unfreeze()
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("pristine_gc")
@pytest.mark.parametrize("exit_order", ["inner first", "outer first"])
def test_overlapping_modes_keep_the_shortest_interval_and_restore_exactly(exit_order: str) -> None:
    original = sys.getswitchinterval()
    slow, fast = RealtimeMode(1024 / 48_000), RealtimeMode(64 / 48_000)
    slow.__enter__()
    assert sys.getswitchinterval() == pytest.approx(slow.switch_interval, abs=1e-6)
    fast.__enter__()
    assert sys.getswitchinterval() == pytest.approx(fast.switch_interval, abs=1e-6)
    first, last = (fast, slow) if exit_order == "inner first" else (slow, fast)
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == pytest.approx(last.switch_interval, abs=1e-6)
    assert gc.get_freeze_count() > 0  # still frozen while one is active
    last.__exit__(None, None, None)
    assert sys.getswitchinterval() == original
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("pristine_gc")
def test_a_users_own_freeze_is_never_undone() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with RealtimeMode(64 / 48_000):
        pass
    assert gc.get_freeze_count() >= frozen > 0


@pytest.mark.usefixtures("pristine_gc")
def test_a_freeze_made_while_the_mode_is_active_is_never_undone() -> None:
    with RealtimeMode(64 / 48_000):
        keep = [[] for _ in range(1000)]  # new objects, then the user's freeze
        gc.freeze()
    assert gc.get_freeze_count() >= len(keep)


@pytest.mark.usefixtures("pristine_gc")
def test_two_outputs_with_realtime_nest() -> None:
    original = sys.getswitchinterval()
    _p1, c1 = midi_buffer(4)
    _p2, c2 = midi_buffer(4)
    a = OfflineOutput(c1, PolySynth(RATE), blocksize=256, realtime=True)
    b = OfflineOutput(c2, PolySynth(RATE), blocksize=64, realtime=True)
    a.start()
    b.start()
    assert sys.getswitchinterval() == pytest.approx(64 / RATE / 4, abs=1e-6)
    a.close()
    assert sys.getswitchinterval() == pytest.approx(64 / RATE / 4, abs=1e-6)
    b.close()
    assert sys.getswitchinterval() == original


# --- the same rules on real devices (JACK) -------------------------------------------------


@pytest.mark.usefixtures("jack_server")
def test_a_producer_takes_one_midi_input() -> None:
    from midibuffer.rtmidi import open_virtual_input

    producer, _consumer = midi_buffer(16)
    port = f"hardening-{id(producer)}"
    with open_virtual_input(port, producer):
        with pytest.raises(EndpointInUseError, match="belongs to a MidiInput"):
            open_virtual_input(port + "-2", producer)
        with pytest.raises(EndpointInUseError, match="belongs to a MidiInput"):
            AsyncMidiProducer(producer)
    BlockingMidiProducer(producer)  # closing the input released it


@pytest.mark.usefixtures("jack_server")
def test_closing_an_audio_output_abandons_the_producer() -> None:
    from midibuffer.audio import AudioOutput

    producer, consumer = midi_buffer(4)
    output = AudioOutput(consumer, silence, blocksize=FRAMES)
    with pytest.raises(EndpointInUseError, match="belongs to a BlockScheduler"):
        AudioOutput(consumer, silence, blocksize=FRAMES)
    output.start()
    assert producer.try_send(MidiMessage.clock())
    wait_for(lambda: output.stats().events == 1)
    assert not producer.is_abandoned()
    output.close()
    assert producer.is_abandoned()
    assert not producer.try_send(MidiMessage.clock())
    assert output.error is None


@pytest.mark.usefixtures("jack_server")
def test_an_audio_render_that_raises_closes_the_consumer() -> None:
    from midibuffer.audio import AudioOutput

    producer, consumer = midi_buffer(4)

    def broken(outdata: object, events: BlockEvents) -> None:
        silence(outdata, events)
        if events.count:
            raise Boom("render failed in the callback")

    output = AudioOutput(consumer, broken, blocksize=FRAMES)
    output.start()
    producer.try_send(MidiMessage.clock())
    wait_for(lambda: output.error is not None)
    assert producer.is_abandoned()  # closed before the error is published
    assert isinstance(output.error, Boom)
    with pytest.raises(Boom, match="in the callback"):
        output.close()
