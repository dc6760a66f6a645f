"""postfix/setup.sh's main.cf step (wire_main_cf.sh) on a scratch configuration: it adds, it keeps, it converges.

Audit finding 7: it overwrote the admin's recipient_delimiter with "+",
although nothing of Mailgate's needs one (relay domains; the milter reads the
whole RCPT argument -- the end-to-end tests run without any delimiter).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .conftest import require

WIRE = Path(__file__).resolve().parents[2] / "postfix" / "wire_main_cf.sh"


def _run(conf: Path, *domains: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(WIRE), *domains], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MAIL_CONFIG": str(conf)})


def _get(conf: Path, name: str) -> str:
    return subprocess.run(["postconf", "-c", str(conf), "-nh", name], capture_output=True, text=True).stdout.strip()


def test_wiring_keeps_the_admins_settings_and_is_idempotent(tmp_path):
    require("postconf", "postfix")
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    (conf / "main.cf").write_text(
        "compatibility_level = 3.6\nrecipient_delimiter = +-\nrelay_domains = lists.example.org\n"
        "virtual_alias_maps = hash:/etc/postfix/virtual\nsmtpd_milters = inet:127.0.0.1:8891\n")
    first = _run(conf, "reply.example.com")
    assert first.returncode == 0, first.stderr
    after_first = (conf / "main.cf").read_text()
    assert _run(conf, "reply.example.com").returncode == 0
    assert (conf / "main.cf").read_text() == after_first  # a second run changes nothing
    assert _get(conf, "recipient_delimiter") == "+-"
    assert _get(conf, "relay_domains") == "lists.example.org, reply.example.com"
    assert _get(conf, "virtual_alias_maps") == f"hash:/etc/postfix/virtual, texthash:{conf}/mailgate_virtual"
    assert _get(conf, "transport_maps") == f"texthash:{conf}/mailgate_transport"
    assert _get(conf, "smtpd_milters").startswith("inet:127.0.0.1:8891, { unix:/mailgate/milter.sock,")
    assert "postmaster@reply.example.com postmaster" in (conf / "mailgate_virtual").read_text()


def test_a_domain_in_mydestination_is_refused(tmp_path):
    require("postconf", "postfix")
    (tmp_path / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    (tmp_path / "main.cf").write_text("compatibility_level = 3.6\nmydestination = reply.example.com, localhost\n")
    out = _run(tmp_path, "reply.example.com")
    assert out.returncode == 1 and "reply.example.com is in mydestination" in out.stderr


def test_the_safety_net_refuses_and_is_the_one_the_private_postfix_runs(tmp_path):
    """mailgate_transport names the refusing pipe(8) service, which wire_main_cf.sh adds to master.cf."""
    require("postconf", "postfix")
    from privatepostfix import MASTER_CF, SAFETY_NET

    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    (conf / "main.cf").write_text("compatibility_level = 3.6\n")
    assert _run(conf, "reply.example.com").returncode == 0
    assert "reply.example.com mailgate-refuse:" in (conf / "mailgate_transport").read_text()
    assert "discard:" not in (conf / "mailgate_transport").read_text()
    service = subprocess.run(["postconf", "-c", str(conf), "-M", "mailgate-refuse/unix"], capture_output=True,
                             text=True).stdout.split()
    assert service == SAFETY_NET.split() and SAFETY_NET in MASTER_CF
    master_before = (conf / "master.cf").read_text()
    assert _run(conf, "reply.example.com").returncode == 0
    assert (conf / "master.cf").read_text() == master_before  # converges
