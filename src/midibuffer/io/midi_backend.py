"""Choosing python-rtmidi's backend (API) and naming its ports (the ``rtmidi`` extra).

:func:`choose_api` picks the backend: on Linux ALSA where the ALSA
sequencer (``/dev/snd/seq``) exists, then JACK; on macOS CoreMIDI, then
JACK; on Windows the MultiMedia API. Without an ALSA sequencer (containers,
CI machines) only JACK can work, and it needs a running JACK server.
:func:`input_port_names` and :func:`output_port_names` list the ports. The
input adapter itself is :mod:`midibuffer.io.midi_input`; users import both
through ``midibuffer.rtmidi``.

Importing this module imports python-rtmidi and raises :class:`ImportError`
with the fix if it is missing or cannot load.
"""

from __future__ import annotations

import functools
import operator
import os
import sys
from typing import Any

from midibuffer.errors import MidiBackendUnavailable

try:
    import rtmidi
except ModuleNotFoundError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "midibuffer.rtmidi needs python-rtmidi: pip install 'midibuffer[rtmidi]'"
    ) from error
except ImportError as error:  # installed, but a system library is missing
    raise ImportError(
        f"python-rtmidi is installed but cannot be loaded ({error}); on Debian/Ubuntu "
        "install the ALSA library: apt install libasound2"
    ) from error

__all__ = [
    "ALSA_SEQUENCER",
    "api_name",
    "choose_api",
    "current_api",
    "input_port_names",
    "new_midi_in",
    "output_port_names",
]


ALSA_SEQUENCER = "/dev/snd/seq"
"""The device the ALSA backend needs; where it is missing only JACK can work."""

_JACK_HINT = "start jackd, e.g. `jackd -d dummy`"
_NO_ALSA_SEQUENCER = (
    f"no ALSA sequencer ({ALSA_SEQUENCER} is missing): only rtmidi.API_UNIX_JACK can work "
    f"here, and it needs a running JACK server ({_JACK_HINT})"
)


def input_port_names(api: int | None = None) -> list[str]:
    """The names of the MIDI ports :func:`~midibuffer.rtmidi.open_input` can connect to (sources).

    Any thread. With JACK they read ``client:port``.

    Raises:
        MidiBackendUnavailable: no MIDI backend works (see :func:`choose_api`).
    """
    return _port_names(rtmidi.MidiIn, api)


def output_port_names(api: int | None = None) -> list[str]:
    """The names of the MIDI ports one could send to (destinations). Any thread.

    Raises:
        MidiBackendUnavailable: no MIDI backend works (see :func:`choose_api`).
    """
    return _port_names(rtmidi.MidiOut, api)


# --- choosing the backend --------------------------------------------------------------------


def choose_api(api: int | None = None) -> int:
    """Return the rtmidi API to use: *api* if it is compiled in, else the best one that works.

    With *api* ``None`` (or ``rtmidi.API_UNSPECIFIED``) it tries, in order:
    on Linux, ALSA if the ALSA sequencer (``/dev/snd/seq``) exists, then
    JACK; on macOS CoreMIDI, then JACK; on Windows the MultiMedia API. An
    API counts as working when rtmidi can create a client with it, so JACK
    needs a running server (rtmidi never starts one; libjack may print
    connection errors on stderr while it tries). Any thread.

    Raises:
        MidiBackendUnavailable: *api* is not compiled into python-rtmidi,
            or nothing works. On Linux without an ALSA sequencer the message
            says: no ALSA sequencer (/dev/snd/seq is missing): only
            rtmidi.API_UNIX_JACK can work here, and it needs a running JACK
            server (start jackd, e.g. `jackd -d dummy`).
        TypeError: *api* is not an int.
        ValueError: *api* is not an rtmidi API constant.

    Example (the result depends on the machine, so it is not a doctest)::

        api = choose_api()
        print(rtmidi.get_api_display_name(api))  # e.g. "Jack"
    """
    chosen, probe = _open_backend(rtmidi.MidiIn, api, "midibuffer-probe", probe_only=True)
    if probe is not None:
        probe.delete()
    return chosen


def _candidates() -> list[int]:
    """The APIs worth trying on this platform, best first."""
    if sys.platform.startswith("linux"):
        alsa = [rtmidi.API_LINUX_ALSA] if os.path.exists(ALSA_SEQUENCER) else []
        return [*alsa, rtmidi.API_UNIX_JACK]
    if sys.platform == "darwin":
        return [rtmidi.API_MACOSX_CORE, rtmidi.API_UNIX_JACK]
    if sys.platform.startswith("win"):
        return [rtmidi.API_WINDOWS_MM]
    dummy = rtmidi.API_RTMIDI_DUMMY
    return [api for api in _compiled() if api != dummy]


def _open_backend(
    kind: Any, api: int | None, client_name: str, *, probe_only: bool = False
) -> tuple[int, Any]:
    """Return ``(api, port object)``: a ``kind`` (``MidiIn``/``MidiOut``) on *api* or the best API.

    With *probe_only* and an explicit *api*, only check it is compiled in
    and return ``(api, None)``.
    """
    compiled = _compiled()
    if api is not None:
        api = _checked_api(api)
    if api is not None:
        if api not in compiled:
            raise MidiBackendUnavailable(
                f"this python-rtmidi was built without the {api_name(api)} API "
                f"(it has: {_api_names(compiled)})"
            )
        if probe_only:
            return api, None
        return api, _create(kind, api, client_name)
    problems: list[str] = []
    for candidate in _candidates():
        if candidate not in compiled:
            problems.append(f"{api_name(candidate)}: not compiled into python-rtmidi")
            continue
        try:
            return candidate, _create(kind, candidate, client_name)
        except MidiBackendUnavailable as error:
            problems.append(f"{api_name(candidate)}: {error}")
    raise MidiBackendUnavailable(_nothing_works(compiled, problems))


def _create(kind: Any, api: int, client_name: str) -> Any:
    """Create an ``rtmidi.MidiIn``/``MidiOut`` on *api*, translating backend failures."""
    try:
        return kind(api, client_name)
    except rtmidi.RtMidiError as error:
        raise MidiBackendUnavailable(_backend_failure(api, error)) from error


def _backend_failure(api: int, error: BaseException) -> str:
    detail = f"rtmidi says: {error}"
    if api == rtmidi.API_UNIX_JACK:
        return f"cannot connect to a JACK server ({_JACK_HINT}); {detail}"
    if api == rtmidi.API_LINUX_ALSA and not os.path.exists(ALSA_SEQUENCER):
        return f"{_NO_ALSA_SEQUENCER}; {detail}"
    return f"the {api_name(api)} MIDI backend failed to start; {detail}"


def _nothing_works(compiled: list[int], problems: list[str]) -> str:
    tried = "; ".join(problems)
    if sys.platform.startswith("linux") and not os.path.exists(ALSA_SEQUENCER):
        if rtmidi.API_UNIX_JACK not in compiled:
            return (
                f"no ALSA sequencer ({ALSA_SEQUENCER} is missing), and this python-rtmidi "
                f"was built without JACK (it has: {_api_names(compiled)}): "
                "no MIDI backend can work here"
            )
        return f"{_NO_ALSA_SEQUENCER}. Tried: {tried}"
    return f"no MIDI backend works here. Tried: {tried}"


# --- helpers ---------------------------------------------------------------------------------


def new_midi_in(api: int | None, client_name: str, queue_size_limit: int = 1024) -> Any:
    """A new ``rtmidi.MidiIn`` on *api* or the best API (:func:`choose_api`), port not opened.

    *queue_size_limit* is the size of rtmidi's own queue (messages), where
    messages wait when no callback is set.

    Raises:
        MidiBackendUnavailable: no backend works, or *api* cannot start.
        TypeError: *client_name* is not a str.
    """
    return _new_port_object(
        functools.partial(rtmidi.MidiIn, queue_size_limit=queue_size_limit), api, client_name
    )


def _new_port_object(kind: Any, api: int | None, client_name: str) -> Any:
    """A new ``rtmidi.MidiIn``/``MidiOut`` (*kind*) on *api* or the best API (:func:`choose_api`).

    Raises:
        MidiBackendUnavailable: no backend works, or *api* cannot start.
        TypeError: *client_name* is not a str.
    """
    if not isinstance(client_name, str):
        raise TypeError(f"client_name must be a str, not {type(client_name).__name__}")
    return _open_backend(kind, api, client_name)[1]


def _port_names(kind: Any, api: int | None) -> list[str]:
    port_object = _new_port_object(kind, api, "midibuffer-ports")
    try:
        names: list[str] = port_object.get_ports()
        return names
    finally:
        port_object.delete()


def _checked_api(api: object) -> int | None:
    """Return *api* as an int, or ``None`` for ``API_UNSPECIFIED``."""
    if isinstance(api, bool):
        raise TypeError("api must be an rtmidi.API_* constant (an int), not bool")
    try:
        value = operator.index(api)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"api must be an rtmidi.API_* constant (an int), not {type(api).__name__}"
        ) from None
    if value == rtmidi.API_UNSPECIFIED:
        return None
    if not rtmidi.get_api_name(value) or value == rtmidi.API_RTMIDI_DUMMY:
        raise ValueError(f"api must be one of the rtmidi.API_* constants, got {value}")
    return value


def _compiled() -> list[int]:
    apis: list[int] = rtmidi.get_compiled_api()
    return apis


def current_api(port_object: Any) -> int:
    """The ``rtmidi.API_*`` constant an ``rtmidi.MidiIn``/``MidiOut`` runs on."""
    api: int = port_object.get_current_api()
    return api


def api_name(api: int) -> str:
    """rtmidi's display name of *api* (``"ALSA"``, ``"Jack"``...), ``"Unknown"`` if none."""
    name: str = rtmidi.get_api_display_name(api)
    return name


def _api_names(apis: list[int]) -> str:
    return ", ".join(api_name(api) for api in apis) or "none"
