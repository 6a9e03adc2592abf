"""PolySynth: notes start on their sample, never click, and obey the controllers."""

from __future__ import annotations

import numpy as np
import pytest

from midibuffer import MidiMessage, midi_buffer
from midibuffer.app.synth import _OFF, _RELEASING
from midibuffer.scheduler import BlockEvents, BlockScheduler
from midibuffer.synth import PolySynth

RATE = 48_000
FRAMES = 64


def events_of(*placed: tuple[int, MidiMessage]) -> BlockEvents:
    events = BlockEvents(16)
    for index, (offset, message) in enumerate(placed):
        events.messages[index] = message
        events.offsets[index] = offset
    events.count = len(placed)
    events.frames = FRAMES
    return events


NO_EVENTS = events_of()


def render(synth: PolySynth, blocks: int, first: BlockEvents = NO_EVENTS) -> np.ndarray:
    out = []
    for block in range(blocks):
        data = np.zeros((FRAMES, 2), dtype=np.float32)
        synth(data, first if block == 0 else NO_EVENTS)
        out.append(data)
    return np.concatenate(out)


def test_a_note_starts_exactly_on_its_offset_and_smoothly() -> None:
    synth = PolySynth(RATE)
    audio = render(synth, 4, events_of((40, MidiMessage.note_on(0, 69, 100))))
    assert not audio[:40].any()  # silence before the event's sample
    assert audio[40:44].any()
    assert np.abs(audio[40]).max() < 0.01  # it fades in: no step at the onset
    assert np.abs(np.diff(audio[:, 0])).max() < 0.02


def test_a_released_note_fades_to_silence_without_a_jump() -> None:
    synth = PolySynth(RATE)
    render(synth, 20, events_of((0, MidiMessage.note_on(1, 45, 127))))
    audio = render(synth, 800, events_of((10, MidiMessage.note_off(1, 45))))
    assert np.abs(np.diff(audio[:, 0])).max() < 0.02
    assert np.abs(audio[-FRAMES:]).max() == 0
    assert synth.active_voices == 0


def test_note_on_with_velocity_zero_is_a_note_off() -> None:
    synth = PolySynth(RATE)
    render(synth, 4, events_of((0, MidiMessage.note_on(0, 60, 100))))
    render(synth, 800, events_of((0, MidiMessage([0x90, 60, 0]))))
    assert synth.active_voices == 0


def held_notes(synth: PolySynth) -> list[int]:
    """The notes of the voices that sound and are not releasing."""
    held = (synth._state != _OFF) & (synth._state != _RELEASING)
    return sorted(int(note) for note in synth._note[held])


def test_more_notes_than_voices_take_over_the_quietest_voice() -> None:
    synth = PolySynth(RATE, voices=3)
    audio = [render(synth, 2, events_of((0, MidiMessage.note_on(0, 60, 100))))]
    audio.append(render(synth, 2, events_of((0, MidiMessage.note_on(0, 64, 100)))))
    audio.append(render(synth, 16, events_of((0, MidiMessage.note_on(0, 67, 100)))))
    # 64 fades out: now the quietest voice, though neither the oldest (60),
    # the newest (67), nor the first voice.
    audio.append(render(synth, 5, events_of((0, MidiMessage.note_off(0, 64)))))
    assert synth.active_voices == 3
    assert held_notes(synth) == [60, 67]
    audio.append(render(synth, 2, events_of((0, MidiMessage.note_on(0, 72, 100)))))
    assert synth.active_voices == 3
    assert held_notes(synth) == [60, 67, 72]  # 72 took 64's voice
    assert np.isfinite(np.concatenate(audio)).all()


def test_volume_and_all_notes_off_controllers() -> None:
    loud, quiet = PolySynth(RATE), PolySynth(RATE)
    note = (0, MidiMessage.note_on(0, 60, 100))
    render(quiet, 1, events_of((0, MidiMessage.control_change(0, 7, 20)), note))
    loud_peak = np.abs(render(loud, 10, events_of(note))).max()
    quiet_peak = np.abs(render(quiet, 10)).max()
    assert quiet_peak < loud_peak / 3
    render(loud, 800, events_of((0, MidiMessage.control_change(0, 123, 0))))
    assert loud.active_voices == 0


def test_events_from_two_sources_are_merged_by_offset() -> None:
    synth, reference = PolySynth(RATE), PolySynth(RATE)
    data = np.zeros((FRAMES, 2), dtype=np.float32)
    synth(
        data,
        events_of((50, MidiMessage.note_on(0, 60, 100))),
        events_of((20, MidiMessage.note_on(2, 72, 100))),
    )
    assert not data[:20].any() and data[20:].any()
    assert synth.active_voices == 2
    # The same as one source with both events in offset order, to the sample:
    # the note at offset 50 starts there too.
    expected = np.zeros((FRAMES, 2), dtype=np.float32)
    reference(
        expected,
        events_of(
            (20, MidiMessage.note_on(2, 72, 100)),
            (50, MidiMessage.note_on(0, 60, 100)),
        ),
    )
    assert np.array_equal(data, expected)
    assert np.array_equal(render(synth, 4), render(reference, 4))


def test_it_plays_from_a_scheduler_and_never_clips() -> None:
    producer, consumer = midi_buffer(64)
    scheduler = BlockScheduler(consumer, RATE)
    synth = PolySynth(RATE, gain=2.0)  # deliberately too loud: the limiter holds
    for note in range(48, 72, 2):
        producer.try_send(MidiMessage.note_on(0, note, 127))
    peak = 0.0
    for block in range(50):
        data = np.zeros((FRAMES, 2), dtype=np.float32)
        synth(data, scheduler.collect(FRAMES, now=block * FRAMES / RATE))
        peak = max(peak, float(np.abs(data).max()))
    assert 0.5 < peak < 1.0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="samplerate"):
        PolySynth(0)
    with pytest.raises(ValueError, match="voices"):
        PolySynth(RATE, voices=0)
