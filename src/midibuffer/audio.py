"""Audio output with sounddevice: a render function fed with each block's MIDI events.

Needs the ``audio`` extra (``pip install 'midibuffer[audio]'``: sounddevice and
numpy) and the PortAudio library, which sounddevice's Linux wheels do not
bundle (Debian/Ubuntu: ``apt install libportaudio2``). Importing this module
does not import sounddevice; opening a stream or listing devices does, and
raises :class:`~midibuffer.errors.AudioBackendUnavailable` with the fix if it
cannot.

The seed's pattern, a MIDI thread sending and the audio callback popping,
becomes::

    from midibuffer import midi_buffer
    from midibuffer.audio import AudioOutput

    producer, consumer = midi_buffer(256)       # producer -> the MIDI thread

    def render(outdata, events):                # runs in the audio callback
        outdata.fill(0)
        for index in range(events.count):       # no per-event objects
            message, offset = events.messages[index], events.offsets[index]
            ...                                 # start/stop voices at `offset`

    with AudioOutput(consumer, render, samplerate=48_000, blocksize=64):
        ...                                     # play until done

The callback is a :class:`BlockRenderer`: it pops the messages due in the
block with a :class:`~midibuffer.scheduler.BlockScheduler` (sample-accurate
timing, ``mode="timed"`` or ``"live"``), calls *render*, and counts
underflows, overruns and the callback's load (:class:`AudioStats`). Every
output takes the same options, checked by :class:`OutputSettings`;
:func:`open_output` picks a device or, without one, offline rendering
(:mod:`midibuffer.offline`). See ``docs/realtime.md``.

:class:`AudioProcess` runs the output in a child process of its own, fed
through a :func:`~midibuffer.shared_midi_buffer`, so that no thread of the
parent can hold up the callback with the GIL.

This is the public path; the code lives in the I/O layer,
:mod:`midibuffer.io`.
"""

from midibuffer.io.audio import AudioDevice, AudioOutput, import_sounddevice, output_devices
from midibuffer.io.audio_process import AudioProcess, AudioProcessError
from midibuffer.io.output import OFFLINE_ASKED, open_output
from midibuffer.io.render import AudioStats, BlockRenderer, Render, RenderingOutput
from midibuffer.io.settings import OutputOptions, OutputSettings

__all__ = [
    "OFFLINE_ASKED",
    "AudioDevice",
    "AudioOutput",
    "AudioProcess",
    "AudioProcessError",
    "AudioStats",
    "BlockRenderer",
    "OutputOptions",
    "OutputSettings",
    "Render",
    "RenderingOutput",
    "import_sounddevice",
    "open_output",
    "output_devices",
]
