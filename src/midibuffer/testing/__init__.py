"""Helpers for tests, benchmarks and demos on machines without audio hardware.

Not runtime library code: :mod:`~midibuffer.testing.jackd` starts a private
JACK server with the dummy driver. It sits beside the application layer, and
no library layer imports it.
"""
