"""AI players: ONNX policies through onnxruntime, random and no-op actors; all seeded."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from gymkube.game_pod.environments import bundle_file
from gymkube.spec.gym import NoopPlayer, PolicyPlayer, RandomPlayer


class Actor(Protocol):
    """Chooses an action for one agent from the current observation."""

    seed: int | None
    source: str

    def act(self, observation: Any) -> int:
        """The action to take this step."""
        ...


@lru_cache(maxsize=32)
def load_policy(path: str) -> Any:
    """One onnxruntime session per model file, shared by every game in the pod."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def feed_observation(observation: Any, agent: str, key: str | None, flatten: bool) -> np.ndarray:
    """The policy input: the agent's part of a dict observation, as float32 [1, n]."""
    if isinstance(observation, dict):
        observation = observation[key or agent] if (key or agent) in observation else observation
    if isinstance(observation, dict):
        observation = np.concatenate([np.ravel(v) for _, v in sorted(observation.items())])
    array = np.asarray(observation, dtype=np.float32)
    return array.reshape(1, -1) if flatten else array[None, ...]


class PolicyActor:
    """Runs an ONNX policy: greedy argmax, or sampled from softmax(logits / temperature)."""

    source = "policy"

    def __init__(self, spec: PolicyPlayer, agent: str, bundle_dir: Path, seed: int) -> None:
        self.session = load_policy(str(bundle_file(bundle_dir, spec.file)))
        self.input_name = self.session.get_inputs()[0].name
        self.spec = spec
        self.agent = agent
        self.seed = seed if spec.selection == "sample" else None
        self.rng = np.random.default_rng(seed)

    def act(self, observation: Any) -> int:
        """One forward pass."""
        x = feed_observation(observation, self.agent, self.spec.observation.key, True)
        logits = np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float64)
        logits = logits.reshape(-1)
        if self.spec.selection == "greedy":
            return int(np.argmax(logits))
        z = logits / self.spec.temperature
        p = np.exp(z - z.max())
        return int(self.rng.choice(len(p), p=p / p.sum()))


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


class NoopActor:
    """Always the same action."""

    source = "noop"
    seed: int | None = None

    def __init__(self, action: int) -> None:
        self.action = action

    def act(self, observation: Any) -> int:
        """The fixed action."""
        return self.action


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
