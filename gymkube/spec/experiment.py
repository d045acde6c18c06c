"""The Experiment resource: metadata plus the spec a researcher writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator

from gymkube.spec.base import EntryPoint, Html, Name, ShortText, SpecModel, TaggedModel, Text
from gymkube.spec.gym import GymScene
from gymkube.spec.scenes import Block, EndScene, FlowItem, Scene

API_VERSION: Final = "gymkube.io/v1alpha1"
KIND: Final = "Experiment"

# Fields the Kubernetes API server adds to every object's metadata; accepted and ignored so
# that `kubectl get -o yaml` output validates, while a typo such as `lables` is still refused.
_SERVER_METADATA = {
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "finalizers",
    "ownerReferences", "generateName", "deletionTimestamp", "deletionGracePeriodSeconds",
    "selfLink",
}  # fmt: skip


class Metadata(SpecModel):
    """Kubernetes-style metadata; `name` is a DNS-1123 label used in URLs and pod names."""

    name: Name
    namespace: Name | None = None
    labels: dict[str, ShortText] = Field(default_factory=dict, max_length=64)
    annotations: dict[str, Text] = Field(default_factory=dict, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _drop_server_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in _SERVER_METADATA}
        return data


class Recruitment(SpecModel):
    """Which URL parameter carries the participant id, and which others are recorded."""

    participant_param: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,64}$", description="e.g. PROLIFIC_PID")
    record_params: list[str] = Field(default_factory=list, max_length=32, description="e.g. [STUDY_ID, SESSION_ID]")
    token_lifetime_hours: int = Field(
        168,
        ge=1,
        le=8760,
        description="How long the link to a game pod (and the participant cookie) stays valid after entry; "
        "past it the participant enters again through the study link.",
    )

    @property
    def token_lifetime_s(self) -> int:
        """`tokenLifetimeHours` in seconds."""
        return self.token_lifetime_hours * 3600

    @model_validator(mode="after")
    def _param_names(self) -> Recruitment:
        for name in self.record_params:
            if not name or len(name) > 64 or not name.replace("_", "").isalnum():
                raise ValueError(f"'recordParams' entry {name!r} is not a URL parameter name")
        return self


class EntryChecks(SpecModel):
    """Checks a participant's browser passes before the study starts (failures are recorded)."""

    desktop_only: bool = False
    browsers: list[Literal["chrome", "firefox", "safari", "edge"]] = Field(
        default_factory=list, max_length=4, description="Allowed browsers; empty: any."
    )
    min_screen_width: int = Field(0, ge=0, le=10_000)
    min_screen_height: int = Field(0, ge=0, le=10_000)

    @property
    def needs_screen(self) -> bool:
        """Whether the browser must report its screen size first."""
        return self.min_screen_width > 0 or self.min_screen_height > 0


class DataSpec(SpecModel):
    """What is recorded and where it goes."""

    record_observations: bool = False
    destination: str | None = Field(
        None,
        max_length=500,
        pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[\w./-]*)?|[\w./-]+)$",
        description="s3://bucket/prefix, or a local folder; default: the platform's storage.",
    )


class TurnSpec(SpecModel):
    """The experiment's own TURN server for peer-to-peer play (default: the platform's).

    Either a shared secret (`secretName`: pods hand out short-lived credentials, never the secret) or static
    credentials (`credentialsSecret`: a username and credential, as services such as metered.ca give out,
    handed to browsers as they are). Either Secret needs the label gymkube.io/turn=true.
    """

    secret_name: Name | None = Field(
        None, description="Secret with key `secret`: the TURN server's static-auth-secret (default: chart's)."
    )
    credentials_secret: Name | None = Field(
        None,
        description="Secret with keys `username` and `credential`: static TURN credentials, handed to browsers "
        "as they are (anyone in the study can read them; prefer secretName where the TURN server supports it).",
    )
    urls: list[Annotated[str, Field(pattern=r"^turns?:[\w.:\[\]-]+(\?transport=(udp|tcp))?$", max_length=200)]] = Field(
        default_factory=list, max_length=8, description="e.g. turn:turn.example.org:3478"
    )

    @model_validator(mode="after")
    def _one_scheme(self) -> TurnSpec:
        if self.secret_name is not None and self.credentials_secret is not None:
            raise ValueError("give one of 'secretName' (shared secret) or 'credentialsSecret' (static credentials)")
        if (self.secret_name or self.credentials_secret) and not self.urls:
            raise ValueError("'urls' must name the TURN server(s) the secret is for")
        return self

    @property
    def secret(self) -> str | None:
        """The Secret this experiment's TURN configuration reads, if any."""
        return self.secret_name or self.credentials_secret


class Exclusion(SpecModel):
    """A researcher's own exclusion rule, called on the game pod with what it measured of the participant."""

    hook: EntryPoint | None = Field(
        None,
        description="module:fn from the experiment's files, called with the participant's measures (latency, "
        "focus and visibility losses, ...) at entry and every `everyS` of play; it returns nothing to go on, or "
        "{ending, message} to end the session.",
    )
    every_s: float = Field(5, ge=1, le=600, description="Seconds between calls while a game is played.")


Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Ending(SpecModel):
    """How a session that cannot finish normally ends: a message and its own completion code."""

    code: Code = Field("auto", description="A fixed code (e.g. the one Prolific pays for this case), or 'auto'.")
    html: Html


def _ending(html: str) -> Any:
    return Field(default_factory=lambda: Ending(code="auto", html=html))


class Endings(SpecModel):
    """Endings other than the end scene; each shows its message and code, then the end scene's redirect."""

    wait_timeout: Ending = _ending(
        "<h2>Thank you for waiting</h2><p>We could not find other participants to play with you in time, "
        "so the study ends here. Please submit the code below so that your time is counted.</p>"
    )
    partner_left: Ending = _ending(
        "<h2>Your partner left</h2><p>Another player in your group lost their connection and did not come "
        "back, so the game had to end. Everything you did is saved. Please use the code below.</p>"
    )
    dropped: Ending = _ending(
        "<h2>You were away too long</h2><p>The game could not wait for you any longer, so it went on (or "
        "ended) without you. What you did before is saved. Please use the code below.</p>"
    )
    excluded: Ending = _ending(
        "<h2>The study has ended</h2><p>This study needs your full attention on this page and a steady "
        "connection, and one of them was missing too often or for too long. What you did is saved. Please "
        "use the code below.</p>"
    )
    technical: Ending = _ending(
        "<h2>The study had to stop</h2><p>A technical problem on our side stopped the game. This is not your "
        "fault, and what you did up to now is saved. Please submit the code below so that your time is paid.</p>"
    )


class Attention(SpecModel):
    """Limits on leaving the study's page and on a slow connection; past a limit the participant is excluded."""

    max_hidden: int | None = Field(None, ge=1, le=10_000, description="Times the page may be hidden (other tab).")
    max_blur: int | None = Field(None, ge=1, le=10_000, description="Times the window may lose focus.")
    max_rtt_ms: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="During a game: the round trip to the game pod (measured every 2 s) may stay above this for "
        "warnAfterS before the participant is warned, and for excludeAfterS before they are excluded.",
    )
    warn_after_s: float = Field(5, ge=0, le=3600, description="Seconds over maxRttMs before the warning.")
    exclude_after_s: float = Field(20, ge=0, le=3600, description="Seconds over maxRttMs before the exclusion.")

    @model_validator(mode="after")
    def _warning_first(self) -> Attention:
        if self.exclude_after_s < self.warn_after_s:
            raise ValueError("'excludeAfterS' must be at least 'warnAfterS' (the warning comes first)")
        return self


class ExperimentSpec(SpecModel):
    """What a researcher writes: the flow of scenes and how the study runs."""

    title: ShortText = "A gymkube experiment"
    description: Text | None = None
    bundle: str | None = Field(
        None,
        max_length=255,
        description="The experiment's own files: a folder beside the manifest (local runtime).",
    )
    scenes: list[FlowItem] = Field(min_length=1, max_length=200)
    recruitment: Recruitment = Field(default_factory=lambda: Recruitment())
    entry: EntryChecks = Field(default_factory=lambda: EntryChecks())
    data: DataSpec = Field(default_factory=lambda: DataSpec())
    capacity: int = Field(200, ge=1, le=5000, description="Concurrent participants per game pod.")
    replicas: int = Field(1, ge=1, le=50, description="Game pods (the minimum when maxReplicas is set).")
    max_replicas: int | None = Field(
        None, ge=1, le=50, description="Add game pods up to this many as load grows; default: replicas."
    )
    target_participants: int | None = Field(
        None, ge=1, le=1_000_000, description="Completed participants after which the study closes."
    )
    paused: bool = Field(False, description="No new participants; those already in finish.")
    image: str | None = Field(
        None, max_length=300, pattern=r"^[\w.:/@-]+$", description="Game pod image; default: the platform's."
    )
    turn: TurnSpec = Field(default_factory=lambda: TurnSpec())
    endings: Endings = Field(default_factory=lambda: Endings())
    attention: Attention = Field(default_factory=lambda: Attention())
    exclusion: Exclusion = Field(default_factory=lambda: Exclusion())

    @model_validator(mode="after")
    def _well_formed_flow(self) -> ExperimentSpec:
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise ValueError("'maxReplicas' must be at least 'replicas'")
        ends = [i for i, s in enumerate(self.scenes) if isinstance(s, EndScene)]
        if ends != [len(self.scenes) - 1]:
            raise ValueError("the flow needs exactly one 'end' scene, and it must come last")
        ids = [s.id for s in self.scenes] + [
            inner.id for s in self.scenes if isinstance(s, Block) for inner in s.scenes
        ]
        seen: set[str] = set()
        for scene_id in ids:
            if scene_id in seen:
                raise ValueError(f"scene id {scene_id!r} is used twice; ids must be unique")
            seen.add(scene_id)
        for scene in self.gym_scenes():
            same = scene.grouping.same_condition
            if same is not None and same.param is not None and same.param not in self.recruitment.record_params:
                raise ValueError(
                    f"scene {scene.id!r}: 'group.sameCondition.param: {same.param}' must be listed in "
                    "'recruitment.recordParams' (only those reach the game pod)"
                )
        return self

    def all_scenes(self) -> Iterator[Scene]:
        """Every scene in the flow, blocks opened, each once."""
        for item in self.scenes:
            if isinstance(item, Block):
                yield from item.scenes
            else:
                yield item

    def gym_scenes(self) -> list[GymScene]:
        """The gym scenes, in flow order."""
        return [s for s in self.all_scenes() if isinstance(s, GymScene)]

    @property
    def group_size(self) -> int:
        """Participants per group in the first scene played in groups (1: no groups); routing keeps them on one pod."""
        return next((s.group_size for s in self.gym_scenes() if s.group_size > 1), 1)

    def scene(self, scene_id: str) -> Scene:
        """The scene with this id (KeyError when there is none)."""
        for scene in self.all_scenes():
            if scene.id == scene_id:
                return scene
        raise KeyError(scene_id)


class Experiment(TaggedModel):
    """An `Experiment` manifest (apiVersion gymkube.io/v1alpha1); a manifest must name both (see load.py)."""

    tags = ("api_version", "kind")

    api_version: Literal["gymkube.io/v1alpha1"] = API_VERSION
    kind: Literal["Experiment"] = KIND
    metadata: Metadata
    spec: ExperimentSpec
    status: dict[str, Any] | None = Field(None, description="Written by the platform; ignored.")

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.metadata.name
