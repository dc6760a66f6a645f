"""Every real message goes through the real pipeline and ends with a status, never `failed`.

The bundled set (tests/fixtures/mail) always runs; the external corpus runs
when MAILGATE_CORPUS names it (tests/corpus.py). In-process, one database
for all files, so even the whole external corpus takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .corpus import BUNDLED, bundled_files, external_files, needs_external, require_external

BUNDLED_FILES = bundled_files("mime", "classify")


def _receive_all(db, settings, seed, files: list[Path], root: Path, routed: bool) -> int:
    """Run every file through receive(); return how many were processed, assert none failed."""
    from mailgate.shared.envelope import Envelope
    from mailgate.shared.pipeline import receive

    if routed:
        # A default author lets unknown senders through, so every message
        # goes the whole way: parse, act and notification.
        from mailgate.shared import directory

        with db.transaction() as s:
            directory.set_default_author(s, seed.create_address, "carol", actor="test")
    failed, processed = [], 0
    for path in files:
        env = Envelope(source="test", recipients=[seed.create_address] if routed else [])
        out = receive(db, settings, env, path.read_bytes())
        if out.id is None or out.status not in ("processed", "ignored", "rejected"):
            failed.append(f"{path.relative_to(root)}: {out.status}/{out.reason}")
        processed += out.status == "processed"
    assert failed == []
    return processed


def test_the_bundled_set_is_present():
    assert len(BUNDLED_FILES) >= 160, f"bundled test mail missing under {BUNDLED}"


@pytest.mark.parametrize("routed", [False, True], ids=["by-headers", "to-create-address"])
def test_every_bundled_message_is_stored_with_a_status(db, settings, seed, routed):
    processed = _receive_all(db, settings, seed, BUNDLED_FILES, BUNDLED, routed)
    if routed:
        assert processed >= 50  # not all refused early (the classify files are mostly robots): parse and act ran


@needs_external
def test_external_corpus_is_present():
    root = require_external()
    files = external_files("mime", "classify")
    assert len(files) > 700, f"corpus incomplete under {root} (MAILGATE_CORPUS)"


@needs_external
@pytest.mark.parametrize("routed", [False, True], ids=["by-headers", "to-create-address"])
def test_every_external_corpus_message_is_stored_with_a_status(db, settings, seed, routed):
    root = require_external()
    processed = _receive_all(db, settings, seed, external_files("mime", "classify"), root, routed)
    if routed:
        assert processed >= 50
