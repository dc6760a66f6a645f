"""The audit trail: every admin change, from the console or the CLI, in one table."""

from __future__ import annotations

import getpass
from typing import Any

from sqlalchemy.orm import Session

from mailgate.shared.models import AuditEntry


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def record(session: Session, actor: str, action: str, target: str = "", **detail: Any) -> AuditEntry:
    """Add an entry in the caller's transaction, so it commits with the change it describes."""
    entry = AuditEntry(actor=actor[:100], action=action[:64], target=target[:400], detail=detail)
    session.add(entry)
    return entry
