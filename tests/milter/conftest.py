"""Fixtures for the Postfix end-to-end and protocol tests: a private Postfix, the milter as a process.

Nothing here skips: when Postfix (or swaks/miltertest) is missing the tests
fail with a message naming the Debian package, because CI installs them and a
silent skip would hide a broken pipeline.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from privatepostfix import MilterProcess, PrivatePostfix, postfix_binary


def require(tool: str, package: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if path is None:
        pytest.fail(f"{tool} is not installed; these tests need the Debian package `{package}` "
                    f"(apt-get install postfix libmilter-dev swaks miltertest)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def postfix():
    """One private Postfix for the module, milter socket under its queue directory."""
    require("postfix", "postfix")
    postfix_binary()
    if os.geteuid() != 0:
        pytest.fail("the Postfix end-to-end tests start a private Postfix, whose master must run as root; "
                    "run the suite as root (CI does)", pytrace=False)
    pf = PrivatePostfix()
    pf.milter_socket = str(pf.root / "queue" / "mailgate" / "milter.sock")
    pf.start()
    yield pf
    pf.stop()


@pytest.fixture
def milter_proc(postfix, env, db, tmp_path):
    """`mailgate milter` for this test's database, on the private Postfix's socket."""
    proc = MilterProcess(env=env, socket_path=postfix.milter_socket, log_path=tmp_path / "milter.log").start()
    yield proc
    proc.stop()
