"""AI players: ONNX policies through onnxruntime, random and no-op actors; all seeded."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from gymkube.game_pod.environments import bundle_file
from gymkube.portable.policies import PolicyRunner
from gymkube.spec.gym import NoopPlayer, PolicyPlayer, RandomPlayer

ONNX_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
    "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
}  # fmt: skip
"""Input types a policy's model may take (what an adapter's values are converted to)."""


class Actor(Protocol):
    """Chooses an action for one agent from the current observation."""

    seed: int | None
    source: str

    def act(self, observation: Any) -> int:
        """The action to take this step."""
        ...

    def reset(self) -> None:
        """A new episode starts."""
        ...


@lru_cache(maxsize=32)
def load_policy(path: str) -> Any:
    """One onnxruntime session per model file, shared by every game in the pod."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


class PolicyActor:
    """Runs an ONNX policy through its adapter (gymkube/portable/policies.py): greedy argmax, or sampled from
    softmax(logits / temperature), every `actEvery` steps."""

    source = "policy"

    def __init__(self, spec: PolicyPlayer, agent: str, bundle_dir: Path, seed: int) -> None:
        self.session = load_policy(str(bundle_file(bundle_dir, spec.file)))
        inputs = self.session.get_inputs()
        self.input_types = {i.name: ONNX_TYPES.get(i.type, np.float32) for i in inputs}
        self.first_input = inputs[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.runner = PolicyRunner(agent, spec.adapter, spec.observation.key, spec.act_every, bundle_dir)
        self.spec = spec
        self.agent = agent
        self.seed = seed if spec.selection == "sample" else None
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        """An episode starts: the adapter's recurrent state starts over."""
        self.runner.reset()

    def _feed(self, observation: Any) -> dict[str, np.ndarray]:
        feed: dict[str, np.ndarray] = {}
        for name, value in self.runner.inputs(observation).items():
            name = name or self.first_input
            if name not in self.input_types:
                known = list(self.input_types)
                raise KeyError(f"the policy adapter of {self.agent} fed {name!r}; the model takes {known}")
            feed[name] = np.asarray(value, dtype=self.input_types[name])
        return feed

    def _pick(self, values: list[float]) -> int:
        logits = np.asarray(values, dtype=np.float64)
        if self.spec.selection == "greedy":
            return int(np.argmax(logits))
        z = logits / self.spec.temperature
        p = np.exp(z - z.max())
        return int(self.rng.choice(len(p), p=p / p.sum()))

    def act(self, observation: Any) -> int:
        """One forward pass when the policy is due; its last action again otherwise."""
        outputs = None
        if self.runner.due:
            results = self.session.run(None, self._feed(observation))
            outputs = {name: np.asarray(r).tolist() for name, r in zip(self.output_names, results, strict=True)}
        return self.runner.act(outputs, self._pick)


class RandomActor:
    """Samples the agent's action space with a recorded seed."""

    source = "random"

    def __init__(self, space: gym.Space[Any], seed: int) -> None:
        self.space = space
        self.seed: int | None = seed
        self.space.seed(seed)

    def act(self, observation: Any) -> int:
        """A uniform sample."""
        return int(self.space.sample())

    def reset(self) -> None:
        """Nothing to forget: one seeded stream for the game."""


class NoopActor:
    """Always the same action."""

    source = "noop"
    seed: int | None = None

    def __init__(self, action: int) -> None:
        self.action = action

    def act(self, observation: Any) -> int:
        """The fixed action."""
        return self.action

    def reset(self) -> None:
        """Nothing to forget."""


def agent_space(env: gym.Env[Any, Any], agent: str) -> gym.Space[Any]:
    """The action space of one agent (a Dict space's entry, or the whole space)."""
    space = env.action_space
    if isinstance(space, gym.spaces.Dict | dict):  # a dict: a pure-Python environment's spaces by agent
        return space[agent]
    return space


def make_actor(
    spec: PolicyPlayer | RandomPlayer | NoopPlayer,
    agent: str,
    env: gym.Env[Any, Any],
    bundle_dir: Path,
    seed: int,
) -> Actor:
    """The actor for a non-human player."""
    if isinstance(spec, PolicyPlayer):
        return PolicyActor(spec, agent, bundle_dir, spec.seed if spec.seed is not None else seed)
    if isinstance(spec, RandomPlayer):
        return RandomActor(agent_space(env, agent), spec.seed if spec.seed is not None else seed)
    return NoopActor(spec.action)
