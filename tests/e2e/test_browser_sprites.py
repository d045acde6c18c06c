"""A sprite scene drawn by chromium matches the same objects composed by Pillow, within a small tolerance.

The scene (tests/fixtures/sprites/showcase_env.py) uses every sprite feature: frames of an atlas, one
stored rotated, flipped and turned sprites, alpha, depth, a size of its own, pixel coordinates and a
permanent rect. The reference image is not a stored file: `compose` builds it from the same object list
and the same atlas frames with Pillow, following the canvas's rules (top-left anchors, turns about the
centre, alpha over what is below), so it is deterministic and needs no updating when the scene changes:
change SCENE or the atlas and both sides follow. Failing runs leave both images and their difference
under .gymkube/screenshots/ to look at.
"""

from __future__ import annotations

import base64
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from browser import chromium
from conftest import ROOT
from PIL import Image, ImageChops

SPRITES = ROOT / "tests" / "fixtures" / "sprites"
SHOTS = ROOT / ".gymkube" / "screenshots"
WIDTH, HEIGHT = 320, 240
sys.path.insert(0, str(SPRITES))
from showcase_env import SCENE  # noqa: E402
from sprite_atlas import frames, write_atlas  # noqa: E402

sys.path.remove(str(SPRITES))


def manifest(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "showcase_env.py").write_text((SPRITES / "showcase_env.py").read_text())
    write_atlas(bundle / "art")
    document = {
        "apiVersion": "gymkube.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "sprites"},
        "spec": {"bundle": str(bundle), "scenes": [
            {"type": "gym", "id": "play", "environment": {"entryPoint": "showcase_env:make"},
             "players": {"p": {"type": "human"}}, "controls": {"keys": {"ArrowLeft": 0}},
             "fps": 10, "maxSteps": 600, "countdownS": 0,
             "rendering": {"width": WIDTH, "height": HEIGHT, "background": "#ffffff", "coordinates": "pixels",
                           "atlases": {"shapes": {"image": "art/shapes.png", "frames": "art/shapes.json"}}}},
            {"type": "end"},
        ]},
    }  # fmt: skip
    path = tmp_path / "sprites.json"
    path.write_text(json.dumps(document))
    return path


def compose(objects: list[dict[str, Any]]) -> Image.Image:
    """The objects as the renderer draws them, composed by Pillow on the scene's white background."""
    canvas = Image.new("RGBA", (WIDTH, HEIGHT), (255, 255, 255, 255))
    pictures = frames()
    ordered = sorted(enumerate(objects), key=lambda pair: (pair[1].get("depth", 0), pair[0]))
    for _, obj in ordered:
        if obj["kind"] == "rect":
            color = Image.new("RGBA", (obj["w"], obj["h"]), obj["color"])
            canvas.alpha_composite(color, (obj["x"], obj["y"]))
            continue
        picture = pictures[obj["frame"]]
        if "w" in obj:
            picture = picture.resize((obj["w"], obj["h"]), Image.Resampling.BILINEAR)
        if obj.get("flip") == "x":
            picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if obj.get("angle"):
            assert math.isclose(obj["angle"], math.pi / 2), "the reference turns by quarter turns only"
            picture = picture.transpose(Image.Transpose.ROTATE_270)  # a quarter turn clockwise, as the canvas's
        if "alpha" in obj:
            faded = np.asarray(picture).copy()
            faded[..., 3] = np.round(faded[..., 3] * obj["alpha"])
            picture = Image.fromarray(faded)
        canvas.alpha_composite(picture, (obj["x"], obj["y"]))
    return canvas.convert("RGB")


def test_a_sprite_scene_in_chromium_matches_its_reference_image(platform_factory, tmp_path: Path) -> None:
    platform = platform_factory(manifest(tmp_path))
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 900}, device_scale_factor=1)
        page.goto(platform.entry("sprites", PROLIFIC_PID="shot1"))
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=15_000)
        page.wait_for_timeout(800)  # a few frames: the pictures are loaded and drawn
        # The canvas's own pixels (an element screenshot would resample a canvas at a fractional position).
        data_url = page.eval_on_selector("#game", "c => c.toDataURL('image/png')")
    shot = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")
    assert shot.size == (WIDTH, HEIGHT), shot.size
    reference = compose(SCENE)
    difference = np.asarray(ImageChops.difference(shot, reference), dtype=np.int16).max(axis=2)
    far = {obj["id"]: float((difference[box(obj)] > 48).mean()) for obj in SCENE}
    if max(far.values()) > 0.02 or difference.mean() > 0.5:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot.save(SHOTS / "sprites-chromium.png")
        reference.save(SHOTS / "sprites-reference.png")
        Image.fromarray((np.minimum(difference * 4, 255)).astype(np.uint8)).save(SHOTS / "sprites-difference.png")
    # Object by object: a mirrored, turned or misplaced sprite differs in most of its box; resampling (the
    # one sprite drawn at twice its size) and alpha rounding only at a few pixels.
    assert all(share <= 0.02 for share in far.values()), f"pixels far from the reference per object: {far} ({SHOTS})"
    assert difference.mean() <= 0.5, f"mean difference {difference.mean():.2f} of 255 (see {SHOTS})"
    assert float(np.asarray(shot).std()) > 20, "the canvas is not blank"


def box(obj: dict[str, Any]) -> tuple[slice, slice]:
    """Rows and columns of an object's box in the picture (a sprite without a size has its frame's)."""
    width, height = obj.get("w"), obj.get("h")
    if width is None:
        width, height = frames()[obj["frame"]].size
    return slice(obj["y"], obj["y"] + height), slice(obj["x"], obj["x"] + width)
