"""Choosing an output: a device if one works, else offline rendering (:func:`open_output`)."""

from __future__ import annotations

from typing_extensions import Unpack

from midibuffer.buffer.shared import AnyConsumer
from midibuffer.errors import AudioBackendUnavailable, AudioDeviceNotFound
from midibuffer.io.audio import AudioOutput
from midibuffer.io.offline import OfflineOutput
from midibuffer.io.render import Render, RenderingOutput
from midibuffer.io.settings import OutputOptions

__all__ = ["OFFLINE_ASKED", "open_output"]

OFFLINE_ASKED = "offline rendering was asked for"
"""The reason :func:`open_output` gives when *offline* was true."""


def open_output(
    consumer: AnyConsumer,
    render: Render,
    *,
    offline: bool = False,
    device: int | str | None = None,
    **options: Unpack[OutputOptions],
) -> tuple[RenderingOutput, str | None]:
    """An :class:`~midibuffer.audio.AudioOutput` if a device works, else an
    :class:`~midibuffer.offline.OfflineOutput`. Main thread.

    Returns the output (not started) and, for an offline one, why no device
    is used: :data:`OFFLINE_ASKED` when *offline* is true, else the first
    sentence of the error that opening the device raised (no PortAudio
    library, no device, ...). The reason is ``None`` when a device plays.
    *device* and *options* are those of ``AudioOutput``. Only when no
    *device* was asked for does a failing device mean offline rendering: a
    *device* that cannot be opened is an error.

    Raises:
        TypeError, ValueError: a bad option, naming it
            (:class:`~midibuffer.audio.OutputSettings`).
        AudioDeviceNotFound: *device* was given and cannot be opened; the
            message lists the devices.
        AudioBackendUnavailable: *device* was given and sounddevice or
            PortAudio is missing.

    >>> from midibuffer import midi_buffer
    >>> from midibuffer.synth import PolySynth
    >>> _producer, consumer = midi_buffer(16)
    >>> output, reason = open_output(consumer, PolySynth(48_000), offline=True)
    >>> type(output).__name__, reason
    ('OfflineOutput', 'offline rendering was asked for')
    """
    reason = OFFLINE_ASKED
    if not offline:
        try:  # bad options raise TypeError/ValueError here, before any device is tried
            return AudioOutput(consumer, render, device=device, **options), None
        except (AudioBackendUnavailable, AudioDeviceNotFound) as error:
            if device is not None:
                raise
            reason = str(error).split(". ")[0]
    return OfflineOutput(consumer, render, **options), reason
