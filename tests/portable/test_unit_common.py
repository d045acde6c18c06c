"""The pure-Python observation bytes equal numpy's, so a step hashed in the browser replays on the pod."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gymkube.portable.common import pure_value_bytes, value_bytes


@pytest.mark.parametrize(
    "value",
    [3, -7, 2.5, True, [1, 2, 3], [1.0, 2, 3], [True, False], [True, 2], [[1, 2], [3, 4]], (0.1, -0.2),
     [[1.5], [2.5]], [], "abc", ["a", "bcd"], [[[1]], [[2]]], 2**40],
)  # fmt: skip
def test_pure_bytes_equal_numpys(value: Any) -> None:
    assert pure_value_bytes(value) == value_bytes(value) == np.ascontiguousarray(value).tobytes()


@pytest.mark.parametrize("value", [[1, [2, 3]], [[1, 2], [3]], [object()]])
def test_what_numpy_cannot_lay_out_is_refused(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        pure_value_bytes(value)
