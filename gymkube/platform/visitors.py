"""Who comes to the entry: the signed cookie that remembers a participant, and a bound on new arrivals per address.

The cookie is what makes the entry the same on every control plane replica: it names the
participant, the pod they were sent to and their arrival number, signed with the experiment's own
key (so a cookie of experiment A means nothing to B). Nothing about a participant is kept here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from gymkube.keys import SESSION_COOKIE, derive
from gymkube.platform.plane import ControlPlane
from gymkube.platform.runtime.base import ExperimentRecord
from gymkube.tokens import TokenError, is_participant_id, sign_token, verify_signed

COOKIE = "gymkube_participant"
MAX_ADDRESSES = 10_000
"""Addresses whose recent arrivals are remembered (least recently seen forgotten first)."""


@dataclass(frozen=True)
class Visitor:
    """What a genuine entry cookie says."""

    participant: str
    pod: str | None
    ordinal: int | None


def cookie_name(experiment: str) -> str:
    """One cookie per experiment, so taking part in one study does not touch another."""
    return f"{COOKIE}_{experiment}"


def _key(plane: ControlPlane, record: ExperimentRecord) -> str:
    return derive(plane.experiment_key(record), SESSION_COOKIE)


def read_cookie(plane: ControlPlane, record: ExperimentRecord, value: str | None) -> Visitor | None:
    """The visitor a genuine, unexpired cookie of this experiment names; None for none, or a bad one."""
    if value is None:
        return None
    try:
        claims = verify_signed(
            _key(plane, record), value, record.name, record.experiment.spec.recruitment.token_lifetime_s
        )
    except TokenError:
        return None
    participant, pod, ordinal = claims.get("p"), claims.get("pod"), claims.get("n")
    if claims.get("k") != "cookie" or not is_participant_id(participant):
        return None
    return Visitor(
        participant,  # type: ignore[arg-type]
        pod if isinstance(pod, str) and len(pod) <= 253 else None,
        ordinal if isinstance(ordinal, int) and not isinstance(ordinal, bool) and 0 <= ordinal < 2**53 else None,
    )


def make_cookie(plane: ControlPlane, record: ExperimentRecord, visitor: Visitor) -> str:
    """The signed cookie that brings this visitor back to their pod, through any replica."""
    claims: dict[str, Any] = {"x": record.name, "p": visitor.participant, "k": "cookie", "pod": visitor.pod,
                              "n": visitor.ordinal}  # fmt: skip
    return sign_token(_key(plane, record), claims)


class ArrivalLimit:
    """New participants per address: a token bucket each, for the `MAX_ADDRESSES` most recent addresses.

    Each new participant costs a pod place for a few seconds and an arrival number, and anyone can
    open the link without a cookie as often as they like; returning participants are not counted.
    Off by default (`entry_per_minute: 0`): behind a proxy every client has the proxy's address
    unless the proxy is trusted to name it (`forwarded_allow_ips`), and the chart sets both. A lab
    whose computers share one address needs a generous burst.
    """

    def __init__(self, per_minute: float = 60.0, burst: float = 60.0) -> None:
        self.rate, self.burst = per_minute / 60.0, burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, address: str) -> bool:
        """Whether one more new participant may enter from `address` now."""
        now = time.monotonic()
        tokens, stamp = self._buckets.pop(address, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        allowed = tokens >= 1
        self._buckets[address] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > MAX_ADDRESSES:
            self._buckets.popitem(last=False)
        return allowed
