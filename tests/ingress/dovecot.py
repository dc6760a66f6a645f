"""A real Dovecot for the IMAP tests: loopback ports, one test user, a self-signed certificate.

Started as a foreground process with its own configuration in a throwaway
folder (nothing under /etc/dovecot is read or changed); mail is stored as
`nobody`, so the folder is outside pytest's private tmp tree.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import leftovers  # tests/support (on sys.path: tests/conftest.py, bench/ingress_throughput.py)
from imapclient import IMAPClient

USER = "mailgate@example.net"
PASSWORD = "correct horse battery staple"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
{dh}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_max_userip_connections = 100
imap_idle_notify_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Done {{
    auto = create
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    return shutil.which("dovecot") is not None and shutil.which("openssl") is not None


@dataclass
class Dovecot:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mailgate-dovecot-")))
    port: int = field(default_factory=free_port)
    ssl_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    _running: int | None = field(default=None, repr=False)

    @property
    def cert(self) -> Path:
        return self.root / "cert.pem"

    def prepare(self) -> "Dovecot":
        os.chmod(self.root, 0o755)
        (self.root / "mail").mkdir(exist_ok=True)
        shutil.chown(self.root / "mail", "nobody", "nogroup")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", str(self.root / "key.pem"), "-out", str(self.cert), "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        dh = "/usr/share/dovecot/dh.pem"
        (self.root / "dovecot.conf").write_text(CONFIG.format(
            root=self.root, port=self.port, ssl_port=self.ssl_port,
            dh=f"ssl_dh = <{dh}" if os.path.exists(dh) else ""))
        return self

    def start(self) -> "Dovecot":
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.root / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self._running = leftovers.started(f"Dovecot in {self.root}", self.stop,
                                          leftovers.process(self.proc.pid, group=True))
        try:
            self._wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.proc.stderr.read().decode()}\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.ssl_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not listen\n" + self.log_tail())

    def stop(self) -> None:
        """Stop the server and every process it started (its group), as a service manager's restart does:
        Dovecot's master alone leaves the imap processes of open sessions running."""
        if self.proc is None:
            return
        group = self.proc.pid  # start_new_session: the master leads its own process group
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
            time.sleep(0.2)  # the children get the same signal; give them a moment
        self.proc.stderr.close()
        self.proc = None
        leftovers.stopped(self._running)
        self._running = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.root / "dovecot.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def env(self, **more: str) -> dict[str, str]:
        """MAILGATE_IMAP_* for the poller: IMAPS on the loopback port, the certificate trusted via SSL_CERT_FILE."""
        return {"MAILGATE_IMAP_HOST": "127.0.0.1", "MAILGATE_IMAP_PORT": str(self.ssl_port),
                "MAILGATE_IMAP_USER": USER, "MAILGATE_IMAP_PASSWORD": PASSWORD,
                "MAILGATE_IMAP_VERIFY": "false", **more}

    def client(self) -> IMAPClient:
        """A second, independent client: what the outside world does to the mailbox."""
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        c.login(USER, PASSWORD)
        return c

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> None:
        with self.client() as c:
            c.append(folder, raw, flags=flags)

    def count(self, folder: str = "INBOX", criteria: str = "ALL") -> int:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            return len(c.search(criteria))
