"""Fixtures of the fleet tests: one PostgreSQL, two MX hosts (private Postfix + `mailgate milter` each).

These tests always run on their own PostgreSQL cluster, whatever
MAILGATE_TEST_DATABASE_URL says: a fleet shares one server by definition.
Nothing skips: without Postfix or PostgreSQL the tests fail naming the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .harness import Fleet, pg_bindir


def _require() -> None:
    if not (shutil.which("postfix") or Path("/usr/sbin/postfix").exists()):
        pytest.fail("postfix is not installed (apt-get install postfix libmilter-dev)", pytrace=False)
    try:
        pg_bindir()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def fleet():
    """Two hosts on one PostgreSQL, shared by every fleet test (start-up and seeding take ~15 s).

    Tests tell their messages apart by Message-ID, never by counting tables."""
    _require()
    f = Fleet(hosts=2).start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
def healthy(fleet):
    """Each test starts (and is left) with PostgreSQL up and both milters running."""
    yield fleet
    if not fleet.pg.running():
        fleet.pg.start()
    for host in fleet.hosts:
        if host.milter_pid is None:
            host.start_milter()
