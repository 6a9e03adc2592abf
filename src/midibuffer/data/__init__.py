"""The data layer: what a MIDI message is (the lowest layer; imports only ``midibuffer.errors``).

:mod:`~midibuffer.data.spec` holds the MIDI 1.0 specification tables and the
validation rule, :mod:`~midibuffer.data.message` the immutable
:class:`~midibuffer.MidiMessage`, :mod:`~midibuffer.data.parser` the byte-stream
parser. ``docs/design.md`` draws the layers.
"""
