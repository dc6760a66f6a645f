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


def _scratch(tmp_path: Path, main_cf: str) -> Path:
    require("postconf", "postfix")
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    (conf / "main.cf").write_text(main_cf)
    return conf


ADMINS_MAIN_CF = ("# the admin's own file, with its comments and spacing\ncompatibility_level = 3.6\n"
                  "relay_domains=lists.example.org\nmilter_default_action = accept\n"
                  "smtpd_milters = inet:127.0.0.1:8891\n\n# end\n")


def _unwire(conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(WIRE), "--unwire"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MAIL_CONFIG": str(conf)})


def test_a_new_domain_replaces_the_one_wired_before(tmp_path):
    """Changing the reply domain left the old one in relay_domains, with no transport: Postfix relayed it."""
    conf = _scratch(tmp_path, ADMINS_MAIN_CF)
    assert _run(conf, "reply.example.test").returncode == 0
    assert _run(conf, "reply.example.net").returncode == 0
    assert _get(conf, "relay_domains") == "lists.example.org, reply.example.net"  # the admin's stays
    assert "reply.example.test" not in (conf / "mailgate_transport").read_text()
    assert "reply.example.test" not in (conf / "mailgate_virtual").read_text()


def test_unwire_restores_main_cf_byte_for_byte(tmp_path):
    conf = _scratch(tmp_path, ADMINS_MAIN_CF)
    cert, key = _certificate(tmp_path)
    assert _run(conf, "reply.example.test").returncode == 0
    tls = subprocess.run([str(WIRE), "--tls-cert", str(cert), "--tls-key", str(key), "reply.example.net"],
                         capture_output=True, text=True, env={**os.environ, "MAIL_CONFIG": str(conf)})
    assert tls.returncode == 0, tls.stderr
    assert _get(conf, "smtpd_tls_cert_file") == str(cert) and _get(conf, "smtpd_tls_security_level") == "may"
    assert (conf / "main.cf").read_text() != ADMINS_MAIN_CF
    out = _unwire(conf)
    assert out.returncode == 0 and "restored" in out.stdout, out
    assert (conf / "main.cf").read_bytes() == ADMINS_MAIN_CF.encode()
    assert (conf / "master.cf").read_bytes() == b"smtp inet n - y - - smtpd\n"
    assert sorted(p.name for p in conf.iterdir()) == ["main.cf", "master.cf"]
    assert "nothing to undo" in _unwire(conf).stdout


def test_unwire_after_the_admin_changed_main_cf_takes_out_only_mailgates_entries(tmp_path):
    conf = _scratch(tmp_path, ADMINS_MAIN_CF)
    assert _run(conf, "reply.example.test").returncode == 0
    subprocess.run(["postconf", "-c", str(conf), "-e", "myhostname = mx.example.com"], check=True)
    assert _run(conf, "reply.example.test").returncode == 0  # a later setup run: the copy is stale now
    out = _unwire(conf)
    assert out.returncode == 0 and "Mailgate's entries only" in out.stdout, out
    assert _get(conf, "myhostname") == "mx.example.com"  # the admin's change survives
    assert _get(conf, "relay_domains") == "lists.example.org"
    assert _get(conf, "smtpd_milters") == "inet:127.0.0.1:8891"
    assert _get(conf, "milter_default_action") == "accept"
    assert _get(conf, "milter_protocol") == "" and _get(conf, "transport_maps") == ""
    assert _get(conf, "virtual_alias_maps") == ""


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path):
    conf = _scratch(tmp_path, ADMINS_MAIN_CF)
    cert, _ = _certificate(tmp_path)
    _, other = _certificate(tmp_path / "other")
    out = subprocess.run([str(WIRE), "--tls-cert", str(cert), "--tls-key", str(other), "reply.example.test"],
                         capture_output=True, text=True, env={**os.environ, "MAIL_CONFIG": str(conf)})
    assert out.returncode == 1 and "is not the key of" in out.stderr
    assert (conf / "main.cf").read_text() == ADMINS_MAIN_CF  # refused before anything was written


def _certificate(where: Path) -> tuple[Path, Path]:
    where.mkdir(parents=True, exist_ok=True)
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mx.example.test",
                    "-days", "2", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


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
