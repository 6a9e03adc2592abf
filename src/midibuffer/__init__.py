"""midibuffer: carry MIDI from input threads and async code into real-time audio callbacks.

The core (this package's top level) needs only anyio. The optional parts are
submodules: :mod:`midibuffer.rtmidi` (MIDI input, ``midibuffer[rtmidi]``),
:mod:`midibuffer.audio` and :mod:`midibuffer.offline` (audio output,
``midibuffer[audio]``), :mod:`midibuffer.scheduler` (sample-accurate block
timing), :mod:`midibuffer.realtime` (the GIL-aware real-time mode) and
:mod:`midibuffer.synth` (a small synthesizer). Those are the public paths;
the code lives in layers, one folder each (``docs/design.md``): ``data`` →
``buffer`` → ``adapters`` → ``io`` → ``app``.

>>> from midibuffer import midi_buffer, MidiMessage
>>> producer, consumer = midi_buffer(64)
>>> producer.try_send(MidiMessage([0x90, 60, 100]))
True
>>> consumer.try_pop()
<MidiMessage note_on channel=0 note=60 velocity=100>
"""

from midibuffer.adapters.async_consumer import AsyncMidiConsumer, ReceiverStats
from midibuffer.adapters.async_producer import AsyncMidiProducer
from midibuffer.adapters.blocking_producer import BlockingMidiProducer
from midibuffer.adapters.retry import SenderStats
from midibuffer.buffer import (
    MAX_CAPACITY,
    BufferStats,
    MidiBufferConsumer,
    MidiBufferProducer,
    SharedMidiBufferConsumer,
    SharedMidiBufferProducer,
    midi_buffer,
    shared_midi_buffer,
)
from midibuffer.data.message import MAX_SYSEX_BYTES, MidiMessage
from midibuffer.data.parser import MidiParser, ParserStats
from midibuffer.errors import (
    AbandonedError,
    AudioBackendUnavailable,
    AudioDeviceNotFound,
    ClosedEndpointError,
    EndpointInUseError,
    InvalidMidiMessage,
    MidiBackendUnavailable,
    MidiBufferError,
    MidiPortNotFound,
)

__all__ = [
    "MAX_CAPACITY",
    "MAX_SYSEX_BYTES",
    "AbandonedError",
    "AsyncMidiConsumer",
    "AsyncMidiProducer",
    "AudioBackendUnavailable",
    "AudioDeviceNotFound",
    "BlockingMidiProducer",
    "BufferStats",
    "ClosedEndpointError",
    "EndpointInUseError",
    "InvalidMidiMessage",
    "MidiBackendUnavailable",
    "MidiBufferConsumer",
    "MidiBufferError",
    "MidiBufferProducer",
    "MidiMessage",
    "MidiParser",
    "MidiPortNotFound",
    "ParserStats",
    "ReceiverStats",
    "SenderStats",
    "SharedMidiBufferConsumer",
    "SharedMidiBufferProducer",
    "midi_buffer",
    "shared_midi_buffer",
]

__version__ = "0.1.0"
"""The version: the one source, read by the build (pyproject.toml) and ``midibuffer --version``."""
