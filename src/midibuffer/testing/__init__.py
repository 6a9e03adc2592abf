"""Helpers for tests, benchmarks and demos on machines without audio hardware.

Not runtime library code: :mod:`~midibuffer.testing.jackd` starts a private
JACK server with the dummy driver; :mod:`~midibuffer.testing.midi_sender`
sends MIDI from another process through rtmidi's JACK output;
:mod:`~midibuffer.testing.arrivals` judges how numbered messages arrived. It sits beside
the application layer, and no library layer imports it.
"""
