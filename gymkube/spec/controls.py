"""How a participant acts in a gym scene: keys and key combinations, gamepads, and the input mode."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from gymkube.portable.inputs import PAD_PREFIX
from gymkube.spec.base import SpecModel

KEY = r"[A-Za-z0-9 ]{1,20}"
KeyName = Annotated[str, StringConstraints(pattern=rf"^{KEY}$")]
"""A KeyboardEvent.key value such as 'ArrowLeft', 'a' or ' ' (space)."""
KeyCombo = Annotated[str, StringConstraints(pattern=rf"^{KEY}(\+{KEY}){{0,2}}$")]
"""A key, or up to three held together: 'ArrowUp+ArrowLeft'."""
Action = Annotated[int, Field(ge=0, le=1_000_000)]


def _index_text(value: Any) -> Any:
    # YAML reads `{0: 1}` with an int key; JSON (kubectl, the CRD) with a text key. Both mean button 0.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


ButtonIndex = Annotated[str, BeforeValidator(_index_text), StringConstraints(pattern=r"^([0-9]|[12][0-9]|3[01])$")]
"""A button of the browser's standard gamepad layout, 0-31 (0 is the bottom face button)."""
AxisDirection = Annotated[str, StringConstraints(pattern=r"^([0-9]|1[0-5])[+-]$")]
"""An axis and a direction: '0-' is the left stick pushed left, '1+' the left stick pushed down."""


class Gamepad(SpecModel):
    """Gamepad buttons and stick directions to actions (the browser's Gamepad API, standard layout)."""

    buttons: dict[ButtonIndex, Action] = Field(default_factory=dict, max_length=32)
    axes: dict[AxisDirection, Action] = Field(default_factory=dict, max_length=32)
    threshold: float = Field(0.5, gt=0, lt=1, description="How far a stick must be pushed to count as pressed.")

    def keymap(self) -> dict[str, int]:
        """The buttons and stick directions as the keys the page reports."""
        return {f"{PAD_PREFIX}b{b}": a for b, a in self.buttons.items()} | {
            f"{PAD_PREFIX}a{axis}": a for axis, a in self.axes.items()
        }


class Controls(SpecModel):
    """Keys (and key combinations, gamepad buttons) to actions; how presses become steps; the action without one."""

    keys: dict[KeyCombo, Action] = Field(
        default_factory=dict,
        max_length=32,
        description="Keys to actions; 'ArrowUp+ArrowLeft' is an action for two keys held together.",
    )
    default_action: int | Literal["previous"] = Field(
        0, description="The action when no key is held: an action number, or 'previous' to repeat the last."
    )
    mode: Literal["held", "tap", "turn"] = Field(
        "held",
        description="'held': a held key repeats its action every step; 'tap': one action per press, the default "
        "action in between; 'turn': the game waits for a press before each step (turn-based play).",
    )
    turn_timeout_s: float = Field(
        60,
        ge=1,
        le=3600,
        description="Mode 'turn': how long a step waits for a press; then it is played with the default action "
        "(recorded with source 'timeout').",
    )
    gamepad: Gamepad | None = Field(None, description="Gamepad buttons and sticks to actions (recorded as 'gamepad').")

    @model_validator(mode="after")
    def _well_formed(self) -> Controls:
        if isinstance(self.default_action, int) and not 0 <= self.default_action <= 1_000_000:
            raise ValueError("'defaultAction' must be between 0 and 1000000 or 'previous'")
        if not self.keys and not (self.gamepad and self.gamepad.keymap()):
            raise ValueError("'controls.keys' must map at least one key to an action")
        seen: dict[frozenset[str], str] = {}
        for combo in self.keys:
            parts = combo.split("+")
            if len(set(parts)) != len(parts):
                raise ValueError(f"key combination {combo!r} names a key twice")
            if frozenset(parts) in seen:
                raise ValueError(f"key combinations {seen[frozenset(parts)]!r} and {combo!r} are the same keys")
            seen[frozenset(parts)] = combo
        return self

    def keymap(self) -> dict[str, int]:
        """Every input that maps to an action: keys, key combinations and gamepad keys (what the game's slots take)."""
        return dict(self.keys) | (self.gamepad.keymap() if self.gamepad else {})

    @property
    def capture_keys(self) -> list[str]:
        """The single keys the page listens to (each part of a combination once), in spec order."""
        return list(dict.fromkeys(part for combo in self.keys for part in combo.split("+")))
