"""The milter's rate limits as a pure module: a sliding window per key, bounded memory (issue 20 item 4)."""

from __future__ import annotations

import pytest

from mailgate.shared.ratelimit import Rate, RateError, SlidingWindow, parse_rate


class Clock:
    def __init__(self) -> None:
        self.now = 960.0  # the start of a minute (windows are aligned to the clock)

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("text, rate", [
    ("30/minute", Rate(30, 60.0)), ("120/hour", Rate(120, 3600.0)), ("5/second", Rate(5, 1.0)),
    (" 10 / Minute ", Rate(10, 60.0)), ("1000/day", Rate(1000, 86400.0)),
])
def test_rates_are_read_from_text(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "off", ""])
def test_zero_or_off_is_no_limit(text):
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["30", "x/minute", "30/fortnight", "-1/minute", "30/minute/2", "1e3/hour"])
def test_anything_else_is_an_error_that_shows_the_form(text):
    with pytest.raises(RateError, match="N/second, N/minute, N/hour or N/day"):
        parse_rate(text)


def test_the_limit_holds_per_key_and_the_window_slides():
    clock = Clock()
    window = SlidingWindow(Rate(3, 60.0), clock=clock)
    assert [window.hit("a") for _ in range(4)] == [True, True, True, False]
    assert window.hit("b")  # another key has its own count
    clock.now += 60  # the next window: at its start the previous window weighs fully
    assert not window.hit("a")  # the previous window's 3 still count fully at its very start
    clock.now += 30  # half-way: 3 * 0.5 = 1.5 weighed + hits in this window
    assert window.hit("a")
    clock.now += 120  # two windows on: nothing weighs
    assert all(window.hit("a") for _ in range(3)) and not window.hit("a")


def test_refused_hits_do_not_count_against_the_future():
    """A client hammering while blocked is not blocked longer for it (its 4xx cost it nothing to send)."""
    clock = Clock()
    window = SlidingWindow(Rate(2, 10.0), clock=clock)
    assert window.hit("a") and window.hit("a")
    for _ in range(100):
        assert not window.hit("a")
    clock.now += 20
    assert window.hit("a")


def test_memory_is_bounded_whatever_the_number_of_keys():
    clock = Clock()
    window = SlidingWindow(Rate(1, 60.0), clock=clock, max_keys=1000)
    for i in range(10_000):
        window.hit(f"sender{i}@example.org")
    assert len(window) <= 1000
    assert window.hit("new@example.org")
