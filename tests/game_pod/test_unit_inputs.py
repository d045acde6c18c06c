"""HumanSlot: how key downs and ups between ticks become one recorded action per tick."""

from __future__ import annotations

from gymkube.portable.inputs import HumanSlot

KEYS = {"ArrowLeft": 0, "ArrowRight": 1, "ArrowUp": 2}


def slot(default: int | str = 2) -> HumanSlot:
    return HumanSlot(agent="agent", keys=dict(KEYS), default=default)


class Keyboard:
    """Sends events with increasing sequence numbers, as the browser does."""

    def __init__(self, human: HumanSlot) -> None:
        self.human = human
        self.seq = 0

    def press(self, key: str, down: bool = True) -> bool:
        self.seq += 1
        return self.human.on_input(key, down, self.seq, 1000.0 + self.seq, self.seq)

    def release(self, key: str) -> bool:
        return self.press(key, down=False)


def actions(human: HumanSlot, ticks: int) -> list[tuple[int, str]]:
    return [human.take_action()[:2] for _ in range(ticks)]


def test_no_key_gives_the_default_action_recorded_as_default():
    assert actions(slot(default=2), 3) == [(2, "default")] * 3


def test_a_held_key_repeats_its_action_every_tick_until_released():
    human = slot()
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")
    assert actions(human, 4) == [(0, "human")] * 4
    keyboard.release("ArrowLeft")
    assert actions(human, 2) == [(2, "default")] * 2


def test_the_newest_of_two_held_keys_wins_and_the_older_resumes_when_it_is_released():
    human = slot()
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")
    assert actions(human, 1) == [(0, "human")]
    keyboard.press("ArrowRight")
    assert actions(human, 2) == [(1, "human")] * 2
    keyboard.release("ArrowRight")
    assert actions(human, 1) == [(0, "human")]


def test_pressing_a_held_key_again_makes_it_the_newest():
    human = slot()
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")
    keyboard.press("ArrowRight")
    keyboard.press("ArrowLeft")  # key repeat of the older key
    assert actions(human, 1) == [(0, "human")]
    keyboard.release("ArrowLeft")
    assert actions(human, 1) == [(1, "human")]


def test_a_key_tapped_between_two_ticks_still_counts_once():
    human = slot()
    keyboard = Keyboard(human)
    keyboard.press("ArrowRight")
    keyboard.release("ArrowRight")
    assert actions(human, 3) == [(1, "human"), (2, "default"), (2, "default")]


def test_several_taps_between_two_ticks_give_the_last_tapped_key_once():
    human = slot()
    keyboard = Keyboard(human)
    for key in ("ArrowLeft", "ArrowRight"):
        keyboard.press(key)
        keyboard.release(key)
    assert actions(human, 2) == [(1, "human"), (2, "default")]


def test_default_previous_repeats_the_last_action_taken():
    human = slot(default="previous")
    keyboard = Keyboard(human)
    assert actions(human, 1) == [(0, "default")]  # nothing taken yet: action 0
    keyboard.press("ArrowUp")
    assert actions(human, 1) == [(2, "human")]
    keyboard.release("ArrowUp")
    assert actions(human, 3) == [(2, "default")] * 3
    keyboard.press("ArrowRight")
    keyboard.release("ArrowRight")
    assert actions(human, 2) == [(1, "human"), (1, "default")]


def test_an_unknown_key_is_ignored_and_counted():
    human = slot()
    assert human.on_input("KeyQ", True, 1, None, None) is False
    assert human.on_input(None, True, 2, None, None) is False
    assert human.ignored == 2
    assert actions(human, 1) == [(2, "default")]


def test_a_down_flag_that_is_not_a_bool_is_ignored_and_counted():
    human = slot()
    for seq, down in enumerate((1, "true", None, [True]), start=1):
        assert human.on_input("ArrowLeft", down, seq, None, None) is False
    assert human.ignored == 4
    assert actions(human, 1) == [(2, "default")]


def test_a_sequence_number_that_does_not_increase_is_ignored_and_counted():
    human = slot()
    assert human.on_input("ArrowLeft", True, 5, None, None) is True
    assert human.on_input("ArrowLeft", False, 5, None, None) is False  # replayed
    assert human.on_input("ArrowLeft", False, 3, None, None) is False  # stale
    assert human.on_input("ArrowLeft", False, "6", None, None) is False  # not an int
    assert human.ignored == 3
    assert actions(human, 2) == [(0, "human")] * 2  # the key is still held


def test_take_action_reports_the_consumed_input_once():
    human = slot()
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")
    keyboard.press("ArrowRight")
    _, _, first = human.take_action()
    _, _, second = human.take_action()
    assert first is not None
    assert (first.seq, first.client_ms, first.frame) == (2, 1002.0, 2)
    assert first.recv_ns > 0
    assert second is None


def test_malformed_client_timing_is_recorded_as_missing_not_trusted():
    human = slot()
    assert human.on_input("ArrowLeft", True, 1, "soon", 2.5) is True
    _, _, event = human.take_action()
    assert event is not None and event.client_ms is None and event.frame is None


def test_release_all_forgets_held_keys_and_unconsumed_input():
    human = slot()
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")
    keyboard.press("ArrowRight")
    keyboard.release("ArrowRight")
    human.release_all()
    action, source, event = human.take_action()
    assert (action, source, event) == (2, "default", None)


def test_a_key_tapped_while_another_is_held_counts_for_one_tick_then_the_held_key_resumes():
    human = slot()
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")
    assert actions(human, 1) == [(0, "human")]
    keyboard.press("ArrowRight")
    keyboard.release("ArrowRight")
    assert actions(human, 2) == [(1, "human"), (0, "human")]
