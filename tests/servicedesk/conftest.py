"""Service-desk fixtures: a desk address, and a task with an external participant made directly in the data layer."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mailgate.shared import directory, durability
from mailgate.shared.rows import UserRef, task_by_id
from mailgate.shared.servicedesk import participants
from mailgate.shared import tracker

DESK = "support@reply.example.com"


@pytest.fixture
def desk(db, settings, seed) -> str:
    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", DESK, actor="test", service_desk=True)
    return DESK


@dataclass
class DeskTask:
    ref: str
    task_id: int
    participant: participants.ParticipantRow


@pytest.fixture
def desk_task(db, settings, seed, desk) -> DeskTask:
    """T1 on the desk, authored by the Support identity, alice subscribed, jane@customer.example its participant."""
    with durability.transaction(db) as conn:
        support = participants.support_identity(conn)
        task = tracker.create_task(conn, app_id=1, app_name="tasks", author=support, title="Printer on fire",
                                   description="It burns.", attachments=[], source_message_id=None)
        tracker.subscribe(conn, task, UserRef(seed.alice, "alice", "Alice", True))
        p = participants.add(conn, task_id=task.id, address="jane@customer.example", name="Jane Doe", via="from",
                             desk=desk, thread_root="original-1@customer.example")
    return DeskTask(task.ref, task.id, p)


def task_row(db, task_id: int):
    with db.reading() as conn:
        return task_by_id(conn, task_id)
