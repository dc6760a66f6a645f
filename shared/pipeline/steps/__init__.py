"""The steps a stored message goes through: one module each, named in `STEPS`, run in that order.

`store` runs before them (its own transaction, for the whole batch) and
`record` after them (the outcome); `pipeline/driver.py` runs everything.
A step module has:

- `run(w: Work) -> None`, in the processing transaction, at its turn: it
  reads what earlier steps set on `w`, sets what it establishes, and raises
  a Disposition (`Ignore`, `Reject` from `outcomes.py`) to end the message
  with that outcome, or a TempFail to leave it `received` for the sender's
  retry (with its decisions recorded). Any other exception records the
  message as failed; an unavailable database leaves it for a retry.
- optionally `read(w: Work) -> None`: work that needs only the message's
  headers (`w.msg` is the header section) -- no database -- run for every
  message of the batch before the transaction begins. What it finds waits
  on `w` for the step's `run`; if it raises, reading stops there and the
  exception is raised when the step's turn comes (so the order holds: a
  duplicate bounce is a duplicate).
- optionally `read_body(w: Work) -> None`: the same for work on the body
  (`w.body()`: decoding, parsing), run after the headers' reading and only
  for a message that the steps before BODY_STEP would not end: the driver
  foresees that on the database, without writing. So mail refused at
  authorise (an unknown sender, a forged reply) costs no body decoding.

Adding a step: a module here with those functions, and its name in STEPS
(docs/architecture.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

STEPS = ("dedupe", "guard", "route", "sender_auth", "authorise", "parse", "act", "service_desk")
BODY_STEP = "parse"  # the first step whose `run` needs the body; the steps before it decide on the headers


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable
    read: Callable | None = None
    read_body: Callable | None = None


def load(names: tuple[str, ...] = STEPS) -> tuple[Step, ...]:
    """The step modules named, in order."""
    steps = []
    for name in names:
        module = importlib.import_module(f"{__name__}.{name}")
        steps.append(Step(name, module.run, getattr(module, "read", None), getattr(module, "read_body", None)))
    return tuple(steps)
