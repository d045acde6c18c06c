"""What the browser is sent to show each kind of scene."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from gymkube.game_pod.pages import safe_html
from gymkube.game_pod.progress import Progress
from gymkube.spec.experiment import ExperimentSpec
from gymkube.spec.gym import GymScene
from gymkube.spec.scenes import EndScene, Scene, StaticScene, SurveyScene, UnityScene


def redirect_url(scene: EndScene, progress: Progress) -> str | None:
    """The end scene's redirect with the code and participant filled in."""
    if scene.redirect_url is None:
        return None
    return scene.redirect_url.format(
        code=quote(progress.completion_code or "", safe=""),
        participant=quote(progress.participant, safe=""),
    )


def scene_assets(scene: GymScene) -> dict[str, Any]:
    """The pictures the page loads before a gym scene's first frame, as URLs of the experiment's `files/`."""
    rendering = scene.rendering
    url = lambda path: "files/" + quote(path, safe="/")  # noqa: E731
    atlases = {name: {"image": url(a.image), "frames": url(a.frames)} for name, a in rendering.atlases.items()}
    return {"atlases": atlases, "images": [url(path) for path in rendering.images]}


def client_scene(scene: Scene, progress: Progress) -> dict[str, Any]:
    """The `scene` map of the SCENE event for the participant's current scene."""
    base: dict[str, Any] = {"type": scene.type, "id": progress.current}
    if isinstance(scene, StaticScene):
        waited = (time.time_ns() - progress.scene_entered_ns) / 1e9
        return base | {
            "title": scene.title,
            "page": f"page?scene={scene.id}",
            "required": [f.name for f in scene.fields or [] if f.required],
            "button": scene.button,
            "minTimeS": round(max(0.0, scene.min_time_s - waited), 2),
        }
    if isinstance(scene, SurveyScene):
        return base | {
            "title": scene.title,
            "html": safe_html(scene.html),
            "button": scene.button,
            "questions": [q.model_dump(by_alias=True) for q in scene.questions],
        }
    if isinstance(scene, GymScene):
        return base | {
            "title": scene.title,
            "instructions": safe_html(scene.instructions),
            "width": scene.rendering.width,
            "height": scene.rendering.height,
            "background": scene.rendering.background,
            "coordinates": scene.rendering.coordinates,
            "assets": scene_assets(scene),
            "keys": scene.controls.capture_keys,
            "input": scene.controls.mode,
            "gamepad": scene.controls.gamepad.model_dump(by_alias=True) if scene.controls.gamepad else None,
            "countdownS": scene.countdown_s,
        }
    if isinstance(scene, UnityScene):
        waited = (time.time_ns() - progress.scene_entered_ns) / 1e9
        return base | {
            "title": scene.title,
            "instructions": safe_html(scene.instructions),
            "page": f"unity?scene={scene.id}",
            "width": scene.width,
            "height": scene.height,
            "timeLeftS": round(max(0.0, scene.time_limit_s - waited), 1),
        }
    assert isinstance(scene, EndScene)
    return base | {
        "html": safe_html(scene.html),
        "code": progress.completion_code,
        "redirect": redirect_url(scene, progress),
        "redirectDelayS": scene.redirect_delay_s,
    }


def ending_scene(spec: ExperimentSpec, progress: Progress) -> dict[str, Any]:
    """The end screen of a session that ended early: the ending's message and code, then the redirect."""
    reason = progress.end_reason or "dropped"
    ending = getattr(spec.endings, reason)
    end = spec.scenes[-1]
    assert isinstance(end, EndScene)
    return {
        "type": "end",
        "id": f"ended-{reason}",
        "reason": reason,
        "html": safe_html(progress.end_message or ending.html),
        "code": progress.completion_code,
        "redirect": redirect_url(end, progress),
        "redirectDelayS": end.redirect_delay_s,
    }
