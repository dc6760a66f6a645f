"""One milter per socket: a second start is refused, and a stopping milter removes only its own files.

Without this, a restart that started the new milter while the old one was
still draining left Postfix with no socket once the old one exited: every
message 451 until someone restarted the milter (audit finding 1).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mailgate.milter import server
from privatepostfix import MilterProcess

REPO = Path(__file__).resolve().parents[2]


def _connects(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def test_second_milter_on_a_live_socket_is_refused(env, db, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("runs the milter with --group postfix; run the suite as root (CI does)", pytrace=False)
    sock = str(tmp_path / "run" / "milter.sock")
    (tmp_path / "run").mkdir()
    first = MilterProcess(env=env, socket_path=sock, log_path=tmp_path / "first.log",
                          pid_file=str(tmp_path / "run" / "milter.pid")).start()
    try:
        inode = os.lstat(sock).st_ino
        exe = Path(sys.executable).with_name("mailgate")
        second = subprocess.run([str(exe), "milter", "--socket", f"unix:{sock}", "--group", "postfix",
                                 "--pid-file", str(tmp_path / "run" / "milter.pid")],
                                env={**os.environ, **env, "PYTHONSAFEPATH": "1"}, capture_output=True, text=True,
                                timeout=60, cwd="/")
        assert second.returncode == 78, second.stderr
        assert second.stderr.count("\n") == 1 and f"another milter is listening on {sock}" in second.stderr
        # The first one is untouched: same socket file, still answering, its pid file kept.
        assert os.lstat(sock).st_ino == inode and _connects(sock)
        assert (tmp_path / "run" / "milter.pid").read_text().strip() == str(first.proc.pid)
        from mailgate.shared import health
        from mailgate.shared.config import from_env
        assert health.check_heartbeat(from_env(env), db).ok  # the refused start wrote no "stopped"
    finally:
        assert first.stop() == 0
    assert not os.path.exists(sock) and not (tmp_path / "run" / "milter.pid").exists()


def test_a_stale_socket_is_replaced(tmp_path):
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()  # a socket file nobody listens on (a milter killed with SIGKILL)
    server.refuse_live_socket(path)  # no error: opensocket may replace it


def test_a_stopping_milter_leaves_a_successors_socket_and_pid_file(tmp_path):
    path = str(tmp_path / "milter.sock")
    pid_file = tmp_path / "milter.pid"
    mine = socket.socket(socket.AF_UNIX)
    mine.bind(path)
    identity = server.socket_identity(path)
    os.unlink(path)  # the successor's socket now has the path
    theirs = socket.socket(socket.AF_UNIX)
    theirs.bind(path)
    pid_file.write_text("999999\n")
    try:
        server.remove_own_files(path, identity, str(pid_file))
        assert os.path.exists(path) and pid_file.read_text() == "999999\n"
        # Its own files are removed.
        pid_file.write_text(f"{os.getpid()}\n")
        server.remove_own_files(path, server.socket_identity(path), str(pid_file))
        assert not os.path.exists(path) and not pid_file.exists()
    finally:
        mine.close()
        theirs.close()


def test_a_restart_waits_for_the_old_milter_longer_than_its_drain():
    unit = (REPO / "deploy" / "mailgate-milter.service").read_text()
    seconds = int(re.search(r"^TimeoutStopSec=(\d+)", unit, re.M).group(1))
    assert seconds > server.DRAIN_SECONDS + 10  # the drain, then libmilter's stop (up to 10 s)
    # Without systemd, services.sh waits as long, on the pid it signalled (not on the pid file,
    # gone once the old one exits: `kill -0 0` is true).
    runner = (REPO / "scripts" / "services.sh").read_text()
    assert 'unit_value "$name" TimeoutStopSec' in runner
    assert 'kill -0 "$pid"' in runner and "seconds * 10" in runner