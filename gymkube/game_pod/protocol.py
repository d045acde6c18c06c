"""The one table of socket.io events between browser and game pod, mirrored by gymkube/static/js/protocol.js.

Every payload is a msgpack map (socket.io's msgpack serializer); keys are short on the hot
`state`/`input` events because they are sent every frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class Event(StrEnum):
    """Event names; the values are what goes on the wire."""

    SCENE = "scene"
    GAME = "game"
    WAITING = "waiting"
    STATE = "state"
    NOTICE = "notice"
    REFUSED = "refused"
    SCENE_DONE = "scene_done"
    INPUT = "input"
    PING = "ping"
    TELEMETRY = "telemetry"
    TURN = "turn"
    PLAY = "play"
    RECORDS = "records"
    SIGNAL = "signal"
    RELAY = "relay"
    PROBE = "probe"
    PROBE_SIGNAL = "probe_signal"
    PROBE_RESULT = "probe_result"
    UNITY = "unity"


@dataclass(frozen=True)
class EventSpec:
    """Who sends an event and what its payload holds."""

    sender: str
    payload: dict[str, str]
    doc: str


PROTOCOL: dict[Event, EventSpec] = {
    Event.SCENE: EventSpec(
        "pod",
        {
            "index": "int: position in this participant's flow (0-based)",
            "total": "int: number of scenes in this participant's flow",
            "scene": "map: what the browser needs to show the scene (type, id, ...; gym: keys, input, gamepad)",
            "resumed": "bool: true when this is a return to a scene already entered",
            "preload": "map | nil: {runtime, packages, policies, modules} of browser games ahead, to load now",
        },
        "Show this scene now.",
    ),
    Event.GAME: EventSpec(
        "pod",
        {
            "game": "str: game id",
            "status": "str: countdown | playing | between | done | abandoned",
            "episode": "int: 1-based episode number",
            "episodes": "int: episodes in this scene",
            "countdown": "float: seconds until play starts (status countdown)",
            "agent": "str: the agent this participant plays",
            "keys": "list[str]: keys the page listens to (each key of a combination once)",
            "input": "str: held | tap | turn: how presses become steps (turn: the game waits for a press)",
            "players": "list[map]: every agent {agent, label, color, kind: human | ai, you: bool}",
            "group": "str | nil: the group id when several humans play together",
        },
        "A change in the game's lifecycle.",
    ),
    Event.WAITING: EventSpec(
        "pod",
        {
            "scene": "str: the gym scene the participant waits for",
            "have": "int: participants in the group so far, this one included",
            "size": "int: participants the group needs",
            "remaining": "float: seconds left of the longest wait",
            "gate": "str | nil: 'latency' while held back by the round-trip limit",
        },
        "In the waiting room: sent on every change and every few seconds until the group starts.",
    ),
    Event.STATE: EventSpec(
        "pod",
        {
            "g": "str: game id",
            "e": "int: episode",
            "f": "int: step index within the episode",
            "o": "list[map] | nil: objects to draw this frame (objects rendering; with deltaFrames: those without id)",
            "p": "list[map] | nil: permanent objects not sent before (kept until the game ends)",
            "u": "list[map] | nil: objects with an id, new or changed since the last frame (kept by the page)",
            "x": "list[str] | nil: ids of kept objects that are gone",
            "k": "bool | nil: true when `u` holds every kept object (the page drops what it kept before)",
            "img": "bytes | nil: encoded frame (rgb rendering)",
            "fmt": "str | nil: image/jpeg or image/png",
            "hud": "str | nil: heads-up text, sent when it changes (nil: as before)",
            "a": "int | nil: sequence number of the newest input this state reflects",
            "t": "int: server time of the tick, ms since the epoch",
        },
        "One tick of a running game.",
    ),
    Event.NOTICE: EventSpec("pod", {"text": "str: plain words"}, "A message for the participant."),
    Event.REFUSED: EventSpec(
        "pod",
        {"reason": "str: machine-readable reason", "message": "str: plain words"},
        "The connection is refused and will be closed.",
    ),
    Event.SCENE_DONE: EventSpec(
        "browser",
        {
            "scene": "str: the scene id being finished",
            "answers": "map | nil: survey answers by question id, or a static page's named values (PAGE_LIMITS)",
        },
        "Finish the current scene; the ack is {ok: bool, errors: {question: message}}.",
    ),
    Event.INPUT: EventSpec(
        "browser",
        {
            "s": "int: input sequence number, increasing",
            "k": "str: the key (KeyboardEvent.key), or a gamepad's button or stick: pad:b<i>, pad:a<i>+ / pad:a<i>-",
            "d": "bool: true on key down, false on key up",
            "t": "float: client time of the key event, ms since the epoch",
            "f": "int: step index of the frame on screen when the key changed",
            "ft": "float | nil: client time that frame was drawn, ms since the epoch",
            "e": "int | nil: episode of the newest state received (inputs naming another are ignored)",
        },
        "A key went down or up.",
    ),
    Event.PING: EventSpec(
        "browser",
        {"t": "float: client time, ms since the epoch"},
        "Latency probe; the ack is {t: the same, s: server time in ms}.",
    ),
    Event.TELEMETRY: EventSpec(
        "browser",
        {
            "kind": "str: latency | visibility | focus | error | frames",
            "rtt": "float: round-trip ms (latency)",
            "offset": "float: estimated server minus client clock, ms (latency)",
            "state": "str: hidden | visible | blur | focus",
            "message": "str: what went wrong (error)",
            "g": "str: the game the frames belong to (frames)",
            "e": "int: their episode (frames)",
            "f": "list[int]: step indices drawn since the last report (frames)",
            "ms": "list[float]: client time each was drawn, ms since the epoch (frames)",
            "t": "float: client time, ms since the epoch",
        },
        "Something the browser measured.",
    ),
    Event.TURN: EventSpec(
        "browser",
        {},
        "Ask for TURN credentials; the ack is {urls, username, credential, ttl} or {urls: []} without TURN.",
    ),
    Event.PLAY: EventSpec(
        "pod",
        {
            "game": "str: game id",
            "mode": "str: client | p2p",
            "config": "map: what the browser's Sim is built from (gymkube/game_pod/remote.py sim_config)",
            "agent": "str: the agent this participant plays",
            "players": "list[map]: every agent {agent, label, color, kind, you}",
            "group": "str | nil: the group id (p2p)",
            "episode": "int: the episode to start next (a page that still runs this game carries on)",
            "roundsDone": "int: episodes of this scene already played",
            "peers": "list[str]: the human agents of the group (p2p)",
            "runtime": "map: where to load Pyodide, onnxruntime-web, the game's code and files (relative to the page)",
        },
        "Run this game in the browser (client and p2p modes); sent again after a reconnect.",
    ),
    Event.RECORDS: EventSpec(
        "browser",
        {
            "g": "str: game id",
            "x": "list[map]: entries in order: {k: start | step | end | event, ...} (gymkube/portable/sim.py)",
        },
        "Records of a browser game, at least every second; the ack is {ok: bool, n: entries taken, error}.",
    ),
    Event.SIGNAL: EventSpec(
        "both",
        {
            "to": "str: the peer's agent (browser -> pod)",
            "from": "str: the sending peer's agent (pod -> browser)",
            "d": "map: a WebRTC description or ICE candidate, passed on unread",
        },
        "WebRTC signalling between the peers of a p2p game, through the pod.",
    ),
    Event.RELAY: EventSpec(
        "both",
        {
            "to": "str: the peer's agent (browser -> pod)",
            "from": "str: the sending peer's agent (pod -> browser)",
            "d": "str: a game packet, passed on unread",
        },
        "A p2p packet through the pod, when no peer-to-peer path came up.",
    ),
    Event.PROBE: EventSpec(
        "pod",
        {
            "id": "str: the probe (random; the other browser is never named)",
            "role": "str: offer | answer (the earlier arrival offers)",
            "samples": "int: round trips to measure",
            "everyMs": "int: milliseconds between pings",
            "timeoutMs": "int: report whatever was measured by then (nothing: no path)",
            "stop": "bool | nil: end this probe now (the other side left, or it ran out of time)",
        },
        "In a p2p scene's waiting room: measure the round trip to another waiting browser over WebRTC.",
    ),
    Event.PROBE_SIGNAL: EventSpec(
        "both",
        {"id": "str: the probe", "d": "map: a WebRTC description or ICE candidate, passed on unread"},
        "WebRTC signalling of a probe, through the pod.",
    ),
    Event.PROBE_RESULT: EventSpec(
        "browser",
        {
            "id": "str: the probe",
            "rtt": "float | nil: median round trip measured, ms (nil: no path came up)",
            "n": "int: round trips measured",
            "via": "str | nil: direct | turn",
        },
        "What this side of a probe measured.",
    ),
    Event.UNITY: EventSpec(
        "browser",
        {
            "s": "str: the Unity scene (instance id) the entries belong to",
            "x": "list[map]: entries in order, each {kind: start | step | end | done, q: the page's sequence number, "
            "t: client ms, c: step columns, info, status, score}",
        },
        "What a Unity scene's build reported, at least every second; the ack is {ok: bool, n: entries taken, error}.",
    ),
}

PAGE_LIMITS: dict[str, int] = {
    "fields": 100,
    "nameChars": 64,
    "textChars": 10_000,
    "listItems": 100,
    "answerBytes": 32 * 1024,
}
"""Bounds on what a static scene's page records (`scene_done`'s `answers`): the participant's page drops what
is outside them, the pod refuses it. `answerBytes` is the compact UTF-8 JSON of one page's answers, well under
the socket's message limit."""


def render_protocol_js() -> str:
    """The JavaScript mirror of this table, as checked in at gymkube/static/js/protocol.js."""
    names = ",\n".join(f"  {e.name}: {json.dumps(e.value)}" for e in Event)
    lines = [
        "// Generated by `gymkube protocol-js` from gymkube/game_pod/protocol.py; do not edit.",
        "// A test fails when this file and the Python table disagree.",
        "",
        f"export const EVENTS = Object.freeze({{\n{names},\n}});",
        "",
        "export const PAYLOADS = Object.freeze({",
    ]
    for event, spec in PROTOCOL.items():
        route = {"pod": "pod -> browser", "browser": "browser -> pod"}.get(spec.sender, "browser <-> pod <-> browser")
        lines.append(f"  // {route}: {spec.doc}")
        lines.append(f"  {json.dumps(event.value)}: Object.freeze({json.dumps(sorted(spec.payload))}),")
    lines += ["});", "", f"export const PAGE_LIMITS = Object.freeze({json.dumps(PAGE_LIMITS)});", ""]
    return "\n".join(lines)
