"""Every exception midibuffer raises, in one place.

The vocabulary is deliberately small (modelled on anyio's streams):

* :class:`InvalidMidiMessage` -- bytes that are not one valid MIDI message.
* :class:`ClosedEndpointError` -- you used an endpoint after *you* closed it.
* :class:`AbandonedError` -- the *other* end is gone (closed or garbage
  collected) and the operation cannot succeed any more.

All of them derive from :class:`MidiBufferError`, so ``except
MidiBufferError`` catches everything the library raises on purpose.
"""

from __future__ import annotations

__all__ = ["AbandonedError", "ClosedEndpointError", "InvalidMidiMessage", "MidiBufferError"]


class MidiBufferError(Exception):
    """Base class of every exception raised deliberately by midibuffer."""


class InvalidMidiMessage(MidiBufferError, ValueError):
    """The data is not exactly one valid MIDI message.

    The message names the offending byte and its position, for example
    ``data byte 0x80 at position 2 is > 0x7F``. It is a :class:`ValueError`,
    so code that already catches ``ValueError`` keeps working.
    """


class ClosedEndpointError(MidiBufferError):
    """The endpoint was closed by its owner and cannot be used any more.

    Raised by every operation on a producer or consumer (sync or async) after
    its own ``close()``/``aclose()``, except ``close()`` itself (idempotent),
    ``is_abandoned()`` and ``stats()``.
    """


class AbandonedError(MidiBufferError):
    """The other end of the buffer is gone, so the operation cannot complete.

    Raised by operations that would otherwise wait forever, such as an async
    ``send`` waiting for room after the consumer was closed or garbage
    collected. Non-blocking calls report the same condition without raising:
    ``try_send`` returns ``False`` and counts the message as dropped.
    """
