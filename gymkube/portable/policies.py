"""What an ONNX policy reads and what its outputs mean: adapters, `actEvery`; the same on the pod and in the browser.

The runtime (onnxruntime on the pod, onnxruntime-web in the browser) only runs the model; this module
decides what goes in and what comes out. By default the agent's part of the observation, flattened, is
the model's first input and its first output holds the action's logits. A scene may name an adapter
(`adapter: module:Class`) from the experiment's files instead; its methods:

- `inputs(observation, agent)` -> {input name: nested list or array}; the name "" is the model's first input.
  Recurrent state goes in here too (the adapter keeps it on itself);
- `action(outputs)` with {output name: nested list}, in the model's output order -> an int (the action), or a
  list of logits (the scene's `selection` picks the action, seeded);
- `reset()` (optional) at each episode's start, so that an episode depends only on its own seed.

With `actEvery: k` the policy acts on steps 1, k+1, 2k+1, ... of an episode and its action repeats between.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from typing import Any

from gymkube.portable.common import import_entry_point

FIRST = ""
"""The input name an adapter uses for the model's first input (the default adapter's only one)."""


def flat_floats(value: Any) -> list[float]:
    """Nested lists, tuples, arrays and numbers as one flat list of floats."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [x for item in value for x in flat_floats(item)]
    return [float(value)]


def policy_input(observation: Any, agent: str, key: str | None) -> list[float]:
    """What a policy reads by default: the agent's part of a dict observation (or its `key`), flattened."""
    if isinstance(observation, dict):
        name = key or agent
        observation = observation[name] if name in observation else observation
    if isinstance(observation, dict):
        return [x for _, v in sorted(observation.items()) for x in flat_floats(v)]
    return flat_floats(observation)


def choose(logits: list[float], selection: str, temperature: float, rng: random.Random) -> int:
    """Greedy argmax, or a draw from softmax(logits / temperature)."""
    if selection == "greedy":
        return max(range(len(logits)), key=lambda i: (logits[i], -i))
    top = max(logits)
    weights = [math.exp((x - top) / temperature) for x in logits]
    return rng.choices(range(len(logits)), weights=weights)[0]


def tensor(value: Any) -> tuple[list[Any], list[int]]:
    """A nested list (or array) as its flat values and its shape; a scalar is shape []."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    shape: list[int] = []
    probe = value
    while isinstance(probe, list | tuple):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    flat: list[Any] = []

    def walk(item: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(item, list | tuple):
                raise ValueError("a policy input is ragged")
            flat.append(item)
            return
        if not isinstance(item, list | tuple) or len(item) != shape[depth]:
            raise ValueError("a policy input is ragged")
        for inner in item:
            walk(inner, depth + 1)

    walk(value, 0)
    return flat, shape


def nested(flat: list[Any], shape: list[int]) -> Any:
    """Flat values and a shape as a nested list (the inverse of `tensor`)."""
    if not shape:
        return flat[0] if flat else None
    size = len(flat) // shape[0] if shape[0] else 0
    return [nested(flat[i * size : (i + 1) * size], shape[1:]) for i in range(shape[0])]


def page_outputs(outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the page's onnxruntime-web returned, {agent: [[output name, flat values, shape], ...]} in the model's
    output order, as {agent: {output name: nested list}} (what adapters read on the pod too)."""
    return {agent: {name: nested(list(flat), list(shape)) for name, flat, shape in entries}
            for agent, entries in outputs.items()}  # fmt: skip


class ObservationAdapter:
    """The default: the agent's observation, flattened, as the first input [1, n]; the first output as logits."""

    def __init__(self, key: str | None) -> None:
        self.key = key

    def inputs(self, observation: Any, agent: str) -> dict[str, Any]:
        """{first input: [flat observation]}."""
        return {FIRST: [policy_input(observation, agent, self.key)]}

    def action(self, outputs: Mapping[str, Any]) -> list[float]:
        """The first output, flattened: logits."""
        return flat_floats(next(iter(outputs.values())))


class PolicyRunner:
    """One policy player's adapter and timing: what to feed the model this step, and the action that follows."""

    def __init__(self, agent: str, adapter: str | None, key: str | None, act_every: int, search_dir: Any) -> None:
        self.agent = agent
        self.adapter: Any = import_entry_point(adapter, search_dir)() if adapter else ObservationAdapter(key)
        self.act_every = max(1, int(act_every))
        self.steps = 0
        self.last: int | None = None

    def reset(self) -> None:
        """An episode starts: the adapter forgets its recurrent state, the repeat count starts over."""
        self.steps, self.last = 0, None
        reset = getattr(self.adapter, "reset", None)
        if callable(reset):
            reset()

    @property
    def due(self) -> bool:
        """Whether the policy acts this step (otherwise its last action repeats)."""
        return self.last is None or self.steps % self.act_every == 0

    def inputs(self, observation: Any) -> dict[str, Any]:
        """The model's inputs for this step, from the adapter."""
        feed = self.adapter.inputs(observation, self.agent)
        if not isinstance(feed, Mapping) or not feed:
            raise TypeError(f"the policy adapter of {self.agent} returned {type(feed).__name__}, not a dict of inputs")
        return dict(feed)

    def decide(self, outputs: Mapping[str, Any], pick: Callable[[list[float]], int]) -> int:
        """The action the model's `outputs` mean: the adapter's int, or the one `pick` chooses from its logits."""
        decided = self.adapter.action(outputs)
        if isinstance(decided, bool) or decided is None:
            raise TypeError(f"the policy adapter of {self.agent} returned {decided!r}, not an action or logits")
        if isinstance(decided, int | float) or getattr(decided, "ndim", None) == 0:
            return int(decided)
        return pick(flat_floats(decided))

    def act(self, outputs: Mapping[str, Any] | None, pick: Callable[[list[float]], int]) -> int:
        """This step's action: from the model's `outputs` when the policy was due, else the last one again."""
        if self.due:
            if outputs is None:
                raise ValueError(f"no policy output for {self.agent}")
            self.last = self.decide(outputs, pick)
        self.steps += 1
        assert self.last is not None
        return self.last
