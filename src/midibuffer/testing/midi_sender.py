"""A MIDI sender in a process of its own, through rtmidi's JACK output.

Used by the tests and ``midibuffer bench --suite midi-input``. The sender is
a separate, idle process, as a real MIDI source would be: rtmidi's JACK
output garbles messages when its own process is starved of the GIL, which
is a different problem from the receiver's (``docs/benchmarks.md``). It
paces itself (:data:`BURST` messages, then :data:`PAUSE`), far below the
~100 messages per JACK period where rtmidi's JACK output corrupts them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BURST = 4  # messages sent back to back before a pause: far below rtmidi's JACK limit
PAUSE = 0.001


def numbered(index: int) -> list[int]:
    """The bytes of message number *index* (0..16383): a control change carrying it."""
    return [0xB0, index // 128, index % 128]


SENDER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import rtmidi

    mode, port, burst, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    midi_out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "midibuffer-test-sender")
    try:
        if mode == "virtual":
            midi_out.open_virtual_port(port)
        else:
            ports = midi_out.get_ports()
            midi_out.open_port(next(i for i, name in enumerate(ports) if port in name), "out")
        print("ready", flush=True)
        for line in sys.stdin:
            order = json.loads(line)
            times = []
            if isinstance(order, (int, dict)):  # numbered messages or note pairs, paced
                pairs = isinstance(order, dict)
                for index in range(order["pairs"] * 2 if pairs else order):
                    times.append(time.perf_counter())
                    if pairs:  # note on, then the same note off, over 16 channels
                        pair = index // 2
                        status = (0x80 if index % 2 else 0x90) | pair % 16
                        midi_out.send_message([status, pair * 7 % 128, 100])
                    else:
                        midi_out.send_message([0xB0, index // 128, index % 128])
                    if index % burst == burst - 1:
                        time.sleep(pause)
            else:  # these messages, one per JACK period at most
                for data in order:
                    times.append(time.perf_counter())
                    midi_out.send_message(data)
                    time.sleep(0.005)
            print(json.dumps(times), flush=True)
    finally:
        midi_out.close_port()
        midi_out.delete()
    """
)


class SenderProcess:
    """A separate process sending numbered messages through rtmidi's JACK output.

    *mode* ``"virtual"`` creates an output port called *port* (to be found by
    ``open_input``); ``"connect"`` connects to the first input port whose
    name contains *port*. ``time.perf_counter`` is CLOCK_MONOTONIC on Linux,
    so its send times compare with the receiver's timestamps.
    """

    def __init__(self, mode: str, port: str) -> None:
        command = [sys.executable, "-c", SENDER_SCRIPT, mode, port, str(BURST), str(PAUSE)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def __enter__(self) -> SenderProcess:
        assert self._read() == "ready"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def start(self, order: int | dict[str, int] | list[list[int]]) -> None:
        """Start sending messages number 0 to *order* - 1, paced; or ``{"pairs": n}``:
        n note-on/note-off pairs, paced (pair i: channel i % 16, note 7i % 128);
        or the messages *order*, 5 ms apart."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()

    def send(self, messages: list[list[int]]) -> None:
        """Send *messages*, 5 ms apart; return once they are sent."""
        self.start(messages)
        self.send_times()

    def send_times(self) -> list[float]:
        """Wait for the messages to be sent; return each one's perf_counter send time."""
        times: list[float] = json.loads(self._read())
        return times

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the sender process exited with {self.process.wait()}"
        return line.strip()
