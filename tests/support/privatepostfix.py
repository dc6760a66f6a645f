"""A private, throw-away Postfix instance (`postfix -c DIR`) for tests and the benchmark.

It has its own main.cf/master.cf, queue and data directories, listens on a
high loopback port, runs nothing chrooted (so the milter socket is a plain
absolute path) and leaves the system's Postfix alone. Mailgate's domain is
wired exactly as postfix/main.cf.snippet wires a real server: relay domain,
the refusing safety-net transport, `milter_default_action = tempfail`.
An ordinary local mailbox domain (`local.test`, delivered by `virtual(8)`
into files under DIR/mail) stands for "everyone else's mail".
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import leftovers

MASTER_CF = """\
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
# The safety net, as postfix/wire_main_cf.sh adds it to master.cf (a test compares the two).
SAFETY_NET = ("mailgate-refuse unix - n n - - pipe user=nobody argv=/bin/sh -c {echo 5.1.1 NOT-CONSUMED-BY-MAILGATE: "
              "no such address, the message did not pass the Mailgate milter; exit 67}")
MASTER_CF += SAFETY_NET + "\n"


class PostfixMissing(RuntimeError):
    """Postfix is not installed: the e2e tests and the benchmark need the Debian package."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postfix_binary() -> str:
    exe = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)
    if exe is None:
        raise PostfixMissing("postfix is not installed: apt-get install postfix libmilter-dev swaks miltertest")
    return exe


@dataclass
class PrivatePostfix:
    """One private instance; `start()`/`stop()`, or use as a context manager."""

    domains: tuple[str, ...] = ("reply.example.com",)
    milter_socket: str | None = None  # absolute path; None: no milter (the benchmark's baseline)
    port: int = field(default_factory=free_port)
    local_domain: str = "local.test"
    local_users: tuple[str, ...] = ("carol", "dave")
    extra: dict[str, str] = field(default_factory=dict)
    safety_net: str = "mailgate-refuse:"  # Mailgate domains' transport (the benchmark's baseline: discard:)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mailgate-postfix-", dir="/tmp")))
    _running: int | None = field(default=None, repr=False)

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def log_file(self) -> Path:
        return self.root / "maillog"

    def main_cf(self) -> str:
        nobody = pwd.getpwnam("nobody")
        lines = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.root / "queue"),
            "data_directory": str(self.root / "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "mailgate-test.localdomain",
            "mydomain": "localdomain",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "relay_domains": " ".join(self.domains),
            # inline: wants name=value without spaces (`{ a = b }` is a parse error).
            "transport_maps": "inline:{" + ", ".join(f"{d}={self.safety_net}"
                                                     for d in self.domains) + "}",
            "virtual_mailbox_domains": self.local_domain,
            "virtual_mailbox_base": str(self.mail_dir),
            "virtual_mailbox_maps": "inline:{" + ", ".join(f"{u}@{self.local_domain}={u}"
                                                           for u in self.local_users) + "}",
            "virtual_uid_maps": f"static:{nobody.pw_uid}",
            "virtual_gid_maps": f"static:{nobody.pw_gid}",
            "virtual_minimum_uid": "1",
            "smtpd_banner": "$myhostname ESMTP",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "biff": "no",
            "maillog_file": str(self.log_file),
            "maillog_file_prefixes": str(self.root),
            "milter_protocol": "6",
            "milter_default_action": "tempfail",
            "smtputf8_enable": "no",
        }
        if self.milter_socket:
            lines["smtpd_milters"] = (f"{{ unix:{self.milter_socket}, default_action=tempfail, "
                                      f"connect_timeout=10s, command_timeout=30s, content_timeout=120s }}")
        lines.update(self.extra)
        return "".join(f"{k} = {v}\n" for k, v in lines.items())

    def _postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([postfix_binary(), "-c", str(self.config_dir), *args], capture_output=True, text=True,
                             timeout=60)
        if check and out.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}"
                               f"{self._log_tail()}")
        return out

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n--- maillog ---\n" + "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> "PrivatePostfix":
        postfix_binary()
        os.chmod(self.root, 0o755)  # smtpd (user postfix) must reach the milter socket below it
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for d in ("queue", "data"):
            (self.root / d).mkdir(exist_ok=True)
        nobody = pwd.getpwnam("nobody")
        self.mail_dir.mkdir(exist_ok=True)
        os.chown(self.mail_dir, nobody.pw_uid, nobody.pw_gid)
        postfix_uid = pwd.getpwnam("postfix").pw_uid
        os.chown(self.root / "data", postfix_uid, -1)
        (self.config_dir / "main.cf").write_text(self.main_cf())
        (self.config_dir / "master.cf").write_text(MASTER_CF.replace("{listen}", f"127.0.0.1:{self.port}"))
        self._postfix("check", check=False)  # creates the queue directories with their owners
        self._running = leftovers.started(f"private Postfix {self.root}", self.stop,
                                          leftovers.postfix(self.config_dir, self.root))
        try:
            self._postfix("start")
            self.wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"private Postfix did not answer on port {self.port}{self._log_tail()}")

    def reload(self) -> None:
        (self.config_dir / "main.cf").write_text(self.main_cf())
        self._postfix("reload")

    def stop(self, remove: bool = True) -> None:
        """Stop the master and its children (killed if `postfix stop` does not end them); safe to call twice."""
        pid_file = self.root / "queue" / "pid" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        try:
            self._postfix("stop", check=False)
        except subprocess.TimeoutExpired:
            pass
        # `postfix stop` returns before the master is gone (its pid file stays); wait for the process.
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                pid = None
                break
            time.sleep(0.05)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)  # the master leads its own session: its children go too
            except ProcessLookupError:
                pass
        leftovers.stopped(self._running)
        self._running = None
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def mailbox(self, user: str) -> str:
        path = self.mail_dir / user
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_mailbox(self, user: str, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.mailbox(user)
            if needle in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not delivered to {user} within {timeout} s{self._log_tail()}")

    def queue_empty(self) -> bool:
        q = self.root / "queue"
        return not any(any((q / d).rglob("*")) for d in ("incoming", "active", "deferred") if (q / d).exists())

    def wait_queue_empty(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue_empty():
                return
            time.sleep(0.1)
        raise AssertionError(f"queue not empty after {timeout} s{self._log_tail()}")

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> "PrivatePostfix":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class MilterProcess:
    """`mailgate milter` as a child process on a unix socket (tests and the benchmark)."""

    env: dict[str, str]
    socket_path: str
    log_path: Path | None = None
    pid_file: str | None = None  # --pid-file, as postfix/setup.sh runs it
    proc: subprocess.Popen | None = None
    _running: int | None = field(default=None, repr=False)

    def start(self, timeout: float = 20.0) -> "MilterProcess":
        exe = shutil.which("mailgate", path=os.path.dirname(os.path.realpath(os.sys.executable))) \
            or str(Path(os.sys.executable).with_name("mailgate"))
        env = {**os.environ, **self.env, "PYTHONSAFEPATH": "1"}
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        # A process group of its own (the milter and its writer process), as a systemd unit's cgroup:
        # kill() ends both, as systemd does when the main process dies.
        args = [exe, "milter", "--socket", f"unix:{self.socket_path}", "--group", "postfix"]
        if self.pid_file:
            args += ["--pid-file", self.pid_file]
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd="/", start_new_session=True)
        self._running = leftovers.started(f"mailgate milter on {self.socket_path}", self.stop,
                                          leftovers.process(self.proc.pid, group=True))
        try:
            self._wait_listening(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mailgate milter exited with {self.proc.returncode}: {self.log()}")
            if os.path.exists(self.socket_path):
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(self.socket_path)
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"mailgate milter did not open {self.socket_path}: {self.log()}")

    def log(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self._ended()
        self.proc.terminate()
        # libmilter notices the stop only when its accept loop wakes (every 5 s); a
        # connection wakes it at once, so poke the socket until the process is gone.
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(0.2)
                    s.connect(self.socket_path)
            except OSError:
                pass
            try:
                self.proc.wait(0.1)
                return self._ended()
            except subprocess.TimeoutExpired:
                continue
        try:
            self.proc.wait(1)
            return self._ended()
        except subprocess.TimeoutExpired:
            return self.kill()

    def _ended(self) -> int | None:
        """The exit status of a process that is gone; it no longer needs stopping at exit."""
        leftovers.stopped(self._running)
        self._running = None
        return None if self.proc is None else self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL to the milter and its writer process: no drain, no cleanup."""
        if self.proc is None:
            return None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        return self._ended()
