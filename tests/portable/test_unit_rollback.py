"""The browser's game code under CPython: solo client games and p2p rollback over a simulated network.

The same modules run in Pyodide; here a lossy, delayed channel between two peers shows that both
record the same confirmed steps, that late inputs cause rollbacks (not divergence), that a peer
waits when it is too far ahead, and that an injected desync is detected and resynchronised.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gymkube.game_pod.remote import sim_config
from gymkube.portable.common import observation_hash
from gymkube.portable.rollback import Peer
from gymkube.portable.sim import Solo
from gymkube.spec.gym import PolicyPlayer, RandomPlayer
from gymkube.spec.load import load_experiment_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHARED = ("reward", "terminated", "truncated", "obs_hash", "action_left", "action_right", "source_left", "source_right")


def config(example: str, **p2p: int) -> dict[str, Any]:
    scene = load_experiment_file(EXAMPLES / example)[0].spec.gym_scenes()[0]
    if p2p:
        scene = scene.model_copy(update={"p2p": scene.p2p.model_copy(update=p2p)})
    cfg = sim_config(scene, "g1", seed=5, episode=1, rounds_done=0, record_observations=False)
    cfg["searchDir"] = str(EXAMPLES / "pong")
    cfg["episodes"] = 1
    cfg["maxSteps"] = 240
    return cfg


class Network:
    """Packets between peers: each delivered after `delay` ticks (+ jitter), or lost with `loss`."""

    def __init__(self, delay: int, jitter: int = 0, loss: float = 0.0, seed: int = 1) -> None:
        self.delay, self.jitter, self.loss = delay, jitter, loss
        self.rng = random.Random(seed)
        self.in_flight: list[tuple[int, str, str]] = []

    def send(self, now: int, to: str, packet: str) -> None:
        if self.rng.random() >= self.loss:
            self.in_flight.append((now + self.delay + self.rng.randint(0, self.jitter), to, packet))

    def due(self, now: int) -> Iterator[tuple[str, str]]:
        ready = [p for p in self.in_flight if p[0] <= now]
        self.in_flight = [p for p in self.in_flight if p[0] > now]
        for _, to, packet in ready:
            yield to, packet


PolicyHook = Callable[[int, str, Peer], None]
"""What a page does with its policy in one tick, before its peer ticks: (tick, agent, peer)."""


def play_peers(
    net: Network,
    cfg: dict[str, Any],
    ticks: int = 2000,
    perturb_at: int | None = None,
    late_start: int = 0,
    key_every: int = 7,
    key_seed: int = 3,
    policy: PolicyHook | None = None,
) -> dict[str, Any]:
    """Peers (one per human seat) playing pong with scripted keys until every episode is confirmed over.

    `right` starts `late_start` ticks late; `perturb_at`: the tick at which `right`'s state is corrupted;
    `policy(tick, agent, peer)` runs before each peer's tick, as a page answers its policy's feeds.
    """
    peers = {agent: Peer(json.dumps(cfg), agent) for agent in cfg["humans"]}
    outputs: dict[str, dict[str, Any]] = {
        agent: {"stalls": 0, "rows": [], "events": [], "leads": []} for agent in peers
    }
    for agent, peer in peers.items():
        if agent != "right" or not late_start:
            peer.start(0.0)
    keys = random.Random(key_seed)
    seq = 0
    for tick in range(ticks):
        if late_start and tick == late_start:
            peers["right"].start(tick * 33.3)
        for agent, peer in peers.items():
            if agent == "right" and tick < late_start:
                continue
            outputs[agent]["leads"].append(peer.lead(tick * 33.3))
            if tick % key_every == 0:  # a key goes down or up now and then
                seq += 1
                peer.key(keys.choice(["ArrowUp", "ArrowDown"]), keys.random() < 0.6, seq, tick * 33.0, None, None)
            if policy is not None:
                policy(tick, agent, peer)
            if perturb_at is not None and tick == perturb_at and agent == "right":
                peer.perturb()
            result = json.loads(peer.tick(tick * 33.3))
            outputs[agent]["stalls"] += result["stalled"]
            for to, packet in result["send"]:
                net.send(tick, to, packet)
        for to, packet in list(net.due(tick)):
            for reply_to, reply in json.loads(peers[to].receive(packet, tick * 33.3)):
                net.send(tick, reply_to, reply)
        for agent, peer in peers.items():
            for entry in json.loads(peer.take()):
                if entry["k"] == "step":
                    outputs[agent]["rows"].append(entry["row"])
                elif entry["k"] == "end":
                    outputs[agent]["end"] = entry
                elif entry["k"] == "event":
                    outputs[agent]["events"].append(entry)
        if all("end" in out for out in outputs.values()) and not net.in_flight:
            break
    return outputs


def shared(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(row["step"], *(row.get(k) for k in SHARED)) for row in rows]


def replay_hashes(cfg: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """The confirmed actions stepped once, straight through: what `gymkube replay` does on the pod."""
    import sys

    sys.path.insert(0, cfg["searchDir"])
    from pong_env import make_env  # type: ignore[import-not-found]

    env = make_env(**cfg["environment"]["kwargs"])
    env.reset(seed=cfg["seed"])
    hashes = []
    for row in rows:
        obs, *_ = env.step({agent: row[f"action_{agent}"] for agent in cfg["players"]})
        hashes.append(observation_hash(obs))
    return hashes


@pytest.mark.parametrize(
    ("delay", "jitter", "loss"),
    [(0, 0, 0.0), (1, 0, 0.0), (5, 3, 0.0), (3, 2, 0.3)],
    ids=["instant", "within-input-delay", "late-with-jitter", "late-and-lossy"],
)
def test_peers_record_the_same_confirmed_steps_whatever_the_network(delay: int, jitter: int, loss: float) -> None:
    cfg = config("pong_p2p.yaml")
    out = play_peers(Network(delay, jitter, loss), cfg)
    left, right = out["left"], out["right"]
    assert "end" in left and "end" in right, "an episode never ended"
    assert left["end"]["steps"] == right["end"]["steps"] == len(left["rows"]) == len(right["rows"])
    assert [r["step"] for r in left["rows"]] == list(range(1, len(left["rows"]) + 1))
    assert shared(left["rows"]) == shared(right["rows"])
    # Whatever was predicted and rolled back, the record equals a straight replay of the confirmed inputs.
    assert [r["obs_hash"] for r in left["rows"]] == replay_hashes(cfg, left["rows"])
    stats = left["end"]["p2p"]
    late = delay + jitter > cfg["p2p"]["inputDelay"]
    if late:
        assert stats["rollbacks"] > 0 and stats["resimulated"] >= stats["rollbacks"]
        assert stats["max_rollback"] <= cfg["p2p"]["maxPrediction"]
    elif delay == 0:
        assert stats["rollbacks"] == 0
    assert stats["desyncs"] == 0 and stats["rtt_samples"] > 0
    assert all(r["source_left"] in ("human", "default") for r in left["rows"])
    # Each peer records its own input timing only.
    assert any(r.get("input_seq_left") for r in left["rows"]) and not any("input_seq_right" in r for r in left["rows"])


def test_a_peer_far_behind_makes_the_other_wait_within_the_prediction_window() -> None:
    cfg = config("pong_p2p.yaml", max_prediction=4)
    out = play_peers(Network(delay=12), cfg)
    assert out["left"]["stalls"] > 0 and out["right"]["stalls"] > 0
    assert out["left"]["end"]["p2p"]["max_rollback"] <= 4
    assert shared(out["left"]["rows"]) == shared(out["right"]["rows"])


def test_an_injected_desync_is_detected_and_resynchronised() -> None:
    cfg = config("pong_p2p.yaml", hash_every=10)
    out = play_peers(Network(delay=2, jitter=1), cfg, perturb_at=60)
    kinds = {agent: [e["kind"] for e in out[agent]["events"]] for agent in out}
    assert "perturbed" in kinds["right"] and "resync" in kinds["right"]
    assert "desync" in kinds["left"] and "resync_sent" in kinds["left"]
    assert out["left"]["end"]["p2p"]["desyncs"] >= 1 and out["right"]["end"]["p2p"]["resyncs"] >= 1
    # Rows the corrupted peer confirmed before the state arrived differ (the pod flags them); from the
    # frame it had reached then, both record the same steps again, to the end of the episode.
    left = {r["step"]: r for r in out["left"]["rows"]}
    right = {r["step"]: r for r in out["right"]["rows"]}
    resync = next(e["detail"] for e in out["right"]["events"] if e["kind"] == "resync")
    differ = [s for s in left if s in right and shared([left[s]]) != shared([right[s]])]
    assert differ and min(differ) >= 59 and max(differ) <= resync["was_at"]
    assert [s for s in left if s > resync["was_at"]]
    assert max(left) == max(right) == out["left"]["end"]["steps"]


def test_a_solo_browser_game_records_every_step_with_policy_outputs() -> None:
    cfg = config("pong_client.yaml")
    game = Solo(json.dumps(cfg))
    first = json.loads(game.start(0.0))
    assert first["p"] and first["e"] == 1 and first["f"] == 0  # the court is sent once, with the first frame
    for step in range(1, 500):
        feeds = json.loads(game.feeds())
        (agent, file, inputs), *_ = feeds
        flat, shape = inputs[""]  # the model's first input: the observation, [1, 6]
        assert [f[0] for f in feeds] == ["right"] and shape == [1, 6] and len(flat) == 6
        paddle, ball = flat[0], flat[2]
        outputs = {"right": [["logits", [1.0, paddle - ball, ball - paddle], [1, 3]]]}  # what policy.onnx computes
        if step == 3:
            game.key("ArrowUp", True, 1, 90.0, 2, 85.0)
        result = json.loads(game.tick(json.dumps(outputs), step * 33.3))
        if result["end"]:
            break
    entries = json.loads(game.take())
    steps = [e["row"] for e in entries if e["k"] == "step"]
    assert entries[0]["k"] == "start" and entries[0]["seed"] == 5 and entries[-1]["k"] == "end"
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1)) == list(range(1, entries[-1]["steps"] + 1))
    assert steps[2]["input_seq_left"] == 1 and steps[2]["input_frame_ms_left"] == 85.0 and steps[2]["action_left"] == 1
    assert {r["source_right"] for r in steps} == {"policy"}
    assert [r["obs_hash"] for r in steps] == replay_hashes(cfg, steps)


def test_a_peer_that_started_ahead_waits_until_both_are_level() -> None:
    cfg = config("pong_p2p.yaml")
    out = play_peers(Network(delay=1), cfg, late_start=6)
    left, right = out["left"], out["right"]
    assert left["end"]["p2p"]["waits"] >= 4 and right["end"]["p2p"]["waits"] <= 1
    settled = [abs(x) for agent in ("left", "right") for x in out[agent]["leads"][120:220]]
    assert max(settled) < 2.5, settled
    assert shared(left["rows"]) == shared(right["rows"])


def test_the_pod_runs_the_same_plain_environment_in_server_mode() -> None:
    from gymkube.game_pod.game import Game

    scene = load_experiment_file(EXAMPLES / "pong_p2p.yaml")[0].spec.gym_scenes()[0]
    scene = scene.model_copy(
        update={"mode": "server", "players": {**scene.players, "right": RandomPlayer(type="random")}}
    )
    rows: list[dict[str, Any]] = []
    game = Game(
        scene, {"game": "g"}, EXAMPLES / "pong", lambda table, row: rows.append(row) if table == "steps" else None
    )
    game.countdown_until = 0
    for tick in range(5):
        game.tick(tick)
    states = [payload for event, payload in game.outbox if event == "state"]
    # Drawn by env.render_objects(); the ball moves every step, so every frame carries it as a change.
    assert states and all(any(o["id"] == "ball" for o in s["u"]) for s in states)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and {r["source_right"] for r in rows} == {"random"}


def test_three_peers_stay_in_step_and_record_the_same_steps() -> None:
    cfg = config("pong_p2p.yaml")
    cfg["players"]["third"] = {"type": "human"}  # pong ignores a third paddle's action; the netcode does not
    cfg["humans"] = ["left", "right", "third"]
    out = play_peers(Network(delay=4, jitter=2, loss=0.2, seed=7), cfg, ticks=3000, key_every=9, key_seed=5)
    rows = {agent: out[agent]["rows"] for agent in out}
    ends = {agent: out[agent]["end"] for agent in out if "end" in out[agent]}
    assert len(ends) == 3 and len({e["steps"] for e in ends.values()}) == 1
    columns = [*SHARED, "action_third", "source_third"]
    as_seen = {agent: [tuple(r.get(c) for c in columns) for r in rows[agent]] for agent in out}
    assert as_seen["left"] == as_seen["right"] == as_seen["third"]
    assert {r["source_third"] for r in rows["left"]} >= {"human"}
    assert all(e["p2p"]["rollbacks"] > 0 and e["p2p"]["desyncs"] == 0 for e in ends.values())


def config_with(third: Any) -> dict[str, Any]:
    """Pong p2p with a third paddle, `left2`, played by `third` (the two humans stay as they are)."""
    scene = load_experiment_file(EXAMPLES / "pong_p2p.yaml")[0].spec.gym_scenes()[0]
    environment = scene.environment.model_copy(update={"kwargs": {"agents": ["left", "right", "left2"]}})
    scene = scene.model_copy(update={"players": {**scene.players, "left2": third}, "environment": environment})
    cfg = sim_config(scene, "g1", seed=5, episode=1, rounds_done=0, record_observations=False)
    return cfg | {"searchDir": str(EXAMPLES / "pong"), "episodes": 1, "maxSteps": 240}


def pong_policy() -> Any:
    """policy.onnx of the Pong example under CPython's onnxruntime (the page runs it with onnxruntime-web)."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(EXAMPLES / "pong" / "policy.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(feed: dict[str, Any]) -> list[list[Any]]:
        """A page's feed ({"": [flat values, shape]}) run as onnxruntime-web would: [[output, flat values, shape]]."""
        flat, shape = feed[""]
        (logits,) = session.run(None, {name: np.array(flat, dtype=np.float32).reshape(shape)})
        return [["logits", [float(x) for x in logits.ravel()], list(logits.shape)]]

    return run


def play_with_a_policy(net: Network, cfg: dict[str, Any], infer_ticks: int, ticks: int = 2500) -> dict[str, Any]:
    """Two peers and a policy seat: as a page does, each peer asks for its policy feeds every tick (one inference
    in flight at a time, answered `infer_ticks` later); returns each peer's rows, ends and how often it inferred."""
    run = pong_policy()
    asked: dict[str, tuple[int, list[Any]]] = {}
    inferred = dict.fromkeys(cfg["humans"], 0)

    def answer(tick: int, agent: str, peer: Peer) -> None:
        if agent in asked and asked[agent][0] <= tick:
            _, feeds = asked.pop(agent)
            outputs = {name: run(feed) for name, _, feed, _, _ in feeds}
            peer.policy_result(json.dumps([[f[0], f[3], f[4]] for f in feeds]), json.dumps(outputs))
            inferred[agent] += 1
        if agent not in asked and (feeds := json.loads(peer.policy_feeds())):
            asked[agent] = (tick + infer_ticks, feeds)

    out = play_peers(net, cfg, ticks=ticks, policy=answer)
    return {agent: {**out[agent], "inferred": inferred[agent]} for agent in out}


@pytest.mark.parametrize("infer_ticks", [0, 3, 9], ids=["instant", "slower-than-the-input-delay", "very-slow"])
def test_a_policy_in_p2p_runs_on_one_peer_only_and_both_record_the_same_steps(infer_ticks: int) -> None:
    cfg = config_with(PolicyPlayer(type="policy", file="policy.onnx", observation={"key": "left2"}))
    out = play_with_a_policy(Network(delay=3, jitter=2, loss=0.1), cfg, infer_ticks)
    left, right = out["left"], out["right"]
    assert "end" in left and "end" in right and left["end"]["steps"] == right["end"]["steps"]
    columns = [*SHARED, "action_left2", "source_left2"]
    assert [tuple(r.get(c) for c in columns) for r in left["rows"]] == [
        tuple(r.get(c) for c in columns) for r in right["rows"]
    ]
    assert left["inferred"] > 0 and right["inferred"] == 0  # the first seat runs the policy, the other never
    sources = [r["source_left2"] for r in left["rows"]]
    assert set(sources) <= {"policy", "default"} and sources.count("policy") > len(sources) * 0.9
    assert len({r["action_left2"] for r in left["rows"]}) > 1  # the paddle moves
    assert [r["obs_hash"] for r in left["rows"]] == replay_hashes(cfg, left["rows"])


def pod_recent(rows: list[dict[str, Any]], agents: list[str]) -> dict[str, Any]:
    """What the pod hands over with a takeover: the actions of the steps it has written (RemoteGame.take_over)."""
    return {"e": 1, "first": rows[0]["step"],
            "actions": {a: [[r[f"action_{a}"], r[f"source_{a}"]] for r in rows] for a in agents}}  # fmt: skip


def play_until_one_leaves(cfg: dict[str, Any], leaver: str, agents: list[str]) -> dict[str, Any]:
    """A peer per human seat (and any AI seats): `leaver`'s tab closes at tick 100; at tick 160 (past the grace
    period) the pod hands its seat over to those left. Returns each peer's rows, the events and the ends."""
    run = pong_policy()
    net = Network(delay=3, jitter=1)
    peers = {agent: Peer(json.dumps(cfg), agent) for agent in cfg["humans"]}
    stays = [a for a in peers if a != leaver]
    rows: dict[str, list[dict[str, Any]]] = {agent: [] for agent in peers}
    events: list[dict[str, Any]] = []
    ends: dict[str, Any] = {}
    for peer in peers.values():
        peer.start(0.0)
    for tick in range(3000):
        if tick == 100:  # the tab closes: nothing more from it
            del peers[leaver]
            net.in_flight = [p for p in net.in_flight if p[1] != leaver]
        if tick == 160:  # the pod hands the seat to its fallback, with the steps it has written
            recent = pod_recent(rows[stays[0]], agents)
            for agent in stays:
                peers[agent].apply_takeovers(json.dumps({leaver: {"episode": 1, "frame": None, "recent": recent}}))
        for peer in peers.values():
            if tick % 5 == 0:
                peer.key("ArrowUp" if tick % 10 else "ArrowDown", True, tick, tick * 33.0, None, None)
            feeds = json.loads(peer.policy_feeds())
            if feeds:
                outputs = {name: run(feed) for name, _, feed, _, _ in feeds}
                peer.policy_result(json.dumps([[f[0], f[3], f[4]] for f in feeds]), json.dumps(outputs))
            for to, packet in json.loads(peer.tick(tick * 33.3))["send"]:
                if to in peers:
                    net.send(tick, to, packet)
        for to, packet in list(net.due(tick)):
            if to in peers:
                for reply_to, reply in json.loads(peers[to].receive(packet, tick * 33.3)):
                    net.send(tick, reply_to, reply)
        for agent, peer in peers.items():
            for entry in json.loads(peer.take()):
                if entry["k"] == "step":
                    rows[agent].append(entry["row"])
                elif entry["k"] == "event":
                    events.append(entry)
                elif entry["k"] == "end":
                    ends[agent] = entry
        if set(ends) >= set(stays) and not net.in_flight:
            break
    return {"rows": rows, "events": events, "end": ends.get(stays[0]), "ends": ends}


@pytest.mark.parametrize("fallback", [RandomPlayer(type="random", seed=4), None], ids=["random", "policy"])
def test_a_partner_gone_for_good_is_replaced_by_the_fallback_and_the_other_plays_on(fallback: Any) -> None:
    scene = load_experiment_file(EXAMPLES / "pong_p2p.yaml")[0].spec.gym_scenes()[0]
    fallback = fallback or PolicyPlayer(type="policy", file="policy.onnx", observation={"key": "right"})
    right = scene.players["right"].model_copy(update={"fallback": fallback})
    scene = scene.model_copy(update={"players": {**scene.players, "right": right}})
    cfg = sim_config(scene, "g1", seed=5, episode=1, rounds_done=0, record_observations=False)
    cfg |= {"searchDir": str(EXAMPLES / "pong"), "episodes": 1, "maxSteps": 300}
    out = play_until_one_leaves(cfg, "right", ["left", "right"])
    rows, events, end = out["rows"], out["events"], out["end"]
    assert end is not None and end["steps"] == len(rows["left"]) and end["status"] in ("terminated", "truncated")
    left = rows["left"]
    assert [r["step"] for r in left] == list(range(1, len(left) + 1))
    (takeover,) = [e["detail"] for e in events if e["kind"] == "takeover"]
    switch = takeover["frame"]
    assert takeover["seat"] == "right" and takeover["left"] == "right" and 100 - 30 < switch < 160 + 10
    sources = [r["source_right"] for r in left]
    assert set(sources[: switch - 1]) <= {"human", "default"} and set(sources[switch - 1 :]) == {"fallback"}
    # the rows the two peers both confirmed before the tab closed agree
    both = min(len(rows["right"]), len(left))
    assert shared(rows["right"][:both]) == shared(left[:both])
    assert [r["obs_hash"] for r in left] == replay_hashes(cfg, left)
    assert len({r["action_right"] for r in left[switch:]}) > 1  # the fallback moves the paddle


def test_when_the_first_seat_leaves_the_other_runs_its_fallback_and_the_policies_it_ran() -> None:
    cfg = config_with(PolicyPlayer(type="policy", file="policy.onnx", observation={"key": "left2"}))
    cfg["players"]["left"]["fallback"] = {"type": "random", "seed": 4}
    out = play_until_one_leaves(cfg, "left", ["left", "right", "left2"])
    rows, end = out["rows"]["right"], out["end"]
    assert end is not None and end["steps"] == len(rows) and [r["step"] for r in rows] == list(range(1, len(rows) + 1))
    moments = {e["detail"]["seat"]: e["detail"]["frame"] for e in out["events"] if e["kind"] == "takeover"}
    assert set(moments) == {"left", "left2"} and all(100 - 30 < f < 160 + 10 for f in moments.values())
    assert {e["detail"]["agent"] for e in out["events"] if e["kind"] == "takeover"} == {"right"}  # right decided
    left_sources = [r["source_left"] for r in rows]
    assert set(left_sources[: moments["left"] - 1]) <= {"human", "default"}
    assert set(left_sources[moments["left"] - 1 :]) == {"fallback"}
    policy_sources = [r["source_left2"] for r in rows]  # the policy plays on, run by right from its moment
    assert set(policy_sources) <= {"policy", "default"} and policy_sources.count("policy") > 0.9 * len(rows)
    assert len({r["action_left2"] for r in rows[moments["left2"] :]}) > 1
    both = min(len(out["rows"]["left"]), len(rows))
    assert [tuple(r.get(c) for c in (*SHARED, "action_left2")) for r in out["rows"]["left"][:both]] == [
        tuple(r.get(c) for c in (*SHARED, "action_left2")) for r in rows[:both]
    ]
    assert [r["obs_hash"] for r in rows] == replay_hashes(cfg, rows)


COUNTING_HOOKS = '''
class Counting:
    """Counts the returns so far (state kept between steps, so rollback needs get_state/set_state)."""

    def __init__(self):
        self.returns = 0

    def on_step(self, reward, **_):
        self.returns += 1 if reward["left"] > 0 else 0
        return {"returns_so_far": self.returns, "hud": f"Returns {self.returns}"}

    def on_episode_end(self, score, **_):
        return {"bonus": self.returns * 0.01}

    def get_state(self):
        return {"returns": self.returns}

    def set_state(self, state):
        self.returns = state["returns"]
'''


def test_hooks_in_p2p_are_rolled_back_with_the_state_and_both_peers_record_the_same_columns(tmp_path) -> None:
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLES / "pong", bundle)
    (bundle / "counting_hooks.py").write_text(COUNTING_HOOKS)
    cfg = config("pong_p2p.yaml") | {"hooks": "counting_hooks:Counting", "searchDir": str(bundle)}
    out = play_peers(Network(delay=4, jitter=2, loss=0.1, seed=3), cfg)
    left, right = out["left"], out["right"]
    assert left["end"]["p2p"]["rollbacks"] > 0  # steps were simulated again, hooks with them
    columns = [[(r["step"], r["hook_returns_so_far"]) for r in out[agent]["rows"]] for agent in ("left", "right")]
    assert columns[0] == columns[1] and columns[0][-1][1] == sum(r["reward"] > 0 for r in left["rows"])
    assert left["end"]["hook"] == right["end"]["hook"] == {
        "bonus": columns[0][-1][1] * 0.01, "hook_errors": 0}  # fmt: skip


def test_a_p2p_policy_with_act_every_holds_each_action_for_that_many_frames() -> None:
    cfg = config_with(PolicyPlayer(type="policy", file="policy.onnx", observation={"key": "left2"}, actEvery=4))
    out = play_with_a_policy(Network(delay=2), cfg, infer_ticks=0)
    rows = out["left"]["rows"]
    assert shared(rows) == shared(out["right"]["rows"])
    first = cfg["p2p"]["inputDelay"] + 1  # the frames before take the default action
    changes = [r["step"] for previous, r in zip(rows, rows[1:], strict=False)
               if r["action_left2"] != previous["action_left2"]]  # fmt: skip
    assert changes and all((step - first) % 4 == 0 for step in changes), changes
    assert out["left"]["inferred"] <= len(rows) // 4 + 2  # one inference per four frames


def test_of_three_players_one_leaves_and_the_other_two_switch_the_seat_at_the_same_step() -> None:
    cfg = config("pong_p2p.yaml") | {"maxSteps": 300}
    cfg["players"]["third"] = {"type": "human"}  # pong ignores a third paddle's action; the netcode does not
    cfg["players"]["right"]["fallback"] = {"type": "random", "seed": 4}
    cfg["humans"] = ["left", "right", "third"]
    out = play_until_one_leaves(cfg, "right", ["left", "right", "third"])
    left, third = out["rows"]["left"], out["rows"]["third"]
    assert set(out["ends"]) == {"left", "third"} and out["ends"]["left"]["steps"] == out["ends"]["third"]["steps"]
    columns = [*SHARED, "action_third", "source_third"]
    assert [tuple(r.get(c) for c in columns) for r in left] == [tuple(r.get(c) for c in columns) for r in third]
    (takeover,) = [e["detail"] for e in out["events"] if e["kind"] == "takeover"]
    assert takeover["agent"] == "left" and takeover["seat"] == "right"  # the first seat decided, the third followed
    sources = [r["source_right"] for r in third]
    assert set(sources[takeover["frame"] - 1 :]) == {"fallback"} and "fallback" not in sources[: takeover["frame"] - 1]
