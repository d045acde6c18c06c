"""Bounds where browser data enters: whatever a page sends, a handler sees only values the data can hold."""

from __future__ import annotations

import json
import math
from typing import Any

import msgpack
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from socketio import packet

from gymkube.game_pod.events import UNREADABLE, CheckedPacket
from gymkube.game_pod.payloads import (
    TELEMETRY,
    TURN_WAIT,
    EpisodeHooks,
    FramesReport,
    InputPayload,
    ProbeResultPayload,
    ProbeSignalPayload,
    RecordsPayload,
    SceneDonePayload,
    UnityPayload,
    client_info,
    hook_cells,
    plain_json,
)
from gymkube.game_pod.unity import cell
from gymkube.portable.inputs import MAX_COUNT, HumanSlot, client_time, is_count

# What msgpack can carry from a browser: every value type, the extremes of its ints, any float.
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, -(2**63), 2**53, 2**53 - 1, -1, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.binary(max_size=20)
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def fits_a_column(value: Any) -> bool:
    """Whether Arrow takes the value as one cell on its own."""
    try:
        pa.array([value])
    except Exception:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["s", "k", "d", "t", "f", "ft", "e", "x"]), values, max_size=8))
def test_an_input_either_is_refused_or_holds_only_values_a_column_can_hold(data: dict[str, Any]):
    try:
        key = InputPayload.model_validate(data)
    except ValidationError:
        return
    for count in (key.s, key.f, key.e):
        assert count is None or (type(count) is int and 0 <= count < MAX_COUNT)
    for ms in (key.t, key.ft):
        assert ms is None or (type(ms) is float and math.isfinite(ms))
    assert type(key.d) is bool and isinstance(key.k, str) and len(key.k) <= 64
    assert all(fits_a_column(v) for v in key.model_dump().values())


@pytest.mark.parametrize("seq", [2**53, 2**63 - 1, 2**64 - 1, -1, True, 1.0, "1", None, b"\x01"])
def test_an_input_whose_sequence_number_is_out_of_range_or_not_an_int_is_refused(seq: Any):
    with pytest.raises(ValidationError):
        InputPayload.model_validate({"s": seq, "k": "ArrowLeft", "d": True, "t": 1.0})


@pytest.mark.parametrize("t", [float("nan"), float("inf"), -float("inf"), 1e300, "now", None])
def test_an_input_whose_time_is_not_a_finite_clock_reading_is_refused(t: Any):
    with pytest.raises(ValidationError):
        InputPayload.model_validate({"s": 1, "k": "ArrowLeft", "d": True, "t": t})


def test_an_honest_input_as_the_page_sends_it_passes_and_whole_numbers_count_as_times():
    key = InputPayload.model_validate({"s": 1733000000123, "k": "ArrowLeft", "d": False, "t": 1733000000456,
                                       "f": None, "ft": None, "e": None})  # fmt: skip
    assert key.t == 1733000000456.0 and key.f is None


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["kind", "rtt", "offset", "state", "message", "g", "e", "f", "ms", "t"]),
                       values | st.sampled_from(["latency", "frames", "error", "visibility", "focus", "hidden"]),
                       max_size=9))  # fmt: skip
def test_a_telemetry_report_either_is_refused_or_holds_bounded_finite_values(data: dict[str, Any]):
    try:
        report = TELEMETRY.validate_python(data)
    except ValidationError:
        return
    dumped = report.model_dump()
    json.dumps(dumped, allow_nan=False)  # finite numbers and text only
    if isinstance(report, FramesReport):
        assert len(report.f) == len(report.ms) <= 600 and all(0 <= s < MAX_COUNT for s in report.f)


def test_frames_with_a_step_list_and_a_time_list_of_different_lengths_are_refused():
    with pytest.raises(ValidationError):
        TELEMETRY.validate_python({"kind": "frames", "g": "abc", "e": 1, "f": [1, 2], "ms": [1.0]})


@pytest.mark.parametrize("game", ["a\nb", "x" * 65, "", "ga\x00me", 12, None])
def test_an_id_with_control_characters_or_of_the_wrong_size_is_refused(game: Any):
    with pytest.raises(ValidationError):
        RecordsPayload.model_validate({"g": game, "x": []})


def test_survey_answers_are_bounded_in_number():
    SceneDonePayload.model_validate({"scene": "s", "answers": {str(i): i for i in range(200)}})
    with pytest.raises(ValidationError):
        SceneDonePayload.model_validate({"scene": "s", "answers": {str(i): i for i in range(201)}})


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_client_description_keeps_what_fits_as_json_safe_values(value: Any):
    info = client_info({"ua": value, "screen": value, "viewport": [1280, 720], "tz": value, "lang": "en", "x": value})
    assert set(info) <= {"ua", "screen", "viewport", "tz", "lang"} and info["viewport"] == [1280, 720]
    json.dumps(info, allow_nan=False)
    assert len(info.get("ua", "")) <= 500 and len(json.dumps(info)) < 1000


def test_a_browsers_own_description_is_kept_whole():
    sent = {"ua": "Mozilla/5.0 " + "x" * 600, "screen": [1920, 1080], "viewport": [1280, 720], "tz": "Europe/Oslo",
            "lang": "nb-NO"}  # fmt: skip
    info = client_info(sent)
    assert info == sent | {"ua": sent["ua"][:500]}


@settings(max_examples=300, deadline=None)
@given(values)
def test_plain_json_of_anything_is_bounded_json(value: Any):
    plain = plain_json(value, depth=3, items=4, chars=10)
    text = json.dumps(plain, allow_nan=False)
    assert len(text) < 4000
    assert fits_a_column(text)


def test_deep_nesting_from_msgpack_is_cut_without_recursion():
    deep = msgpack.loads(b"\x91" * 1000 + b"\x01")
    assert json.dumps(plain_json(deep)) == "[[[[null]]]]"


@pytest.mark.parametrize("value", [2**53, 2**64 - 1, -1, True, 1.5, "3", None])
def test_counts_outside_0_to_2_53_are_not_counts(value: Any):
    assert not is_count(value)


def test_a_clock_reading_beyond_a_float_is_none_not_an_error():
    assert client_time(2**2000) is None and client_time(float("nan")) is None and client_time(5) == 5.0


def test_the_keyboard_state_ignores_inputs_whose_numbers_no_column_could_hold():
    slot = HumanSlot("agent", {"ArrowLeft": 0}, 0)
    assert not slot.on_input("ArrowLeft", True, 2**64 - 1, 1.0, 3)
    assert slot.on_input("ArrowLeft", True, 5, 1.0, 2**63)
    assert slot.newest is not None and slot.newest.frame is None and slot.newest.seq == 5


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100) | values.map(msgpack.packb))
def test_a_packet_that_is_not_one_a_browser_sends_becomes_an_unknown_event_instead_of_an_error(raw: bytes):
    decoded = CheckedPacket(encoded_packet=raw)
    assert decoded.packet_type in (packet.CONNECT, packet.DISCONNECT, packet.EVENT, packet.ACK)
    if decoded.packet_type == packet.EVENT:
        assert isinstance(decoded.data, list) and isinstance(decoded.data[0], str)


@pytest.mark.parametrize(
    "fields",
    [{"type": 5, "nsp": "/", "data": ["input", {}], "attachments": 1000}, {"type": 2, "nsp": "/", "data": [7, 1]},
     {"type": 2, "nsp": "/", "data": []}, {"type": 2, "nsp": 5, "data": ["x"]}, {"type": 3, "nsp": "/", "id": "1"},
     {"nsp": "/"}, [1, 2]],
)  # fmt: skip
def test_binary_events_events_without_a_name_and_maps_with_wrong_fields_are_unreadable(fields: Any):
    decoded = CheckedPacket(encoded_packet=msgpack.packb(fields))
    assert (decoded.packet_type, decoded.data) == (packet.EVENT, [UNREADABLE])


def test_a_browsers_own_packets_decode_as_sent():
    event = CheckedPacket(encoded_packet=msgpack.packb({"type": 2, "nsp": "/", "data": ["input", {"s": 1}], "id": 4}))
    assert (event.packet_type, event.data, event.id) == (packet.EVENT, ["input", {"s": 1}], 4)
    connect = CheckedPacket(encoded_packet=msgpack.packb({"type": 0, "nsp": "/", "data": {"token": "t"}}))
    assert (connect.packet_type, connect.data) == (packet.CONNECT, {"token": "t"})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "rtt", "n", "via", "x"]), values, max_size=5))
def test_a_probe_result_either_is_refused_or_is_one_bounded_finite_measurement(data: dict[str, Any]):
    try:
        result = ProbeResultPayload.model_validate(data)
    except ValidationError:
        return
    assert result.rtt is None or (math.isfinite(result.rtt) and 0 <= result.rtt < 60_000)
    assert 0 <= result.n <= 50 and result.via in (None, "direct", "turn") and len(result.id) <= 64


@pytest.mark.parametrize(
    "data",
    [
        {"id": "p1", "rtt": [1.0] * 100_000},  # a huge list of round trips
        {"id": "p1", "rtt": float("inf")},
        {"id": "p1", "rtt": -5},
        {"id": "p1", "rtt": 1.0, "n": 10**9},
        {"id": "p1", "rtt": 1.0, "via": "carrier pigeon"},
        {"id": "x" * 65, "rtt": 1.0},
        {"rtt": 1.0},
    ],
)
def test_a_probe_result_out_of_bounds_is_refused(data: dict[str, Any]):
    with pytest.raises(ValidationError):
        ProbeResultPayload.model_validate(data)


def test_a_probe_signal_needs_a_probe_id_and_a_map():
    assert ProbeSignalPayload.model_validate({"id": "abc", "d": {"sdp": {"type": "offer", "sdp": "v=0"}}}).id == "abc"
    for bad in ({"id": "abc", "d": "text"}, {"id": "a b", "d": {}}, {"d": {}}):
        with pytest.raises(ValidationError):
            ProbeSignalPayload.model_validate(bad)


@given(st.dictionaries(st.text(max_size=50) | st.sampled_from(["hook_a", "hook_b1", "hook_"]), values, max_size=20))
def test_hook_columns_from_a_page_either_are_refused_or_fit_a_column_each(columns: dict[str, Any]):
    try:
        clean = hook_cells(columns)
    except ValueError:
        return
    assert len(clean) <= 16 and all(k.startswith("hook_") and len(k) <= 45 for k in clean)
    for value in clean.values():
        assert fits_a_column(value) and (not isinstance(value, float) or math.isfinite(value))
        assert not isinstance(value, str) or len(value) <= 200


@settings(max_examples=300, deadline=None)
@given(values)
def test_an_episodes_hook_report_either_is_refused_or_holds_a_finite_bonus_and_a_count(report: Any):
    try:
        columns = EpisodeHooks.model_validate(report).columns()
    except ValueError:
        return
    assert columns["bonus"] is None or math.isfinite(columns["bonus"])
    assert columns["hook_errors"] is None or 0 <= columns["hook_errors"] < MAX_COUNT
    assert all(fits_a_column(v) for v in columns.values())


@pytest.mark.parametrize("wait", [-0.5, float("nan"), float("inf"), 1e11, "100", None, True, [1]])
def test_a_turns_wait_that_is_not_a_finite_number_of_ms_is_refused(wait: Any):
    with pytest.raises(ValidationError):
        TURN_WAIT.validate_python(wait)
    assert TURN_WAIT.validate_python(250) == 250.0


unity_entries = st.fixed_dictionaries(
    {"kind": st.sampled_from(["start", "step", "end", "done"]) | values},
    optional={
        "q": st.integers(0, 10**6) | values,
        "t": st.floats(1.7e12, 1.8e12) | values,
        "c": st.dictionaries(st.sampled_from(["x", "hit", "pos", "Bad", "a" * 41]) | st.text(max_size=5), values)
        | values,
        "info": st.dictionaries(st.sampled_from(["level", "seed"]), values) | values,
        "status": st.sampled_from(["terminated", "truncated", "won"]) | values,
        "score": st.floats() | values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"s": st.sampled_from(["play", "play\n", ""]) | values,
                              "x": st.lists(unity_entries | values, max_size=6) | values}))  # fmt: skip
def test_a_unity_batch_either_is_refused_or_yields_only_cells_a_column_can_hold(data: dict[str, Any]):
    try:
        batch = UnityPayload.model_validate(data)
    except ValidationError:
        return
    for entry in batch.x:
        assert 0 <= entry.q < MAX_COUNT and math.isfinite(entry.t)
        reported = {**(getattr(entry, "c", None) or {}), **(getattr(entry, "info", None) or {})}
        for value in reported.values():
            made = cell(value)
            assert fits_a_column(made) and (not isinstance(made, str) or len(made) <= 4000)
