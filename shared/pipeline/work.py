"""One message on its way through the steps: what was stored, what reading found, what the steps established.

The steps share this object and nothing else. They read `row` (the
received-message row as stored; no step changes it) and set the fields
below it; the record step turns those into the outcome written on the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from mailgate.shared.addresses import Recipient
from mailgate.shared.config import Settings
from mailgate.shared.envelope import Envelope
from mailgate.shared.logs import MessageLog
from mailgate.shared.message import FromMailbox, load_rest
from mailgate.shared.outcomes import Ignore
from mailgate.shared.parsing import ParsedMessage
from mailgate.shared.prepared import Conn
from mailgate.shared.received import ReceivedRow
from mailgate.shared.rows import TaskRow, UserRef
from mailgate.shared.servicedesk.opening import Requester
from mailgate.shared.servicedesk.participants import ParticipantRow
from mailgate.shared.tracker import CommandPlan


class AlreadySettled(Exception):
    """This very message holds its dedupe claim: another worker (a second host's recover_stale, a console
    reprocess) acted on it since it was read, and that outcome is committed. Ours must not overwrite it."""


class NotForeseeable(Exception):
    """A step cannot say what it would decide without doing what foreseeing must not: asking DNS, or
    writing. The message's body is read, and the step decides at its turn in the transaction."""


@dataclass
class Timings:
    """Seconds spent per stage of the last message (the milter's log line and the benchmarks read these)."""

    batch: int = 1  # messages stored and processed together with this one (Batcher or the writer process)
    wait: float = 0.0  # for this process's writer turn, or for the Batcher's writer thread
    store: float = 0.0
    parse: float = 0.0  # reading, before the transaction: the headers, what the steps before the body foresee, the body
    authorise: float = 0.0  # the steps before `act`
    act: float = 0.0  # `act` and recording the outcome
    durable: float = 0.0  # the one fsync that covers the store and the outcome


@dataclass(eq=False)
class Work:
    """The message in progress (one per message of a batch)."""

    settings: Settings
    envelope: Envelope
    timings: Timings
    row: ReceivedRow | None = None  # as stored (set by the store step, or given to process())
    pending: tuple[dict[str, Any], bytes] | None = None  # the row's values and the bytes the store step keeps
    raw: bytes = b""  # the bytes as stored (sender authentication may verify them late)
    # The email object the readers look at: from the store step its header section only (load_head), until
    # `body()` reads the rest -- only for a message the steps before the body would not end (driver.py).
    msg: Message | None = None
    body_read: bool = True
    body_at: int | None = None  # where `raw`'s body starts when it is one part (message.read_head)
    body_needed: bool = True  # False: the steps before the body were foreseen to end the message (not read)
    foreseeing: bool = False  # a trial run of the steps before the body (driver.foresee): reads only
    conn: Conn | None = None  # the processing transaction's connection
    log: MessageLog | None = None
    decisions: list[str] = field(default_factory=list)  # the decision log, in words, recorded with the outcome

    # What reading found (no database, before the transaction); applied when each step's turn comes.
    robot_verdict: Ignore | None = None
    robot_head_clean: bool = False  # the guard found no robot in the headers (then reads only the body's evidence)
    from_box: FromMailbox | None = None  # the From header's one mailbox, or why there is none
    parsed: ParsedMessage | None = None
    stopped: tuple[str, BaseException, str] | None = None  # (step, exception, traceback) of the read that failed

    # What the steps established, in order; recorded as the outcome.
    recipient: Recipient | None = None
    application: str | None = None
    routed_to: str | None = None
    object_ref: str | None = None
    robot: str | None = None
    author: UserRef | None = None
    actor: str | None = None
    parse: dict[str, Any] | None = None  # the parse as recorded (JSON-safe)
    plan: CommandPlan | None = None
    action: str | None = None
    task: TaskRow | None = None
    comment_id: int | None = None
    # Service desk (docs/service-desk.md): the external participant who writes (a reply) or unsubscribes,
    # or the requester who opens a desk task and is to become one.
    participant: ParticipantRow | None = None
    requester: Requester | None = None
    # Further outcome columns a step established (sender authentication's result), written whatever the
    # outcome; each must be in received.OUTCOME_FIELDS.
    columns: dict[str, Any] = field(default_factory=dict)

    def note(self, sentence: str) -> None:
        self.decisions.append(sentence)

    def body(self) -> Message:
        """The whole message, its MIME structure read from `raw` on first need (the head's decoding kept)."""
        if not self.body_read:
            self.msg = load_rest(self.msg, self.raw, self.body_at)
            self.body_read = True
        return self.msg
