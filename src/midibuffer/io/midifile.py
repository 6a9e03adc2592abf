"""Standard MIDI Files (types 0 and 1), read with mido: render offline, or play in real time.

:func:`render_midi_file` renders a file through the real path (a buffer, a
:class:`~midibuffer.scheduler.BlockScheduler`, ``render(out, events)`` per
block) on a virtual clock, as fast as the machine can. :func:`play_midi_file`
sends a file's messages through an :class:`~midibuffer.AsyncMidiProducer`
in real time, a short lead ahead of their time, for an audio output in
``mode="timed"`` to place on their samples.

Both read the file with mido (``pip install 'midibuffer[midifile]'``) and
take its playback order: the tracks merged by time, tempo changes applied.
Meta messages (tempo, names, end of track) are not sent; their time counts.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from midibuffer.adapters.async_producer import AsyncMidiProducer
from midibuffer.adapters.scheduler import BlockScheduler
from midibuffer.buffer.ends import MAX_CAPACITY, midi_buffer
from midibuffer.checks import checked_seconds
from midibuffer.data.message import MidiMessage
from midibuffer.errors import InvalidMidiFile, InvalidMidiMessage
from midibuffer.io.render import AudioBlock, Render
from midibuffer.io.settings import OutputSettings

if TYPE_CHECKING:
    import mido

__all__ = [
    "PLAY_LEAD",
    "MidiSource",
    "midi_file_length",
    "play_midi_file",
    "read_midi_file",
    "render_midi_file",
]

MidiSource = str | os.PathLike[str] | IO[bytes]
"""A Standard MIDI File: a path, a path-like object, or a binary file object."""

PLAY_LEAD = 0.1
"""Seconds: :func:`play_midi_file` sends each message this long before its time
(and starts this long after the call by default), so that a buffer of a few
hundred messages suffices and an audio output has the message before its block."""


def _mido() -> Any:
    try:
        import mido
    except ImportError:
        raise ImportError(
            "midibuffer.midifile reads files with mido: pip install 'midibuffer[midifile]'"
        ) from None
    return mido


def _open(source: MidiSource) -> mido.MidiFile:
    mido = _mido()
    try:
        if isinstance(source, str | os.PathLike):
            midi = mido.MidiFile(os.fspath(source))
        elif hasattr(source, "read"):
            midi = mido.MidiFile(file=source)
        else:
            raise TypeError(
                "source must be a path or a binary file object, not " + type(source).__name__
            )
    except (FileNotFoundError, IsADirectoryError, PermissionError, TypeError):
        raise
    except Exception as error:  # mido's own errors are OSError, EOFError, ValueError, ...
        raise InvalidMidiFile(f"not a Standard MIDI File ({_why(error)})") from None
    if midi.ticks_per_beat <= 0:  # mido reads the division signed: SMPTE is negative
        raise InvalidMidiFile(
            "a Standard MIDI File with SMPTE time division (frames per second) or zero "
            "ticks per beat: only ticks per beat are supported"
        )
    if midi.type not in (0, 1):
        raise InvalidMidiFile(
            f"a type {midi.type} MIDI file (independent tracks) cannot be played as one "
            "stream: types 0 and 1 can"
        )
    return midi


def read_midi_file(source: MidiSource) -> Iterator[tuple[float, MidiMessage]]:
    """Open *source* and yield ``(seconds from the start, message)`` for each
    channel message and SysEx, in mido's playback order. Any thread.

    The file is checked when this is called; its messages are made one at a
    time as they are taken.

    Raises:
        FileNotFoundError: *source* is a path to no file.
        InvalidMidiFile: *source* is not a Standard MIDI File of type 0 or 1,
            or holds a message that is not valid MIDI.
        TypeError: *source* is neither a path nor a binary file object.
        ImportError: mido is not installed.
    """
    midi = _open(source)
    return _messages(midi)


def midi_file_length(source: MidiSource) -> float:
    """Seconds from the start of *source* to its last event (meta events included,
    as mido counts them). Any thread.

    Raises:
        FileNotFoundError, InvalidMidiFile, TypeError, ImportError: as
            :func:`read_midi_file`.
    """
    midi = _open(source)
    try:
        return float(midi.length)
    except Exception as error:
        raise InvalidMidiFile(f"damaged Standard MIDI File ({_why(error)})") from None


def _messages(midi: mido.MidiFile) -> Iterator[tuple[float, MidiMessage]]:
    now = 0.0
    try:
        for event in midi:  # tracks merged, delta times in seconds with the tempo map
            now += event.time
            if event.is_meta:
                continue
            yield now, MidiMessage(event.bytes())
    except InvalidMidiMessage as error:
        raise InvalidMidiFile(f"a message at {now:.3f} s is not valid MIDI: {error}") from None
    except Exception as error:  # mido's, while merging and timing the tracks
        raise InvalidMidiFile(f"damaged Standard MIDI File ({_why(error)})") from None


def _why(error: BaseException) -> str:
    """mido's reason, or what its exception means when it has no text."""
    if str(error):
        return str(error)
    return "it ends too early" if isinstance(error, EOFError) else type(error).__name__


def render_midi_file(
    source: MidiSource,
    render: Render,
    *,
    samplerate: int = 48_000,
    blocksize: int = 64,
    channels: int = 2,
    tail: float = 1.0,
) -> AudioBlock:
    """Render a Standard MIDI File offline, as fast as the machine can; return the audio.

    The messages go through the real path on a virtual clock: into a
    buffer, out through a :class:`~midibuffer.scheduler.BlockScheduler`
    (``mode="timed"``), and to ``render(out, events)`` once per block of
    *blocksize* frames. Each message reaches *render* in the block and at the
    offset of the sample nearest its time in the file (block start + offset
    within half a sample of ``time * samplerate``), in mido's playback order,
    however many fall on one instant. Rendering ends *tail* seconds after the
    last message. Any thread (it runs on the calling one).

    Args:
        source: a path, path-like object or binary file object.
        render: ``render(out, events)``, as for an audio output; *out* is a
            zeroed (blocksize x channels) float32 block.
        samplerate, blocksize, channels: as for an audio output.
        tail: seconds rendered after the last message (>= 0), for releases.

    Returns:
        The audio: a (frames x channels) float32 array, frames a whole number
        of blocks.

    Raises:
        FileNotFoundError, InvalidMidiFile, ImportError: as :func:`read_midi_file`;
            InvalidMidiFile also if one block would hold more than about 350,000
            messages.
        TypeError: *render* is not callable, or a number has the wrong type.
        ValueError: a number is out of range (the message names it).
        MemoryError: the audio does not fit in memory (frames x channels x 4 bytes).
        Whatever *render* raises.

    >>> import io, mido
    >>> track = mido.MidiTrack([mido.Message("note_on", note=60, time=480)])
    >>> file = io.BytesIO(); mido.MidiFile(tracks=[track]).save(file=file); _ = file.seek(0)
    >>> placed = []
    >>> def render(out, events):
    ...     placed.extend(offset for offset, _ in events)
    >>> audio = render_midi_file(file, render, samplerate=48_000, blocksize=64, tail=0)
    >>> placed, audio.shape  # 480 ticks at 120 bpm: 0.5 s, sample 24,000 = 375 blocks + 0
    ([0], (24064, 2))
    """
    import numpy as np

    settings = OutputSettings(samplerate=samplerate, blocksize=blocksize, channels=channels)
    tail = checked_seconds("tail", tail)
    if math.isinf(tail):
        raise ValueError("tail must be finite (seconds)")
    if not callable(render):
        raise TypeError(f"render must be callable, not {type(render).__name__}")
    timed = list(read_midi_file(source))
    rate, size = settings.samplerate, settings.blocksize
    # The scheduler hands out at most max_events per block: make that the file's
    # densest block, so that no message is ever deferred past its own block.
    per_block: dict[int, int] = {}
    for seconds, _ in timed:
        block = round(seconds * rate) // size
        per_block[block] = per_block.get(block, 0) + 1
    densest = max(per_block.values(), default=1)
    # At most three blocks' worth is ever waiting in the buffer (see the loop).
    if 3 * densest + 16 > MAX_CAPACITY:
        raise InvalidMidiFile(
            f"{densest} messages fall into one block of {size} frames: more than "
            f"render_midi_file can hold ({(MAX_CAPACITY - 16) // 3})"
        )
    producer, consumer = midi_buffer(3 * densest + 16)
    scheduler = BlockScheduler(consumer, rate, max_events=densest, max_lead=math.inf)
    last = timed[-1][0] if timed else 0.0
    # Up to the block holding the last message's sample, and tail seconds after it.
    blocks = max(round(last * rate) // size + 1, math.ceil((last + tail) * rate / size))
    audio = np.zeros((blocks * size, settings.channels), dtype=np.float32)
    sent = 0
    try:
        for block in range(blocks):
            # Everything due before the end of the next block is in the buffer
            # before this block is collected (a message rounds to its nearest
            # sample, at most half a sample into the next block).
            horizon = (block + 2) * size / rate
            while sent < len(timed) and timed[sent][0] < horizon:
                seconds, message = timed[sent]
                if not producer.try_send(message.with_time(seconds)):
                    raise AssertionError("the render buffer is sized for three blocks")
                sent += 1
            events = scheduler.collect(size, now=block * size / rate)
            render(audio[block * size : (block + 1) * size], events)
    finally:
        scheduler.close()
        producer.close()
    return audio


async def play_midi_file(
    source: MidiSource, sender: AsyncMidiProducer, *, start: float | None = None
) -> int:
    """Send a Standard MIDI File's messages through *sender* in real time; return how many.

    Each message is sent with ``time = start + its time in the file``
    (``time.perf_counter()`` seconds), :data:`PLAY_LEAD` (0.1 s) before that
    time, so an audio output in ``mode="timed"`` plays it on its sample and a
    small buffer suffices; the messages are made one at a time as they are
    sent (mido holds its own parse of the file). *start* defaults to
    :data:`PLAY_LEAD` after the file has been read and its first message
    taken. Cancelling the task stops cleanly between two messages
    (``send``'s exactly-once rule). Run it in *sender*'s event loop (asyncio
    or trio).

    Raises:
        FileNotFoundError, InvalidMidiFile, ImportError: as :func:`read_midi_file`;
            before anything is sent, except for a message further in that is
            not valid MIDI, which raises InvalidMidiFile when its turn comes.
        TypeError: *sender* is not an AsyncMidiProducer, or *start* is not a
            number.
        ValueError: *start* is not finite.
        ClosedEndpointError, AbandonedError: as ``AsyncMidiProducer.send``.
    """
    import anyio

    if not isinstance(sender, AsyncMidiProducer):
        raise TypeError(f"sender must be an AsyncMidiProducer, not {type(sender).__name__}")
    if start is not None:
        if isinstance(start, bool) or not isinstance(start, int | float):
            raise TypeError(
                f"start must be a time.perf_counter() reading, not {type(start).__name__}"
            )
        if not math.isfinite(start):
            raise ValueError(f"start must be finite, got {start!r}")
    messages = read_midi_file(source)
    first = next(messages, None)  # mido merges the tracks now: before the clock starts
    if first is None:
        return 0
    origin = time.perf_counter() + PLAY_LEAD if start is None else float(start)
    count = 0
    for seconds, message in itertools.chain((first,), messages):
        due = origin + seconds
        wait = due - PLAY_LEAD - time.perf_counter()
        if wait > 0:
            await anyio.sleep(wait)
        await sender.send(message.with_time(due))
        count += 1
    return count
