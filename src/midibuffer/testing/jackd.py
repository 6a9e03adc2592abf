"""A private JACK server with the dummy driver: real audio callbacks without hardware.

Used by the tests and ``midibuffer bench --jack`` on machines
without a sound card. Needs ``jackd`` and ``jack_lsp`` (Debian:
``apt install jackd2``).

``JackServer.start()`` runs ``jackd -n <unique name> [-R] -d dummy -r 48000
-p 64``, waits until ``jack_lsp`` answers, and points this process at it
(``JACK_DEFAULT_SERVER``, ``JACK_NO_START_SERVER=1``). PortAudio scans its
host APIs when it is initialised, so ``start()`` re-initialises sounddevice
if it was already imported; ``stop()`` terminates PortAudio *before* jackd,
because PortAudio aborts the process at exit if its server vanished.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from midibuffer.errors import AudioBackendUnavailable

__all__ = ["JackServer", "jack_missing_reason"]

SAMPLE_RATE = 48_000
PERIOD_FRAMES = 64

_names = itertools.count()


def jack_missing_reason() -> str | None:
    """Why no JACK server can run here, or None if it can."""
    missing = [tool for tool in ("jackd", "jack_lsp") if shutil.which(tool) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not installed "
            "(Debian: apt-get install jackd2 libjack-jackd2-0 libportaudio2)"
        )
    return None


class JackServer:
    """A running ``jackd -d dummy`` that this process talks to; ``stop()`` it when done.

    ``start()`` raises :class:`~midibuffer.errors.AudioBackendUnavailable`
    (with jackd's log) if jackd is missing or the server does not come up.
    Also a context manager::

        with JackServer.start():
            ...   # sounddevice now lists the "JACK Audio Connection Kit" host API
    """

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    def start(
        cls,
        log_dir: Path | None = None,
        *,
        samplerate: int = SAMPLE_RATE,
        period: int = PERIOD_FRAMES,
        timeout: float = 10.0,
    ) -> JackServer:
        """Start a server named uniquely for this process, wait until it answers,
        and point this process (and PortAudio) at it."""
        reason = jack_missing_reason()
        if reason is not None:
            raise AudioBackendUnavailable(f"cannot start a JACK server: {reason}")
        name = f"midibuffer-{os.getpid()}-{next(_names)}"
        log = Path(log_dir or tempfile.mkdtemp(prefix="midibuffer-jack-")) / f"{name}.log"
        realtime = ["-R"] if os.geteuid() == 0 else []
        command = ["jackd", "-n", name, *realtime, "-d", "dummy"]
        command += ["-r", str(samplerate), "-p", str(period)]
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        server = cls(name, process, log)
        env = {**os.environ, "JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1"}
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AudioBackendUnavailable(
                    f"jackd exited with {process.returncode}: {log.read_text()}"
                )
            answered = subprocess.run(["jack_lsp"], env=env, capture_output=True, check=False)
            if answered.returncode == 0:
                break
            if time.monotonic() > deadline:
                server.stop()
                raise AudioBackendUnavailable(
                    f"jackd did not answer within {timeout} s: {log.read_text()}"
                )
            time.sleep(0.05)
        os.environ["JACK_DEFAULT_SERVER"] = name
        os.environ["JACK_NO_START_SERVER"] = "1"
        _reinitialise_portaudio()
        return server

    def stop(self) -> None:
        """Terminate PortAudio (it aborts the process if its server vanishes), then jackd."""
        _terminate_portaudio()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for variable in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER"):
            os.environ.pop(variable, None)

    def __enter__(self) -> JackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def ports(self) -> list[str]:
        """The server's port names (``jack_lsp``)."""
        env = {**os.environ, "JACK_DEFAULT_SERVER": self.name}
        listed = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True, check=True)
        return listed.stdout.splitlines()


def _reinitialise_portaudio() -> None:
    sounddevice = sys.modules.get("sounddevice")
    if sounddevice is not None:
        sounddevice._terminate()
        sounddevice._initialize()


def _terminate_portaudio() -> None:
    sounddevice = sys.modules.get("sounddevice")
    if sounddevice is not None:
        sounddevice._terminate()
