"""Servers the tests start do not outlive the run: not on SIGTERM, not when the run is killed outright.

A private Postfix master detaches (its own session), so a test process that
dies without its teardown used to leave it running; so did the milter,
Dovecot and PostgreSQL. tests/support/leftovers.py keeps track of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import leftovers

SUPPORT = Path(__file__).resolve().parent / "support"
CONFTEST = Path(__file__).resolve().parent / "conftest.py"
ZONE = "$TTL 60\nexample.test. 60 IN A 127.0.0.1\n"

# The child's test: a private Postfix and a name server in fixtures, then a wait to be interrupted in.
CHILD_TEST = """
import time
from pathlib import Path

import pytest
from dnszones import DnsServer
from privatepostfix import PrivatePostfix


@pytest.fixture(scope="session")
def postfix():
    pf = PrivatePostfix().start()
    yield pf
    pf.stop()


@pytest.fixture
def name_server():
    with DnsServer(ZONE_TEXT) as server:
        yield server


def test_waits(postfix, name_server):
    Path(READY_PATH).write_text(f"{postfix.root} {name_server.proc.pid} {name_server.root}")
    time.sleep(300)
"""


def _gone(pid: int, timeout: float = 20) -> bool:
    return leftovers._wait_gone(pid, timeout)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the child never got ready"
        time.sleep(0.1)
    return path.read_text()


def _master_pid(root: Path) -> int:
    return int((root / "queue" / "pid" / "master.pid").read_text().split()[0])


def _require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("starts a private Postfix, whose master must run as root; run the suite as root (CI does)",
                    pytrace=False)


@pytest.mark.postfix
def test_sigterm_to_a_test_session_runs_the_teardown(tmp_path, monkeypatch):
    _require_root()
    ready = tmp_path / "ready"
    (tmp_path / "test_child.py").write_text(CHILD_TEST.replace("READY_PATH", repr(str(ready))).replace("ZONE_TEXT", repr(ZONE)))
    env = {**os.environ, "MAILGATE_TEST_OWNERS": str(tmp_path / "owners"), "PYTHONSAFEPATH": "1"}
    code = ("import importlib.util, sys, pytest\n"
            f"sys.path.insert(0, {str(SUPPORT)!r})\n"
            f"spec = importlib.util.spec_from_file_location('mailgate_tests_conftest', {str(CONFTEST)!r})\n"
            "conftest = importlib.util.module_from_spec(spec); spec.loader.exec_module(conftest)\n"
            f"sys.exit(pytest.main([{str(tmp_path / 'test_child.py')!r}, '-q', '-p', 'no:cacheprovider',"
            f" '-p', 'no:randomly', '--rootdir', {str(tmp_path)!r}], plugins=[conftest]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        pf_root, dns_pid, dns_root = _wait_for(ready, proc).split()
        master = _master_pid(Path(pf_root))
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        monkeypatch.setattr(leftovers, "OWNERS", tmp_path / "owners")
        swept = leftovers.sweep()  # should this test fail: what the child left, stopped all the same
    assert proc.returncode == 2 and "KeyboardInterrupt: signal SIGTERM" in out, out
    assert _gone(master) and _gone(int(dns_pid))
    assert not Path(pf_root).exists() and not Path(dns_root).exists()
    assert swept == []  # the child's own teardown left nothing to sweep


@pytest.mark.postfix
def test_a_later_run_stops_what_a_killed_run_left(tmp_path, monkeypatch):
    _require_root()
    owners = tmp_path / "owners"
    code = ("import sys, time\n"
            f"sys.path.insert(0, {str(SUPPORT)!r})\n"
            "from dnszones import DnsServer\nfrom privatepostfix import MilterProcess, PrivatePostfix\n"
            "pf = PrivatePostfix().start()\n"
            f"dns = DnsServer({ZONE!r}).start()\n"
            "print(pf.root, dns.proc.pid, flush=True)\n"
            "time.sleep(300)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "MAILGATE_TEST_OWNERS": str(owners)},
                            stdout=subprocess.PIPE, text=True)
    try:
        pf_root, dns_pid = proc.stdout.readline().split()
        master = _master_pid(Path(pf_root))
        (owner_file,) = owners.glob("*.json")
        monkeypatch.setattr(leftovers, "OWNERS", owners)
        assert leftovers.sweep() == []  # its owner still runs: not touched
        os.kill(master, 0)
    finally:
        proc.kill()  # SIGKILL: no teardown, no atexit
        proc.wait(30)
        proc.stdout.close()
    os.kill(master, 0)  # left running by the killed process…
    assert leftovers.sweep() == [owner_file.name]  # …until the next run sweeps
    assert _gone(master) and _gone(int(dns_pid))
    assert not Path(pf_root).exists() and not owner_file.exists()
