"""The C cores of the buffer; everything else is in pyproject.toml.

``midibuffer.buffer._ring`` is the in-process ring, ``midibuffer.buffer._shared``
the shared-memory ring between processes (POSIX: shm_open, pthreads, C11
atomics). Both are optional: where one cannot be built (no C compiler, an
unsupported platform), installation goes on; ``midi_buffer`` then uses its
pure-Python core, which behaves the same but is slower, and
``shared_midi_buffer`` says that it needs the C core (docs/design.md).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "midibuffer.buffer._ring",
            sources=["src/midibuffer/buffer/_ring.c"],
            optional=True,
        ),
        Extension(
            "midibuffer.buffer._shared",
            sources=["src/midibuffer/buffer/_shared.c"],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            extra_link_args=["-pthread"],
            optional=True,
        ),
    ]
)
