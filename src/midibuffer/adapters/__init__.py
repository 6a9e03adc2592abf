"""The adapter layer: what wraps one end of a buffer (imports the buffer and data layers only).

Producers that wait for room (:mod:`~midibuffer.adapters.async_producer`,
:mod:`~midibuffer.adapters.blocking_producer`, their pacing in
:mod:`~midibuffer.adapters.retry`) and the consumer's sample-accurate
:mod:`~midibuffer.adapters.scheduler`. No audio or MIDI library is imported here.
"""
