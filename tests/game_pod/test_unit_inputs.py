"""HumanSlot: how key downs and ups between ticks become one recorded action per tick."""

from __future__ import annotations

from gymkube.portable.inputs import HumanSlot, TurnClock

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


def moded(mode: str, keys: dict[str, int] | None = None, default: int | str = 9) -> HumanSlot:
    return HumanSlot(agent="agent", keys=dict(keys or KEYS), default=default, mode=mode)


def test_in_tap_mode_a_held_key_acts_once_and_each_press_is_one_action():
    human = moded("tap")
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")  # held on and on: still one action
    assert actions(human, 3) == [(0, "human"), (9, "default"), (9, "default")]
    keyboard.release("ArrowLeft")
    for key in ("ArrowRight", "ArrowUp", "ArrowRight"):  # three presses between two ticks: three steps, in order
        keyboard.press(key)
        keyboard.release(key)
    assert actions(human, 4) == [(1, "human"), (2, "human"), (1, "human"), (9, "default")]


def test_in_tap_mode_each_step_reports_the_press_it_took():
    human = moded("tap")
    keyboard = Keyboard(human)
    keyboard.press("ArrowLeft")
    keyboard.press("ArrowRight")
    first, second, third = (human.take_action()[2] for _ in range(3))
    assert (first.seq, second.seq, third) == (1, 2, None)


def test_in_turn_mode_a_slot_is_ready_once_pressed_and_a_burst_is_bounded():
    human = moded("turn")
    keyboard = Keyboard(human)
    assert not human.ready
    keyboard.press("ArrowLeft")
    keyboard.release("ArrowLeft")  # a release is not a press: nothing more queued
    assert human.ready and actions(human, 1) == [(0, "human")] and not human.ready
    for _ in range(20):
        keyboard.press("ArrowUp")
        keyboard.release("ArrowUp")
    assert len(human.queue) == 8 and human.ignored == 12
    human.present = False
    assert human.ready  # an absent player is not waited for
    assert actions(human, 1) == [(9, "absent")] and not human.queue


COMBO_KEYS = {"ArrowUp": 1, "ArrowLeft": 3, "ArrowUp+ArrowLeft": 5, "pad:b0": 7, "pad:b0+ArrowUp": 8}


def test_keys_held_together_take_their_combination_over_either_key():
    human = moded("held", COMBO_KEYS)
    keyboard = Keyboard(human)
    keyboard.press("ArrowUp")
    assert actions(human, 1) == [(1, "human")]
    keyboard.press("ArrowLeft")
    assert actions(human, 2) == [(5, "human")] * 2
    keyboard.release("ArrowUp")
    assert actions(human, 1) == [(3, "human")]


def test_in_tap_mode_the_rest_of_a_combination_pressed_before_the_step_makes_it_the_combination():
    human = moded("tap", COMBO_KEYS)
    keyboard = Keyboard(human)
    keyboard.press("ArrowUp")
    keyboard.press("ArrowLeft")
    assert actions(human, 2) == [(5, "human"), (9, "default")]
    keyboard.release("ArrowUp")
    keyboard.release("ArrowLeft")
    keyboard.press("ArrowUp")
    assert actions(human, 1) == [(1, "human")]
    keyboard.press("ArrowLeft")  # the step took the ArrowUp already: the combination is a press of its own
    assert actions(human, 1) == [(5, "human")]


def test_gamepad_buttons_act_as_keys_and_record_the_source_gamepad():
    human = moded("held", COMBO_KEYS)
    keyboard = Keyboard(human)
    keyboard.press("pad:b0")
    assert actions(human, 1) == [(7, "gamepad")]
    keyboard.press("ArrowUp")  # a gamepad button and a key together
    assert actions(human, 1) == [(8, "gamepad")]
    keyboard.release("pad:b0")
    assert actions(human, 1) == [(1, "human")]
    assert human.on_input("pad:b1", True, 99, None, None) is False  # a button the scene does not map


def test_a_turn_clock_measures_the_wait_and_says_when_it_is_over():
    clock = TurnClock(timeout_s=2.0)
    clock.restart(100.0)
    assert clock.waited_ms(100.25) == 250.0 and not clock.expired(101.99) and clock.expired(102.0)
