"""The C core of the buffer (``midibuffer.buffer._ring``); everything else is in pyproject.toml.

The extension is optional: where it cannot be built (no C compiler, an
unsupported compiler), installation goes on and ``midibuffer`` uses its
pure-Python core, which behaves the same but is slower (docs/design.md).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "midibuffer.buffer._ring",
            sources=["src/midibuffer/buffer/_ring.c"],
            optional=True,
        )
    ]
)
