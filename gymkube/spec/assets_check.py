"""`gymkube validate`'s check of a gym scene's pictures: a missing picture or frame is an error, not a blank canvas.

The scene's atlases and images must be pictures in the experiment's files, each atlas's frame list must read
(JSON hash or array) with every frame inside its picture, and the sprites the scene's renderer draws must
name atlases and frames that exist. For that last check the environment is built and stepped for a few
seeded steps with random actions on the researcher's own machine: validate runs the experiment's code, as
the game pod will (the control plane never does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gymkube.spec.browser_check import local_bundle
from gymkube.spec.experiment import Experiment
from gymkube.spec.gym import Atlas, GymScene

STEPS_RENDERED = 40
"""Steps of the environment whose frames are checked (random actions, the scene's seed)."""
MAX_FRAME_LIST_BYTES = 4 * 1024 * 1024
"""A frame list's size: TexturePacker writes about 200 bytes a frame, so thousands of frames fit."""
MAX_FRAMES = 4096
"""Frames in one atlas (static/js/assets.js keeps no more)."""
MAX_FRAME_NAME = 200
MAX_SIDE = 8192
"""A sheet's width and height in pixels: what TexturePacker and GPUs take; a bigger picture costs every
participant's browser its memory (4 bytes a pixel) before the first frame."""


def _picture_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


def read_atlas(bundle: Path, atlas: Atlas) -> set[str]:
    """The frame names of an atlas; ValueError saying what is wrong with its picture or frame list."""
    picture, frame_list = bundle / atlas.image, bundle / atlas.frames
    for path in (picture, frame_list):
        if not path.resolve().is_relative_to(bundle.resolve()) or not path.is_file():
            raise ValueError(f"{path.relative_to(bundle).as_posix()} is not in the experiment's files")
    try:
        width, height = _picture_size(picture)
    except Exception as exc:
        raise ValueError(f"{atlas.image} is not a picture ({exc})") from None
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ValueError(f"{atlas.image} is {width}x{height} pixels; a sheet may be {MAX_SIDE}x{MAX_SIDE} at most")
    if frame_list.stat().st_size > MAX_FRAME_LIST_BYTES:
        raise ValueError(f"{atlas.frames} is larger than {MAX_FRAME_LIST_BYTES // 1024 // 1024} MiB")
    try:
        document = json.loads(frame_list.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{atlas.frames} is not JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    frames = document.get("frames") if isinstance(document, dict) else None
    entries = [(e.get("filename"), e) for e in frames if isinstance(e, dict)] if isinstance(frames, list) else []
    entries = list(frames.items()) if isinstance(frames, dict) else entries
    if not entries:
        raise ValueError(f"{atlas.frames} has no frames (expected {{'frames': {{name: {{'frame': {{x, y, w, h}}}}}}}})")
    if len(entries) > MAX_FRAMES:
        raise ValueError(f"{atlas.frames} lists {len(entries)} frames; an atlas may have {MAX_FRAMES} (split it)")
    names: set[str] = set()
    for name, entry in entries:
        rect = entry.get("frame") if isinstance(entry, dict) else None
        values = [rect.get(k) for k in ("x", "y", "w", "h")] if isinstance(rect, dict) else []
        numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if not isinstance(name, str) or not 0 < len(name) <= MAX_FRAME_NAME:
            raise ValueError(f"{atlas.frames}: a frame's name must be text of 1 to {MAX_FRAME_NAME} characters")
        if len(numbers) != 4:
            raise ValueError(f"{atlas.frames}: frame {name!r} needs 'frame': {{x, y, w, h}} in pixels")
        x, y, w, h = numbers
        if entry.get("rotated") is True:
            w, h = h, w
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
            raise ValueError(f"{atlas.frames}: frame {name!r} is not inside {atlas.image} ({width}x{height})")
        names.add(name)
    return names


def _rendered_problems(scene: GymScene, bundle: Path, atlases: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """Problems with the objects the scene's renderer draws over a few steps; warnings when it cannot be run."""
    from gymkube.game_pod.environments import find_object_renderer, make_env
    from gymkube.game_pod.object_check import validate_objects
    from gymkube.game_pod.players import agent_space

    where = f"scene {scene.id!r}"
    try:
        env = make_env(scene, bundle)
        render = find_object_renderer(scene, env, bundle)
        env.reset(seed=scene.seed or 0)
        spaces = {agent: agent_space(env, agent) for agent in scene.players}
        for agent, space in spaces.items():
            space.seed((scene.seed or 0) + list(scene.players).index(agent))
    except Exception as exc:
        return [], [f"{where}: the environment could not be run here, so its sprites were not checked: {exc!r}"]
    try:
        for step in range(STEPS_RENDERED + 1):
            problems = validate_objects(render(), limit=5, atlases=atlases)
            if problems:
                return [f"{where}, step {step}: {p}" for p in problems], []
            actions = {agent: space.sample() for agent, space in spaces.items()}
            action: Any = actions if len(actions) > 1 else next(iter(actions.values()))
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset(seed=(scene.seed or 0) + step + 1)
    except Exception as exc:
        return [], [f"{where}: the environment raised while its sprites were checked: {exc!r}"]
    finally:
        env.close()
    return [], []


def scene_asset_problems(scene: GymScene, bundle: Path | None) -> tuple[list[str], list[str]]:
    """(errors, warnings) about a gym scene's pictures."""
    rendering = scene.rendering
    if rendering.mode != "objects" or not (rendering.atlases or rendering.images):
        return [], []
    where = f"scene {scene.id!r}"
    if bundle is None:
        return [], [f"{where}: the experiment's files are not available here, so its pictures were not checked"]
    errors: list[str] = []
    atlases: dict[str, set[str]] = {}
    for name, atlas in rendering.atlases.items():
        try:
            atlases[name] = read_atlas(bundle, atlas)
        except ValueError as exc:
            errors.append(f"{where}: rendering.atlases.{name}: {exc}")
    for index, image in enumerate(rendering.images):
        path = bundle / image
        if not path.resolve().is_relative_to(bundle.resolve()) or not path.is_file():
            errors.append(f"{where}: rendering.images[{index}]: {image} is not in the experiment's files")
    if errors:
        return errors, []
    return _rendered_problems(scene, bundle, atlases) if rendering.atlases else ([], [])


def asset_problems(experiment: Experiment, manifest_dir: Path | None) -> tuple[list[str], list[str]]:
    """(errors, warnings) about every gym scene's pictures; the files are `spec.bundle` beside the manifest."""
    bundle = local_bundle(experiment, manifest_dir)
    errors: list[str] = []
    warnings: list[str] = []
    for scene in experiment.spec.gym_scenes():
        found, said = scene_asset_problems(scene, bundle)
        errors += found
        warnings += said
    return errors, warnings
