"""Bounds on what a browser sends, as types: one model per browser-to-pod event of the protocol table.

Every payload a socket delivers is validated here before a handler reads it, so the rest of the
pod only sees values it can store: counts (sequence, frame, step and episode numbers) are ints in
0 <= n < 2**53 (exact in a browser's number and in an int64 column), times and measurements are
finite floats, text is bounded, ids hold no control characters, and maps and lists are bounded in
size and depth. A payload that does not fit is dropped whole (and counted, see `limits.py`); only
the browser's self-description (`auth.client`) is kept field by field, what fits of it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WrapValidator,
    model_validator,
)

from gymkube.portable.hooks import HOOK_COLUMN, HOOK_PREFIX, MAX_HOOK_COLUMNS, MAX_HOOK_TEXT, MAX_NUMBER
from gymkube.portable.inputs import MAX_COUNT

MAX_FRAMES_PER_REPORT = 600
"""Draw times in one `frames` report (the page sends one a second and keeps at most 600 while it cannot)."""
MAX_ENTRIES = 2500
"""Entries per `records` message (a browser sends about one second of play at a time)."""
MAX_RELAY_CHARS = 32 * 1024
"""A relayed p2p packet (inputs, a hash, or a state for a resync) is at most this long."""
MAX_ERROR_CHARS = 4000
MAX_ANSWERS = 200
"""Survey answers in one `scene_done` (a survey has at most this many questions)."""
MAX_PROBE_SAMPLES = 50
"""Round trips one side of a peer probe may say it measured (the pod asks for a handful)."""

Count = Annotated[int, Field(ge=0, lt=MAX_COUNT)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
"""A finite number (an int from msgpack counts: the browser sends whole numbers as ints)."""
ClientMs = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
"""A browser's clock reading, ms since the epoch (about 1.7e12 today)."""
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:@-]{1,64}$")]
"""A game id, an agent, a scene instance: letters, digits and `_.:@-`, nothing that could hide a control character."""
Key = Annotated[str, Field(min_length=1, max_length=64)]


class Payload(BaseModel):
    """A browser's payload: strict types (no '1' for 1, no True for 1), unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class InputPayload(Payload):
    """`input`: a key went down or up."""

    s: Count
    k: Key
    d: bool
    t: ClientMs
    f: Count | None = None
    ft: ClientMs | None = None
    e: Count | None = None


class SceneDonePayload(Payload):
    """`scene_done`: the scene being finished, and a survey's answers (checked against its questions later)."""

    scene: Annotated[str, Field(max_length=200)]
    answers: Annotated[dict[Annotated[str, Field(max_length=100)], Any], Field(max_length=MAX_ANSWERS)] | None = None


class PingPayload(Payload):
    """`ping`: the browser's clock, echoed in the ack."""

    t: ClientMs


class LatencyReport(Payload):
    """`telemetry` kind latency: a measured round trip and clock offset."""

    kind: Literal["latency"]
    rtt: Annotated[float, Field(allow_inf_nan=False, ge=0, lt=60_000)]
    offset: Annotated[float, Field(allow_inf_nan=False, gt=-1e13, lt=1e13)]
    t: ClientMs | None = None


class VisibilityReport(Payload):
    """`telemetry` kind visibility: the page was hidden (another tab) or shown again."""

    kind: Literal["visibility"]
    state: Literal["hidden", "visible"]
    t: ClientMs | None = None


class FocusReport(Payload):
    """`telemetry` kind focus: the window lost or regained the focus."""

    kind: Literal["focus"]
    state: Literal["blur", "focus"]
    t: ClientMs | None = None


class ErrorReport(Payload):
    """`telemetry` kind error: a script error on the page."""

    kind: Literal["error"]
    message: Annotated[str, Field(max_length=MAX_ERROR_CHARS)]
    t: ClientMs | None = None


class FramesReport(Payload):
    """`telemetry` kind frames: when frames of one game episode reached the canvas."""

    kind: Literal["frames"]
    g: Id
    e: Count
    f: Annotated[list[Count], Field(max_length=MAX_FRAMES_PER_REPORT)]
    ms: Annotated[list[ClientMs], Field(max_length=MAX_FRAMES_PER_REPORT)]
    t: ClientMs | None = None

    @model_validator(mode="after")
    def _paired(self) -> FramesReport:
        if len(self.f) != len(self.ms):
            raise ValueError("f and ms must have one entry per frame")
        return self


TelemetryReport = LatencyReport | VisibilityReport | FocusReport | ErrorReport | FramesReport
TELEMETRY: TypeAdapter[TelemetryReport] = TypeAdapter(Annotated[TelemetryReport, Field(discriminator="kind")])
"""`telemetry`: one of the reports above, by its `kind`."""


class RecordsPayload(Payload):
    """`records`: a batch of a browser game's entries (each entry is checked by the game: remote.py)."""

    g: Id
    x: Annotated[list[dict[str, Any]], Field(max_length=MAX_ENTRIES)]


class SignalPayload(Payload):
    """`signal`: a WebRTC description or ICE candidate for a peer, passed on unread."""

    to: Id
    d: dict[str, Any]


class RelayPayload(Payload):
    """`relay`: a p2p packet for a peer, passed on unread."""

    to: Id
    d: Annotated[str, Field(max_length=MAX_RELAY_CHARS)]


class ProbeSignalPayload(Payload):
    """`probe_signal`: a WebRTC description or ICE candidate for the other side of a probe, passed on bounded."""

    id: Id
    d: dict[str, Any]


class ProbeResultPayload(Payload):
    """`probe_result`: what one side of a peer probe measured (the pod takes the larger of the two sides)."""

    id: Id
    rtt: Annotated[float, Field(allow_inf_nan=False, ge=0, lt=60_000)] | None = None
    n: Annotated[int, Field(ge=0, le=MAX_PROBE_SAMPLES)] = 0
    via: Literal["direct", "turn"] | None = None


HookCell = Annotated[
    bool | Annotated[float, Field(allow_inf_nan=False, gt=-MAX_NUMBER, lt=MAX_NUMBER)]
    | Annotated[str, Field(max_length=MAX_HOOK_TEXT)] | None,
    Field(union_mode="left_to_right"),
]  # fmt: skip
"""One value a researcher's hook recorded (gymkube/portable/hooks.py makes no other)."""
HOOK_CELL: TypeAdapter[Any] = TypeAdapter(HookCell, config=ConfigDict(strict=True))
TurnWaitMs = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e10)]
"""`turn_wait_ms` of a browser game's step: how long a turn waited for a key."""
TURN_WAIT: TypeAdapter[float] = TypeAdapter(TurnWaitMs, config=ConfigDict(strict=True))


def hook_cells(values: dict[str, Any]) -> dict[str, Any]:
    """A browser game's `hook_*` columns, as the hooks could have made them; ValueError names what does not fit."""
    if len(values) > MAX_HOOK_COLUMNS:
        raise ValueError(f"more than {MAX_HOOK_COLUMNS} hook columns")
    clean = {}
    for key, value in values.items():
        if (
            not isinstance(key, str)
            or not key.startswith(HOOK_PREFIX)
            or not HOOK_COLUMN.match(key[len(HOOK_PREFIX) :])
        ):
            raise ValueError(f"column {str(key)[:60]!r} is not a hook column")
        try:
            clean[key] = HOOK_CELL.validate_python(value)
        except ValidationError:
            raise ValueError(f"column {key[:60]!r}: not a number, a bool or text of {MAX_HOOK_TEXT} chars") from None
    return clean


class EpisodeHooks(Payload):
    """An episode end's `hook` entry: what the scene's hooks returned (hook_* columns besides, see `hook_cells`)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    bonus: Annotated[float, Field(allow_inf_nan=False, gt=-MAX_NUMBER, lt=MAX_NUMBER)] | None = None
    hook_errors: Count | None = None

    def columns(self) -> dict[str, Any]:
        """The episode row's columns: bonus, hook_errors and the checked hook_* columns."""
        return {"bonus": self.bonus, "hook_errors": self.hook_errors} | hook_cells(dict(self.model_extra or {}))


MAX_UNITY_ENTRIES = 600
"""Entries per `unity` message (the page sends about a quarter of a second of reports at a time)."""
MAX_UNITY_COLUMNS = 32
UnityColumn = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
"""A column a Unity build reports: lower-case letters, digits and `_` (gymkube's own names are refused later)."""
Columns = Annotated[dict[UnityColumn, Any], Field(max_length=MAX_UNITY_COLUMNS)]


class UnityStart(Payload):
    """The build started an episode (`info`: anything it says about it, kept in the episode row)."""

    kind: Literal["start"]
    q: Count
    t: ClientMs
    info: Columns | None = None


class UnityStep(Payload):
    """One step of the open episode, with the build's own columns."""

    kind: Literal["step"]
    q: Count
    t: ClientMs
    c: Columns = Field(default_factory=dict)


class UnityEnd(Payload):
    """The open episode ended."""

    kind: Literal["end"]
    q: Count
    t: ClientMs
    status: Literal["terminated", "truncated"] = "terminated"
    score: Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)] | None = None
    info: Columns | None = None


class UnityDone(Payload):
    """The build says the scene is over."""

    kind: Literal["done"]
    q: Count
    t: ClientMs


UnityEntry = Annotated[UnityStart | UnityStep | UnityEnd | UnityDone, Field(discriminator="kind")]


class UnityPayload(Payload):
    """`unity`: a batch of what a Unity scene's build reported, in order (`q`: the page numbers its entries)."""

    s: Id
    x: Annotated[list[UnityEntry], Field(min_length=1, max_length=MAX_UNITY_ENTRIES)]


def _or_none(value: Any, handler: Any) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


def _clipped(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda v: v[:limit] if isinstance(v, str) else v)


Lenient = WrapValidator(_or_none)
"""A field that becomes None when what the browser sent does not fit (the rest of the payload is kept)."""
Size = Annotated[int, Field(ge=0, le=100_000)]


class ClientInfo(Payload):
    """`auth.client` when connecting: what the page says about its browser (stored in the sessions table)."""

    ua: Annotated[str | None, _clipped(500), Lenient] = None
    screen: Annotated[tuple[Size, Size] | None, Lenient] = None
    viewport: Annotated[tuple[Size, Size] | None, Lenient] = None
    tz: Annotated[Annotated[str, Field(max_length=64)] | None, Lenient] = None
    lang: Annotated[Annotated[str, Field(max_length=35)] | None, Lenient] = None

    model_config = ConfigDict(strict=False, extra="ignore", frozen=True)


def client_info(value: Any) -> dict[str, Any]:
    """The fields of `auth.client` that fit, as JSON-safe values (missing or unreadable ones left out)."""
    if not isinstance(value, dict):
        return {}
    try:
        info = ClientInfo.model_validate(value, strict=False)
    except ValidationError:
        return {}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in info.model_dump(exclude_none=True).items()}


def plain_json(value: Any, depth: int = 4, items: int = 64, chars: int = 2000) -> Any:
    """A bounded, JSON-safe copy of a value from a browser (event details, versions, peer statistics).

    Text is cut to `chars`, maps (text keys only) and lists to `items` entries and `depth` levels;
    ints beyond +-2**53 and non-finite floats become None, as does anything msgpack can carry
    that JSON cannot (bytes, extension types).
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_COUNT < value < MAX_COUNT else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:chars]
    if depth <= 0:
        return None
    if isinstance(value, list | tuple):
        return [plain_json(v, depth - 1, items, chars) for v in value[:items]]
    if isinstance(value, dict):
        pairs = [(k, v) for k, v in value.items() if isinstance(k, str)][:items]
        return {k[:100]: plain_json(v, depth - 1, items, chars) for k, v in pairs}
    return None
