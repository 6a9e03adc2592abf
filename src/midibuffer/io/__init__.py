"""The I/O layer: real MIDI ports and audio outputs around the adapters.

MIDI input from python-rtmidi (:mod:`~midibuffer.io.midi_backend` chooses the
backend and names the ports, :mod:`~midibuffer.io.midi_input` attaches an input
to a producer), the audio outputs (:mod:`~midibuffer.io.settings`,
:mod:`~midibuffer.io.render`, :mod:`~midibuffer.io.audio`,
:mod:`~midibuffer.io.offline`, :mod:`~midibuffer.io.output`) and the GIL-aware
:mod:`~midibuffer.io.realtime` mode. Users import them through the public
paths ``midibuffer.rtmidi``, ``midibuffer.audio``, ``midibuffer.offline`` and
``midibuffer.realtime``.
"""
