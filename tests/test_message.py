"""Specification of MidiMessage: validation, fields, constructors, value semantics, mido."""

from __future__ import annotations

import copy
import math
import pickle
import subprocess
import sys
from collections.abc import Callable

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midibuffer import InvalidMidiMessage, MidiMessage
from midibuffer.data.message import MAX_SYSEX_BYTES

NOTE_ON = b"\x90\x3c\x64"

# --- what it accepts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        NOTE_ON,
        bytearray(NOTE_ON),
        memoryview(NOTE_ON),
        [0x90, 60, 100],
        (0x90, 60, 100),
        (byte for byte in NOTE_ON),
    ],
    ids=["bytes", "bytearray", "memoryview", "list", "tuple", "generator"],
)
def test_accepts_bytes_like_and_iterables_of_ints(data: object) -> None:
    assert MidiMessage(data).data == NOTE_ON  # type: ignore[arg-type]


def test_accepts_items_with_index_such_as_numpy_integers() -> None:
    numpy = pytest.importorskip("numpy")
    assert MidiMessage(numpy.array([0x90, 60, 100])).data == NOTE_ON


def test_stores_the_data_as_bytes() -> None:
    assert type(MidiMessage(bytearray(NOTE_ON)).data) is bytes


def test_does_not_share_a_mutable_buffer() -> None:
    buffer = bytearray(NOTE_ON)
    message = MidiMessage(buffer)
    buffer[2] = 0
    assert message.velocity == 100


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("903c64", "not str"),
        (None, "not NoneType"),
        (144, "not int"),
        ([0x90, 60.0, 100], "item 60.0 at position 1 must be an int, not float"),
        ([0x90, "a", 100], "item 'a' at position 1 must be an int, not str"),
        ([0x90, None], "item None at position 1 must be an int, not NoneType"),
        ([0x90, 60, True], "item True at position 2 must be an int, not bool"),
    ],
)
def test_wrong_types_are_type_errors(data: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        MidiMessage(data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([0x90, 256, 100], "item 256 at position 1 is not a byte"),
        ([-1, 60, 100], "item -1 at position 0 is not a byte"),
    ],
)
def test_ints_that_are_not_bytes_are_invalid(data: list[int], match: str) -> None:
    with pytest.raises(InvalidMidiMessage, match=match):
        MidiMessage(data)


# --- what it rejects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty message"),
        (b"\x3c\x64", "first byte 0x3C is a data byte, not a status byte at position 0"),
        (b"\xf4", "status byte 0xF4 is undefined in MIDI 1.0 at position 0"),
        (b"\xf5", "status byte 0xF5 is undefined"),
        (b"\xf9", "status byte 0xF9 is undefined"),
        (b"\xfd", "status byte 0xFD is undefined"),
        (b"\xf7", r"0xF7 \(end of sysex\) without a 0xF0 before it at position 0"),
        (b"\x90\x3c\x80", "note_on data byte 0x80 at position 2 is > 0x7F"),
        (b"\xc0\xf8", "program_change data byte 0xF8 at position 1 is > 0x7F"),
        (b"\x90\x3c", "note_on needs 3 bytes, got 2: missing byte at position 2"),
        (b"\x90\x3c\x64\x00", "note_on needs 3 bytes, got 4: extra byte 0x00 at position 3"),
        (b"\xc0", "program_change needs 2 bytes, got 1: missing byte at position 1"),
        (b"\xf8\x00", "clock needs 1 bytes, got 2: extra byte 0x00 at position 1"),
        (b"\xf0", "sysex must end with 0xF7, not 0xF0 at position 0"),
        (b"\xf0\x01\x02", "sysex must end with 0xF7, not 0x02 at position 2"),
        (b"\xf0\x01\xf8\xf7", "sysex data byte 0xF8 at position 2 is > 0x7F"),
        (b"\xf0\xf7\xf7", "sysex data byte 0xF7 at position 1 is > 0x7F"),
    ],
)
def test_invalid_data_is_rejected_naming_byte_and_position(data: bytes, match: str) -> None:
    with pytest.raises(InvalidMidiMessage, match=match):
        MidiMessage(data)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xe0\x01\x02\x03", "pitchwheel needs 3 bytes, got 4: extra byte 0x03 at position 3"),
        (b"\xf1\x01\x02", "quarter_frame needs 2 bytes, got 3: extra byte 0x02 at position 2"),
        (b"\xf2\x01\x02\x03", "songpos needs 3 bytes, got 4: extra byte 0x03 at position 3"),
    ],
)
def test_trailing_bytes_that_mido_would_drop_are_rejected(data: bytes, match: str) -> None:
    with pytest.raises(InvalidMidiMessage, match=match):
        MidiMessage(data)


def test_invalid_message_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        MidiMessage(b"")


def test_sysex_of_max_sysex_bytes_is_accepted() -> None:
    payload = bytes(MAX_SYSEX_BYTES - 2)
    assert len(MidiMessage.sysex(payload)) == MAX_SYSEX_BYTES


def test_sysex_over_max_sysex_bytes_is_rejected() -> None:
    with pytest.raises(InvalidMidiMessage, match=f"sysex of {MAX_SYSEX_BYTES + 1} bytes is over"):
        MidiMessage.sysex(bytes(MAX_SYSEX_BYTES - 1))


# --- agreement with mido ------------------------------------------------------------------

DIFFERENCES_FROM_MIDO = {"pitchwheel", "quarter_frame", "songpos"}  # mido drops extra bytes

data_bytes = st.integers(0, 0x7F)
any_bytes = st.integers(0, 0xFF)
mostly_data_bytes = st.one_of(data_bytes, data_bytes, data_bytes, any_bytes)
candidates = st.one_of(
    st.builds(
        lambda status, rest: [status, *rest],
        st.integers(0x80, 0xFF),
        st.lists(mostly_data_bytes, max_size=3),
    ),
    st.builds(
        lambda payload, end: [0xF0, *payload, *end],
        st.lists(mostly_data_bytes, max_size=8),
        st.sampled_from([[0xF7], [0xF7], [], [0xF8], [0xF7, 0xF7], [0xF7, 0x00]]),
    ),
    st.lists(any_bytes, max_size=5),
)


def mido_fields(message: mido.Message) -> dict[str, object]:
    """mido's fields under midibuffer's names (mido calls the SysEx payload 'data')."""
    fields = {name: value for name, value in vars(message).items() if name not in ("type", "time")}
    if "data" in fields:
        fields["payload"] = bytes(fields.pop("data"))
    return fields


def assert_agrees_with_mido(data: list[int]) -> None:
    try:
        expected = mido.Message.from_bytes(data)
    except (ValueError, IndexError):  # mido's IndexError: a too short pitchwheel/qf/songpos
        with pytest.raises(InvalidMidiMessage):
            MidiMessage(data)
        return
    if bytes(expected.bytes()) != bytes(data):  # mido dropped trailing bytes
        assert expected.type in DIFFERENCES_FROM_MIDO
        with pytest.raises(InvalidMidiMessage, match="extra byte"):
            MidiMessage(data)
        return
    message = MidiMessage(data)
    assert message.data == bytes(data)
    assert message.kind == expected.type
    assert {name: getattr(message, name) for name in mido_fields(expected)} == mido_fields(expected)


@settings(max_examples=1000)
@given(candidates)
def test_accepts_and_decodes_like_mido_from_bytes(data: list[int]) -> None:
    assert_agrees_with_mido(data)


@pytest.mark.parametrize("status", range(256))
def test_every_status_byte_with_0_to_4_data_bytes_agrees_with_mido(status: int) -> None:
    for extra in range(5):
        assert_agrees_with_mido([status, *range(1, extra + 1)])


# --- fields -------------------------------------------------------------------------------

KINDS = [
    # data, kind, channel, named fields
    (b"\x81\x3c\x40", "note_off", 1, {"note": 60, "velocity": 64}),
    (b"\x92\x3c\x64", "note_on", 2, {"note": 60, "velocity": 100}),
    (b"\xa3\x3c\x21", "polytouch", 3, {"note": 60, "value": 33}),
    (b"\xb4\x07\x64", "control_change", 4, {"control": 7, "value": 100}),
    (b"\xc5\x0c", "program_change", 5, {"program": 12}),
    (b"\xd6\x5a", "aftertouch", 6, {"value": 90}),
    (b"\xef\x7f\x7f", "pitchwheel", 15, {"pitch": 8191}),
    (b"\xf0\x7e\x01\xf7", "sysex", None, {"payload": b"\x7e\x01"}),
    (b"\xf1\x73", "quarter_frame", None, {"frame_type": 7, "frame_value": 3}),
    (b"\xf2\x7f\x7f", "songpos", None, {"pos": 16383}),
    (b"\xf3\x05", "song_select", None, {"song": 5}),
    (b"\xf6", "tune_request", None, {}),
    (b"\xf8", "clock", None, {}),
    (b"\xfa", "start", None, {}),
    (b"\xfb", "continue", None, {}),
    (b"\xfc", "stop", None, {}),
    (b"\xfe", "active_sensing", None, {}),
    (b"\xff", "reset", None, {}),
]
FIELD_NAMES = {name for *_, fields in KINDS for name in fields}


@pytest.mark.parametrize(("data", "kind", "channel", "fields"), KINDS)
def test_kind_channel_and_status(
    data: bytes, kind: str, channel: int | None, fields: dict[str, object]
) -> None:
    message = MidiMessage(data)
    assert (message.kind, message.channel, message.status) == (kind, channel, data[0])


@pytest.mark.parametrize(("data", "kind", "channel", "fields"), KINDS)
def test_named_fields(
    data: bytes, kind: str, channel: int | None, fields: dict[str, object]
) -> None:
    message = MidiMessage(data)
    assert {name: getattr(message, name) for name in fields} == fields


@pytest.mark.parametrize(("data", "kind", "channel", "fields"), KINDS)
def test_fields_of_other_kinds_raise_attribute_error(
    data: bytes, kind: str, channel: int | None, fields: dict[str, object]
) -> None:
    message = MidiMessage(data)
    for name in FIELD_NAMES - fields.keys():
        with pytest.raises(AttributeError, match=f"^{kind} has no field '{name}'$"):
            getattr(message, name)


def test_hasattr_tells_whether_a_kind_has_a_field() -> None:
    message = MidiMessage.control_change(0, 7, 100)
    assert (hasattr(message, "control"), hasattr(message, "note")) == (True, False)


@pytest.mark.parametrize(
    ("data", "data1", "data2"),
    [(b"\x90\x3c\x64", 0x3C, 0x64), (b"\xc0\x05", 0x05, None), (b"\xf8", None, None)],
)
def test_data1_and_data2_are_none_when_absent(
    data: bytes, data1: int | None, data2: int | None
) -> None:
    assert (MidiMessage(data).data1, MidiMessage(data).data2) == (data1, data2)


def test_sysex_has_no_data1_or_data2() -> None:
    message = MidiMessage(b"\xf0\x01\x02\xf7")
    assert (message.data1, message.data2) == (None, None)


@pytest.mark.parametrize(
    ("data", "pitch"), [(b"\xe0\x00\x00", -8192), (b"\xe0\x00\x40", 0), (b"\xe0\x7f\x7f", 8191)]
)
def test_pitch_is_signed_like_mido(data: bytes, pitch: int) -> None:
    assert MidiMessage(data).pitch == pitch


@pytest.mark.parametrize(
    ("data", "is_system", "is_realtime"),
    [(b"\xbf\x00\x00", False, False), (b"\xf6", True, False), (b"\xf8", True, True)],
)
def test_is_system_and_is_realtime(data: bytes, is_system: bool, is_realtime: bool) -> None:
    message = MidiMessage(data)
    assert (message.is_system, message.is_realtime) == (is_system, is_realtime)


def test_bytes_len_and_iteration_give_the_data() -> None:
    message = MidiMessage(NOTE_ON)
    assert (bytes(message), len(message), list(message)) == (NOTE_ON, 3, [0x90, 60, 100])


# --- named constructors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "data"),
    [
        (lambda: MidiMessage.note_on(1, 60, 100), b"\x91\x3c\x64"),
        (lambda: MidiMessage.note_on(0, 60), b"\x90\x3c\x40"),
        (lambda: MidiMessage.note_off(15, 60), b"\x8f\x3c\x00"),
        (lambda: MidiMessage.polytouch(0, 60, 33), b"\xa0\x3c\x21"),
        (lambda: MidiMessage.control_change(2, 7, 127), b"\xb2\x07\x7f"),
        (lambda: MidiMessage.program_change(0, 12), b"\xc0\x0c"),
        (lambda: MidiMessage.aftertouch(0, 90), b"\xd0\x5a"),
        (lambda: MidiMessage.pitchwheel(0, -8192), b"\xe0\x00\x00"),
        (lambda: MidiMessage.pitchwheel(0, 0), b"\xe0\x00\x40"),
        (lambda: MidiMessage.pitchwheel(0, 8191), b"\xe0\x7f\x7f"),
        (lambda: MidiMessage.sysex(b"\x7e\x01"), b"\xf0\x7e\x01\xf7"),
        (lambda: MidiMessage.sysex([]), b"\xf0\xf7"),
        (lambda: MidiMessage.quarter_frame(7, 15), b"\xf1\x7f"),
        (lambda: MidiMessage.songpos(16383), b"\xf2\x7f\x7f"),
        (lambda: MidiMessage.song_select(5), b"\xf3\x05"),
        (MidiMessage.clock, b"\xf8"),
        (MidiMessage.start, b"\xfa"),
        (MidiMessage.continue_, b"\xfb"),
        (MidiMessage.stop, b"\xfc"),
    ],
)
def test_named_constructors_build_the_right_bytes(
    built: Callable[[], MidiMessage], data: bytes
) -> None:
    assert built().data == data


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: MidiMessage.note_on(16, 60), r"channel must be in 0\.\.15, got 16"),
        (lambda: MidiMessage.note_on(0, 128), r"note must be in 0\.\.127, got 128"),
        (lambda: MidiMessage.note_off(0, 60, -1), r"velocity must be in 0\.\.127, got -1"),
        (lambda: MidiMessage.polytouch(0, 60, 128), r"value must be in 0\.\.127, got 128"),
        (lambda: MidiMessage.control_change(0, 128, 0), r"control must be in 0\.\.127, got 128"),
        (lambda: MidiMessage.program_change(-1, 0), r"channel must be in 0\.\.15, got -1"),
        (lambda: MidiMessage.aftertouch(0, 200), r"value must be in 0\.\.127, got 200"),
        (lambda: MidiMessage.pitchwheel(0, 8192), r"pitch must be in -8192\.\.8191, got 8192"),
        (lambda: MidiMessage.sysex([0x80]), "sysex data byte 0x80 at position 1 is > 0x7F"),
        (lambda: MidiMessage.quarter_frame(8, 0), r"frame_type must be in 0\.\.7, got 8"),
        (lambda: MidiMessage.quarter_frame(0, 16), r"frame_value must be in 0\.\.15, got 16"),
        (lambda: MidiMessage.songpos(16384), r"pos must be in 0\.\.16383, got 16384"),
        (lambda: MidiMessage.song_select(128), r"song must be in 0\.\.127, got 128"),
    ],
)
def test_named_constructors_reject_out_of_range_arguments_by_name(
    build: Callable[[], MidiMessage], match: str
) -> None:
    with pytest.raises(InvalidMidiMessage, match=match):
        build()


@pytest.mark.parametrize("note", [60.0, "60", None, True])
def test_named_constructors_reject_non_int_arguments(note: object) -> None:
    with pytest.raises(TypeError, match="note must be an int"):
        MidiMessage.note_on(0, note)  # type: ignore[arg-type]


@given(st.integers(-8192, 8191))
def test_pitchwheel_constructor_and_property_round_trip(pitch: int) -> None:
    assert MidiMessage.pitchwheel(0, pitch).pitch == pitch


@given(st.integers(0, 16383))
def test_songpos_constructor_and_property_round_trip(pos: int) -> None:
    assert MidiMessage.songpos(pos).pos == pos


# --- time ---------------------------------------------------------------------------------


def test_time_defaults_to_none() -> None:
    assert MidiMessage(NOTE_ON).time is None


def test_int_time_is_stored_as_float() -> None:
    time = MidiMessage(NOTE_ON, time=3).time
    assert (time, type(time)) == (3.0, float)


@pytest.mark.parametrize("time", [True, "1.0", [1.0], 1j])
def test_time_of_another_type_is_a_type_error(time: object) -> None:
    with pytest.raises(TypeError, match="time must be a float or None"):
        MidiMessage(NOTE_ON, time=time)  # type: ignore[arg-type]


@pytest.mark.parametrize("time", [math.nan, math.inf, -math.inf])
def test_time_must_be_finite(time: float) -> None:
    with pytest.raises(ValueError, match="time must be finite"):
        MidiMessage(NOTE_ON, time=time)


def test_named_constructors_take_a_time() -> None:
    assert MidiMessage.note_on(0, 60, time=1.25).time == 1.25


def test_with_time_returns_a_copy_with_another_time() -> None:
    message = MidiMessage(NOTE_ON, time=1.0)
    moved = message.with_time(2.5)
    assert (moved.data, moved.time, message.time) == (NOTE_ON, 2.5, 1.0)


def test_with_time_none_removes_the_time() -> None:
    assert MidiMessage(NOTE_ON, time=1.0).with_time(None) == MidiMessage(NOTE_ON)


def test_with_time_checks_the_time() -> None:
    with pytest.raises(ValueError, match="finite"):
        MidiMessage(NOTE_ON).with_time(math.nan)


# --- value semantics ----------------------------------------------------------------------


def test_messages_with_equal_data_and_time_are_equal_and_hash_alike() -> None:
    first, second = MidiMessage(NOTE_ON, time=1.0), MidiMessage(list(NOTE_ON), time=1)
    assert first == second
    assert hash(first) == hash(second)


@pytest.mark.parametrize(
    "other", [MidiMessage(NOTE_ON, time=1.0), MidiMessage(b"\x90\x3c\x65")], ids=["time", "data"]
)
def test_messages_differing_in_time_or_data_are_not_equal(other: MidiMessage) -> None:
    assert MidiMessage(NOTE_ON) != other


def test_comparing_with_another_type_is_not_implemented() -> None:
    message = MidiMessage(NOTE_ON)
    assert message.__eq__(NOTE_ON) is NotImplemented
    assert message != NOTE_ON


@pytest.mark.parametrize("name", ["_data", "_time", "time", "note", "extra"])
def test_setting_an_attribute_raises(name: str) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        setattr(MidiMessage(NOTE_ON), name, 1)


def test_deleting_an_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="immutable"):
        del MidiMessage(NOTE_ON)._data


@pytest.mark.parametrize(
    "clone", [copy.copy, copy.deepcopy, lambda message: pickle.loads(pickle.dumps(message))]
)
def test_copies_and_pickles_are_equal(clone: Callable[[MidiMessage], MidiMessage]) -> None:
    message = MidiMessage(NOTE_ON, time=1.5)
    assert clone(message) == message


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (MidiMessage(NOTE_ON), "<MidiMessage note_on channel=0 note=60 velocity=100>"),
        (
            MidiMessage.pitchwheel(3, -1, time=0.5),
            "<MidiMessage pitchwheel channel=3 pitch=-1 time=0.5>",
        ),
        (MidiMessage.songpos(128), "<MidiMessage songpos pos=128>"),
        (MidiMessage.stop(), "<MidiMessage stop>"),
        (MidiMessage.sysex(b"\x01\x02"), "<MidiMessage sysex length=4 data=F0 01 02 F7>"),
        (
            MidiMessage.sysex(bytes(range(10))),
            "<MidiMessage sysex length=12 data=F0 00 01 02 03 04 05 06 ...>",
        ),
    ],
)
def test_repr_shows_kind_channel_and_fields(message: MidiMessage, text: str) -> None:
    assert repr(message) == text


# --- mido ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [data for data, *_ in KINDS])
def test_to_mido_and_back_round_trips(data: bytes) -> None:
    message = MidiMessage(data)
    assert MidiMessage.from_mido(message.to_mido()) == message


def test_to_mido_builds_the_equal_mido_message() -> None:
    assert MidiMessage.pitchwheel(1, -100).to_mido() == mido.Message(
        "pitchwheel", channel=1, pitch=-100
    )


def test_from_mido_takes_the_time_it_is_given_not_midos() -> None:
    message = MidiMessage.from_mido(mido.Message("clock", time=0.5), time=7.0)
    assert message.time == 7.0


def test_from_mido_refuses_meta_messages() -> None:
    with pytest.raises(TypeError, match=r"from_mido\(\) takes a mido\.Message, not MetaMessage"):
        MidiMessage.from_mido(mido.MetaMessage("end_of_track"))


def test_from_mido_validates_messages_built_without_checks() -> None:
    with pytest.raises(InvalidMidiMessage, match="data byte 0xC8 at position 1"):
        MidiMessage.from_mido(mido.Message("note_on", note=200, skip_checks=True))


def test_mido_conversion_without_mido_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mido", None)  # makes "import mido" fail
    with pytest.raises(ImportError, match="pip install mido"):
        MidiMessage(NOTE_ON).to_mido()


def test_importing_midibuffer_imports_no_optional_dependency() -> None:
    optional = ("mido", "rtmidi", "sounddevice", "numpy")
    code = f"import sys, midibuffer; print([m for m in {optional!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
