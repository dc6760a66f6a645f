"""`mailgate check` on STARTTLS (docs/going-live.md): optional, but a certificate named and unusable fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mailgate.shared import health

from .conftest import require


def _conf(tmp_path: Path, **params: str) -> str:
    require("postconf", "postfix")
    conf = tmp_path / "etc"
    conf.mkdir(exist_ok=True)
    (conf / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    (conf / "main.cf").write_text("compatibility_level = 3.6\n" + "".join(f"{k} = {v}\n" for k, v in params.items()))
    return str(conf)


def _certificate(where: Path, *, expired: bool = False) -> Path:
    """A self-signed certificate; an expired one through `openssl ca` (x509 cannot date one in the past)."""
    where.mkdir(parents=True, exist_ok=True)
    key, csr, cert = where / "key.pem", where / "req.csr", where / "cert.pem"
    run = lambda *a: subprocess.run(a, cwd=where, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mx.example.test", "-keyout", key, "-out", csr)
    (where / "index.txt").write_text("")
    (where / "serial").write_text("01\n")
    (where / "ca.cnf").write_text("[ca]\ndefault_ca=c\n[c]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
                                  "default_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n")
    dates = ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"] if expired else ["-days", "30"]
    run("openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", key, "-in", csr, *dates, "-out", cert)
    return cert


def test_not_offered_is_fine(tmp_path):
    c = health.check_starttls(health._Postfix(_conf(tmp_path)))
    assert c.ok and "not offered" in c.detail


def test_a_valid_certificate_is_named_with_its_end(tmp_path):
    cert = _certificate(tmp_path / "good")
    c = health.check_starttls(health._Postfix(_conf(tmp_path, smtpd_tls_security_level="may",
                                                    smtpd_tls_cert_file=str(cert))))
    assert c.ok and str(cert) in c.detail and "mx.example.test" in c.detail and "valid until" in c.detail


def test_an_expired_or_missing_certificate_fails(tmp_path):
    old = _certificate(tmp_path / "old", expired=True)
    c = health.check_starttls(health._Postfix(_conf(tmp_path, smtpd_tls_security_level="may",
                                                    smtpd_tls_cert_file=str(old))))
    assert not c.ok and "expired on Feb  1 00:00:00 2020 GMT" in c.detail and "--tls-cert" in c.fix
    gone = health.check_starttls(health._Postfix(_conf(tmp_path, smtpd_tls_security_level="may",
                                                       smtpd_tls_cert_file=str(tmp_path / "nope.pem"))))
    assert not gone.ok and "nope.pem" in gone.detail
