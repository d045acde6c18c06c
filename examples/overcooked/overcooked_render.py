"""Draw cogrid's Overcooked kitchens with make_sprites.py's sprites (`rendering.renderer: overcooked_render:render`).

The picture is read from the environment's own state (`get_state()`, the public snapshot cogrid gives for
rollback): tiles, what lies on counters, pots and their timers, the chefs, where they face and what
they hold. Coordinates are pixels of TILE-sized tiles (`rendering.coordinates: pixels`). Floor, counters,
crates and the serving window are permanent (sent once per episode); chefs, held items, pots and items
on counters have ids, so frames carry them only when they change, and chefs glide between tiles
(`tween`). Each chef's id is the player's name, so the page rings the participant's own chef.
"""

from __future__ import annotations

from typing import Any

from cogrid.core.objects.registry import idx_to_object

TILE = 80
TWEEN_MS = 100
"""A little shorter than a step at the examples' 8 fps, so a chef has arrived before it moves again."""
COOK_TIME = 30
"""Steps a full pot cooks (cogrid's onion soup recipe)."""
TILES = {"counter": "counter", "onion_stack": "onion_crate", "tomato_stack": "tomato_crate",
         "plate_stack": "plate_stack", "delivery_zone": "delivery"}  # fmt: skip
ITEMS = {"onion", "tomato", "plate", "onion_soup", "tomato_soup"}
COLORS = ("blue", "green")
FACING = {0: "right", 1: "down", 2: "left", 3: "up"}
AHEAD = {0: (1, 0), 1: (0, 1), 2: (-1, 0), 3: (0, -1)}


def sprite(frame: str, x: float, y: float, **fields: Any) -> dict[str, Any]:
    """One sprite of the kitchen atlas at pixel (x, y)."""
    return {"kind": "sprite", "atlas": "kitchen", "frame": frame, "x": x, "y": y, **fields}


def pot_frame(ingredients: int, timer: int) -> str:
    """The pot's picture: filling, cooking (four stages), or done."""
    if ingredients < 3:
        return f"pot_{ingredients}"
    if timer <= 0:
        return "pot_done"
    return f"pot_cooking_{min(3, (COOK_TIME - timer) * 4 // COOK_TIME)}"


def render(env: Any) -> list[dict[str, Any]]:
    """The kitchen as sprites."""
    kitchen = env.unwrapped
    state = kitchen.get_state()
    players = getattr(env, "player_of", {})
    name = lambda value: idx_to_object(int(value), scope="overcooked")  # noqa: E731
    extra = state["extra_state"]
    pots = {
        (int(p[0]), int(p[1])): (sum(1 for c in items if c > 0), int(t))
        for p, items, t in zip(extra["overcooked.pot_positions"]["data"], extra["overcooked.pot_contents"]["data"],
                               extra["overcooked.pot_timer"]["data"], strict=True)
    }  # fmt: skip
    objects: list[dict[str, Any]] = []
    for r, row in enumerate(state["object_type_map"]):
        for c, value in enumerate(row):
            tile, x, y = name(value), c * TILE, r * TILE
            if tile == "pot":
                objects.append(sprite(pot_frame(*pots.get((r, c), (0, 0))), x, y, id=f"pot_{r}_{c}"))
                continue
            frame = TILES.get(tile or "", "floor")
            objects.append(sprite(frame, x, y, id=f"tile_{r}_{c}", permanent=True, depth=-1))
            placed = name(state["object_state_map"][r][c]) if tile == "counter" else None
            if placed in ITEMS:
                objects.append(sprite(placed, x + 10, y + 6, w=60, h=60, id=f"on_{r}_{c}", depth=1))
    for index, ((r, c), facing) in enumerate(zip(state["agent_pos"], state["agent_dir"], strict=True)):
        agent = kitchen.possible_agents[index]
        player = players.get(agent, str(agent))
        x, y, facing = int(c) * TILE, int(r) * TILE, int(facing)
        color = COLORS[index % len(COLORS)]
        objects.append(sprite(f"chef_{color}_{FACING[facing]}", x, y, id=player, depth=2, tween={"ms": TWEEN_MS}))
        item = int(state["agent_inv"][index][0])
        if item > 0 and name(item) in ITEMS:
            dx, dy = AHEAD[facing]
            objects.append(sprite(name(item), x + 20 + 24 * dx, y + 22 + 24 * dy, w=40, h=40, id=f"{player}_holds",
                                  depth=3, tween={"ms": TWEEN_MS}))  # fmt: skip
    return objects
