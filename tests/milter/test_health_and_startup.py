"""`mailgate check` pieces that need no Postfix, and the milter's start-up refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailgate.milter import server
from mailgate.shared import health
from mailgate.shared.db import Database


def test_smtpd_milters_parsing():
    value = "inet:localhost:8891, { unix:/mailgate/milter.sock, default_action=tempfail, command_timeout=30s }"
    entries = health._milter_entries(value)
    assert entries[0] == ("inet:localhost:8891", {})
    assert entries[1] == ("unix:/mailgate/milter.sock", {"default_action": "tempfail", "command_timeout": "30s"})


def test_socket_names_inside_and_outside_the_chroot():
    specs = health.postfix_socket_specs("/var/spool/postfix/mailgate/milter.sock", "/var/spool/postfix")
    assert specs == {"unix:/var/spool/postfix/mailgate/milter.sock", "unix:/mailgate/milter.sock"}


def test_run_checks_never_raises_and_always_names_a_fix(settings, tmp_path):
    broken = Database(f"sqlite:///{tmp_path}/missing-dir/none.db")
    checks = health.run_checks(settings, broken, postfix_config_dir=str(tmp_path / "no-postfix-here"))
    names = [c.name for c in checks]
    assert names == ["configuration", "database", "mail key", "domains", "create addresses", "sender authentication",
                     "postfix running", "milter configured",
                     "milter default action", "domain routed", "starttls", "milter socket", "milter last seen",
                     "mailer test (test)", "outbound queue"]
    for c in checks:
        assert isinstance(c, health.Check)
        assert c.ok or c.fix, c
    assert not checks[1].ok


def test_heartbeat_check_reads_the_milter_row(settings, db):
    from mailgate.milter.adapter import Runtime

    assert not health.check_heartbeat(settings, db).ok
    server.Heartbeat(Runtime(settings=settings, db=db), "unix:/x").beat()
    check = health.check_heartbeat(settings, db)
    assert check.ok and f"pid {os.getpid()}" in check.detail
    server.Heartbeat(Runtime(settings=settings, db=db), "unix:/x").beat("stopped")
    check = health.check_heartbeat(settings, db)
    assert not check.ok and "stopped" in check.detail and check.fix


def test_the_start_is_recorded_before_anyone_can_connect(settings, db, monkeypatch):
    """A client that can connect (Postfix, `mailgate check`) must find "milter last seen" written."""
    seen: list[tuple[bool, str]] = []

    def open_socket(spec, path, gid, group):
        check = health.check_heartbeat(settings, db)
        seen.append((check.ok, check.detail))
        raise server.StartupError("cannot listen on unix:/x: taken")

    monkeypatch.setattr(server, "_register", lambda *a, **k: None)
    monkeypatch.setattr(server, "_open_socket", open_socket)
    with pytest.raises(server.StartupError, match="taken"):
        server._listen_and_serve(settings, db, writer=None, spec="unix:/x", path="/x", gid=None, group=None,
                                 pid_file=None, drain_seconds=1, cpu=None)
    assert seen and seen[0][0], seen
    after = health.check_heartbeat(settings, db)
    assert not after.ok and "stopped" in after.detail  # a refused start is not a milter "alive"


def test_socket_directory_must_be_writable(tmp_path):
    with pytest.raises(server.StartupError, match="cannot be created"):
        server.prepare_socket_dir(str(tmp_path / "a" / "b" / "milter.sock"), None)
    with pytest.raises(server.StartupError, match="group 'no-such-group-xyz' does not exist"):
        server.prepare_socket_dir(str(tmp_path / "milter.sock"), "no-such-group-xyz")
    (tmp_path / "milter.sock").write_text("not a socket")
    with pytest.raises(server.StartupError, match="not a socket"):
        server.prepare_socket_dir(str(tmp_path / "milter.sock"), None)


def test_uninitialised_database_is_refused_at_start_up(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(server.StartupError, match="mailgate init"):
        server.check_database(db)


def test_cli_milter_exits_78_with_one_clear_line(env, tmp_path):
    exe = Path(sys.executable).with_name("mailgate")
    # Always an empty SQLite file here (also in the PostgreSQL run, whose shared test database
    # may already hold a schema): the point is the refusal, not the database kind.
    run_env = {**os.environ, **env, "PYTHONSAFEPATH": "1",
               "MAILGATE_DATABASE_URL": f"sqlite:///{env['MAILGATE_INSTANCE']}/empty.db"}
    unreachable = subprocess.run([str(exe), "milter", "--socket", f"unix:{tmp_path}/s/milter.sock", "--group", ""],
                                 env={**run_env, "MAILGATE_DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir.db"},
                                 capture_output=True, text=True, timeout=60, cwd="/")
    assert unreachable.returncode == 78
    assert unreachable.stderr.count("\n") == 1 and "database unreachable" in unreachable.stderr
    Path(env["MAILGATE_INSTANCE"]).mkdir(parents=True, exist_ok=True)
    out = subprocess.run([str(exe), "milter", "--socket", f"unix:{tmp_path}/s/milter.sock", "--group", ""],
                         env=run_env, capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 78, out.stderr
    assert "database not initialised; run `mailgate init`" in out.stderr


def test_run_checks_includes_outbound(settings, db):
    """One list for the operator: mail in, then mail out (mailers, queue)."""
    from mailgate.shared import health

    names = [c.name for c in health.run_checks(settings, db)]
    assert names.index("milter last seen") < names.index("mailer test (test)") < names.index("outbound queue")


def test_the_milter_keeps_to_one_cpu_only_when_told():
    from mailgate.milter.server import StartupError, pin_to_one_cpu

    before = os.sched_getaffinity(0)
    try:
        assert pin_to_one_cpu(None) is None and pin_to_one_cpu("all") is None
        assert os.sched_getaffinity(0) == before
        cpu = pin_to_one_cpu("auto")
        if len(before) > 1:
            assert cpu in before and os.sched_getaffinity(0) == {cpu}
        os.sched_setaffinity(0, before)
        some = min(before)
        assert pin_to_one_cpu(str(some)) == some and os.sched_getaffinity(0) == {some}
        with pytest.raises(StartupError):
            pin_to_one_cpu("fast")
        with pytest.raises(StartupError):
            pin_to_one_cpu("4096")
    finally:
        os.sched_setaffinity(0, before)


def test_postfix_running_is_seen_without_root(postfix):
    """The console runs as user mailgate: master.pid is root's and `postfix status` is root-only."""
    import grp
    import pwd

    def status_as_nobody(groups: list[int]) -> str:
        nobody = pwd.getpwnam("nobody")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover -- the child
            try:
                os.setgroups(groups)
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
                ok, detail = health._Postfix(str(postfix.config_dir)).status()
                os.write(write, f"{ok} {detail}".encode())
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        with os.fdopen(read) as fh:
            return fh.read()

    answer = status_as_nobody([grp.getgrnam("postdrop").gr_gid])  # as setup.sh makes user mailgate
    assert answer.startswith("True master answers on "), answer
    assert "is for group postdrop" in status_as_nobody([])
    postfix.stop(remove=False)
    try:
        assert not health._Postfix(str(postfix.config_dir)).status()[0]
    finally:
        postfix.start()


def test_check_fails_when_the_last_stores_failed_and_recovers_with_the_next(settings, db, seed, mail):
    """Issue 20 item 1: a milter whose every store failed was reported healthy by its heartbeat."""
    from mailgate.milter.adapter import Runtime
    from mailgate.shared.outcomes import TempFail

    from .test_adapter import Conn

    rt = Runtime(settings=settings, db=db)
    heartbeat = server.Heartbeat(rt, "unix:/x")
    real = rt.batcher.receive

    def failing(*args, **kwargs):
        raise TempFail("could not store the message: OperationalError")

    rt.batcher.receive = failing
    conn = Conn(rt)
    for n in range(3):
        conn.send(mail(subject=f"lost? {n}"), "alice@example.org", seed.create_address)
    assert rt.health_changed.is_set()  # the heartbeat is written at once, not in up to 30 s
    heartbeat.beat()
    check = health.check_heartbeat(settings, db)
    assert not check.ok and "the last 3 stores failed" in check.detail and "OperationalError" in check.detail
    assert check.fix
    rt.batcher.receive = real
    conn.send(mail(subject="back"), "alice@example.org", seed.create_address)
    heartbeat.beat()
    assert health.check_heartbeat(settings, db).ok


def test_a_sender_auth_deferral_is_not_a_failed_store(settings, db, seed, mail):
    from mailgate.milter.adapter import Runtime
    from mailgate.shared.outcomes import AuthDeferred

    from .test_adapter import Conn

    rt = Runtime(settings=settings, db=db)

    def deferred(*args, **kwargs):
        raise AuthDeferred("DNS did not answer")

    rt.batcher.receive = deferred
    for n in range(5):
        Conn(rt).send(mail(subject=f"dns {n}"), "alice@example.org", seed.create_address)
    assert rt.stores_failed == 0
