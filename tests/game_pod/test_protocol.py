"""gymkube/static/js/protocol.js mirrors the Python protocol table, which covers every event."""

from __future__ import annotations

import re
from pathlib import Path

from gymkube.game_pod.protocol import PROTOCOL, Event, render_protocol_js

REPO = Path(__file__).resolve().parents[2]
PROTOCOL_JS = REPO / "gymkube" / "static" / "js" / "protocol.js"


def test_protocol_js_is_what_gymkube_protocol_js_prints() -> None:
    assert PROTOCOL_JS.read_text(encoding="utf-8") == render_protocol_js(), (
        "gymkube/static/js/protocol.js is stale: run `gymkube protocol-js > gymkube/static/js/protocol.js`"
    )


def test_every_event_has_a_protocol_entry_and_nothing_else_does() -> None:
    assert [e for e in Event if e not in PROTOCOL] == []
    assert set(PROTOCOL) == set(Event)


def test_each_entry_names_its_sender_and_documents_its_payload() -> None:
    for event, spec in PROTOCOL.items():
        assert spec.sender in ("pod", "browser", "both"), event
        assert spec.doc, event
        for key, description in spec.payload.items():
            assert re.fullmatch(r"[a-z][A-Za-z]*", key), (event, key)
            assert ": " in description, (event, key, "want 'type: meaning'")


def test_event_names_on_the_wire_are_unique_snake_case() -> None:
    values = [e.value for e in Event]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", v) for v in values), values


def test_the_javascript_mirror_lists_every_event_and_payload_key() -> None:
    text = render_protocol_js()
    for event, spec in PROTOCOL.items():
        assert f'  {event.name}: "{event.value}",' in text
        keys = ", ".join(f'"{k}"' for k in sorted(spec.payload))
        assert f'  "{event.value}": Object.freeze([{keys}]),' in text
