"""Standard MIDI Files: the public path of :mod:`midibuffer.io.midifile`
(``pip install 'midibuffer[midifile]'``, which brings mido and numpy).

:func:`render_midi_file` renders a file offline, sample-exactly, through the
real path (a buffer, the scheduler, your render function per block);
:func:`play_midi_file` plays one in real time through an
:class:`~midibuffer.AsyncMidiProducer`; :func:`read_midi_file` yields its
timed messages and :func:`midi_file_length` says how long it lasts.
"""

from midibuffer.io.midifile import (
    PLAY_LEAD,
    MidiSource,
    midi_file_length,
    play_midi_file,
    read_midi_file,
    render_midi_file,
)

__all__ = [
    "PLAY_LEAD",
    "MidiSource",
    "midi_file_length",
    "play_midi_file",
    "read_midi_file",
    "render_midi_file",
]
