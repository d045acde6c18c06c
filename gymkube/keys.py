"""Per-experiment keys, derived from the platform secret so that one experiment's pods hold only their own.

The platform secret never leaves the control plane (and the operator, which hands each experiment
its key in a Secret of its own). A game pod gets its experiment's key and derives from it what it
needs: the key that verifies participant tokens, and the credential it shows the control plane's
internal API. A token made with experiment A's key is refused by B's pods; a pod of A cannot ask
the control plane for B's storage or TURN credentials.

Derivation is HKDF-SHA256 (RFC 5869) from the `cryptography` package. The experiment's uid is part
of the input, so an experiment deleted and created again under the same name gets a new key and
the old tokens stop working.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PARTICIPANT_TOKENS = "participant-token"
"""Purpose: signing and verifying participant tokens (the entry signs, the pods verify)."""
POD_API = "pod-api"
"""Purpose: the bearer credential a game pod shows the control plane's internal API."""
SESSION_COOKIE = "participant-cookie"
"""Purpose: the control plane's signed participant cookie of one experiment."""
POD_CONTROL = "pod-control"
"""Purpose: the bearer credential the control plane shows a game pod to act on a session (the dashboard's actions)."""


def _hkdf(key: str, info: str) -> str:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(key.encode())
    return derived.hex()


def experiment_key(platform_secret: str, namespace: str, name: str, uid: str) -> str:
    """The root key of one experiment (what its game pods receive), from the platform secret."""
    if not platform_secret:
        raise ValueError("the platform secret is empty")
    return _hkdf(platform_secret, f"gymkube/experiment/{namespace}/{name}/{uid}")


def derive(key: str, purpose: str) -> str:
    """A key for one purpose (PARTICIPANT_TOKENS, POD_API, ...) from an experiment's key."""
    return _hkdf(key, f"gymkube/{purpose}")


def token_key(key: str) -> str:
    """The key that signs and verifies an experiment's participant tokens, from the experiment's key."""
    return derive(key, PARTICIPANT_TOKENS)


def same(presented: object, expected: str) -> bool:
    """Constant-time comparison of a presented credential with the expected one."""
    return isinstance(presented, str) and hmac.compare_digest(presented.encode(), expected.encode())
