"""Gym scenes: the environment, who plays which agent, controls and rendering."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from gymkube.spec.base import (
    AgentId,
    Color,
    EntryPoint,
    Html,
    JsonObject,
    OnnxPath,
    RelPath,
    SceneId,
    ShortText,
    SpecModel,
    TaggedModel,
)
from gymkube.spec.controls import Controls

__all__ = ["Controls", "GymScene", "HumanPlayer", "NoopPlayer", "PolicyPlayer", "RandomPlayer"]


EnvAgent = Annotated[str, Field(max_length=64)] | Annotated[int, Field(ge=0, le=1_000_000)]
"""An agent id as a PettingZoo environment names it (cogrid's are 0, 1, ...)."""


class EnvironmentSpec(SpecModel):
    """A registered id, or `module:callable` from the experiment's own files; a Gymnasium env or a PettingZoo one."""

    id: Annotated[str, Field(max_length=100, pattern=r"^[\w./:-]+$")] | None = None
    entry_point: EntryPoint | None = None
    kwargs: JsonObject = Field(default_factory=dict)
    api: Literal["gymnasium", "pettingzoo"] = Field(
        "gymnasium",
        description="'pettingzoo': a ParallelEnv with one player per agent (each gets its own observation); 'id' is "
        "then a PettingZoo module with parallel_env() (e.g. pettingzoo.butterfly.cooperative_pong_v5) or an id of "
        "cogrid's registry (e.g. Overcooked-CrampedRoom-V0).",
    )
    agents: dict[AgentId, EnvAgent] | None = Field(
        None,
        max_length=16,
        description="PettingZoo: the environment's agent each player plays, by player name (default: the agent "
        "whose id, as text, is the player's name), e.g. {chef_a: 0, chef_b: 1}.",
    )
    packages: list[Annotated[str, Field(max_length=200, pattern=r"^[\w.\[\],<>=!~ /-]+$")]] = Field(
        default_factory=list,
        max_length=32,
        description="For `client`/`p2p` scenes: packages installed in the browser with micropip, by name from "
        "the package index (e.g. numpy) or a wheel from the experiment's files (wheels/myenv-1.0-py3-none-any.whl).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> EnvironmentSpec:
        if (self.id is None) == (self.entry_point is None):
            raise ValueError("give exactly one of 'id' (registered) or 'entryPoint' (module:fn)")
        if self.agents is not None and self.api != "pettingzoo":
            raise ValueError("'agents' maps players to a PettingZoo environment's agents: it needs 'api: pettingzoo'")
        if self.agents is not None and len(set(map(str, self.agents.values()))) != len(self.agents):
            raise ValueError("'agents' gives one environment agent to two players")
        return self

    @property
    def name(self) -> str:
        """The id or entry point, for records and messages."""
        return self.id or self.entry_point or ""


class ObservationFeed(SpecModel):
    """How the environment's observation becomes the policy's input tensor."""

    key: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="Entry of a dict observation; default: the agent's own id if present."
    )
    flatten: bool = True


class PolicyPlayer(TaggedModel):
    """An ONNX policy from the experiment's files: observation in, action logits out (or through an adapter)."""

    type: Literal["policy"] = "policy"
    file: OnnxPath
    observation: ObservationFeed = Field(default_factory=lambda: ObservationFeed())
    adapter: EntryPoint | None = Field(
        None,
        description="module:Class from the experiment's files: builds the model's inputs from the observation, "
        "reads its outputs and keeps recurrent state between steps (reset at each episode).",
    )
    act_every: int = Field(1, ge=1, le=1000, description="The policy acts every k-th step; its action repeats between.")
    selection: Literal["greedy", "sample"] = "greedy"
    temperature: float = Field(1.0, gt=0, le=100)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    label: ShortText | None = None
    color: Color | None = None


class RandomPlayer(TaggedModel):
    """Samples the agent's action space each step (seeded, recorded)."""

    type: Literal["random"] = "random"
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    label: ShortText | None = None
    color: Color | None = None


class NoopPlayer(TaggedModel):
    """Always takes the same action."""

    type: Literal["noop"] = "noop"
    action: int = Field(0, ge=0, le=1_000_000)
    label: ShortText | None = None
    color: Color | None = None


AiPlayer = Annotated[PolicyPlayer | RandomPlayer | NoopPlayer, Field(discriminator="type")]


class HumanPlayer(TaggedModel):
    """A participant plays this agent with the keyboard."""

    type: Literal["human"] = "human"
    label: ShortText | None = None
    color: Color | None = None
    fallback: AiPlayer | None = Field(
        None,
        description="Plays this agent when no participant does: an empty seat after the longest wait "
        "(group.onWaitTimeout: fallback) or a seat left for longer than reconnectGraceS (group.onDropout: fallback).",
    )


Player = Annotated[HumanPlayer | PolicyPlayer | RandomPlayer | NoopPlayer, Field(discriminator="type")]


class SameCondition(SpecModel):
    """Which participants count as being in the same condition: one URL parameter, or the stager's assignment."""

    param: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")] | None = Field(
        None, description="A URL parameter listed in recruitment.recordParams (e.g. CONDITION)."
    )
    assignment: bool = Field(False, description="The same flow: block orders and repeats (counterbalancing).")

    @model_validator(mode="after")
    def _one(self) -> SameCondition:
        if (self.param is None) == (not self.assignment):
            raise ValueError("give exactly one of 'param' (a URL parameter) or 'assignment: true'")
        return self


class GroupSpec(SpecModel):
    """How participants are grouped for a scene with several human players (a waiting room per scene)."""

    max_wait_s: float = Field(120, ge=1, le=3600, description="Longest time a participant waits for a group.")
    on_wait_timeout: Literal["fallback", "end"] = Field(
        "end",
        description="At the longest wait: 'fallback' starts with the humans present and each empty seat's "
        "fallback player; 'end' ends the participant's session with the waitTimeout ending (its own code).",
    )
    on_dropout: Literal["fallback", "end"] = Field(
        "end",
        description="A player away longer than reconnectGraceS: 'fallback' hands their seat to its fallback "
        "player and the others play on; 'end' ends the game for everyone (partnerLeft / dropped endings).",
    )
    max_latency_ms: int | None = Field(
        None, ge=1, le=5000, description="Only group participants whose median round trip to the pod is below this."
    )
    roles: Literal["random", "arrival"] = Field(
        "random", description="Seats (human agents) by lot, or in order of arrival (first arrival: first human agent)."
    )
    max_peer_rtt_ms: int | None = Field(
        None,
        ge=1,
        le=5000,
        description="p2p: waiting participants probe each other over WebRTC (through TURN when needed); only "
        "participants whose browser-to-browser round trip (median of a short probe) is below this, for every "
        "pair in the group, are grouped.",
    )
    matchmaker: Annotated[str, Field(max_length=200, pattern=r"^(fifo|latency|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")] = Field(
        "fifo",
        description="Who plays with whom: 'fifo' (the earliest arrival first, with the earliest who fit), "
        "'latency' (the earliest arrival first, with those who make the group's round trips smallest) or "
        "'module:Class' from the experiment's files (runs on the game pod with a deadline; on an error, fifo).",
    )
    partners: Literal["any", "new"] = Field(
        "any", description="'new': never group participants who already played together in this study."
    )
    same_condition: SameCondition | None = Field(
        None, description="Only group participants in the same condition (a URL parameter, or the assignment)."
    )


class HudSource(SpecModel):
    """The heads-up line from code: a function of the environment, or the environment's own `hud_text()`."""

    function: EntryPoint | None = Field(None, description="module:fn(env) -> text, from the experiment's files.")
    environment: bool = Field(False, description="true: the environment's hud_text() method.")

    @model_validator(mode="after")
    def _one_source(self) -> HudSource:
        if (self.function is None) == (not self.environment):
            raise ValueError("give exactly one of 'function' (module:fn) or 'environment: true'")
        return self


AssetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
ImagePath = Annotated[RelPath, Field(pattern=r"(?i)\.(png|jpe?g|gif|webp)$")]
FramesPath = Annotated[RelPath, Field(pattern=r"(?i)\.json$")]


class Atlas(SpecModel):
    """A sprite sheet from the experiment's files: a picture and its frame list (JSON hash or array, as
    TexturePacker and Phaser write them)."""

    image: ImagePath
    frames: FramesPath


class Rendering(SpecModel):
    """`objects`: the env returns shapes the browser draws; `rgb`: `env.render()` frames."""

    mode: Literal["objects", "rgb"] = "objects"
    renderer: EntryPoint | None = Field(
        None, description="module:fn(env) -> list of objects; default: env.render_objects()."
    )
    width: int = Field(600, ge=64, le=1920)
    height: int = Field(400, ge=64, le=1080)
    background: Color = "#ffffff"
    rgb_format: Literal["jpeg", "png"] = "jpeg"
    rgb_quality: int = Field(80, ge=10, le=100)
    coordinates: Literal["fractions", "pixels"] = Field(
        "fractions", description="Objects' x, y, w, h and points: fractions of the game area, or its pixels."
    )
    atlases: dict[AssetName, Atlas] = Field(
        default_factory=dict, max_length=32, description="Sprite sheets `sprite` objects name, by name."
    )
    images: list[ImagePath] = Field(
        default_factory=list, max_length=64, description="Pictures `image` objects show (src: files/<path>)."
    )
    delta_frames: bool = Field(
        True,
        description="Frames carry only the objects (with an id) that changed since the last frame; the page "
        "keeps the rest. Off: every object every frame.",
    )


class P2PSpec(SpecModel):
    """Peer-to-peer play: every browser steps the same seeded environment; late inputs are rolled back."""

    input_delay: int = Field(
        2, ge=0, le=15, description="Frames between a key press and the step it acts in (hides the peer round trip)."
    )
    max_prediction: int = Field(
        8, ge=1, le=60, description="Frames a peer may run ahead of the inputs it has; beyond this it waits."
    )
    redundancy: int = Field(5, ge=1, le=30, description="Each input packet repeats at least this many recent inputs.")
    hash_every: int = Field(
        30, ge=1, le=3600, description="Frames between state-hash comparisons (a mismatch is resynchronised)."
    )
    connect_timeout_s: float = Field(
        6, ge=1, le=60, description="Seconds to wait for a direct (or TURN) connection before relaying through the pod."
    )


class GymScene(TaggedModel):
    """Play an environment for some episodes, stepped at `fps` on the pod or in the browser (`mode`)."""

    type: Literal["gym"] = "gym"
    id: SceneId
    mode: Literal["server", "client", "p2p"] = Field(
        "server",
        description="Where the environment runs: 'server' (the game pod), 'client' (the participant's browser, "
        "Pyodide; one human) or 'p2p' (every participant's browser, inputs exchanged over WebRTC; two or more humans).",
    )
    p2p: P2PSpec = Field(default_factory=lambda: P2PSpec(), alias="p2p", description="Settings of 'p2p' mode.")
    title: ShortText | None = None
    instructions: Html | None = None
    environment: EnvironmentSpec
    players: dict[AgentId, Player] = Field(min_length=1, max_length=16)
    episodes: int = Field(1, ge=1, le=1000)
    max_steps: int = Field(1000, ge=1, le=100_000)
    fps: int = Field(30, ge=1, le=60)
    controls: Controls
    rendering: Rendering = Field(default_factory=lambda: Rendering())
    seed: int | None = Field(
        None, ge=0, le=2**31 - 1, description="Episode k resets with seed+k; none: drawn, recorded."
    )
    hud: Annotated[str, Field(max_length=200)] | HudSource = Field(
        "Episode {episode}/{episodes}   Score {score}",
        description="The heads-up line: a template ({episode}, {episodes}, {score}, {step}, {max_steps}), or "
        "{function: module:fn} / {environment: true} for text from code. Sent when it changes.",
    )
    hooks: EntryPoint | None = Field(
        None,
        description="module:Class from the experiment's files with any of on_episode_start, on_step (extra "
        "hook_* columns, HUD text), on_episode_end (a bonus in the episode row) and on_game_end; it runs where "
        "the environment runs (the pod, or the browser).",
    )
    countdown_s: int = Field(3, ge=0, le=10)
    reconnect_grace_s: float = Field(20, ge=0, le=600)
    group: GroupSpec | None = Field(
        None, description="Waiting room and dropout rules; only for scenes with two or more human players."
    )

    @model_validator(mode="after")
    def _playable(self) -> GymScene:
        humans = self.human_agents
        if not humans:
            raise ValueError("needs at least one 'human' player")
        if self.group is not None and len(humans) < 2:
            raise ValueError("'group' is for scenes with two or more 'human' players")
        rules = self.grouping
        if len(humans) > 1 and "fallback" in (rules.on_wait_timeout, rules.on_dropout):
            missing = [a for a in humans if self.players[a].fallback is None]  # type: ignore[union-attr]
            if missing:
                which = "onWaitTimeout" if rules.on_wait_timeout == "fallback" else "onDropout"
                raise ValueError(
                    f"'group.{which}: fallback' needs a 'fallback' player for every human seat; "
                    f"missing for {', '.join(missing)}"
                )
        agents = self.environment.agents
        if agents is not None and set(agents) != set(self.players):
            raise ValueError(
                f"'environment.agents' must name every player once (one seat per agent): players "
                f"{sorted(self.players)}, agents given for {sorted(agents)}"
            )
        self._fits_mode(humans)
        return self

    def _fits_mode(self, humans: list[str]) -> None:
        if self.mode != "p2p" and self.grouping.max_peer_rtt_ms is not None:
            raise ValueError("'group.maxPeerRttMs' is for mode 'p2p' (use 'group.maxLatencyMs' for the pod)")
        if self.mode == "server":
            return
        if self.rendering.mode != "objects":
            raise ValueError(f"mode '{self.mode}' draws objects in the browser; 'rendering.mode: rgb' needs 'server'")
        if self.mode == "client" and len(humans) != 1:
            raise ValueError("mode 'client' is for one 'human' player (beside any AI); use 'p2p' for several")
        if self.mode == "p2p":
            if len(humans) < 2:
                raise ValueError("mode 'p2p' needs two or more 'human' players; use 'client' for one")
            if self.controls.mode == "turn":
                raise ValueError("mode 'p2p' steps on a clock; turn-based play ('controls.mode: turn') needs 'server'")

    @property
    def human_agents(self) -> list[str]:
        """The agents participants play, in spec order (seats are filled in arrival order)."""
        return [a for a, p in self.players.items() if isinstance(p, HumanPlayer)]

    @property
    def policies(self) -> list[PolicyPlayer]:
        """Every ONNX policy that may play: policy players, and human seats' policy fallbacks."""
        players = [*self.players.values(), *(p.fallback for p in self.players.values() if isinstance(p, HumanPlayer))]
        return [p for p in players if isinstance(p, PolicyPlayer)]

    @property
    def human_agent(self) -> str:
        """The (first) agent a participant plays."""
        return self.human_agents[0]

    @property
    def group_size(self) -> int:
        """How many participants play this scene together."""
        return len(self.human_agents)

    @property
    def grouping(self) -> GroupSpec:
        """The group rules (defaults when the spec gives none)."""
        return self.group or GroupSpec()
