"""The buffer layer: the single-producer/single-consumer ring and its two ends.

:mod:`~midibuffer.buffer.ends` is the contract (``midi_buffer()``, the ends,
``stats()``, closing); the hot paths live in a core, the C extension
``midibuffer.buffer._ring`` or the pure-Python ``midibuffer.buffer._pyring``
(:data:`CORE` says which). :mod:`~midibuffer.buffer.shared` is the same
contract between two processes (``shared_midi_buffer()``, C core
``midibuffer.buffer._shared``). It imports only the data layer.

>>> from midibuffer.buffer import CORE
>>> CORE in ("c", "python")
True
"""

from midibuffer.buffer.ends import (
    CORE,
    MAX_CAPACITY,
    BufferStats,
    MidiBufferConsumer,
    MidiBufferProducer,
    midi_buffer,
)
from midibuffer.buffer.shared import (
    AnyConsumer,
    AnyProducer,
    SharedMidiBufferConsumer,
    SharedMidiBufferProducer,
    shared_midi_buffer,
)

__all__ = [
    "CORE",
    "MAX_CAPACITY",
    "AnyConsumer",
    "AnyProducer",
    "BufferStats",
    "MidiBufferConsumer",
    "MidiBufferProducer",
    "SharedMidiBufferConsumer",
    "SharedMidiBufferProducer",
    "midi_buffer",
    "shared_midi_buffer",
]
