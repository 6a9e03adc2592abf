"""A small polyphonic synthesizer for the demo and the examples: the public path of
:mod:`midibuffer.app.synth` (needs numpy, the ``audio`` extra)."""

from midibuffer.app.synth import PolySynth

__all__ = ["PolySynth"]
