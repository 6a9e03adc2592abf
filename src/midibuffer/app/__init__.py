"""The application layer: the ``midibuffer`` command, the demo, its synth and the benchmarks.

Nothing below this layer imports it (``lint-imports`` checks): the library
works without any of it.
"""
