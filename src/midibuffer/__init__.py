"""midibuffer: carry MIDI from input threads and async code into real-time audio callbacks.

The core (this package's top level) needs only anyio. The optional parts are
submodules: :mod:`midibuffer.rtmidi` (MIDI input, ``midibuffer[rtmidi]``),
:mod:`midibuffer.audio` (audio output, ``midibuffer[audio]``),
:mod:`midibuffer.scheduler` (sample-accurate block timing) and
:mod:`midibuffer.realtime` (the GIL-aware real-time mode).

>>> from midibuffer import midi_buffer, MidiMessage
>>> producer, consumer = midi_buffer(64)
>>> producer.try_send(MidiMessage([0x90, 60, 100]))
True
>>> consumer.try_pop()
<MidiMessage note_on channel=0 note=60 velocity=100>
"""

from midibuffer.async_producer import AsyncMidiProducer
from midibuffer.blocking_producer import BlockingMidiProducer
from midibuffer.buffer import (
    MAX_CAPACITY,
    BufferStats,
    MidiBufferConsumer,
    MidiBufferProducer,
    midi_buffer,
)
from midibuffer.errors import (
    AbandonedError,
    AudioBackendUnavailable,
    AudioDeviceNotFound,
    ClosedEndpointError,
    InvalidMidiMessage,
    MidiBackendUnavailable,
    MidiBufferError,
    MidiPortNotFound,
)
from midibuffer.message import MAX_SYSEX_BYTES, MidiMessage
from midibuffer.parser import MidiParser, ParserStats
from midibuffer.retry import SenderStats

__all__ = [
    "MAX_CAPACITY",
    "MAX_SYSEX_BYTES",
    "AbandonedError",
    "AsyncMidiProducer",
    "AudioBackendUnavailable",
    "AudioDeviceNotFound",
    "BlockingMidiProducer",
    "BufferStats",
    "ClosedEndpointError",
    "InvalidMidiMessage",
    "MidiBackendUnavailable",
    "MidiBufferConsumer",
    "MidiBufferError",
    "MidiBufferProducer",
    "MidiMessage",
    "MidiParser",
    "MidiPortNotFound",
    "ParserStats",
    "SenderStats",
    "midi_buffer",
]

__version__ = "0.1.0"
