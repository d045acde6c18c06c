"""Build policy.onnx, the AI paddle for the Pong examples, and check it.

Run `python examples/pong/make_policy.py [--out PATH]`; the output is byte-identical on every run.
The policy reads an agent's observation [own paddle centre, ball x, ball y, ball vx, ball vy,
partner paddle centre] (see pong_env.py) and outputs logits for [stay, up, down]: move towards the
ball's height, stay when it is within a cell of the paddle's centre. One linear layer, no training.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).with_name("policy.onnx")


def build() -> onnx.ModelProto:
    """logits = obs @ W + b: up scores paddle - ball, down ball - paddle, stay a constant 1."""
    weights = np.zeros((6, 3), dtype=np.float32)
    weights[0, 1], weights[2, 1] = 1.0, -1.0  # up: paddle centre below the ball (larger y)
    weights[0, 2], weights[2, 2] = -1.0, 1.0  # down
    bias = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["obs", "W", "b"], ["logits"])],
        "pong_paddle",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, producer_name="gymkube-examples", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.write_bytes(build().SerializeToString())
    import onnxruntime as ort

    session = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    for paddle, ball, expected in ((10.0, 20.0, 2), (20.0, 10.0, 1), (15.0, 15.3, 0)):
        obs = np.array([[paddle, 24.0, ball, 1.0, 1.0, 16.0]], dtype=np.float32)
        logits = session.run(None, {"obs": obs})[0][0]
        assert int(np.argmax(logits)) == expected, (paddle, ball, logits)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes); checks passed")


if __name__ == "__main__":
    main()
