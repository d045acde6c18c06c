"""A scripted Overcooked chef for cogrid's kitchens: the teacher the ONNX partner is cloned from (make_policy.py).

Each step it reads the environment's state (`get_state()`), picks a goal and walks there by the shortest
path around counters and the other chef, then faces the goal and interacts:

- empty-handed: fetch a plate when a pot is cooking or done and nobody carries a plate, else an onion
  while a pot has room, else wait;
- an onion: put it in a pot with room (or on a free counter when every pot is full);
- a plate: scoop a finished soup (wait beside the pot while it cooks);
- a soup: serve it at the delivery window.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from cogrid.core.objects.registry import idx_to_object

UP, DOWN, LEFT, RIGHT, INTERACT, TOGGLE, STAY = range(7)
"""cogrid's cardinal action set: move (or turn) up, down, left, right, pick up or drop, toggle, no-op."""
STEP = {UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
FACING = {0: RIGHT, 1: DOWN, 2: LEFT, 3: UP}
"""cogrid's agent_dir (Right=0, Down=1, Left=2, Up=3) as the move that faces that way."""


def names(state: dict[str, Any]) -> list[list[str | None]]:
    """The kitchen's tiles by name ('counter', 'pot', 'onion_stack', ...; None for floor)."""
    return [[idx_to_object(int(v), scope="overcooked") for v in row] for row in state["object_type_map"]]


def held(state: dict[str, Any], index: int) -> str | None:
    """What chef `index` carries."""
    item = int(state["agent_inv"][index][0])
    return idx_to_object(item, scope="overcooked") if item > 0 else None


def pots(state: dict[str, Any]) -> list[tuple[tuple[int, int], int, int]]:
    """Every pot as ((row, col), ingredients in it, cooking time left)."""
    extra = state["extra_state"]
    positions = extra["overcooked.pot_positions"]["data"]
    contents = extra["overcooked.pot_contents"]["data"]
    timers = extra["overcooked.pot_timer"]["data"]
    return [((int(p[0]), int(p[1])), sum(1 for c in items if c > 0), int(t))
            for p, items, t in zip(positions, contents, timers, strict=True)]  # fmt: skip


def shortest_move(tiles: list[list[str | None]], start: tuple[int, int], goals: set[tuple[int, int]],
                  blocked: set[tuple[int, int]]) -> tuple[int | None, tuple[int, int] | None, int]:  # fmt: skip
    """(first move, the goal tile it leads to, path length) of a shortest walk from `start` to a tile next to a goal.

    A walk ends on a free tile beside a goal tile; (None, goal, 0) when already beside one.
    """
    rows, cols = len(tiles), len(tiles[0])

    def beside(cell: tuple[int, int]) -> tuple[int, int] | None:
        for dr, dc in STEP.values():
            if (cell[0] + dr, cell[1] + dc) in goals:
                return cell[0] + dr, cell[1] + dc
        return None

    if beside(start):
        return None, beside(start), 0
    seen = {start: (None, 0)}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        first, length = seen[cell]
        for move, (dr, dc) in STEP.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            if not (0 <= nxt[0] < rows and 0 <= nxt[1] < cols) or nxt in seen or nxt in blocked:
                continue
            if tiles[nxt[0]][nxt[1]] is not None:
                continue
            seen[nxt] = (first if first is not None else move, length + 1)
            target = beside(nxt)
            if target:
                return seen[nxt][0], target, length + 1
            queue.append(nxt)
    return None, None, -1


def act(state: dict[str, Any], index: int) -> int:
    """Chef `index`'s next action."""
    tiles = names(state)
    me = (int(state["agent_pos"][index][0]), int(state["agent_pos"][index][1]))
    others = {(int(r), int(c)) for i, (r, c) in enumerate(state["agent_pos"]) if i != index}
    carrying = held(state, index)
    kitchen = pots(state)
    cooking = [p for p, n, t in kitchen if n == 3]
    open_pots = {p for p, n, _ in kitchen if n < 3}
    ready = {p for p, n, t in kitchen if n == 3 and t == 0}
    plates_out = sum(1 for i in range(len(state["agent_pos"])) if held(state, i) == "plate")
    where = lambda name: {(r, c) for r, row in enumerate(tiles) for c, t in enumerate(row) if t == name}  # noqa: E731
    if carrying is None:
        goals = where("plate_stack") if cooking and plates_out == 0 else where("onion_stack") if open_pots else set()
    elif carrying == "onion":
        goals = open_pots or {p for p in where("counter") if int(state["object_state_map"][p[0]][p[1]]) == 0}
    elif carrying == "plate":
        goals = ready or set(cooking)
    else:
        goals = where("delivery_zone")
    if not goals:
        return STAY
    move, target, _ = shortest_move(tiles, me, goals, others)
    if move is None and target is None:  # the other chef is in the way: head for it (it may step aside)
        move, target, _ = shortest_move(tiles, me, goals, set())
    if move is not None:
        return move
    if target is None:
        return STAY
    face = next(m for m, d in STEP.items() if (me[0] + d[0], me[1] + d[1]) == target)
    if FACING[int(state["agent_dir"][index])] != face:
        return face  # a move towards a counter only turns the chef
    if carrying == "plate" and target not in ready:
        return STAY  # the soup is still cooking
    return INTERACT
