"""Where the tests find real mail: the bundled set always, the external corpus on request.

The bundled set (tests/fixtures/mail, permissive licences, see its README)
ships with the repository, so a clone alone passes. The larger external
corpus is opt-in: MAILGATE_CORPUS names its folder (`.ci/run` sets it to
../shared/corpus when that exists). Unset, the tests that need it skip and
say why; set to a folder that is not there, they fail, since someone asked
for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
BUNDLED = TESTS / "fixtures" / "mail"
NOT_SET = "external corpus not configured: set MAILGATE_CORPUS=/path/to/corpus to run these (CI sets it)"


def external_corpus() -> Path | None:
    """The folder MAILGATE_CORPUS names, or None when it is unset."""
    value = os.environ.get("MAILGATE_CORPUS", "").strip()
    return Path(value) if value else None


EXTERNAL = external_corpus()
needs_external = pytest.mark.skipif(EXTERNAL is None, reason=NOT_SET)


def require_external() -> Path:
    """The external corpus, for a test that was not skipped: a wrong path is an error."""
    if EXTERNAL is None:
        pytest.skip(NOT_SET)
    if not EXTERNAL.is_dir():
        pytest.fail(f"MAILGATE_CORPUS={EXTERNAL} is not a folder")
    return EXTERNAL


def external_files(*folders: str, pattern: str = "*.eml") -> list[Path]:
    """Files of the external corpus (empty when it is not configured or not there)."""
    if EXTERNAL is None or not EXTERNAL.is_dir():
        return []
    roots = [EXTERNAL / f for f in folders] if folders else [EXTERNAL]
    return sorted(p for root in roots for p in root.rglob(pattern) if p.is_file())


def bundled_files(*folders: str, pattern: str = "*.eml") -> list[Path]:
    """Files of the bundled set, in the given folders (all of it by default)."""
    roots = [BUNDLED / f for f in folders] if folders else [BUNDLED]
    return sorted(p for root in roots for p in root.rglob(pattern) if p.is_file())
