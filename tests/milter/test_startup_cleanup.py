"""A start that fails leaves nothing behind: no socket, no pid file, no "alive" heartbeat (audit finding 8).

The pid file used to be written after the socket was open: a missing
directory gave a traceback, exit 1, a stale socket and a heartbeat that
`mailgate check` read as a running milter.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mailgate.milter import server
from mailgate.shared import health


def test_pid_file_in_a_missing_directory_is_one_line_and_exit_78(env, db, settings, tmp_path):
    exe = Path(sys.executable).with_name("mailgate")
    sock = tmp_path / "s" / "milter.sock"
    out = subprocess.run([str(exe), "milter", "--socket", f"unix:{sock}", "--group", "",
                          "--pid-file", str(tmp_path / "nodir" / "milter.pid")],
                         env={**os.environ, **env, "PYTHONSAFEPATH": "1"}, capture_output=True, text=True,
                         timeout=60, cwd="/")
    assert out.returncode == 78, out.stderr
    assert out.stderr.count("\n") == 1 and "cannot write the pid file" in out.stderr
    assert not sock.exists()
    assert not health.check_heartbeat(settings, db).ok


def test_pid_file_naming_a_running_mailgate_is_refused(tmp_path, monkeypatch):
    pid_file = tmp_path / "milter.pid"
    pid_file.write_text("4242\n")
    monkeypatch.setattr(server, "_is_mailgate", lambda pid: pid == 4242)
    with pytest.raises(server.StartupError, match="names pid 4242"):
        server.write_pid_file(str(pid_file))
    assert pid_file.read_text() == "4242\n"
    monkeypatch.setattr(server, "_is_mailgate", lambda pid: False)  # stale: taken over
    server.write_pid_file(str(pid_file))
    assert pid_file.read_text() == f"{os.getpid()}\n"


class _Writer:
    def stop(self) -> None:
        pass


def test_a_failure_after_the_socket_is_open_removes_it(settings, db, tmp_path, monkeypatch):
    path = str(tmp_path / "milter.sock")
    pid_file = tmp_path / "milter.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    listening: list[socket.socket] = []

    def open_socket(spec, path_, gid, group):
        s = socket.socket(socket.AF_UNIX)
        s.bind(path_)
        listening.append(s)

    def broken(*args, **kwargs):
        raise RuntimeError("something after the socket was open")

    monkeypatch.setattr(server, "_register", lambda *a, **k: None)
    monkeypatch.setattr(server, "_open_socket", open_socket)
    monkeypatch.setattr(server, "_serve_until_stopped", broken)
    try:
        with pytest.raises(RuntimeError, match="after the socket"):
            server._listen_and_serve(settings, db, writer=_Writer(), spec=f"unix:{path}", path=path, gid=None,
                                     group=None, pid_file=str(pid_file), drain_seconds=1, cpu=None)
    finally:
        for s in listening:
            s.close()
    assert not os.path.exists(path) and not pid_file.exists()
    check = health.check_heartbeat(settings, db)
    assert not check.ok and "stopped" in check.detail
