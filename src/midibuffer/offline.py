"""Audio output without a sound card: the public path of :mod:`midibuffer.io.offline`
(:class:`OfflineOutput`, which records what it renders; :func:`write_wav`) and
:func:`open_output` (a device if one works, else an ``OfflineOutput``).

>>> from midibuffer import MidiMessage, midi_buffer
>>> from midibuffer.synth import PolySynth
>>> producer, consumer = midi_buffer(16)
>>> with OfflineOutput(consumer, PolySynth(48_000), samplerate=48_000) as output:
...     _ = producer.try_send(MidiMessage.note_on(0, 60, 100))
...     while output.stats().events == 0:  # until the note is rendered
...         output.wait(0.01)
>>> output.stats().events, output.frames > 0
(1, True)
"""

from midibuffer.io.offline import OfflineOutput, write_wav
from midibuffer.io.output import open_output

__all__ = ["OfflineOutput", "open_output", "write_wav"]
