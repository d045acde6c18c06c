"""Build policy.onnx, the AI chef of the Overcooked examples, by behaviour cloning a scripted chef; then check it.

Run `python examples/overcooked/make_policy.py [--out PATH] [--check-only]` (a few minutes on one core).

What it is, honestly: a small neural network (cogrid's 892 observation features -> 64 -> 64 -> 7 action
logits) trained to imitate scripted_chef.py, a hand-written planner (fetch onions, fill the pot, plate the
soup, serve it; shortest paths around the other chef). It is not trained by reinforcement learning and it
does not learn from people: it plays the way the script plays, imperfectly where its imitation is. It
learns from the teacher's choices in states it reaches itself (DAgger: rounds of playing with the current
network, each state labelled by the teacher), beside partners that cook (another scripted chef), wander
(random moves) or mostly stand still, in either chef's seat of the Cramped Room kitchen.

The check plays the ONNX file through onnxruntime, as the game pod does (greedy), beside a scripted chef
and beside a random partner, and fails unless the pair serves soups both times (a served soup pays both
chefs, so what is counted is the pair's soups). Training is seeded; the network
is written with plain ONNX operators (Gemm, Relu) so onnxruntime-web runs it too.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cogrid.envs.registry  # noqa: E402
import scripted_chef  # noqa: E402

ENV_ID = "Overcooked-CrampedRoom-V0"
OUT = Path(__file__).with_name("policy.onnx")
HIDDEN = 64
ACTIONS = 7
EPISODE_STEPS = 300
SOUP_REWARD = 20.0  # cogrid's DeliveryReward for a served soup


def partner_action(kind: str, state: dict, index: int, rng: random.Random) -> int:
    """What the other chef does: cook (the script), wander, or mostly stand still."""
    if kind == "cook":
        return scripted_chef.act(state, index)
    if kind == "wander":
        return rng.randrange(ACTIONS)
    return rng.randrange(ACTIONS) if rng.random() < 0.1 else scripted_chef.STAY


def play(policy, episodes: int, seed: int) -> tuple[list[np.ndarray], list[int], list[float]]:
    """Episodes in which `policy(obs)` (None: the teacher) plays one seat; the teacher's label for every state seen."""
    rng = random.Random(seed)
    observations, labels, soups = [], [], []
    for episode in range(episodes):
        env = cogrid.envs.registry.make(ENV_ID)
        obs, _ = env.reset(seed=seed + episode)
        me, other = rng.choice([(0, 1), (1, 0)])
        kind = rng.choice(["cook", "cook", "wander", "still"])
        served = 0.0
        for _ in range(EPISODE_STEPS):
            state = env.get_state()
            teacher = scripted_chef.act(state, me)
            observations.append(np.asarray(obs[me], dtype=np.float32))
            labels.append(teacher)
            mine = teacher if policy is None else policy(obs[me])
            obs, rewards, _, _, _ = env.step({me: mine, other: partner_action(kind, state, other, rng)})
            served += rewards[me] >= SOUP_REWARD
        soups.append(served)
    return observations, labels, soups


class Network:
    """Two hidden ReLU layers, trained with Adam on cross-entropy."""

    def __init__(self, inputs: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        sizes = [inputs, HIDDEN, HIDDEN, ACTIONS]
        self.weights = [
            rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:], strict=False)
        ]
        self.biases = [np.zeros(b, np.float32) for b in sizes[1:]]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        layers = [x]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ w + b
            if i < len(self.weights) - 1:
                x = np.maximum(x, 0)
            layers.append(x)
        return x, layers

    def __call__(self, obs: np.ndarray) -> int:
        return int(np.argmax(self.forward(np.asarray(obs, np.float32)[None])[0]))

    def train(self, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> float:
        rng = np.random.default_rng(seed)
        params = self.weights + self.biases
        moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        step = 0
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(x), 256):
                batch = order[start : start + 256]
                logits, layers = self.forward(x[batch])
                p = np.exp(logits - logits.max(axis=1, keepdims=True))
                p /= p.sum(axis=1, keepdims=True)
                grad = p
                grad[np.arange(len(batch)), y[batch]] -= 1
                grad /= len(batch)
                grads_w, grads_b = [], []
                for i in reversed(range(len(self.weights))):
                    grads_w.insert(0, layers[i].T @ grad)
                    grads_b.insert(0, grad.sum(axis=0))
                    if i:
                        grad = (grad @ self.weights[i].T) * (layers[i] > 0)
                step += 1
                for param, g, (m, v) in zip(params, grads_w + grads_b, moments, strict=True):
                    m *= 0.9
                    m += 0.1 * g
                    v *= 0.999
                    v += 0.001 * g * g
                    param -= 1e-3 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        logits, _ = self.forward(x)
        return float((logits.argmax(axis=1) == y).mean())


def to_onnx(network: Network) -> onnx.ModelProto:
    """obs [batch, n] float32 -> logits [batch, 7] float32, as Gemm and Relu nodes."""
    nodes, initializers, current = [], [], "obs"
    for i, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        initializers += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "logits" if i == len(network.weights) - 1 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [out + ("" if out == "logits" else "_")]))
        if out != "logits":
            nodes.append(helper.make_node("Relu", [out + "_"], [out]))
        current = out
    inputs = network.weights[0].shape[0]
    graph = helper.make_graph(
        nodes, "overcooked_chef",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", inputs])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", ACTIONS])],
        initializer=initializers,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gymkube")
    model.ir_version = 8  # onnxruntime-web 1.30 reads IR 8
    onnx.checker.check_model(model)
    return model


def build(seed: int = 0) -> onnx.ModelProto:
    """Clone the teacher: its own games first, then DAgger rounds on the network's games."""
    obs, labels, soups = play(None, 40, seed)
    print(f"teacher: {np.mean(soups):.1f} soups per {EPISODE_STEPS}-step episode (its partners vary)")
    network = Network(len(obs[0]), seed)
    for round_ in range(4):
        accuracy = network.train(np.stack(obs), np.array(labels), epochs=8, seed=seed + round_)
        more_obs, more_labels, soups = play(network, 20, seed + 1000 * (round_ + 1))
        print(f"round {round_}: imitates {accuracy:.1%} of {len(obs)} choices; "
              f"serves {np.mean(soups):.1f} soups per episode")  # fmt: skip
        obs += more_obs
        labels += more_labels
    network.train(np.stack(obs), np.array(labels), epochs=8, seed=seed + 99)
    return to_onnx(network)


def check(path: Path) -> dict[str, float]:
    """Soups served in 300 steps by the ONNX chef (greedy, through onnxruntime) with a scripted cook, and with a
    partner moving at random."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    served = {}
    for kind in ("cook", "wander"):
        rng = random.Random(7)
        env = cogrid.envs.registry.make(ENV_ID)
        obs, _ = env.reset(seed=7)
        total = 0.0
        for _ in range(EPISODE_STEPS):
            state = env.get_state()
            logits = session.run(None, {name: np.asarray(obs[1], np.float32)[None]})[0]
            obs, rewards, _, _, _ = env.step({1: int(np.argmax(logits)), 0: partner_action(kind, state, 0, rng)})
            total += rewards[1] >= SOUP_REWARD
        served[kind] = total
    return served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check-only", action="store_true", help="only check an existing policy")
    args = parser.parse_args()
    if not args.check_only:
        onnx.save(build(), args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    served = check(args.out)
    print(f"check: soups served in {EPISODE_STEPS} steps with a scripted cook {served['cook']:.0f}, "
          f"with a random partner {served['wander']:.0f}")  # fmt: skip
    if min(served.values()) < 1:
        raise SystemExit("the policy does not serve soups: it is not fit to be a partner")


if __name__ == "__main__":
    main()
