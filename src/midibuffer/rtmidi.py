"""MIDI input from python-rtmidi into a :func:`~midibuffer.midi_buffer` (the ``rtmidi`` extra).

Install it with ``pip install 'midibuffer[rtmidi]'``; ``import midibuffer``
never imports python-rtmidi, only ``import midibuffer.rtmidi`` does. This is
the public path; the code lives in :mod:`midibuffer.io.midi_backend` (choosing
the backend, naming ports) and :mod:`midibuffer.io.midi_input` (the input
adapter). On Linux without an ALSA sequencer (``/dev/snd/seq`` missing:
containers, CI machines) only JACK can work, and it needs a running JACK
server.

Example (it needs a MIDI backend, so it is not run as a doctest)::

    from midibuffer import midi_buffer
    from midibuffer.rtmidi import input_port_names, open_input

    print(input_port_names())  # e.g. ['a2j:Keystation [20] (capture): Keystation MIDI 1']
    producer, consumer = midi_buffer(256)  # give `consumer` to the audio callback
    with open_input("keystation", producer) as midi_input:
        ...  # the audio callback pops; each message has .time on perf_counter's clock
        print(midi_input.stats())
    # leaving the block closed the port and the producer: the consumer sees
    # the end of the stream (is_finished()) once it has popped everything
"""

from midibuffer.errors import MidiBackendUnavailable, MidiPortNotFound
from midibuffer.io.midi_backend import (
    ALSA_SEQUENCER,
    choose_api,
    input_port_names,
    output_port_names,
)
from midibuffer.io.midi_input import (
    DEFAULT_IDLE_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    IDLE_AFTER,
    QUEUE_SIZE,
    InputOptions,
    InputSettings,
    MidiInput,
    MidiInputStats,
    open_input,
    open_virtual_input,
)

__all__ = [
    "ALSA_SEQUENCER",
    "DEFAULT_IDLE_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "IDLE_AFTER",
    "QUEUE_SIZE",
    "InputOptions",
    "InputSettings",
    "MidiBackendUnavailable",
    "MidiInput",
    "MidiInputStats",
    "MidiPortNotFound",
    "choose_api",
    "input_port_names",
    "open_input",
    "open_virtual_input",
    "output_port_names",
]
