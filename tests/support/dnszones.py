"""The DNS the sender-authentication tests run against: a real name server process on loopback.

`DnsServer` starts tests/support/dnsserver.py (dnslib) on a free loopback
port with a zone file written per run; `TestZones` makes that zone: SPF,
DKIM public keys generated for this run (dkimpy's own key tool, which runs
openssl) and DMARC records for the pass / fail / none cases, plus a zone
that never answers and one that answers SERVFAIL.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dkim
import dns.message
import dns.query
import leftovers
from dkim import dknewkey

SERVER = Path(__file__).with_name("dnsserver.py")
SELECTOR = "sel"


def _free_port() -> int:
    """A loopback port free for both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free loopback port for the DNS server")


@dataclass
class DnsServer:
    """One name-server process; `start()`/`stop()`, or use as a context manager."""

    zone: str
    silent: tuple[str, ...] = ()
    servfail: tuple[str, ...] = ()
    port: int = field(default_factory=_free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mailgate-dns-", dir="/tmp")))
    proc: subprocess.Popen | None = None
    _running: int | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """As MAILGATE_DNS_SERVERS takes it."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "DnsServer":
        self.root.mkdir(parents=True, exist_ok=True)
        zone_file = self.root / "test.zone"
        zone_file.write_text(self.zone)
        args = [sys.executable, "-P", str(SERVER), "--zone", str(zone_file), "--port", str(self.port)]
        for z in self.silent:
            args += ["--silent", z]
        for z in self.servfail:
            args += ["--servfail", z]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=(self.root / "server.log").open("wb"))
        self._running = leftovers.started(f"DNS server on {self.address}", self.stop, leftovers.process(self.proc.pid))
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            log = self._log()
            self.stop()
            raise RuntimeError(f"DNS server did not start: {log}")
        deadline = time.monotonic() + timeout
        while True:  # listening: one real query answered
            try:
                dns.query.udp(dns.message.make_query("probe.invalid.", "A"), "127.0.0.1", timeout=0.5, port=self.port)
                return self
            except Exception:  # noqa: BLE001
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def _log(self) -> str:
        try:
            return (self.root / "server.log").read_text()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server; its folder (zone file, log) goes too. A stopped server can be started again."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self.proc.stdout.close()
        leftovers.stopped(self._running)
        self._running = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _txt(value: str) -> str:
    """A TXT record's data as quoted strings of at most 255 characters (DKIM keys are longer)."""
    return " ".join(f'"{value[i:i + 250]}"' for i in range(0, len(value), 250))


@dataclass
class Signer:
    """A domain's DKIM private key, made for this run; signs as dkimpy would for a real sender."""

    domain: str
    private_key: bytes
    public_record: str  # "v=DKIM1; k=rsa; p=..."

    def sign(self, raw: bytes, selector: str = SELECTOR, headers: tuple[bytes, ...] = (b"from", b"to", b"subject",
                                                                                      b"message-id", b"date")) -> bytes:
        head = raw.split(b"\n\n", 1)[0].lower()
        # Only the fields present: signing an absent one (Date, which Postfix adds) forbids adding it.
        present = [h for h in headers if head.startswith(h + b":") or b"\n" + h + b":" in head]
        signature = dkim.sign(raw, selector.encode(), self.domain.encode(), self.private_key,
                              include_headers=present)
        return signature + raw


def make_signer(domain: str, folder: Path) -> Signer:
    key_file = folder / f"{domain}.key"
    dknewkey.GenRSAKeys(str(key_file), verbose=False)
    dknewkey.ExtractRSADnsPublicKey(str(key_file), str(folder / f"{domain}.dns"), verbose=False)
    record = (folder / f"{domain}.dns").read_text().strip()
    return Signer(domain, key_file.read_bytes(), record)


# The zones, by what each domain is for. 127.0.0.1 is where the tests' mail comes from.
SPF_LOOPBACK = "v=spf1 ip4:127.0.0.1 -all"
SPF_ELSEWHERE = "v=spf1 ip4:192.0.2.1 -all"  # TEST-NET-1: never this machine


@dataclass
class TestZones:
    """The test domains, their keys, and the zone file text that publishes them."""

    __test__ = False  # a fixture helper, not a test class

    folder: Path
    signers: dict[str, Signer] = field(default_factory=dict)

    SILENT = "slow.test"  # never answers: a DNS timeout
    SERVFAIL = "broken.test"

    def __post_init__(self) -> None:
        for domain in ("pass.test", "nodmarc.test", "none.test", "strict.test"):
            self.signers[domain] = make_signer(domain, self.folder)

    def records(self) -> list[tuple[str, str, str]]:
        keys = [(f"{SELECTOR}._domainkey.{d}", "TXT", _txt(s.public_record)) for d, s in self.signers.items()]
        return keys + [
            # DMARC p=reject, SPF for loopback: aligned DKIM and aligned SPF both pass
            ("pass.test", "TXT", _txt(SPF_LOOPBACK)),
            ("_dmarc.pass.test", "TXT", _txt("v=DMARC1; p=reject; rua=mailto:dmarc@pass.test")),
            ("mail.pass.test", "TXT", _txt(SPF_LOOPBACK)),  # a subdomain bounce address: relaxed alignment
            # the forger's own domain: SPF passes for it, so only alignment tells
            ("evil.test", "TXT", _txt(SPF_LOOPBACK)),
            # p=none: published, monitoring only; SPF elsewhere
            ("none.test", "TXT", _txt(SPF_ELSEWHERE)),
            ("_dmarc.none.test", "TXT", _txt("v=DMARC1; p=none")),
            # strict alignment: a subdomain's pass does not count
            ("strict.test", "TXT", _txt(SPF_LOOPBACK)),
            ("mail.strict.test", "TXT", _txt(SPF_LOOPBACK)),
            ("_dmarc.strict.test", "TXT", _txt("v=DMARC1; p=quarantine; adkim=s; aspf=s")),
            # publishes no DMARC at all
            ("nodmarc.test", "TXT", _txt(SPF_LOOPBACK)),
            # behind the silent zone on the main server; `server(silent=())` answers it (DNS is back)
            ("slow.test", "TXT", _txt(SPF_LOOPBACK)),
            ("_dmarc.slow.test", "TXT", _txt("v=DMARC1; p=reject")),
            # the From domain's DMARC record is found at its organisational domain
            ("sub.pass.test", "A", "192.0.2.10"),
        ]

    def zone(self) -> str:
        return "$TTL 60\n" + "".join(f"{name}. 60 IN {rtype} {data}\n" for name, rtype, data in self.records())

    def server(self, silent: tuple[str, ...] = (SILENT,)) -> DnsServer:
        return DnsServer(self.zone(), silent=silent, servfail=(self.SERVFAIL,))
