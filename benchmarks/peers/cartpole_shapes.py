"""CartPole-v1 as shapes in 600x400 pixels (Gymnasium's own layout), shared by the peer servers.

The same geometry as gymkube's built-in renderer, so every system draws the same picture; each
peer server turns these into its own object format. Only the standard library is used: this file
is imported inside the peers' virtualenvs.
"""

from __future__ import annotations

import math
from typing import Any

WIDTH, HEIGHT = 600, 400


def scenery() -> dict[str, Any]:
    """The permanent shapes: ground and track (pixels, y down from the top)."""
    return {
        "ground": (0.0, HEIGHT - 100.0, float(WIDTH), 100.0),
        "track": [(0.0, HEIGHT - 100.0), (WIDTH, HEIGHT - 100.0)],
    }


def moving(env: Any) -> dict[str, Any]:
    """Cart rectangle, pole line and axle from `env.unwrapped.state` (pixels, y down from the top)."""
    base = env.unwrapped
    x, _, theta, _ = (float(v) for v in base.state)
    scale = WIDTH / (2 * base.x_threshold)
    pole_len = scale * 2 * base.length
    cart_x = WIDTH / 2 + x * scale
    pivot = (cart_x, HEIGHT - 107.5)
    tip = (cart_x + pole_len * math.sin(theta), HEIGHT - 107.5 - pole_len * math.cos(theta))
    return {"cart": (cart_x - 25, HEIGHT - 115.0, 50.0, 30.0), "pole": [pivot, tip], "axle": pivot}
