"""Rate limits for the milter: a sliding-window counter per key, in memory, bounded.

The estimate for a key is this window's count plus the previous window's
count weighted by how much of it still overlaps the last `period` seconds
(the "sliding window counter"): two integers per key, O(1) per hit, no
timer. Only allowed hits are counted, so a client that keeps knocking while
refused is let in again as soon as its earlier traffic has aged out.

Written here rather than taken from the `limits` package: its in-memory
storage starts a `threading.Timer` whenever keys are live and sweeps every
key in it each 10 ms, inside the milter process whose session threads share
one GIL, and it reads the wall clock (a clock step would reset or freeze
limits). Limits are per process, i.e. per MX host.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_RATE = re.compile(r"\s*(\d{1,9})\s*/\s*(second|minute|hour|day)\s*", re.IGNORECASE)
FORM = "N/second, N/minute, N/hour or N/day (0 or off: no limit)"


class RateError(ValueError):
    """A rate that cannot be read; the message shows the form."""


@dataclass(frozen=True)
class Rate:
    limit: int
    period: float  # seconds

    def __str__(self) -> str:
        unit = next(name for name, seconds in _UNITS.items() if seconds == self.period)
        return f"{self.limit}/{unit}"


def parse_rate(text: str | None) -> Rate | None:
    """`30/minute` -> Rate(30, 60.0); "", "0" or "off" -> None (no limit)."""
    value = (text or "").strip()
    if value.lower() in ("", "0", "off"):
        return None
    match = _RATE.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise RateError(f"{text!r} is not a rate: use {FORM}")
    return Rate(int(match.group(1)), _UNITS[match.group(2).lower()])


class SlidingWindow:
    """hit(key) -> True while `key` stays within its rate; thread-safe, at most `max_keys` keys held."""

    def __init__(self, rate: Rate, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 50_000) -> None:
        self.rate, self.clock, self.max_keys = rate, clock, max_keys
        self._lock = threading.Lock()
        self._keys: dict[str, list[int]] = {}  # key -> [window number, count in it, count in the one before]

    def __len__(self) -> int:
        return len(self._keys)

    def hit(self, key: str) -> bool:
        now = self.clock()
        period = self.rate.period
        window = int(now // period)
        weight = 1.0 - (now - window * period) / period  # how much of the previous window still overlaps
        with self._lock:
            entry = self._keys.get(key)
            if entry is None:
                self._make_room(window)
                entry = self._keys[key] = [window, 0, 0]
            elif entry[0] != window:
                entry[2] = entry[1] if entry[0] == window - 1 else 0
                entry[0], entry[1] = window, 0
            if entry[1] + entry[2] * weight >= self.rate.limit:
                return False
            entry[1] += 1
            return True

    def _make_room(self, window: int) -> None:
        """Drop keys idle for two windows; if that is not enough (a flood of new keys), start afresh."""
        if len(self._keys) < self.max_keys:
            return
        self._keys = {k: e for k, e in self._keys.items() if e[0] >= window - 1}
        if len(self._keys) >= self.max_keys:
            self._keys.clear()


class MessageLimits:
    """The milter's two limits: messages for Mailgate per client IP and per envelope sender."""

    def __init__(self, per_client: Rate | None, per_sender: Rate | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = SlidingWindow(per_client, clock=clock) if per_client else None
        self.sender = SlidingWindow(per_sender, clock=clock) if per_sender else None

    def over(self, client_addr: str, sender: str | None) -> str | None:
        """Who is over its rate ("client 192.0.2.7", "sender a@b"), or None and the message is counted.

        The null sender (every MTA's bounces) has no sender limit: its client's limit applies.
        """
        if self.client is not None and client_addr and not self.client.hit(client_addr):
            return f"client {client_addr}"
        who = (sender or "").lower()
        if self.sender is not None and who and not self.sender.hit(who):
            return f"sender {who}"
        return None
