"""The pod's side of browser games: records are checked, merged between p2p peers, and refused with a reason."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gymkube.game_pod import remote
from gymkube.game_pod.remote import BadEntry, RemoteGame
from gymkube.spec.load import load_experiment_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Recorder:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {"steps": [], "episodes": [], "events": []}
        self.told: list[str] = []

    def __call__(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)


def session(name: str, events: list[Any]) -> Any:
    pod = SimpleNamespace(event=lambda s, kind, detail: events.append((kind, detail)))
    return SimpleNamespace(progress=SimpleNamespace(participant=name, clock_offset_ms=1.5), pod=pod)


def make(example: str) -> tuple[RemoteGame, Recorder, dict[str, Any]]:
    scene = load_experiment_file(EXAMPLES / example)[0].spec.gym_scenes()[0]
    record = Recorder()
    game = RemoteGame(scene, {"game": "g1", "experiment": "x"}, record)
    game.listener = lambda what, g: record.told.append(what)
    events: list[Any] = []
    members = {agent: session(f"p-{agent}", events) for agent in scene.human_agents}
    game.members = members
    return game, record, members


def step(n: int, episode: int = 1, **extra: Any) -> dict[str, Any]:
    row = {"episode": episode, "step": n, "t_client_ms": 1000.0 + n, "action_left": 1, "action_right": 0,
           "source_left": "human", "source_right": "default", "reward": 0.0, "terminated": False,
           "truncated": False, "obs_hash": f"h{n}"}  # fmt: skip
    return row | extra


def test_a_solo_browser_game_is_recorded_in_the_server_schema() -> None:
    game, record, members = make("pong_client.yaml")
    me = members["left"]
    entries = [{"k": "start", "e": 1, "seed": 11, "t": 1.0, "v": {"python": "3.14.2", "pyodide": "314.0.7"}}]
    entries += [{"k": "step", "row": step(n, action_right=2, source_right="policy")} for n in (1, 2, 3)]
    entries += [{"k": "end", "e": 1, "status": "terminated", "steps": 3, "score": 1.0, "t": 5.0}]
    assert game.receive(me, "left", entries) == 5
    steps, (episode,) = record.rows["steps"], record.rows["episodes"]
    assert [(r["step"], r["experiment"], r["game"]) for r in steps] == [(1, "x", "g1"), (2, "x", "g1"), (3, "x", "g1")]
    assert steps[0]["t_tick_ns"] == int((1001.0 + 1.5) * 1e6) and steps[0]["t_recv_ns"] > 0
    assert episode["status"] == "terminated" and episode["steps"] == 3 and episode["mode"] == "client"
    assert '"python": "3.14.2"' in episode["versions"] and episode["seed"] == 11
    assert record.told == ["episode_start", "episode_end"]
    # The same batch again (a reconnect before the ack) changes nothing.
    assert game.receive(me, "left", entries[1:]) == 4 and len(record.rows["steps"]) == 3


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"k": "step", "row": step(1, secret="x")}, "column 'secret' is not one a step records"),
        ({"k": "step", "row": step(1, action_left=-1)}, "column 'action_left'"),
        ({"k": "step", "row": step(1, source_left="cheat")}, "column 'source_left'"),
        ({"k": "step", "row": {k: v for k, v in step(1).items() if k != "action_right"}}, "no action for right"),
        ({"k": "step", "row": step(3)}, "step 3 of episode 1 arrived, expected 1"),
        ({"k": "step", "row": step(1, episode=2)}, "does not belong to episode 1"),
        ({"k": "end", "e": 1, "status": "won", "steps": 0}, "needs a status"),
        ({"k": "boom"}, "unknown entry kind"),
        ("not a map", "not a map"),
    ],
)
def test_a_bad_entry_is_refused_with_its_reason_and_nothing_after_it_is_taken(entry: Any, reason: str) -> None:
    game, record, members = make("pong_client.yaml")
    game.receive(members["left"], "left", [{"k": "start", "e": 1, "seed": 1, "t": 0}])
    with pytest.raises(BadEntry, match=reason):
        game.receive(members["left"], "left", [entry, {"k": "step", "row": step(1)}])
    assert record.rows["steps"] == []


def test_a_page_cannot_record_more_than_the_scene_allows() -> None:
    game, record, members = make("pong_client.yaml")
    me = members["left"]
    game.receive(me, "left", [{"k": "start", "e": 1, "seed": 1, "t": 0}])
    with pytest.raises(BadEntry, match="beyond the scene's maxSteps"):
        game.receive(me, "left", [{"k": "step", "row": step(game.scene.max_steps + 1)}])
    for episode in range(2, remote.MAX_RESTARTS + 2):  # every start cuts the open episode short
        game.receive(me, "left", [{"k": "start", "e": episode, "seed": 1, "t": 0}])
    with pytest.raises(BadEntry, match="cut short"):
        game.receive(me, "left", [{"k": "start", "e": remote.MAX_RESTARTS + 2, "seed": 1, "t": 0}])
    assert [e["status"] for e in record.rows["episodes"]] == ["interrupted"] * remote.MAX_RESTARTS


def test_too_many_entries_at_once_are_refused() -> None:
    game, _, members = make("pong_client.yaml")
    with pytest.raises(BadEntry, match="at most"):
        game.receive(members["left"], "left", [{"k": "event", "kind": "x"}] * (remote.MAX_ENTRIES + 1))


def test_p2p_steps_are_merged_and_disagreements_flagged_with_the_first_seat_as_reference() -> None:
    game, record, members = make("pong_p2p.yaml")
    left, right = members["left"], members["right"]
    for who, agent in ((right, "right"), (left, "left")):
        game.receive(who, agent, [{"k": "start", "e": 1, "seed": 5, "t": 0}])
    mine = {"input_seq_right": 7, "input_client_ms_right": 999.0}
    game.receive(right, "right", [{"k": "step", "row": step(1, **mine)}, {"k": "step", "row": step(2, obs_hash="bad")}])
    assert record.rows["steps"] == []  # waiting for the other peer
    game.receive(left, "left", [{"k": "step", "row": step(1, input_seq_left=3)}, {"k": "step", "row": step(2)}])
    first, second = record.rows["steps"]
    assert first["input_seq_right"] == 7 and first["input_seq_left"] == 3  # each from its own browser
    assert first["peers_reported"] == 2 and first["peers_disagree"] is None
    assert second["peers_disagree"] == "obs_hash" and second["obs_hash"] == "h2"  # the first seat's value is kept
    end = {"k": "end", "e": 1, "status": "truncated", "steps": 2, "score": 0.0, "t": 1, "p2p": {"rollbacks": 1}}
    game.receive(left, "left", [end])
    assert record.rows["episodes"] == []  # the other browser's report is awaited
    game.receive(right, "right", [end | {"p2p": {"rollbacks": 4}}])
    (episode,) = record.rows["episodes"]
    assert episode["peer_disagreements"] == 1 and '"rollbacks": 4' in episode["p2p"]


def test_a_p2p_step_only_one_peer_reports_is_written_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    game, record, members = make("pong_p2p.yaml")
    game.receive(members["left"], "left", [{"k": "start", "e": 1, "seed": 5, "t": 0}, {"k": "step", "row": step(1)}])
    assert record.rows["steps"] == []
    later = time.monotonic() + remote.MERGE_WAIT_S + 0.1
    monkeypatch.setattr(remote.time, "monotonic", lambda: later)
    game.flush_pending()
    assert [r["peers_reported"] for r in record.rows["steps"]] == [1]


def test_p2p_events_are_recorded_for_the_reporting_participant_and_capped() -> None:
    game, _, members = make("pong_p2p.yaml")
    events: list[Any] = []
    members["left"].pod.event = lambda s, kind, detail: events.append((s.progress.participant, kind, detail))
    batch = [{"k": "event", "kind": "transport", "detail": {"via": "relay"}}] * (remote.MAX_EVENTS_PER_GAME + 5)
    game.receive(members["left"], "left", batch)
    assert len(events) == remote.MAX_EVENTS_PER_GAME
    assert events[0][:2] == ("p-left", "p2p_transport") and events[0][2]["via"] == "relay"


def test_a_p2p_step_keeps_only_the_reporting_peers_input_columns_until_the_partner_reports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    game, record, members = make("pong_p2p.yaml")
    forged = {"input_seq_left": 7, "input_client_ms_left": 5.0, "input_seq_right": 99, "input_frame_right": 42}
    game.receive(
        members["left"], "left", [{"k": "start", "e": 1, "seed": 5, "t": 0}, {"k": "step", "row": step(1, **forged)}]
    )
    game.receive(members["left"], "left", [{"k": "step", "row": step(2, **forged)}])
    game.receive(members["right"], "right", [{"k": "start", "e": 1, "seed": 5, "t": 0}])
    game.receive(members["right"], "right", [{"k": "step", "row": step(1, input_seq_right=3, input_seq_left=1000)}])
    later = time.monotonic() + remote.MERGE_WAIT_S + 0.1
    monkeypatch.setattr(remote.time, "monotonic", lambda: later)
    game.flush_pending()
    both, alone = record.rows["steps"]
    assert (both["input_seq_left"], both["input_seq_right"], both["peers_reported"]) == (7, 3, 2)
    assert (alone["input_seq_left"], alone["input_seq_right"], alone["input_frame_right"]) == (7, None, None)
    assert alone["peers_reported"] == 1


@pytest.mark.parametrize(
    ("steps_sent", "claimed", "reason"),
    [(0, 0, "at least one step"), (3, 0, "at least one step"), (2, 5, "ends after 5 steps, but 2 were sent")],
)
def test_an_episode_end_that_claims_steps_it_did_not_send_is_refused_and_the_game_does_not_move_on(
    steps_sent: int, claimed: int, reason: str
) -> None:
    game, record, members = make("pong_client.yaml")
    me = members["left"]
    game.receive(me, "left", [{"k": "start", "e": 1, "seed": 1, "t": 0}])
    game.receive(me, "left", [{"k": "step", "row": step(n)} for n in range(1, steps_sent + 1)])
    with pytest.raises(BadEntry, match=reason):
        game.receive(me, "left", [{"k": "end", "e": 1, "status": "terminated", "steps": claimed}])
    assert record.rows["episodes"] == [] and "done" not in record.told and game.episode_open


def test_a_game_played_faster_than_its_fps_allows_is_refused_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    game, record, members = make("pong_client.yaml")
    me, fps = members["left"], game.scene.fps
    steps = 10 * fps  # ten seconds of play, sent after one
    monkeypatch.setattr(remote.time, "monotonic", lambda: game.started + 1.0)
    game.receive(me, "left", [{"k": "start", "e": 1, "seed": 1, "t": 0}])
    game.receive(me, "left", [{"k": "step", "row": step(n)} for n in range(1, steps + 1)])
    end = {"k": "end", "e": 1, "status": "truncated", "steps": steps}
    with pytest.raises(BadEntry, match=f"{steps} steps at {fps} fps"):
        game.receive(me, "left", [end])
    assert len(record.rows["steps"]) == steps and record.rows["episodes"] == []
    monkeypatch.setattr(remote.time, "monotonic", lambda: game.started + 10.0)  # the same, in real time
    game.receive(me, "left", [end])
    assert [e["steps"] for e in record.rows["episodes"]] == [steps]
