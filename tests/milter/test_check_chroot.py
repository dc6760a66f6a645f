"""`mailgate check`'s socket check: the chroot rule applies only to a chrooted smtpd (audit finding 4).

postfix/master.cf.snippet allows an unchrooted smtpd with the socket named
by its full path; check failed that working set-up and suggested a fix that
changed nothing. With a chrooted smtpd the fix now names the settings to
change.
"""

from __future__ import annotations

import grp
import os
import smtplib
import socket
from dataclasses import replace

import pytest

from privatepostfix import MilterProcess, PrivatePostfix
from mailgate.shared import health

from .conftest import require


@pytest.mark.postfix
@pytest.mark.slow
def test_unchrooted_smtpd_with_the_socket_outside_the_queue_is_ok(env, db, settings, tmp_path):
    require("postfix", "postfix")
    pf = PrivatePostfix()  # smtpd unchrooted (its master.cf), as the snippet allows
    pf.milter_socket = str(pf.root / "run" / "milter.sock")
    pf.start()
    try:
        milter = MilterProcess(env=env, socket_path=pf.milter_socket, log_path=tmp_path / "milter.log").start()
        try:
            with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as smtp:  # mail does flow through it
                smtp.ehlo()
                smtp.mail("alice@example.org")
                assert smtp.rcpt("nosuch@reply.example.com")[0] == 550  # the milter answered
            postfix = health._Postfix(str(pf.config_dir))
            assert postfix.smtpd_chrooted() is False
            check = health.check_socket(replace(settings, milter_socket=f"unix:{pf.milter_socket}"), postfix)
            assert check.ok, check
        finally:
            milter.stop()
    finally:
        pf.stop()


def test_chrooted_smtpd_with_the_socket_outside_the_queue_names_the_settings(settings, tmp_path):
    require("postconf", "postfix")
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "main.cf").write_text(f"compatibility_level = 3.6\nqueue_directory = {tmp_path}/queue\n")
    (conf / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    sock_dir = tmp_path / "run"
    sock_dir.mkdir()
    path = str(sock_dir / "milter.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    os.chown(path, -1, grp.getgrnam("postfix").gr_gid)
    os.chmod(path, 0o660)
    try:
        postfix = health._Postfix(str(conf))
        assert postfix.smtpd_chrooted() is True
        check = health.check_socket(replace(settings, milter_socket=f"unix:{path}"), postfix)
    finally:
        listener.close()
    assert not check.ok and "chrooted smtpd cannot see it" in check.detail
    assert "MAILGATE_MILTER_SOCKET=" in check.fix and "smtpd_milters" in check.fix


def test_default_chroot_column_means_n_since_postfix_3(tmp_path):
    require("postconf", "postfix")
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\n")
    (tmp_path / "master.cf").write_text("smtp inet n - - - - smtpd\nsubmission inet n - n - - smtpd\n")
    assert health._Postfix(str(tmp_path)).smtpd_chrooted() is False
