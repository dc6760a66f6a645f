"""Every corpus file goes through the real pipeline and ends with a status, never `failed`.

In-process (one database for all files) so the whole corpus takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CORPUS

FILES = sorted(p for folder in ("mime", "classify") for p in (CORPUS / folder).rglob("*.eml"))


def test_corpus_is_present():
    assert len(FILES) > 700, f"corpus not found or incomplete under {CORPUS} (set MAILGATE_CORPUS)"


@pytest.mark.parametrize("routed", [False, True], ids=["by-headers", "to-create-address"])
def test_every_corpus_message_is_stored_with_a_status(db, settings, seed, routed):
    from mailgate.shared.envelope import Envelope
    from mailgate.shared.pipeline import receive

    if routed:
        # A default author lets unknown senders through, so every message
        # goes the whole way: parse, act and notification.
        from mailgate.shared import directory

        with db.transaction() as s:
            directory.set_default_author(s, seed.create_address, "carol", actor="test")
    failed, processed = [], 0
    for path in FILES:
        env = Envelope(source="test", recipients=[seed.create_address] if routed else [])
        out = receive(db, settings, env, path.read_bytes())
        if out.id is None or out.status not in ("processed", "ignored", "rejected"):
            failed.append(f"{path.relative_to(CORPUS)}: {out.status}/{out.reason}")
        processed += out.status == "processed"
    assert failed == []
    if routed:
        assert processed >= 50  # not all refused early (most classify files are robots): parse and act ran
