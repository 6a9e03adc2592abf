"""midibuffer.midifile against real Standard MIDI Files (tests/data/music21, not
written by this project) and against mido's own timing."""

from __future__ import annotations

import io
import math
import re
import time
from pathlib import Path

import anyio
import pytest

mido = pytest.importorskip("mido", reason="mido is not installed (the midifile extra)")
np = pytest.importorskip("numpy", reason="numpy is not installed (the midifile extra)")

from midibuffer import AsyncMidiProducer, midi_buffer  # noqa: E402
from midibuffer.errors import InvalidMidiFile  # noqa: E402
from midibuffer.midifile import (  # noqa: E402
    PLAY_LEAD,
    play_midi_file,
    read_midi_file,
    render_midi_file,
)
from midibuffer.scheduler import BlockEvents  # noqa: E402

from harness import PollingConsumer  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "data" / "music21"
FILES = sorted(CORPUS.glob("*.mid"))


def mido_timing(path: Path | io.BytesIO) -> list[tuple[float, bytes]]:
    """(seconds, bytes) of every non-meta message, in mido's playback order."""
    midi = mido.MidiFile(path) if isinstance(path, Path) else mido.MidiFile(file=path)
    now, timed = 0.0, []
    for message in midi:
        now += message.time
        if not message.is_meta:
            timed.append((now, bytes(message.bytes())))
    return timed


class Recorder:
    """A render function that notes each message's stream position and bytes."""

    def __init__(self) -> None:
        self.placed: list[tuple[int, bytes]] = []
        self.blocks = 0
        self.frames = 0

    def __call__(self, out: np.ndarray, events: BlockEvents) -> None:
        start = self.frames
        assert not out.any()  # a zeroed block
        for offset, message in events:
            assert 0 <= offset < out.shape[0]
            self.placed.append((start + offset, message.data))
        out[:, 0] = self.blocks % 2  # something to find in the result
        self.blocks += 1
        self.frames += out.shape[0]


def test_the_corpus_is_what_its_readme_says() -> None:
    assert [path.name for path in FILES] == [
        "k525short.mid",
        "test04.mid",
        "test06.mid",
        "test09.mid",
        "test10.mid",
        "test19.mid",
    ]
    assert (CORPUS / "LICENSE").read_text().startswith("Copyright (c) 2006-2026 Michael Scott")


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_message_lands_on_the_sample_nearest_its_time_in_mido_order(path: Path) -> None:
    rate, size = 8_000, 256  # a low rate keeps the 10-minute file's audio small
    expected = mido_timing(path)
    recorder = Recorder()
    audio = render_midi_file(path, recorder, samplerate=rate, blocksize=size, channels=1, tail=0.5)
    assert [data for _, data in recorder.placed] == [data for _, data in expected]
    errors = [
        abs(position - seconds * rate)
        for (position, _), (seconds, _) in zip(recorder.placed, expected, strict=True)
    ]
    assert max(errors) <= 0.5  # the nearest sample
    assert audio.dtype == np.float32 and audio.shape == (recorder.frames, 1)
    assert audio.shape[0] % size == 0
    assert audio.shape[0] >= (expected[-1][0] + 0.5) * rate  # the tail
    assert audio.shape[0] < (expected[-1][0] + 0.5) * rate + size
    assert np.array_equal(audio[size : 2 * size, 0], np.ones(size, dtype=np.float32))


def test_the_general_midi_file_brings_its_sysex_pitch_bends_and_tempo_changes() -> None:
    kinds: dict[str, int] = {}
    for _, message in read_midi_file(CORPUS / "test04.mid"):
        kinds[message.kind] = kinds.get(message.kind, 0) + 1
    assert kinds["sysex"] == 7 and kinds["note_on"] == 12_118
    midi = mido.MidiFile(CORPUS / "test04.mid")
    tempo = [m for track in midi.tracks for m in track if m.type == "set_tempo"]
    assert len(midi.tracks) == 18 and len(tempo) == 96
    bends = [m for _, m in read_midi_file(CORPUS / "test19.mid") if m.kind == "pitchwheel"]
    assert len(bends) == 3_363


def make_file(*tracks: list[mido.Message], kind: int = 1, tpb: int = 480) -> io.BytesIO:
    midi = mido.MidiFile(type=kind, ticks_per_beat=tpb)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    file = io.BytesIO()
    midi.save(file=file)
    file.seek(0)
    return file


def test_more_messages_at_one_instant_than_a_block_usually_takes() -> None:
    """1,000 notes on one tick (an output's default max_events is 256), then a chord
    mid-block: every one in its own block, at its own offset, in order."""
    burst = [
        mido.Message("note_on", note=n % 128, channel=n // 128 % 16, time=0) for n in range(1000)
    ]
    chord = [mido.Message("note_on", note=n, time=7 if n == 40 else 0) for n in range(40, 44)]
    file = make_file(burst + chord)
    expected = mido_timing(file)
    file.seek(0)
    recorder = Recorder()
    render_midi_file(file, recorder, samplerate=48_000, blocksize=64, tail=0)
    assert [data for _, data in recorder.placed] == [data for _, data in expected]
    assert {position for position, _ in recorder.placed[:1000]} == {0}
    # 7 ticks at 120 bpm and 480 per beat: 7/960 s, sample 350 (block 5, offset 30)
    assert {position for position, _ in recorder.placed[1000:]} == {350}


def test_sources_path_pathlike_and_file_object_give_the_same_messages() -> None:
    path = CORPUS / "test10.mid"
    by_path = list(read_midi_file(str(path)))
    assert list(read_midi_file(path)) == by_path
    with path.open("rb") as file:
        assert list(read_midi_file(file)) == by_path
    assert [(t, m.data) for t, m in by_path] == mido_timing(path)


def test_bad_files_and_arguments_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_midi_file(tmp_path / "missing.mid")
    text = tmp_path / "notes.txt"
    text.write_text("not a MIDI file at all")
    with pytest.raises(InvalidMidiFile, match="not a Standard MIDI File"):
        read_midi_file(text)
    truncated = tmp_path / "truncated.mid"
    truncated.write_bytes((CORPUS / "test09.mid").read_bytes()[:500])
    with pytest.raises(InvalidMidiFile):
        list(read_midi_file(truncated))
    with pytest.raises(InvalidMidiFile, match="type 2"):
        read_midi_file(make_file([mido.Message("note_on")], [mido.Message("note_off")], kind=2))
    with pytest.raises(TypeError, match="source must be a path or a binary file object"):
        read_midi_file(42)  # type: ignore[arg-type]
    silent = make_file([mido.Message("note_on")])
    with pytest.raises(TypeError, match="render must be callable"):
        render_midi_file(silent, "render")  # type: ignore[arg-type]
    for arguments, name in (
        ({"samplerate": 0}, "samplerate"),
        ({"blocksize": 0}, "blocksize"),
        ({"channels": 0}, "channels"),
        ({"tail": -1.0}, "tail"),
        ({"tail": math.inf}, "tail"),
    ):
        silent.seek(0)
        with pytest.raises(ValueError, match=name):
            render_midi_file(silent, Recorder(), **arguments)  # type: ignore[arg-type]


def smf(events: bytes, division: bytes = (480).to_bytes(2, "big")) -> io.BytesIO:
    """A type 0 Standard MIDI File written byte by byte: *events* and an end of track."""
    track = events + bytes([0x00, 0xFF, 0x2F, 0x00])
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1]) + division
    return io.BytesIO(header + b"MTrk" + len(track).to_bytes(4, "big") + track)


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        (smf(b"\x00\x90\x3c\x40", division=bytes([0xE7, 0x28])), "SMPTE time division"),
        (smf(b"\x00\x90\x3c\x40", division=bytes([0, 0])), "zero ticks per beat"),
        (smf(b"\x00\xff\x59\x02\x14\x00"), "not a Standard MIDI File ("),  # key sf=20
    ],
    ids=["smpte", "zero-division", "bad-key-signature"],
)
def test_files_mido_reads_oddly_are_refused_by_name(file: io.BytesIO, expected: str) -> None:
    with pytest.raises(InvalidMidiFile, match=re.escape(expected)):
        list(read_midi_file(file))


def test_a_message_that_is_not_valid_midi_inside_a_file_is_invalid_midi_file() -> None:
    payload = bytes(70_000)  # a SysEx longer than MidiMessage takes (MAX_SYSEX_BYTES)
    length = len(payload) + 1
    varlen = bytes([0x80 | (length >> 14) & 0x7F, 0x80 | (length >> 7) & 0x7F, length & 0x7F])
    file = smf(b"\x00\x90\x3c\x40" + b"\x00\xf0" + varlen + payload + b"\xf7")
    messages = read_midi_file(file)  # the header is fine
    assert next(messages)[1].kind == "note_on"
    with pytest.raises(InvalidMidiFile, match=r"a message at 0\.000 s is not valid MIDI"):
        next(messages)


# --- playing in real time ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_play_stamps_each_message_start_plus_its_time_through_a_small_buffer(
    polling_consumer: type[PollingConsumer],
) -> None:
    """test19.mid (3,363 pitch bends in 18 s), started 100 s in the past so that
    nothing waits: every message, in order, stamped start + its time in the file,
    through a buffer of 16 drained by a thread."""
    producer, consumer = midi_buffer(16)
    reader = polling_consumer(consumer).start()
    start = time.perf_counter() - 100.0
    async with AsyncMidiProducer(producer) as sender:
        count = await play_midi_file(CORPUS / "test19.mid", sender, start=start)
    expected = mido_timing(CORPUS / "test19.mid")
    assert count == len(expected)
    with anyio.fail_after(30):
        while not consumer.is_finished() or len(reader.received) < count:
            await anyio.sleep(0.01)
    reader.stop()
    assert [m.data for m in reader.received] == [data for _, data in expected]
    assert [m.time for m in reader.received] == [start + seconds for seconds, _ in expected]


@pytest.mark.anyio
async def test_play_waits_for_each_message_until_a_short_lead_before_its_time() -> None:
    notes = [mido.Message("note_on", note=60 + n, time=96) for n in range(5)]  # 0.1 s apart
    producer, consumer = midi_buffer(16)
    sent_at: list[float] = []
    async with AsyncMidiProducer(producer) as sender:
        started = time.perf_counter()
        task_done = anyio.Event()

        async def play() -> None:
            await play_midi_file(make_file(notes), sender)
            task_done.set()

        async with anyio.create_task_group() as group:
            group.start_soon(play)
            while not task_done.is_set():
                while (message := consumer.try_pop()) is not None:
                    sent_at.append(time.perf_counter())
                    assert message.time is not None
                    # never sent earlier than its lead (sleeps only ever overshoot)
                    assert sent_at[-1] >= message.time - PLAY_LEAD - 0.005
                await anyio.sleep(0.001)
        while consumer.try_pop() is not None:
            sent_at.append(time.perf_counter())
    assert len(sent_at) == 5
    assert time.perf_counter() - started >= 0.5  # the last note is due at start + 0.5 s


@pytest.mark.anyio
async def test_cancelling_play_stops_cleanly_between_messages() -> None:
    producer, consumer = midi_buffer(100_000)
    async with AsyncMidiProducer(producer) as sender:
        async with anyio.create_task_group() as group:
            group.start_soon(play_midi_file, CORPUS / "test04.mid", sender)  # ten minutes long
            with anyio.fail_after(60):
                while sender.stats().sent < 10:  # it plays (reading the file took a while)
                    await anyio.sleep(0.01)
            group.cancel_scope.cancel()
        sent = sender.stats().sent
    popped = []
    while (message := consumer.try_pop()) is not None:
        popped.append(message)
    assert 10 <= len(popped) == sent < 16_000
    expected = [data for _, data in mido_timing(CORPUS / "test04.mid")][:sent]
    assert [m.data for m in popped] == expected  # the beginning, whole, in order


def test_play_checks_its_arguments() -> None:
    producer, _ = midi_buffer(4)

    async def run() -> None:
        sender = AsyncMidiProducer(producer)
        with pytest.raises(TypeError, match="sender must be an AsyncMidiProducer"):
            await play_midi_file(CORPUS / "test10.mid", producer)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="start must be"):
            await play_midi_file(CORPUS / "test10.mid", sender, start="now")  # type: ignore[arg-type]
        with pytest.raises(InvalidMidiFile):
            await play_midi_file(io.BytesIO(b"MThd garbage"), sender)
        with pytest.raises(ValueError, match="start must be finite"):
            await play_midi_file(CORPUS / "test10.mid", sender, start=math.nan)
        assert sender.stats().sent == 0

    anyio.run(run)
