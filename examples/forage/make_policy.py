"""Build policy.onnx, the hand-wired AI partner (red) for the Forage example, and check it.

Run `python examples/forage/make_policy.py [--out PATH]`; the output is byte-identical on
every run. No training: the weights are written down so a researcher can read them.

The policy reads red's observation [x, y, partner x, partner y, dx, dy] (see forage_env.py)
and outputs logits for the actions [stay, up, down, left, right]:

1. Seek: a linear layer scoring each move by how far it brings red towards the nearest
   apple (up = -dy, down = +dy, left = -dx, right = +dx, stay = 0, in grid cells), so the
   largest logit is a step along the longer axis of the way to the apple.
2. Don't bump: a move into the partner's cell is blocked by the environment, so that move
   gets -10, and the two moves across it get +0.5 when they stay inside the grid. Without
   this, red would push against a partner standing still between it and the apple forever.

The second part needs the cell size, so the policy is built for the default 7x7 grid.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GRID = 7
ACTIONS = ("stay", "up", "down", "left", "right")
MOVES = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
ACROSS = {"up": ("left", "right"), "down": ("left", "right"),
          "left": ("up", "down"), "right": ("up", "down")}  # fmt: skip
BLOCKED_PENALTY = 10.0
DETOUR_BONUS = 0.5
OUT = Path(__file__).with_name("policy.onnx")


def weights() -> dict[str, np.ndarray]:
    """The constant tensors of the graph, float32."""
    half, span = (GRID - 1) / 2, GRID - 1
    # obs -> cells: columns x, y, partner offset ox, oy, apple offset dx, dy, in grid cells.
    to_cells = np.zeros((6, 6))
    to_cells[0, 0] = to_cells[1, 1] = half
    to_cells[2, 2] = to_cells[3, 3] = half
    to_cells[0, 2] = to_cells[1, 3] = -half
    to_cells[4, 4] = to_cells[5, 5] = span
    cells_bias = np.array([half, half, 0, 0, 0, 0])
    seek = np.zeros((6, 5))
    seek[5, 1], seek[5, 2], seek[4, 3], seek[4, 4] = -1, 1, -1, 1
    # |ox - mx|, |oy - my| for each move: the partner is in the way when both are 0.
    offset = np.zeros((6, 8))
    offset_bias = np.zeros(8)
    pair_sum = np.zeros((8, 4))
    # How far red can go each way before the wall, clipped to 0..1: up y, down 6-y, ...
    room = np.zeros((6, 4))
    room_bias = np.zeros(4)
    across = np.zeros((4, 4))
    penalty = np.zeros((4, 5))
    bonus = np.zeros((4, 5))
    for i, (name, (mx, my)) in enumerate(MOVES.items()):
        offset[2, 2 * i], offset_bias[2 * i] = 1, -mx
        offset[3, 2 * i + 1], offset_bias[2 * i + 1] = 1, -my
        pair_sum[2 * i, i] = pair_sum[2 * i + 1, i] = -1
        axis = 0 if mx else 1
        room[axis, i], room_bias[i] = (1, 0) if mx + my < 0 else (-1, span)
        for other in ACROSS[name]:
            across[list(MOVES).index(other), i] = 1
        penalty[i, 1 + i] = -BLOCKED_PENALTY
        bonus[i, 1 + i] = DETOUR_BONUS
    tensors = {
        "to_cells": to_cells, "cells_bias": cells_bias, "seek": seek, "offset": offset,
        "offset_bias": offset_bias, "pair_sum": pair_sum, "one": np.ones(1), "room": room,
        "room_bias": room_bias, "zero": np.zeros(()), "across": across, "penalty": penalty,
        "bonus": bonus, "clip_max": np.ones(()),
    }  # fmt: skip
    return {name: value.astype(np.float32) for name, value in tensors.items()}


def build_model() -> onnx.ModelProto:
    """The ONNX graph: obs [batch, 6] float32 -> logits [batch, 5] float32."""
    nodes = [
        ("MatMul", ["obs", "to_cells"], "cells_raw"),
        ("Add", ["cells_raw", "cells_bias"], "cells"),
        ("MatMul", ["cells", "seek"], "seek_logits"),
        ("MatMul", ["cells", "offset"], "offset_raw"),
        ("Add", ["offset_raw", "offset_bias"], "offset_signed"),
        ("Abs", ["offset_signed"], "offset_abs"),
        ("MatMul", ["offset_abs", "pair_sum"], "distance_neg"),
        ("Add", ["distance_neg", "one"], "blocked_raw"),
        ("Relu", ["blocked_raw"], "blocked"),
        ("MatMul", ["cells", "room"], "room_raw"),
        ("Add", ["room_raw", "room_bias"], "room_cells"),
        ("Clip", ["room_cells", "zero", "clip_max"], "room_ok"),
        ("MatMul", ["blocked", "across"], "blocked_across"),
        ("Mul", ["blocked_across", "room_ok"], "detour"),
        ("MatMul", ["blocked", "penalty"], "penalty_logits"),
        ("MatMul", ["detour", "bonus"], "bonus_logits"),
        ("Add", ["seek_logits", "penalty_logits"], "seek_safe"),
        ("Add", ["seek_safe", "bonus_logits"], "logits"),
    ]
    graph = helper.make_graph(
        [helper.make_node(op, ins, [out], name=out) for op, ins, out in nodes],
        "forage_red_partner",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 6])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
        [numpy_helper.from_array(value, name) for name, value in weights().items()],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="gymkube-examples",
        producer_version="1",
        ir_version=8,
        doc_string="Forage AI partner: step towards the nearest apple, around the partner.",
    )
    helper.set_model_props(model, {"actions": ", ".join(ACTIONS), "grid": f"{GRID}x{GRID}"})
    onnx.checker.check_model(model, full_check=True)
    return model


def _observation(red: tuple[int, int], blue: tuple[int, int], apple: tuple[int, int]) -> list:
    span = GRID - 1
    scale = [2 * c / span - 1 for c in (*red, *blue)]
    return scale + [(apple[0] - red[0]) / span, (apple[1] - red[1]) / span]


def check(path: Path) -> None:
    """Run the saved model with onnxruntime on a few situations with known answers."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cases = [  # red, blue, nearest apple -> expected action
        ((3, 3), (0, 0), (3, 0), "up"),
        ((3, 3), (0, 0), (6, 4), "right"),
        ((3, 3), (4, 3), (6, 3), "up"),  # blue in the way: step around it
        ((3, 0), (4, 0), (6, 0), "down"),  # ... not into the top wall
        ((3, 3), (4, 3), (5, 4), "down"),  # blue in the way, the other axis also helps
    ]
    obs = np.array([_observation(r, b, a) for r, b, a, _ in cases], dtype=np.float32)
    (logits,) = session.run(["logits"], {"obs": obs})
    got = [ACTIONS[int(i)] for i in logits.argmax(axis=1)]
    want = [case[3] for case in cases]
    if got != want:
        raise SystemExit(f"policy check failed: got {got}, expected {want}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT.name} here")
    args = parser.parse_args()
    args.out.write_bytes(build_model().SerializeToString())
    check(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); checked with onnxruntime")


if __name__ == "__main__":
    main()
