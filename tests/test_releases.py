"""midibuffer.adapters.releases: a full buffer drops note-ons, never what ends a sound."""

from __future__ import annotations

import random
import threading
import time

import pytest

from midibuffer import MidiMessage, midi_buffer
from midibuffer.adapters.releases import RELEASE_KEYS, ReleaseKeeper, release_key
from midibuffer.buffer.shared import AnyConsumer

SENT, HELD, DROPPED = ReleaseKeeper.SENT, ReleaseKeeper.HELD, ReleaseKeeper.DROPPED
CONTROLS = (64, 120, 121, 123, 124, 125, 126, 127)


def drain(consumer: AnyConsumer) -> list[MidiMessage]:
    messages: list[MidiMessage] = []
    while (message := consumer.try_pop()) is not None:
        messages.append(message)
    return messages


@pytest.mark.parametrize(
    ("message", "is_release"),
    [
        (MidiMessage.note_off(3, 60), True),
        (MidiMessage.note_on(3, 60, 0), True),
        (MidiMessage.note_on(3, 60, 1), False),
        (MidiMessage.control_change(3, 64, 0), True),
        (MidiMessage.control_change(3, 64, 63), True),
        (MidiMessage.control_change(3, 64, 64), False),
        *((MidiMessage.control_change(3, c, 0), True) for c in (120, 121, 123, 124, 125, 126)),
        (MidiMessage.control_change(3, 127, 0), True),
        (MidiMessage.control_change(3, 1, 0), False),
        (MidiMessage.control_change(3, 122, 0), False),  # local control
        (MidiMessage.pitchwheel(3, 0), False),
        (MidiMessage.program_change(3, 1), False),
        (MidiMessage([0xF0, 0x7D, 0xF7]), False),
        (MidiMessage.clock(), False),
    ],
)
def test_release_key_knows_what_ends_a_sound(message: MidiMessage, is_release: bool) -> None:
    assert (release_key(message) >= 0) is is_release


def test_release_keys_are_distinct_and_in_range() -> None:
    keys = [release_key(MidiMessage.note_off(ch, n)) for ch in range(16) for n in range(128)]
    keys += [
        release_key(MidiMessage.control_change(ch, c, 0)) for ch in range(16) for c in CONTROLS
    ]
    assert sorted(keys) == list(range(RELEASE_KEYS))
    assert release_key(MidiMessage.note_on(5, 9, 0)) == release_key(MidiMessage.note_off(5, 9, 64))


def test_held_releases_go_first_and_later_messages_wait_behind_them() -> None:
    producer, consumer = midi_buffer(2)
    keeper = ReleaseKeeper(producer)
    outcomes = [
        keeper.send(MidiMessage.note_on(0, 60)),
        keeper.send(MidiMessage.note_on(0, 62)),
        keeper.send(MidiMessage.note_on(0, 64)),  # full: dropped
        keeper.send(MidiMessage.note_off(0, 60)),  # full: held
        keeper.send(MidiMessage.control_change(0, 123, 0)),  # held
        keeper.send(MidiMessage.note_off(0, 60)),  # the same key: held again
    ]
    assert outcomes == [SENT, SENT, DROPPED, HELD, HELD, HELD]
    assert (keeper.sent, keeper.held, keeper.pending, keeper.dropped) == (2, 3, 3, 1)
    assert [m.note for m in drain(consumer)] == [60, 62]
    # Room for two: a new note-on must wait behind the three held releases.
    assert keeper.send(MidiMessage.note_on(0, 67)) == DROPPED
    assert [(m.kind, m.data[1]) for m in drain(consumer)] == [("note_off", 60), ("note_off", 60)]
    assert keeper.flush()
    assert [(m.kind, m.data[1]) for m in drain(consumer)] == [("control_change", 123)]
    assert keeper.send(MidiMessage.note_on(0, 69)) == SENT
    assert (keeper.sent, keeper.held, keeper.pending, keeper.dropped) == (6, 3, 0, 2)


def test_a_gone_consumer_drops_everything_held_included() -> None:
    producer, consumer = midi_buffer(1)
    keeper = ReleaseKeeper(producer)
    assert keeper.send(MidiMessage.note_on(0, 60)) == SENT
    assert keeper.send(MidiMessage.note_off(0, 60)) == HELD
    consumer.close()
    assert keeper.send(MidiMessage.note_off(0, 61)) == DROPPED
    assert (keeper.sent, keeper.held, keeper.pending, keeper.dropped) == (1, 1, 0, 2)
    assert keeper.flush()


def test_discard_counts_what_is_held_as_dropped() -> None:
    producer, _consumer = midi_buffer(1)
    keeper = ReleaseKeeper(producer)
    keeper.send(MidiMessage.note_on(0, 60))
    for note in (60, 61, 60):
        keeper.send(MidiMessage.note_off(0, note))
    keeper.discard()
    assert (keeper.sent, keeper.held, keeper.pending, keeper.dropped) == (1, 3, 0, 3)
    assert keeper.flush()


def test_random_traffic_into_a_slow_consumer_leaves_no_note_hanging() -> None:
    """Real threads: 10,000 messages of random notes, pedal and all-notes-off into a small
    buffer that another thread drains at a tenth of the rate; every count adds up and,
    once the keeper is flushed, nothing sounds."""
    producer, consumer = midi_buffer(8)
    keeper = ReleaseKeeper(producer)
    chooser = random.Random(1234)
    consumed: list[MidiMessage] = []
    done = threading.Event()

    def slow_consumer() -> None:
        while not (done.is_set() and consumer.is_empty()):
            message = consumer.try_pop()
            if message is not None:
                consumed.append(message)
            time.sleep(0.000_5)

    thread = threading.Thread(target=slow_consumer)
    thread.start()
    on: set[tuple[int, int]] = set()
    for _ in range(5_000):
        channel, note = chooser.randrange(16), chooser.randrange(128)
        roll = chooser.random()
        if roll < 0.02:
            keeper.send(MidiMessage.control_change(channel, 123, 0))
        else:
            keeper.send(MidiMessage.note_on(channel, note, 100))
            keeper.send(MidiMessage.note_off(channel, note))
        time.sleep(0.000_05 if roll < 0.5 else 0)
    while not keeper.flush():
        time.sleep(0.001)
    done.set()
    thread.join()
    assert keeper.sent == len(consumed) and keeper.pending == 0
    assert keeper.held > 0 and keeper.dropped > 0
    for message in consumed:
        if message.kind == "control_change":  # all notes off on that channel
            on = {key for key in on if key[0] != message.channel}
        elif message.kind == "note_on":
            on.add((message.channel, message.note))  # type: ignore[arg-type]
        else:
            on.discard((message.channel, message.note))  # type: ignore[arg-type]
    assert not on
