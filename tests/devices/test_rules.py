"""The lock's PIN and name rules, as pure functions: examples plus properties over random locks."""

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import rules


@dataclass
class Lock:
    supported_code_lengths: list[int] = field(default_factory=lambda: [4, 5, 6])
    pin_forbids_zeros: bool = False
    pin_forbids_sequences: bool = False
    pin_requires_unique_first_four: bool = False
    name_max_length: int | None = None
    name_must_be_unique: bool = False
    name_splits_first_last: bool = False


@pytest.mark.parametrize(
    ("pin", "expected"),
    [
        ("123", True),
        ("4321", True),
        ("9124", False),
        ("1357", False),
        ("8789", True),
        ("1212", False),
        ("12", False),
    ],
)
def test_has_sequence(pin, expected):
    assert rules.has_sequence(pin) is expected


def test_a_lock_without_lengths_takes_four_to_eight_digits():
    lock = Lock(supported_code_lengths=[])
    assert rules.pin_violations(lock, "1234") == []
    assert rules.pin_violations(lock, "123456789") == [
        "is 9 digits long; this lock accepts 4, 5, 6, 7, 8 digits."
    ]


def test_taken_prefix_is_a_violation_only_where_the_lock_requires_unique_prefixes():
    assert rules.pin_violations(Lock(), "918273", taken_prefixes={"9182"}) == []
    strict = Lock(pin_requires_unique_first_four=True)
    assert rules.pin_violations(strict, "918273", taken_prefixes={"9182"}) == [
        "shares its first four digits with another code on this lock; they must differ."
    ]


locks = st.builds(
    Lock,
    supported_code_lengths=st.lists(st.integers(4, 8), min_size=1, max_size=5, unique=True),
    pin_forbids_zeros=st.booleans(),
    pin_forbids_sequences=st.booleans(),
    pin_requires_unique_first_four=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(lock=locks, seed=st.integers(0, 2**32), taken=st.sets(st.text("123456789", min_size=4, max_size=4)))
def test_a_generated_pin_satisfies_every_rule_of_the_lock(lock, seed, taken):
    prefixes = set(taken) if lock.pin_requires_unique_first_four else set()
    pin = rules.generate_pin([lock], taken=taken, taken_prefixes=prefixes, rng=random.Random(seed))
    assert pin is not None
    assert rules.pin_violations(lock, pin, taken_prefixes=prefixes) == []
    assert pin not in taken


@settings(max_examples=200, deadline=None)
@given(chosen=st.lists(locks, min_size=1, max_size=4), seed=st.integers(0, 2**32))
def test_a_shared_pin_satisfies_every_chosen_lock_or_none_is_offered(chosen, seed):
    pin = rules.generate_pin(chosen, rng=random.Random(seed))
    if not rules.common_code_lengths(chosen):
        assert pin is None
    else:
        assert pin is not None
        assert all(rules.pin_violations(lock, pin) == [] for lock in chosen)


def test_fit_name_truncates_then_splits():
    lock = Lock(name_max_length=10, name_splits_first_last=True)
    assert rules.fit_name(lock, "  Maria   Fernanda ").as_dict() == {
        "name": "Maria Fern",
        "first_name": "Maria",
        "last_name": "Fern",
    }


def test_fit_name_of_one_word_is_a_first_name():
    lock = Lock(name_splits_first_last=True)
    assert rules.fit_name(lock, "Cleaner").as_dict() == {
        "name": "Cleaner",
        "first_name": "Cleaner",
        "last_name": "",
    }


def test_fit_name_numbers_duplicates_within_the_length_limit():
    lock = Lock(name_max_length=6, name_must_be_unique=True)
    assert rules.fit_name(lock, "Guests", taken=["Guests"]).name == "Gues 2"
    assert rules.fit_name(lock, "Guests", taken=["Guests", "Gues 2"]).name == "Gues 3"


def test_fit_name_gives_a_blank_name_a_default():
    assert rules.fit_name(Lock(), "   ").name == rules.DEFAULT_APPEARANCE_NAME


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(st.characters(blacklist_categories=["C"]), max_size=60),
    limit=st.none() | st.integers(rules.MIN_NAME_LENGTH, 20),
    copies=st.integers(0, 120),
    split=st.booleans(),
)
def test_a_fitted_name_respects_length_and_uniqueness(name, limit, copies, split):
    """Fit the same name again and again, as a lock filling with same-named guests does."""
    lock = Lock(name_max_length=limit, name_must_be_unique=True, name_splits_first_last=split)
    taken: list[str] = []
    for _ in range(copies):
        taken.append(rules.fit_name(lock, name, taken=taken).name)
    fitted = rules.fit_name(lock, name, taken=taken)
    assert fitted.name
    assert limit is None or len(fitted.name) <= limit
    assert fitted.name.casefold() not in {t.casefold() for t in taken}
    if split:
        assert " ".join(p for p in (fitted.first_name, fitted.last_name) if p) == fitted.name


def test_a_numbered_name_on_a_splitting_lock_puts_the_number_on_the_last_name():
    lock = Lock(name_must_be_unique=True, name_splits_first_last=True)
    assert rules.fit_name(lock, "Ana Souza", taken=["Ana Souza"]).as_dict() == {
        "name": "Ana Souza 2",
        "first_name": "Ana",
        "last_name": "Souza 2",
    }


def test_numbering_never_outgrows_a_short_limit():
    lock = Lock(name_max_length=4, name_must_be_unique=True)
    taken = ["Gues", "Gu 2", "Gu 3", "Gu 4", "Gu 5", "Gu 6", "Gu 7", "Gu 8", "Gu 9"]
    assert rules.fit_name(lock, "Guest", taken=taken).name == "G 10"


def test_the_last_free_pin_is_found_by_scanning():
    lock = Lock(supported_code_lengths=[4])
    taken = {f"{n:04d}" for n in range(10_000)} - {"7391"}
    for seed in range(5):
        assert rules.generate_pin([lock], taken=taken, rng=random.Random(seed)) == "7391"


def test_a_longer_length_is_used_when_the_shortest_is_full():
    lock = Lock(supported_code_lengths=[4, 5])
    taken = {f"{n:04d}" for n in range(10_000)}
    assert len(rules.generate_pin([lock], taken=taken, rng=random.Random(1))) == 5
