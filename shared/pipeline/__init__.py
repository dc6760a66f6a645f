"""The mail path: every way a message arrives ends in `receive()` (or `receive_many()` for a batch).

A message is stored first (`steps/store.py`; durable before any answer:
`shared/durability.py`), then goes through the steps named in
`steps.STEPS` (dedupe, guard, route, sender_auth, authorise, parse, act,
service_desk) in one transaction with a savepoint per message (`driver.py`),
and its outcome is
recorded on its row (`steps/record.py`). docs/architecture.md draws the path
and says how to add a step.

Every statement on this path is a prepared statement on the pipeline's own
connection (`Database.pipeline()`, `prepared.py`), reading plain rows
(`rows.py`, `received.py`): no ORM session per message, which costs more
than the mail work itself (bench/RESULTS.md).
"""

from mailgate.shared.pipeline.entry import (
    REPROCESSABLE, NotReprocessable, process, receive, receive_many, recover_stale, reprocess, settled, store,
)
from mailgate.shared.pipeline.work import Timings, Work

__all__ = ["REPROCESSABLE", "NotReprocessable", "Timings", "Work", "process", "receive", "receive_many",
           "recover_stale", "reprocess", "settled", "store"]
