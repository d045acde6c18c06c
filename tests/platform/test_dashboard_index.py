"""The dashboard's index: chunks taken once, participants' state from their events, pages and cursors, late chunks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dashboard_seed import event_row, put_chunk, seed_participants, session_row
from hypothesis import given, settings
from hypothesis import strategies as st

from gymkube.platform.dashboard import queries
from gymkube.platform.dashboard.index import Index
from gymkube.platform.dashboard.tail import LOOKBACK_S, Tailer
from gymkube.storage.backends import LocalStorage

X = "cartpole"
FLOW = ["consent", "instructions", "cartpole", "questionnaire", "end"]


@pytest.fixture
def index() -> Index:
    return Index(None)


def state_of(index: Index, participant: str) -> str:
    return index.query("SELECT state FROM participants WHERE participant = ?", participant)[0][0]


def test_a_chunk_is_taken_once_and_the_newest_snapshot_wins(index: Index):
    t = time.time_ns()
    newer = {"sessions": [session_row(X, "a", 2, "active", t + 10)], "events": [event_row(X, "a", "connect", t)]}
    older = {"sessions": [session_row(X, "a", 1, "active", t)]}
    assert index.ingest(X, "k2", newer) and index.ingest(X, "k1", older)
    assert not index.ingest(X, "k2", newer), "a chunk already taken is not taken again"
    assert index.query("SELECT scene FROM participants")[0][0] == "cartpole"
    assert index.query("SELECT COUNT(*) FROM events WHERE kind = 'connect'")[0][0] == 1
    reached = index.query("SELECT scene FROM reached WHERE participant = 'a' ORDER BY scene")
    assert [r for (r,) in reached] == ["cartpole", "consent", "instructions"]


def test_where_a_participant_is_follows_their_events(index: Index):
    t = time.time_ns()
    index.ingest(
        X, "1", {"sessions": [session_row(X, "a", 2, "active", t)], "events": [event_row(X, "a", "connect", t)]}
    )
    assert state_of(index, "a") == "here"
    index.ingest(X, "2", {"events": [event_row(X, "a", "waiting_join", t + 5 * 10**9, scene="cartpole", waited_s=3.0)]})
    assert state_of(index, "a") == "waiting"
    assert index.query("SELECT waiting_since_ns FROM participants")[0][0] == t + 2 * 10**9
    index.ingest(X, "3", {"events": [event_row(X, "a", "group_formed", t + 6 * 10**9, group="g", waited_s=4.0)]})
    assert state_of(index, "a") == "here"
    index.ingest(X, "4", {"events": [event_row(X, "a", "disconnect", t + 7 * 10**9)]})
    assert state_of(index, "a") == "away"
    index.ingest(X, "5", {"events": [event_row(X, "a", "connect", t + 3 * 10**9)]})  # a late chunk of an older event
    assert state_of(index, "a") == "away"
    index.ingest(X, "6", {"events": [event_row(X, "a", "reconnect", t + 8 * 10**9)]})
    index.pods_gone(X, ["cartpole-0"])
    assert state_of(index, "a") == "away", "a participant whose pod stopped answering is not here"
    index.ingest(X, "7", {"sessions": [session_row(X, "a", 4, "completed", t + 9 * 10**9)]})
    assert state_of(index, "a") == "completed"
    kinds = [k for (k,) in index.query("SELECT kind FROM events WHERE participant = 'a' ORDER BY t_ns")]
    assert kinds.count("scene") == 2, "a scene change shows in the timeline"


def test_the_funnel_counts_entries_screening_scenes_and_endings(tmp_path: Path, index: Index):
    storage = LocalStorage(tmp_path)
    seed_participants(storage, X, 300, per_chunk=100)
    put_chunk(storage, X, {"screening": [{"experiment": X, "participant": "mobile", "t_ns": 1, "problems": "x"}]},
              int(time.time() * 1000), 99)  # fmt: skip
    Tailer(index).take_new(X, storage)
    funnel = queries.funnel(index, X, FLOW)
    assert funnel["entered"] == 300 and funnel["screened_out"] == 1
    assert funnel["states"] == {"here": 0, "waiting": 0, "away": 196, "completed": 100, "ended": 4}
    assert funnel["ended"] == {"dropped": 4}
    assert funnel["scenes"][0] == {"scene": "consent", "reached": 300}
    assert funnel["scenes"][-1] == {"scene": "end", "reached": 100}


def test_walking_the_pages_sees_every_matching_participant_once(tmp_path: Path, index: Index):
    storage = LocalStorage(tmp_path)
    ids = seed_participants(storage, X, 1000, per_chunk=250)
    Tailer(index).take_new(X, storage)
    seen: list[str] = []
    after = None
    while True:
        page = queries.participants_page(index, queries.PageQuery(X, limit=77, after=after))
        assert page["total"] == 1000
        seen += [row["participant"] for row in page["participants"]]
        if page["next"] is None:
            break
        after = queries.decode_cursor(page["next"])
    assert sorted(seen) == ids and len(seen) == len(set(seen))
    starts = [row["t_start_ns"] for row in queries.participants_page(index, queries.PageQuery(X))["participants"]]
    assert starts == sorted(starts, reverse=True), "newest first"
    completed = queries.participants_page(index, queries.PageQuery(X, state="completed", limit=200))
    assert completed["total"] == 334 and {r["state"] for r in completed["participants"]} == {"completed"}
    found = queries.participants_page(index, queries.PageQuery(X, search="seed-000123"))
    assert [r["participant"] for r in found["participants"]] == ["seed-000123"]
    by_code = queries.participants_page(index, queries.PageQuery(X, search="CODESEED-000123"))
    assert [r["participant"] for r in by_code["participants"]] == ["seed-000123"]
    assert queries.participants_page(index, queries.PageQuery(X, search="%"))["total"] == 0, "wildcards are text"
    assert queries.participants_page(index, queries.PageQuery(X, search="_"))["total"] == 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    cursor=st.text(max_size=400)
    | st.binary(max_size=300).map(lambda b: __import__("base64").urlsafe_b64encode(b).decode())
)
def test_any_cursor_is_refused_unless_the_list_made_it(cursor: str):
    try:
        started, participant = queries.decode_cursor(cursor)
    except queries.BadCursor:
        return
    assert queries.encode_cursor(started, participant).rstrip("=") == cursor.rstrip("=")


def test_a_chunk_stored_late_under_an_older_name_is_taken(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
):
    storage = LocalStorage(tmp_path)
    now_ms = int(time.time() * 1000)
    tailer = Tailer(index)
    put_chunk(storage, X, {"sessions": [session_row(X, "new", 0, "active", time.time_ns())]}, now_ms, 1)
    assert tailer.take_new(X, storage) == 1
    # Spooled through an outage: stored now, named from before the last pass's look-back.
    old = {"sessions": [session_row(X, "late", 0, "active", time.time_ns())]}
    put_chunk(storage, X, old, now_ms - (LOOKBACK_S + 60) * 1000, 2)
    put_chunk(storage, X, {"sessions": [session_row(X, "recent", 0, "active", time.time_ns())]}, now_ms - 1000, 3)
    assert tailer.take_new(X, storage) == 1, "the look-back takes a chunk a little older than the newest"
    monkeypatch.setattr(tailer.states[X], "full_at", 0.0)  # the next full listing is due
    assert tailer.take_new(X, storage) == 1
    assert {p for (p,) in index.query("SELECT participant FROM participants")} == {"new", "late", "recent"}
    assert tailer.take_new(X, storage) == 0


def test_a_damaged_chunk_is_skipped_and_the_rest_are_taken(tmp_path: Path, index: Index):
    storage = LocalStorage(tmp_path)
    put_chunk(storage, X, {"sessions": [session_row(X, "a", 0, "active", time.time_ns())]}, 1_000, 1)
    storage.put("experiments/cartpole/chunks/0000000002000-bad-0-000001.zip", b"not a zip")
    put_chunk(storage, X, {"sessions": [session_row(X, "b", 0, "active", time.time_ns())]}, 3_000, 2)
    assert Tailer(index).take_new(X, storage) == 2


def test_errors_groups_and_plots_come_from_the_events_and_sessions(index: Index):
    t = time.time_ns()
    sessions = [session_row(X, p, 2, "active", t + i * 10**9) for i, p in enumerate(("a", "b", "c"))]
    sessions[2] = session_row(X, "c", 4, "completed", t + 2 * 10**9)
    events = [
        event_row(X, "a", "client_error", t, message="TypeError: x is undefined"),
        event_row(X, "b", "client_error", t + 1, message="TypeError: x is undefined"),
        event_row(X, "b", "client_error", t + 2, message="<img src=x onerror=alert(1)>"),
        event_row(X, "a", "group_formed", t + 3, group="g1", agent="blue", members={}, empty=[], waited_s=12.5,
                  scene="forage"),
        event_row(X, "b", "group_formed", t + 3, group="g1", agent="red", members={}, empty=[], waited_s=4.0,
                  scene="forage"),
        event_row(X, "c", "wait_timeout", t + 4, scene="forage", waited_s=120.0),
    ]  # fmt: skip
    index.ingest(X, "1", {"sessions": sessions, "events": events})

    errors = queries.client_errors(index, X)
    assert errors["total"] == 3
    assert errors["common"][0] == {"message": "TypeError: x is undefined", "count": 2, "participants": 2}
    assert errors["recent"][0]["message"] == "<img src=x onerror=alert(1)>", "kept as text; the page shows it as text"

    groups = queries.groups(index, X)
    (group,) = groups["recent"]
    assert group["group"] == "g1" and group["waited_s"] == 12.5 and group["scene"] == "forage"
    assert sorted(m["participant"] for m in group["members"]) == ["a", "b"]
    assert groups["timeouts"] == 1
    assert groups["waits"]["counts"] == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0], "4 s and 12.5 s, in the 5 s and 20 s buckets"

    plots = queries.plots(index, X)
    assert sum(n for _, n in plots["time"]["arrivals"]) == 3
    assert sum(n for _, n in plots["time"]["completions"]) == 1
    assert plots["time"]["bin_s"] == 10
    assert plots["latency_ms"]["counts"][1] == 3, "every median round trip is 30 ms: the (25, 50] bucket"
