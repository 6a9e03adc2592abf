"""docs/api.md is generated from the docstrings, and every public name has one.

Regenerate it after changing a public name or a docstring's first paragraph:

    python tests/test_api_docs.py > docs/api.md
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"
MODULES = [  # the public paths, then the helpers users may meet
    "midibuffer",
    "midibuffer.errors",
    "midibuffer.buffer",
    "midibuffer.scheduler",
    "midibuffer.audio",
    "midibuffer.offline",
    "midibuffer.midifile",
    "midibuffer.synth",
    "midibuffer.realtime",
    "midibuffer.rtmidi",
    "midibuffer.adapters.retry",
    "midibuffer.testing.jackd",
    "midibuffer.app.demo",
    "midibuffer.app.cli",
]
HEADER = """# API reference

Generated from the docstrings by `python tests/test_api_docs.py > docs/api.md`;
`tests/test_api_docs.py` fails when this file is out of date or a public name
has no docstring. Each entry shows the first paragraph of the docstring: read
the docstrings (`help(...)`) for the threads a method may be called from,
what it raises, and examples.

The core (`midibuffer`) needs only anyio. `midibuffer.rtmidi` needs the
`rtmidi` extra; `audio`, `offline`, `synth` and `demo` need the `audio`
extra. The code lives in layered folders (`docs/design.md`, "Layers"); the
public paths below re-export it.
"""


def summary(obj: object) -> str:
    return (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")


def public_members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined by midibuffer (inherited ones too)."""
    members = []
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        owner = next(klass for klass in cls.__mro__ if name in vars(klass))
        value = vars(owner)[name]
        if owner.__module__.startswith("midibuffer") and (
            callable(value) or isinstance(value, property | classmethod | staticmethod)
        ):
            members.append((name, value))
    return members


def signature(obj: object) -> str:
    """The call signature, or "" where there is none to show: the buffer ends
    cannot be called (only midi_buffer() and shared_midi_buffer() make them)."""
    try:
        text = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return "" if text.endswith("-> 'NoReturn'") else text


def public_names(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


def render() -> str:
    lines = [HEADER]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        lines += [f"## `{module_name}`", "", summary(module), ""]
        for name, obj in public_names(module_name):
            if inspect.isclass(obj):
                fields = dataclasses.is_dataclass(obj) and not issubclass(obj, BaseException)
                args = signature(obj) if fields or not issubclass(obj, BaseException) else ""
                lines.append(f"- **`{name}{args}`**: {summary(obj)}")
                if not issubclass(obj, BaseException) and not fields:
                    for member, value in public_members(obj):
                        function = value.fget if isinstance(value, property) else value
                        lines.append(f"  - `{member}`: {summary(function)}")
            elif inspect.isfunction(obj):
                lines.append(f"- **`{name}{signature(obj)}`**: {summary(obj)}")
            else:
                lines.append(f"- **`{name}`** = `{obj!r}`")
        lines.append("")
    return "\n".join(lines)


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_a_docstring(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert summary(module)
    missing = []
    for name, obj in public_names(module_name):
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not summary(obj):
                missing.append(name)
            if inspect.isclass(obj):
                missing += [
                    f"{name}.{member}"
                    for member, value in public_members(obj)
                    if not summary(value.fget if isinstance(value, property) else value)
                ]
    assert missing == []


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_class_shows_its_own_docstring(module_name: str) -> None:
    """Not an alias's (``typing.Any``'s, say) nor an inherited one."""
    borrowed = [
        name
        for name, obj in public_names(module_name)
        if inspect.isclass(obj)
        and not (obj.__module__.startswith("midibuffer") and vars(obj).get("__doc__"))
    ]
    assert borrowed == []


def test_api_md_is_up_to_date() -> None:
    assert API_MD.read_text() == render() + "\n", (
        "docs/api.md is out of date: python tests/test_api_docs.py > docs/api.md"
    )


if __name__ == "__main__":
    print(render())
