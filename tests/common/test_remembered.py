"""common.remembered: found answers kept for their seconds, misses never kept, and forgetting."""

from common.remembered import Remembered


class Clock:
    def __init__(self):
        self.at = 100.0

    def __call__(self):
        return self.at


def test_a_found_answer_is_kept_for_its_seconds_then_looked_up_again():
    clock, looked = Clock(), []
    remembered = Remembered(seconds=5, size=10, clock=clock)

    def look_up():
        looked.append(clock.at)
        return f"answer {len(looked)}"

    assert remembered.get("k", look_up) == "answer 1"
    clock.at += 4.9
    assert remembered.get("k", look_up) == "answer 1"
    clock.at += 0.2
    assert remembered.get("k", look_up) == "answer 2"
    assert len(looked) == 2


def test_a_miss_is_never_kept_so_a_new_row_is_seen_at_once():
    remembered = Remembered(seconds=5, size=10, clock=Clock())
    answers = iter([None, "made since"])
    assert remembered.get("k", lambda: next(answers)) is None
    assert remembered.get("k", lambda: next(answers)) == "made since"


def test_forgetting_and_the_size_bound():
    remembered = Remembered(seconds=5, size=2, clock=Clock())
    for key in ("a", "b"):
        remembered.get(key, lambda key=key: key.upper())
    remembered.forget_all(sender=object, instance=None)  # as a signal receiver calls it
    assert remembered.get("a", lambda: "fresh") == "fresh"
    remembered.get("b", lambda: "B")
    remembered.get("c", lambda: "C")  # a third entry starts afresh rather than grow
    assert remembered.get("a", lambda: "again") == "again"
