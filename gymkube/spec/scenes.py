"""The scenes a participant walks through: static pages, surveys, gym and Unity scenes, blocks and the end."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from gymkube.spec.base import (
    Html,
    QuestionId,
    RelPath,
    SceneId,
    ShortText,
    SpecModel,
    TaggedModel,
    Text,
    UrlTemplate,
)
from gymkube.spec.gym import GymScene

FieldName = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")]
"""A form field's `name` in a page: 1 to 64 characters, no control characters."""


class PageField(SpecModel):
    """A field of a static page whose answer the pod checks (the page's own `name`)."""

    name: FieldName
    required: bool = Field(False, description="Continue is refused while the field is empty (or unticked).")
    max_length: int = Field(1000, ge=1, le=10_000, description="Longest text accepted, in characters.")


class StaticScene(TaggedModel):
    """A page of HTML (inline or a file from the experiment) with a continue button.

    The page runs in a sandboxed frame: its own scripts run there, and its named fields are recorded.
    """

    type: Literal["static"] = "static"
    id: SceneId
    title: ShortText | None = None
    html: Html | None = None
    file: RelPath | None = None
    button: ShortText = "Continue"
    min_time_s: float = Field(0, ge=0, le=3600, description="Seconds before the button enables.")
    fields: list[PageField] | None = Field(
        None,
        max_length=100,
        description="Optional: the page's fields to check and record; without it every named field is recorded.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> StaticScene:
        if (self.html is None) == (self.file is None):
            raise ValueError("give exactly one of 'html' or 'file'")
        names = [f.name for f in self.fields or []]
        if len(set(names)) != len(names):
            raise ValueError("field names must be unique within a page")
        return self


class Question(SpecModel):
    """One survey question; `type` decides which of the other fields apply."""

    id: QuestionId
    type: Literal["likert", "single", "multiple", "text", "number"]
    prompt: Text
    required: bool = True
    options: list[ShortText] | None = Field(None, max_length=50)
    points: int = Field(7, ge=2, le=11, description="Likert scale points.")
    labels: list[ShortText] | None = Field(None, max_length=11, description="Likert labels.")
    min: float | None = None
    max: float | None = None
    integer: bool = False
    max_length: int = Field(1000, ge=1, le=10_000)
    multiline: bool = False

    @model_validator(mode="after")
    def _fits_type(self) -> Question:
        if self.type in ("single", "multiple"):
            if not self.options or len(self.options) < 2:
                raise ValueError(f"a '{self.type}' question needs at least two 'options'")
            if len(set(self.options)) != len(self.options):
                raise ValueError("'options' must not repeat")
        elif self.options is not None:
            raise ValueError(f"'options' do not apply to a '{self.type}' question")
        if self.labels is not None and self.type == "likert" and len(self.labels) > self.points:
            raise ValueError("more 'labels' than 'points'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("'min' is greater than 'max'")
        return self


class SurveyScene(TaggedModel):
    """A page of questions; answers are checked on the server and recorded."""

    type: Literal["survey"] = "survey"
    id: SceneId
    title: ShortText | None = None
    html: Html | None = None
    questions: list[Question] = Field(min_length=1, max_length=100)
    button: ShortText = "Continue"

    @model_validator(mode="after")
    def _unique_questions(self) -> SurveyScene:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique within a survey")
        return self


class EndScene(TaggedModel):
    """The last scene: a completion code and/or a redirect (e.g. back to Prolific)."""

    type: Literal["end"] = "end"
    id: SceneId = "end"
    html: Html = "<h2>Thank you!</h2><p>You have finished the study.</p>"
    completion_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(
        "auto", description="A fixed code, or 'auto' for one generated per participant."
    )
    redirect_url: UrlTemplate | None = Field(
        None, description="e.g. https://app.prolific.com/submissions/complete?cc={code}"
    )
    redirect_delay_s: float = Field(3, ge=0, le=60)


class UnityScene(SpecModel):
    """A researcher's Unity WebGL build from the experiment's files, played in the page.

    The build reports episode starts, steps and ends through a small bridge (see docs/games.md, "Unity scenes");
    they become `episodes` and `steps` rows. The scene ends when the build says so, after `episodes`
    episodes, or at `timeLimitS`.
    """

    type: Literal["unity"]
    id: SceneId
    title: ShortText | None = None
    instructions: Html | None = None
    build: RelPath = Field(
        description="The build's folder in the experiment's files: Unity's `Build/` with <name>.loader.js, "
        "<name>.data, <name>.framework.js and <name>.wasm (each possibly .gz or .br)."
    )
    build_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")] | None = Field(
        None, description="The build's file name before .loader.js; default: the one *.loader.js in `build`."
    )
    width: int = Field(960, ge=64, le=3840)
    height: int = Field(600, ge=64, le=2160)
    time_limit_s: float = Field(600, ge=5, le=7200, description="The scene ends at this time at the latest.")
    episodes: int | None = Field(None, ge=1, le=1000, description="Unity: the scene ends after this many (optional).")
    allow_eval: bool = Field(
        False,
        description="Adds 'unsafe-eval' to the policy of the build's frame only (some Unity versions' framework "
        "code calls eval); the frame's opaque origin still reaches nothing of the study's.",
    )
    company_name: ShortText = "gymkube"
    product_name: ShortText = "study"
    product_version: ShortText = "1.0"


BlockItem = Annotated[StaticScene | SurveyScene | GymScene | UnityScene, Field(discriminator="type")]


class Block(TaggedModel):
    """Scenes given in a fixed, random or counterbalanced order, optionally repeated."""

    type: Literal["block"] = "block"
    id: SceneId
    order: Literal["fixed", "random", "counterbalance"] = "fixed"
    repeat: int = Field(1, ge=1, le=20)
    scenes: list[BlockItem] = Field(min_length=1, max_length=50)


Scene = Annotated[StaticScene | SurveyScene | GymScene | UnityScene | EndScene, Field(discriminator="type")]
FlowItem = Annotated[StaticScene | SurveyScene | GymScene | UnityScene | EndScene | Block, Field(discriminator="type")]
