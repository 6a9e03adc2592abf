"""Every exception midibuffer raises, in one place.

The vocabulary is deliberately small (modelled on anyio's streams):

* :class:`InvalidMidiMessage` -- bytes that are not one valid MIDI message.
* :class:`ClosedEndpointError` -- you used an endpoint after *you* closed it.
* :class:`AbandonedError` -- the *other* end is gone (closed or garbage
  collected) and the operation cannot succeed any more.
* :class:`EndpointInUseError` -- the end already belongs to an adapter (or,
  for shared buffers, to another process): one owner per end.
* :class:`MidiBackendUnavailable` and :class:`MidiPortNotFound` -- raised by
  :mod:`midibuffer.io.midi_input` (the optional ``rtmidi`` extra) when no MIDI
  backend works, or no port has the name asked for.
* :class:`AudioBackendUnavailable` and :class:`AudioDeviceNotFound` -- the
  same for :mod:`midibuffer.io.audio` (the optional ``audio`` extra).

All of them derive from :class:`MidiBufferError`, so ``except
MidiBufferError`` catches everything the library raises on purpose.
"""

from __future__ import annotations

__all__ = [
    "AbandonedError",
    "AudioBackendUnavailable",
    "AudioDeviceNotFound",
    "ClosedEndpointError",
    "EndpointInUseError",
    "InvalidMidiFile",
    "InvalidMidiMessage",
    "MidiBackendUnavailable",
    "MidiBufferError",
    "MidiPortNotFound",
]


class MidiBufferError(Exception):
    """Base class of every exception raised deliberately by midibuffer."""


class InvalidMidiMessage(MidiBufferError, ValueError):
    """The data is not exactly one valid MIDI message.

    The message names the offending byte and its position, for example
    ``data byte 0x80 at position 2 is > 0x7F``. It is a :class:`ValueError`,
    so code that already catches ``ValueError`` keeps working.
    """


class InvalidMidiFile(MidiBufferError, ValueError):
    """The source is not a Standard MIDI File that can be played (type 0 or 1).

    Raised by :mod:`midibuffer.midifile`; the message says what is wrong, for
    example ``not a Standard MIDI File (MThd not found)``. A missing file is
    a :class:`FileNotFoundError`, as usual.
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


class EndpointInUseError(MidiBufferError):
    """The end already has an owner, and an end has exactly one.

    Raised when a second adapter wraps an end that one already wraps: a
    second :class:`~midibuffer.AsyncMidiProducer`,
    :class:`~midibuffer.BlockingMidiProducer` or
    :class:`~midibuffer.rtmidi.MidiInput` on one producer, or a second
    :class:`~midibuffer.AsyncMidiConsumer` or
    :class:`~midibuffer.scheduler.BlockScheduler` (which every audio output
    makes) on one consumer. Closing the adapter, or dropping it, releases the
    end. The message names the adapter that holds it.
    """


class MidiBackendUnavailable(MidiBufferError, OSError):
    """No usable rtmidi backend (API): raised by :mod:`midibuffer.io.midi_input`.

    The message says what is missing and how to fix it, for example on Linux
    without an ALSA sequencer: ``no ALSA sequencer (/dev/snd/seq is
    missing): only rtmidi.API_UNIX_JACK can work here, and it needs a running
    JACK server (start jackd, e.g. `jackd -d dummy`)``. It is an
    :class:`OSError`, like the ``rtmidi.SystemError`` it usually replaces.
    """


class MidiPortNotFound(MidiBufferError, LookupError):
    """No MIDI port matches the name asked for: raised by :mod:`midibuffer.io.midi_input`.

    The message lists the ports that are available. It is a
    :class:`LookupError`.
    """


class AudioBackendUnavailable(MidiBufferError, OSError):
    """Audio output cannot work here: raised by :mod:`midibuffer.io.audio`.

    The message names the fix: ``pip install 'midibuffer[audio]'`` when
    sounddevice is missing, or installing the PortAudio library (Debian:
    ``apt install libportaudio2``), which sounddevice's Linux wheels do not
    bundle.
    """


class AudioDeviceNotFound(MidiBufferError, LookupError):
    """PortAudio has no such output device, no output device at all, or
    refused the stream's settings: raised by :mod:`midibuffer.io.audio`.

    The message lists the output devices that exist.
    """


def not_a_message(value: object) -> TypeError:
    """The error every send path raises for a *value* that is not a MidiMessage."""
    return TypeError(
        f"sending takes a MidiMessage, not {type(value).__name__}; "
        "wrap raw bytes with MidiMessage(data), which validates them"
    )
