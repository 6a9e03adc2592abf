"""The buffer layer: the single-producer/single-consumer ring and its two ends.

:mod:`~midibuffer.buffer.ends` is the contract (``midi_buffer()``, the ends,
``stats()``, closing); the hot paths live in a core, the C extension
``midibuffer.buffer._ring`` or the pure-Python ``midibuffer.buffer._pyring``
(:data:`CORE` says which). It imports only the data layer.

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

__all__ = [
    "CORE",
    "MAX_CAPACITY",
    "BufferStats",
    "MidiBufferConsumer",
    "MidiBufferProducer",
    "midi_buffer",
]
