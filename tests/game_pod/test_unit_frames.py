"""Frames that carry only what changed: objects with an id are sent when new or changed, and again after a restart."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import msgpack

from gymkube.game_pod.frames import FrameEncoder
from gymkube.spec.gym import GymScene


def scene(**rendering: Any) -> GymScene:
    return GymScene.model_validate(
        {"type": "gym", "id": "s", "environment": {"entryPoint": "x:y"}, "players": {"a": {"type": "human"}},
         "controls": {"keys": {"ArrowLeft": 0}}, "rendering": rendering}
    )  # fmt: skip


class Board:
    """A renderer that changes its objects' dicts in place, as a lazy one might."""

    def __init__(self) -> None:
        self.chef = {"id": "chef", "kind": "rect", "x": 0, "y": 0, "w": 1, "h": 1}
        self.onion = {"id": "onion", "kind": "circle", "x": 5, "y": 5, "r": 1}
        self.items = [self.chef, self.onion, {"kind": "text", "x": 0, "y": 0, "text": "no id"}]

    def render(self) -> list[dict[str, Any]]:
        return list(self.items)


def encoder(board: Board, **rendering: Any) -> FrameEncoder:
    return FrameEncoder(scene(**rendering), SimpleNamespace(render_objects=board.render), None)


def test_only_new_and_changed_objects_are_sent_and_a_restart_sends_them_all() -> None:
    board = Board()
    frames = encoder(board)
    first = frames._objects()
    assert first["k"] is True and [o["id"] for o in first["u"]] == ["chef", "onion"] and first["x"] is None
    assert [o["text"] for o in first["o"]] == ["no id"]  # objects without an id go every frame
    assert frames._objects() | {"o": None} == {"o": None, "p": None, "u": None, "x": None, "k": None}
    board.chef["x"] = 1  # changed in place: still seen as a change
    assert [o["id"] for o in frames._objects()["u"]] == ["chef"]
    board.items.remove(board.onion)
    assert frames._objects()["x"] == ["onion"]
    frames.resend_permanent()  # a new episode, or a page that connected again
    again = frames._objects()
    assert again["k"] is True and [o["id"] for o in again["u"]] == ["chef"]


def test_without_delta_frames_every_object_goes_every_frame() -> None:
    board = Board()
    frames = encoder(board, deltaFrames=False)
    for _ in range(2):
        fields = frames._objects()
        assert len(fields["o"]) == 3 and "u" not in fields


def test_a_still_scene_costs_a_few_bytes_a_frame() -> None:
    board = Board()
    board.items += [{"id": f"counter{i}", "kind": "rect", "x": i, "y": 0, "w": 1, "h": 1} for i in range(40)]
    full, delta = encoder(board, deltaFrames=False), encoder(board)
    delta._objects()
    board.chef["x"] = 3
    sizes = [len(msgpack.packb(e._objects())) for e in (full, delta)]
    assert sizes[1] * 10 < sizes[0], sizes
