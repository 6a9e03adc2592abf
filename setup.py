"""The C cores of the buffer; everything else is in pyproject.toml.

``midibuffer.buffer._ring`` is the in-process ring, ``midibuffer.buffer._shared``
the shared-memory ring between processes (POSIX: shm_open, pthreads, C11
atomics). Both are optional: where one cannot be built (no C compiler, no C11
``<stdatomic.h>``, an unsupported platform), installation goes on;
``midi_buffer`` then uses its pure-Python core, which behaves the same but is
slower, and ``shared_midi_buffer`` says that it needs the C core
(docs/design.md).

``MIDIBUFFER_STRICT_BUILD=1`` (CI, ``scripts/check-c``) makes every warning an
error and a failed build fatal instead of a fallback.
"""

import os
import sys

from setuptools import Extension, setup

STRICT = os.environ.get("MIDIBUFFER_STRICT_BUILD") == "1"
COMPILE_ARGS = ["-std=c11", "-Wall", "-Wextra", *(["-Werror"] if STRICT else [])]
HEADERS = ["src/midibuffer/buffer/_core.h"]
# On Linux, libc is named even where the linker would not need it: auditwheel
# reads the glibc an extension needs from that entry (_ring calls no libc
# function itself).
LINK_ARGS = ["-Wl,--no-as-needed", "-lc"] if sys.platform.startswith("linux") else []

setup(
    ext_modules=[
        Extension(
            "midibuffer.buffer._ring",
            sources=["src/midibuffer/buffer/_ring.c"],
            depends=HEADERS,
            extra_compile_args=COMPILE_ARGS,
            extra_link_args=LINK_ARGS,
            optional=not STRICT,
        ),
        Extension(
            "midibuffer.buffer._shared",
            sources=["src/midibuffer/buffer/_shared.c"],
            depends=HEADERS,
            extra_compile_args=COMPILE_ARGS,
            extra_link_args=[*LINK_ARGS, "-pthread"],
            optional=not STRICT,
        ),
    ]
)
