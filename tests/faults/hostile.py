"""Hypothesis strategies for what a modified page can send a game pod: every event, any payload msgpack carries.

Payloads mix the plainly absurd (any value, deep or wide nesting, long text, bytes, the extremes of
msgpack's ints, NaN and infinities) with the nearly right (the protocol table's own field names,
some values that pass and one that does not), so the fuzzing reaches past the first check of each
handler. `GAME` in a payload stands for the attacker's current game id, filled in when it is sent.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
from hypothesis import strategies as st

from gymkube.game_pod.protocol import PROTOCOL, Event

GAME = "$game"
RAW = "$raw"
"""An "event" that is really a raw engine.io message: bytes the socket.io layer has to decode itself."""
EDGE_INTS = [0, 1, -1, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, 2**64 - 1, -(2**63)]
BROWSER_EVENTS = [str(e) for e, spec in PROTOCOL.items() if spec.sender in ("browser", "both")]
POD_EVENTS = [str(e) for e, spec in PROTOCOL.items() if spec.sender == "pod"]

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.sampled_from(EDGE_INTS) | st.integers(0, 5)
floats = st.floats() | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 1.7e12])
texts = st.text(max_size=40) | st.sampled_from(["", "\n", "a\nb", "\x00", "ArrowLeft", "ArrowRight", GAME, "blue"])
leaves = st.none() | st.booleans() | ints | floats | texts | st.binary(max_size=40)
keys = st.text(max_size=12) | st.binary(max_size=6)
values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5), max_leaves=25
)


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if depth % 2 else {"d": value}
    return value


anything = (
    values
    | st.integers(20, 400).map(_nest)
    | st.integers(100, 3000).map(lambda n: list(range(n)))
    | st.integers(1000, 50_000).map(lambda n: "x" * n)
    | st.integers(10, 500).map(lambda n: {f"k{i}": i for i in range(n)})
)

PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "s": st.integers(1, 10**6) | st.integers(1_700_000_000_000, 1_800_000_000_000),
    "k": st.sampled_from(
        ["ArrowLeft", "ArrowRight", "ArrowUp", " ", "a", "pad:b0", "pad:a1+", "pad:b99", "ArrowUp+ArrowLeft", "pad:"]
    ),
    "d": st.booleans(),
    "t": st.floats(1.7e12, 1.8e12),
    "ft": st.floats(1.7e12, 1.8e12),
    "f": st.integers(0, 400) | st.lists(st.integers(0, 400), max_size=20),
    "e": st.integers(0, 3),
    "g": st.just(GAME),
    "kind": st.sampled_from(["latency", "visibility", "focus", "error", "frames", "start", "step", "end", "event"]),
    "state": st.sampled_from(["hidden", "visible", "blur", "focus"]),
    "rtt": st.floats(0, 1000),
    "offset": st.floats(-1e6, 1e6),
    "ms": st.lists(st.floats(1.7e12, 1.8e12), max_size=20),
    "message": st.text(max_size=300),
    "scene": st.sampled_from(["consent", "instructions", "forage", "feedback", "end", "play"]),
    "status": st.sampled_from(["terminated", "truncated", "won"]),
    "info": st.dictionaries(st.sampled_from(["level", "x", "participant"]), values, max_size=3),
    "answers": st.dictionaries(st.sampled_from(["helpfulness", "more_apples", "comments", "x"]), values, max_size=3),
    "to": st.sampled_from(["agent", "blue", "red", "left"]),
    "id": st.text("0123456789abcdef", min_size=16, max_size=16) | st.sampled_from(["", "x" * 65]),
    "n": st.integers(0, 60),
    "via": st.sampled_from(["direct", "turn", "relay", None]),
    "hook": st.dictionaries(st.sampled_from(["bonus", "hook_errors", "hook_x", "x"]), values, max_size=3),
    "row": st.dictionaries(st.sampled_from(["episode", "step", "action_blue", "hook_x", "turn_wait_ms"]), values),
}


def field(name: str) -> st.SearchStrategy[Any]:
    """A value for a payload field: usually one that fits, sometimes anything at all."""
    plausible = PLAUSIBLE.get(name, values)
    return st.one_of(plausible, plausible, anything)


def shaped(event: str) -> st.SearchStrategy[dict[str, Any]]:
    """A payload with the event's own fields (from the protocol table), some missing, each maybe wrong."""
    names = sorted(PROTOCOL[Event(event)].payload) if event in Event._value2member_map_ else []
    if event == Event.TELEMETRY:
        names += ["kind", "rtt", "offset", "state", "message", "g", "e", "f", "ms", "t"]
    if event == Event.RECORDS:
        entry = st.fixed_dictionaries(
            {"k": field("kind")},
            optional={n: field(n) for n in ("e", "row", "status", "steps", "kind", "detail", "v", "p2p", "hook")},
        )
        return st.fixed_dictionaries({"g": field("g")}, optional={"x": st.lists(entry | anything, max_size=8)})
    if event == Event.UNITY:
        entry = st.fixed_dictionaries(
            {"kind": st.sampled_from(["start", "step", "end", "done"]) | field("kind")},
            optional={"q": field("s"), "t": field("t"), "c": st.dictionaries(texts, values, max_size=40) | anything,
                      "info": field("info"), "status": field("status"), "score": field("offset")},
        )  # fmt: skip
        return st.fixed_dictionaries({"s": field("scene")}, optional={"x": st.lists(entry | anything, max_size=12)})
    return st.fixed_dictionaries({}, optional={name: field(name) for name in dict.fromkeys(names)})


event_names = (
    st.sampled_from(BROWSER_EVENTS)
    | st.sampled_from([*POD_EVENTS, "connect", "disconnect", "message"])
    | st.text(min_size=1, max_size=30)
)


@st.composite
def socket_event(draw: st.DrawFn) -> tuple[str, tuple[Any, ...]]:
    """One event a page emits: a name and its arguments (usually one payload)."""
    if draw(st.integers(0, 9)) == 0:
        return RAW, (draw(raw_packets),)
    name = draw(event_names)
    payload = draw(st.one_of(shaped(name), shaped(name), anything))
    extra = draw(st.lists(values, max_size=2))
    return name, (payload, *extra)


packet_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": ints | values,
        "nsp": texts | values,
        "data": values | st.lists(values, max_size=3),
        "id": ints | values,
    },
)
raw_packets = st.one_of(
    st.binary(max_size=200),
    packet_fields.map(lambda p: msgpack.packb(p)),
    values.map(lambda v: msgpack.packb(v)),
    st.sampled_from(
        [
            b"",
            b"\x91" * 2000 + b"\x01",
            b"\x81\x01\x02",
            b"\xc1",
            msgpack.packb({"type": 5, "nsp": "/", "data": [], "attachments": 1000}),
        ]
    ),
)


def with_game(value: Any, game: str) -> Any:
    """The payload with every `GAME` replaced by the attacker's current game id."""
    if value == GAME:
        return game
    if isinstance(value, list):
        return [with_game(v, game) for v in value]
    if isinstance(value, dict):
        return {k: with_game(v, game) for k, v in value.items()}
    return value


client_descriptions = st.one_of(
    values, st.fixed_dictionaries({}, optional=dict.fromkeys(("ua", "screen", "viewport", "tz", "lang"), anything))
)
claims = st.fixed_dictionaries(
    {"x": st.just("forage-ai"), "s": st.text(max_size=20)},
    optional={
        "p": st.text(min_size=1, max_size=30) | st.sampled_from(["ok-id", "id\n", "a/b", "x" * 200]),
        "n": st.integers(-(2**70), 2**70) | st.none() | st.text(max_size=5),
        "q": st.dictionaries(st.text(max_size=10), st.text(max_size=300) | st.integers() | st.none(), max_size=40)
        | st.lists(st.integers(), max_size=3),
        "iat": st.integers(0, 2**40),
    },
)


_page_numbers = itertools.count(10**7)
_stamp = {"q": st.integers(1, 10**6), "t": st.floats(1.7e12, 1.8e12)}
unity_entries = st.one_of(
    st.fixed_dictionaries({"kind": st.just("start"), **_stamp}),
    st.fixed_dictionaries(
        {"kind": st.just("step"), **_stamp},
        optional={
            "c": st.dictionaries(st.sampled_from(["x", "hit", "participant", "game", "source_a"]), values)
            # 32 made-up names at a time (from one draw: hypothesis's budget goes to the batch's order instead)
            | st.integers(0, 10**6).map(lambda n: {f"c{n}_{j}": j for j in range(32)})
        },
    ),
    st.fixed_dictionaries({"kind": st.just("end"), **_stamp}, optional={"status": field("status")}),
    st.fixed_dictionaries({"kind": st.just("done"), **_stamp}),
)
"""Entries a modified bridge could send: well formed, but out of order, repeated, naming gymkube's own columns or
ever new ones."""


@st.composite
def unity_event(draw: st.DrawFn) -> tuple[str, tuple[Any, ...]]:
    """A `unity` batch for the attacker's Unity scene: mostly well formed (so it reaches the scene), or anything."""
    if draw(st.integers(0, 3)) == 0:
        return str(Event.UNITY), (draw(shaped(str(Event.UNITY))),)
    entries = draw(st.lists(unity_entries, min_size=1, max_size=12))
    if draw(st.booleans()):  # numbered as the page numbers them (ever higher), so the pod reads each in turn
        entries = [{**entry, "q": next(_page_numbers)} for entry in entries]
    return str(Event.UNITY), ({"s": draw(st.sampled_from(["play", "play", "end"])), "x": entries},)
