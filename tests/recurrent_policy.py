"""A recurrent ONNX policy for Pong's right paddle and its adapter, written into a copy of examples/pong.

The model takes the observation `obs` [1, 6] and a memory `h` [1, 1] and returns `logits` [1, 3] and the
new memory `h_out` = h + 1. The logits are [h_out - 4, 4 - h_out, 0.5] (stay, up, down): the policy moves
up while it has acted fewer than 4 times, down at its 4th action, and stays after. So its actions depend on
the memory the adapter carries between steps, and without it (h always 0) it would move up forever.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
from conftest import EXAMPLES
from onnx import TensorProto, helper

ADAPTER = '''
class Memory:
    """Feeds the observation and the memory; keeps the memory the model returns."""

    def __init__(self):
        self.h = 0.0

    def reset(self):
        self.h = 0.0

    def inputs(self, observation, agent):
        return {"obs": [observation[agent]], "h": [[self.h]]}

    def action(self, outputs):
        self.h = outputs["h_out"][0][0]
        return outputs["logits"][0]
'''


def expected_actions(steps: int, act_every: int) -> list[int]:
    """The right paddle's actions in one episode: the k-th time the policy acts, h_out is k."""
    actions = []
    for step in range(steps):
        k = step // act_every + 1
        logits = [k - 4, 4 - k, 0.5]
        actions.append(max(range(3), key=lambda i: (logits[i], -i)))
    return actions


def write_model(path: Path) -> None:
    """The recurrent model (float32 throughout)."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [1, 1], [1.0])
    four = helper.make_tensor("four", TensorProto.FLOAT, [1, 1], [4.0])
    half = helper.make_tensor("half", TensorProto.FLOAT, [1, 1], [0.5])
    nodes = [
        helper.make_node("Add", ["h", "one"], ["h_out"]),
        helper.make_node("Sub", ["h_out", "four"], ["stay"]),
        helper.make_node("Sub", ["four", "h_out"], ["up"]),
        helper.make_node("Concat", ["stay", "up", "half"], ["logits"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "recurrent",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 6]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 1])],
        initializer=[one, four, half],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def recurrent_bundle(folder: Path) -> Path:
    """examples/pong plus recurrent.onnx and the adapter module `memory_adapter`."""
    shutil.copytree(EXAMPLES / "pong", folder)
    write_model(folder / "recurrent.onnx")
    (folder / "memory_adapter.py").write_text(ADAPTER)
    return folder


RIGHT = {"type": "policy", "file": "recurrent.onnx", "adapter": "memory_adapter:Memory", "actEvery": 3}
"""The right paddle's player spec."""
