"""The stager: each participant's own copy of the flow, with blocks ordered and repeated."""

from __future__ import annotations

import hashlib
import itertools
import random

from gymkube.spec.experiment import ExperimentSpec
from gymkube.spec.scenes import Block, BlockItem

MAX_PERMUTED = 6


def _block_orders(block: Block, participant: str, ordinal: int) -> list[list[BlockItem]]:
    scenes = list(block.scenes)
    orders = []
    for rep in range(block.repeat):
        if block.order == "random":
            seed = hashlib.sha256(f"{participant}/{block.id}/{rep}".encode()).digest()
            shuffled = scenes[:]
            random.Random(seed).shuffle(shuffled)
            orders.append(shuffled)
        elif block.order == "counterbalance":
            # All orders when few enough, else a cyclic Latin square: rotation by ordinal.
            if len(scenes) <= MAX_PERMUTED:
                perms = list(itertools.permutations(scenes))
                orders.append(list(perms[(ordinal + rep) % len(perms)]))
            else:
                shift = (ordinal + rep) % len(scenes)
                orders.append(scenes[shift:] + scenes[:shift])
        else:
            orders.append(scenes)
    return orders


def build_flow(spec: ExperimentSpec, participant: str, ordinal: int) -> list[str]:
    """Scene instance ids in the order this participant sees them.

    A repeated scene's later instances are named `id#2`, `id#3`...; the assignment is
    deterministic for a participant, so a resumed session gets the same flow.
    """
    flow: list[str] = []
    for item in spec.scenes:
        if isinstance(item, Block):
            for rep, order in enumerate(_block_orders(item, participant, ordinal)):
                flow.extend(s.id if rep == 0 else f"{s.id}#{rep + 1}" for s in order)
        else:
            flow.append(item.id)
    return flow


def scene_id_of(instance: str) -> str:
    """The spec scene id behind an instance id (`play#2` -> `play`)."""
    return instance.split("#", 1)[0]
