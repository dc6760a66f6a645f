"""Health checks: is every piece between Postfix and the database in place?

`mailgate check` and the console's Health page both call `run_checks` and
show the same list: one Check per piece, with what was seen (`detail`) and,
when it fails, the one thing an operator should do about it (`fix`). A check
never raises: a broken piece is a failed Check, not a traceback, because the
page that shows it is exactly what an operator opens when things are broken.

Postfix is inspected with its own tools (`postconf`, `postmap`) rather than by
parsing main.cf, so defaults, `$variables` and `-c` config directories are
resolved the way Postfix itself resolves them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

from mailgate.shared.config import Settings
from mailgate.shared.db import Database, utcnow

HEARTBEAT_SERVICE = "milter"
# The milter writes its heartbeat every HEARTBEAT_INTERVAL seconds; twice
# that plus slack without one means it is gone (or hung).
HEARTBEAT_INTERVAL = 30
STORE_FAILURES_ALERT = 3  # stores failed in a row (every message deferred) that make "milter last seen" fail
HEARTBEAT_STALE = timedelta(seconds=2 * HEARTBEAT_INTERVAL + 15)


@dataclass(frozen=True)
class Check:
    """One piece of the wiring: ok or not, what was seen, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


# --- helpers -------------------------------------------------------------------------

SAFETY_NET_SERVICE = "mailgate-refuse"  # postfix/wire_main_cf.sh's pipe(8) service that bounces what reaches it


class _Postfix:
    """Reads Postfix's effective configuration through postconf, once per run."""

    def __init__(self, config_dir: str | None):
        self.config_dir = config_dir
        self.postconf = shutil.which("postconf") or ("/usr/sbin/postconf" if Path("/usr/sbin/postconf").exists() else None)
        self._cache: dict[str, str | None] = {}

    @property
    def installed(self) -> bool:
        return self.postconf is not None

    def _cmd(self, tool: str, *args: str) -> list[str]:
        exe = shutil.which(tool) or f"/usr/sbin/{tool}"
        cmd = [exe]
        if self.config_dir:
            cmd += ["-c", self.config_dir]
        return cmd + list(args)

    def get(self, name: str) -> str | None:
        """The effective (expanded) value of one main.cf parameter; None when unreadable."""
        if name not in self._cache:
            try:
                out = subprocess.run(self._cmd("postconf", "-xh", name), capture_output=True, text=True, timeout=10)
                self._cache[name] = out.stdout.strip() if out.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                self._cache[name] = None
        return self._cache[name]

    def query(self, table: str, key: str) -> str | None:
        try:
            out = subprocess.run(self._cmd("postmap", "-q", key, table), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    def service(self, name: str) -> str | None:
        """master.cf's line for service NAME/TYPE (postconf -M); None when it has none."""
        try:
            out = subprocess.run(self._cmd("postconf", "-M", name), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None if out.returncode == 0 else None

    def smtpd_chrooted(self) -> bool | None:
        """Whether any smtpd service in master.cf runs chrooted (None: master.cf unreadable).

        Only a chrooted smtpd needs the milter socket under queue_directory;
        postfix/master.cf.snippet allows an unchrooted one with the socket
        anywhere. A "-" is the default: n since Postfix 3.0 (master(5)).
        """
        try:
            out = subprocess.run(self._cmd("postconf", "-F"), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode != 0:
            return None
        fields: dict[str, dict[str, str]] = {}
        for line in out.stdout.splitlines():
            key, _, value = line.partition(" = ")
            service, _, field = key.rpartition("/")
            if field in ("chroot", "command"):
                fields.setdefault(service, {})[field] = value.strip()
        version = (self.get("mail_version") or "3").split(".")[0]
        default = "y" if version.isdigit() and int(version) < 3 else "n"
        smtpds = [f for f in fields.values() if f.get("command", "").split()[:1] == ["smtpd"]]
        if not smtpds:
            return None
        return any((f.get("chroot", "-").replace("-", default)) == "y" for f in smtpds)

    def status(self) -> tuple[bool, str]:
        """Is the master process of this Postfix instance alive?"""
        queue = self.get("queue_directory") or "/var/spool/postfix"
        pid_file = Path(queue) / "pid" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except FileNotFoundError:
            return False, f"no {pid_file}: the Postfix master is not running"
        except PermissionError:
            return self._status_by_showq(Path(queue))  # not root (the console, the CLI as user mailgate)
        except (OSError, ValueError, IndexError):
            return self._status_command()
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False, f"{pid_file} names pid {pid}, which is not running (stale pid file)"
        except PermissionError:
            pass  # alive, owned by someone else
        return True, f"master pid {pid} ({queue})"

    @staticmethod
    def _status_by_showq(queue: Path) -> tuple[bool, str]:
        """Alive when the master answers on public/showq, the socket `mailq` asks (as group postdrop).

        The pid file is root's alone and `postfix status` is reserved for root; the
        showq socket is open to group postdrop, and only a running master accepts on it.
        """
        path = queue / "public" / "showq"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
        except FileNotFoundError:
            return False, f"no {path}: the Postfix master is not running"
        except PermissionError:
            import getpass

            return False, (f"cannot tell as user {getpass.getuser()}: {path} is for group postdrop "
                           "(scripts/setup.sh adds user mailgate to it), and master.pid is root's")
        except OSError as exc:
            return False, f"{path} refuses connections ({exc.strerror}): the Postfix master is not running"
        return True, f"master answers on {path}"

    def _status_command(self) -> tuple[bool, str]:
        try:
            out = subprocess.run(self._cmd("postfix", "status"), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"`postfix status` failed: {exc}"
        text = (out.stderr + out.stdout).strip().splitlines()
        return out.returncode == 0, (text[-1] if text else f"`postfix status` exited {out.returncode}")


def socket_path(settings: Settings) -> str | None:
    """The filesystem path of the milter's unix socket, or None for inet: sockets."""
    spec = settings.milter_socket
    for prefix in ("unix:", "local:"):
        if spec.startswith(prefix):
            return spec[len(prefix):]
    return spec if spec.startswith("/") else None


def postfix_socket_specs(path: str, queue_directory: str) -> set[str]:
    """How smtpd_milters may name our socket: chroot-relative, or absolute when not chrooted."""
    specs = {f"unix:{path}"}
    queue = queue_directory.rstrip("/")
    if queue and path.startswith(queue + "/"):
        specs.add(f"unix:{path[len(queue):]}")
    return specs


def _milter_entries(value: str) -> list[tuple[str, dict[str, str]]]:
    """Split smtpd_milters into (socket, {option: value}) pairs, `{ ... }` groups included."""
    entries: list[tuple[str, dict[str, str]]] = []
    for group in re.findall(r"\{([^}]*)\}|([^\s,{}]+)", value or ""):
        inner, plain = group
        if plain:
            entries.append((plain, {}))
            continue
        parts = [p.strip() for p in inner.split(",") if p.strip()]
        if not parts:
            continue
        opts = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            opts[k.strip()] = v.strip()
        entries.append((parts[0], opts))
    return entries


# --- the checks ----------------------------------------------------------------------

def check_configuration(settings: Settings) -> Check:
    """Which configuration file these settings came from: the first thing to know when two views disagree."""
    from mailgate.shared.config import CONFIG_VARIABLE, DEFAULT_CONFIG_FILE

    if settings.config_file is None:
        return Check("configuration", True, f"no file ({CONFIG_VARIABLE} empty, or unset and {DEFAULT_CONFIG_FILE} "
                     "absent): the process environment and the defaults")
    return Check("configuration", True, f"{settings.config_file} (the process environment overrides it)")


def check_database(settings: Settings, db: Database) -> Check:
    from mailgate.shared import schema

    where = settings.database_url.split("@")[-1]
    try:
        current = schema.current_revision(db)
    except Exception as exc:  # any driver error means: unreachable
        return Check("database", False, f"cannot connect to {where}: {exc.__class__.__name__}: {exc}"[:400],
                     "Check MAILGATE_DATABASE_URL and that the database server is running.")
    head = schema.head_revision()
    if current is None:
        return Check("database", False, f"{where} is reachable but not initialised",
                     "Run `mailgate init`.")
    if current != head:
        problem = schema.mismatch(current)
        what, _, todo = problem.partition("; ")
        return Check("database", False, f"{where}: {what}", todo[:1].upper() + todo[1:] + ".")
    return Check("database", True, f"{where}: schema {current} (current)")


def check_mail_key(settings: Settings, db: Database) -> Check:
    from mailgate.shared.keys import NoMailKey, current_key, fingerprint

    try:
        with db.read() as s:
            key = current_key(s)
            return Check("mail key", True, f"current key {fingerprint(key)}, created {key.created_at:%Y-%m-%d %H:%M} UTC")
    except NoMailKey:
        return Check("mail key", False, "no current mail key, so no reply address can be verified",
                     "Run `mailgate init`.")
    except Exception as exc:
        return Check("mail key", False, f"cannot read the mail key: {exc.__class__.__name__}",
                     "Fix the database check first.")


def check_domains(settings: Settings, db: Database) -> Check:
    from mailgate.shared.config import DEFAULT_REPLY_DOMAIN

    detail = "serving " + ", ".join(settings.domains) + f"; reply addresses at {settings.reply_domain}"
    if settings.reply_domain == DEFAULT_REPLY_DOMAIN:
        return Check("domains", True, detail + " (the demo default: fine on this machine, not for mail from the internet)",
                     "Set MAILGATE_REPLY_DOMAIN to a domain whose MX points at this host for real use.")
    return Check("domains", True, detail)


def check_create_addresses(settings: Settings, db: Database) -> Check:
    from mailgate.shared.directory import stranded_addresses

    try:
        with db.read() as s:
            stranded = stranded_addresses(s, settings)
    except Exception as exc:
        return Check("create addresses", False, f"cannot read them: {exc.__class__.__name__}",
                     "Fix the database check first.")
    if stranded:
        listed = ", ".join(f"{address} ({app})" for app, address in stranded[:10])
        more = f" and {len(stranded) - 10} more" if len(stranded) > 10 else ""
        return Check("create addresses", False, f"on a domain Mailgate does not serve, so mail to them never "
                     f"arrives: {listed}{more}",
                     "Remove them (`mailgate address remove ADDRESS`), or serve their domain again "
                     "(MAILGATE_REPLY_DOMAIN or MAILGATE_DOMAINS, then scripts/setup.sh).")
    return Check("create addresses", True, "every create address is on a domain Mailgate serves")


def check_sender_auth(settings: Settings) -> Check:
    """The policy, and whether the name servers answer (a require address defers mail while they do not)."""
    from mailgate.shared.senderauth.resolver import DnsTemporary, shared_resolver

    where = ", ".join(settings.dns_servers) or "the system resolver"
    mode = settings.sender_auth
    if mode == "off":
        return Check("sender authentication", True, "off (create addresses may still require it; "
                     "they are checked when mail comes)")
    try:
        shared_resolver(settings.dns_servers, settings.dns_timeout).txt(f"_dmarc.{settings.reply_domain}")
    except DnsTemporary as exc:
        return Check("sender authentication", False, f"{mode}; DNS at {where} does not answer ({exc})",
                     "Point MAILGATE_DNS_SERVERS at a working resolver: until then every message is temperror"
                     + (", and require defers it (451)" if mode == "require" else "") + ".")
    upstream = f"; believes Authentication-Results of {settings.authserv_id}" if settings.authserv_id else ""
    return Check("sender authentication", True, f"{mode}; DNS at {where} answers{upstream}")


def check_postfix_running(pf: _Postfix) -> Check:
    if not pf.installed:
        return Check("postfix running", False, "postconf not found: Postfix is not installed",
                     "apt-get install postfix, then run postfix/setup.sh.")
    ok, detail = pf.status()
    return Check("postfix running", ok, detail, "" if ok else "Start Postfix: `postfix start` (or `systemctl start postfix`).")


def check_milter_configured(settings: Settings, pf: _Postfix) -> tuple[Check, list[tuple[str, dict[str, str]]]]:
    path = socket_path(settings)
    value = pf.get("smtpd_milters") if pf.installed else None
    if value is None:
        return Check("milter configured", False, "cannot read smtpd_milters (is Postfix installed?)",
                     "Run postfix/setup.sh."), []
    entries = _milter_entries(value)
    queue = pf.get("queue_directory") or "/var/spool/postfix"
    wanted = postfix_socket_specs(path, queue) if path else {settings.milter_socket}
    ours = [(spec, opts) for spec, opts in entries if spec in wanted]
    if not ours:
        return Check("milter configured", False,
                     f"smtpd_milters = {value or '(empty)'}; expected one of {', '.join(sorted(wanted))}",
                     "Run postfix/setup.sh (it sets smtpd_milters with `postconf -e`) and `postfix reload`."), []
    return Check("milter configured", True, f"smtpd_milters names {ours[0][0]}"), ours


def check_default_action(pf: _Postfix, ours: list[tuple[str, dict[str, str]]]) -> Check:
    fix = ("postconf -e milter_default_action=tempfail (and default_action=tempfail in the smtpd_milters entry); "
           "postfix reload. Anything else accepts mail unseen or bounces it while the milter is down.")
    if not pf.installed:
        return Check("milter default action", False, "Postfix is not installed", fix)
    glob = pf.get("milter_default_action") or "(unreadable)"
    per = [opts.get("default_action") for _, opts in ours if opts.get("default_action")]
    effective = per[0] if per else glob
    if effective != "tempfail":
        return Check("milter default action", False, f"effective default action is {effective!r} "
                     f"(milter_default_action = {glob})", fix)
    return Check("milter default action", True, "tempfail: while the milter is down clients get 4xx and retry")


# Address classes that take a domain away from relay_domains (Postfix checks them first): smtpd then
# looks the recipient up as a local or virtual user and refuses every Mailgate address at RCPT.
LOCAL_DOMAIN_PARAMETERS = ("mydestination", "virtual_alias_domains", "virtual_mailbox_domains")


def _listed_in(pf: _Postfix, parameter: str, domain: str) -> bool:
    """Whether `domain` is in a domain-list parameter: a literal entry, or a key of one of its tables."""
    for entry in re.split(r"[\s,]+", pf.get(parameter) or ""):
        entry = entry.strip()
        if not entry:
            continue
        if ":" in entry:  # type:name lookup table (hash:/etc/postfix/..., inline:{...})
            if pf.query(entry, domain) is not None:
                return True
        elif entry.lower().rstrip(".") == domain:
            return True
    return False


def local_domain_problems(settings: Settings, pf: _Postfix) -> tuple[list[str], str | None]:
    """Mailgate domains that Postfix treats as local or virtual, and the fix setup.sh gives for it."""
    problems = [f"{domain} is in {parameter}" for domain in settings.domains
                for parameter in LOCAL_DOMAIN_PARAMETERS if _listed_in(pf, parameter, domain)]
    if not problems:
        return [], None
    return problems, ("Mailgate's domains must be relay domains only: remove them from "
                      + ", ".join(sorted({p.rsplit(" ", 1)[1] for p in problems}))
                      + ", then run postfix/setup.sh (postfix reload).")


def check_domain_routed(settings: Settings, pf: _Postfix) -> Check:
    if not pf.installed:
        return Check("domain routed", False, "Postfix is not installed", "Run postfix/setup.sh.")
    local, fix = local_domain_problems(settings, pf)
    if local:
        return Check("domain routed", False, "; ".join(local) + ": Postfix refuses every Mailgate address "
                     "(User unknown) before the milter can answer", fix)
    problems: list[str] = []
    seen: list[str] = []
    relay = [d.strip().lower() for d in re.split(r"[\s,]+", pf.get("relay_domains") or "") if d.strip()]
    transports = [t for t in re.split(r"[\s,]+(?![^{]*\})", pf.get("transport_maps") or "") if t.strip()]
    for domain in settings.domains:
        if domain not in relay:
            problems.append(f"{domain} is not in relay_domains")
            continue
        target = None
        for table in transports:
            target = pf.query(table, domain)
            if target:
                break
        if not target:
            problems.append(f"{domain} has no transport_maps entry (the mailgate-refuse: safety net)")
            continue
        problem = _safety_net_problem(pf, domain, target)
        if problem:
            problems.append(problem)
        else:
            seen.append(f"{domain} -> {target}")
    if problems:
        return Check("domain routed", False, "; ".join(problems),
                     "Run postfix/setup.sh (relay_domains and transport_maps for Mailgate's domains).")
    return Check("domain routed", True, "relay domain, transport " + "; ".join(seen))


def check_starttls(pf: _Postfix) -> Check:
    """STARTTLS on port 25: optional on a test machine, but a certificate named and unusable is a failure."""
    if not pf.installed:
        return Check("starttls", False, "Postfix is not installed", "Run scripts/setup.sh.")
    level = pf.get("smtpd_tls_security_level") or ""
    cert = pf.get("smtpd_tls_cert_file") or ""
    if level in ("", "none") or not cert:
        return Check("starttls", True, "not offered on port 25 (fine on a test machine; a public MX should: "
                     "docs/going-live.md)")
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    try:
        out = subprocess.run([openssl, "x509", "-noout", "-enddate", "-subject", "-checkend", "0", "-in", cert],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("starttls", False, f"cannot read {cert}: {exc}", "Check smtpd_tls_cert_file.")
    fields = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    ends = fields.get("notAfter", "").strip()
    fix = "Renew the certificate and run scripts/setup.sh --tls-cert FILE --tls-key FILE (then postfix reload)."
    if "will expire" in out.stdout:
        return Check("starttls", False, f"{cert} expired on {ends}", fix)
    if out.returncode != 0 or not ends:
        why = (out.stderr.strip().splitlines() or ["not a PEM certificate"])[0]
        return Check("starttls", False, f"smtpd_tls_cert_file = {cert}: {why}"[:300], fix)
    subject = fields.get("subject", "").strip()
    return Check("starttls", True, f"offered ({level}) with {cert}, {subject}, valid until {ends}")


def _safety_net_problem(pf: _Postfix, domain: str, target: str) -> str | None:
    """A transport that would drop what bypassed the milter, or names a service master.cf lacks."""
    transport = target.split(":", 1)[0].strip()
    if transport == "discard":
        return (f"{domain} -> {target}: a message that bypassed the milter would be dropped after a 250 "
                "(the safety net must refuse it: mailgate-refuse:)")
    if transport == SAFETY_NET_SERVICE and not pf.service(f"{SAFETY_NET_SERVICE}/unix"):
        return f"{domain} -> {target}: master.cf has no {SAFETY_NET_SERVICE} service"
    return None


def check_socket(settings: Settings, pf: _Postfix) -> Check:
    path = socket_path(settings)
    name = "milter socket"
    if path is None:
        return Check(name, False, f"{settings.milter_socket} is not a unix socket; inet: loses ~43 ms per message",
                     "Set MAILGATE_MILTER_SOCKET=unix:/var/spool/postfix/mailgate/milter.sock.")
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        return Check(name, False, f"{path} does not exist: the milter is not running (or uses another socket)",
                     "Start it: `mailgate milter` (or systemctl start mailgate-milter).")
    except PermissionError:
        return Check(name, False, f"cannot stat {path}: permission denied", "Run `mailgate check` as root.")
    if not stat.S_ISSOCK(st.st_mode):
        return Check(name, False, f"{path} exists but is not a socket", f"Remove {path} and restart the milter.")
    queue = pf.get("queue_directory") if pf.installed else None
    problems = []
    try:
        import grp

        postfix_gid = grp.getgrnam("postfix").gr_gid
    except (KeyError, ImportError):
        postfix_gid = None
    mode = stat.S_IMODE(st.st_mode)
    by_group = postfix_gid is not None and st.st_gid == postfix_gid and mode & 0o060 == 0o060
    by_other = mode & 0o006 == 0o006
    if not (by_group or by_other):
        problems.append(f"mode {mode:04o}, group id {st.st_gid}: user postfix cannot connect (needs group postfix and 0660)")
    for parent in p.parents:
        if str(parent) == "/":
            break
        try:
            pm = parent.stat().st_mode
        except OSError:
            continue
        if not pm & 0o001 and not (postfix_gid is not None and parent.stat().st_gid == postfix_gid and pm & 0o010):
            problems.append(f"{parent} is not searchable by postfix")
            break
    fix = "Restart the milter through postfix/setup.sh, which creates the directory with group postfix."
    # The chroot rule holds only for a chrooted smtpd (unknown: assume Debian's, chrooted).
    if queue and not path.startswith(queue.rstrip("/") + "/") and pf.smtpd_chrooted() is not False:
        problems.append(f"not under Postfix's chroot {queue}; chrooted smtpd cannot see it")
        fix = (f"Set MAILGATE_MILTER_SOCKET=unix:{queue.rstrip('/')}/mailgate/milter.sock and name it in "
               f"smtpd_milters by its path inside the chroot, unix:/mailgate/milter.sock (postfix/setup.sh does "
               f"both); or run smtpd unchrooted (master.cf chroot column n).")
    if problems:
        return Check(name, False, f"{path}: " + "; ".join(problems), fix)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
    except OSError as exc:
        return Check(name, False, f"{path} exists but refuses connections ({exc.strerror}): stale socket, milter gone",
                     "Restart the milter.")
    return Check(name, True, f"{path}: mode {mode:04o}, group postfix, accepting connections")


def check_heartbeat(settings: Settings, db: Database) -> Check:
    from sqlalchemy import select

    from mailgate.shared.models.admin import Heartbeat

    try:
        with db.read() as s:
            rows = s.scalars(select(Heartbeat).where(Heartbeat.service == HEARTBEAT_SERVICE)
                             .order_by(Heartbeat.last_seen.desc())).all()
            beats = [(r.host, r.pid, r.last_seen, dict(r.detail or {})) for r in rows]
    except Exception as exc:
        return Check("milter last seen", False, f"cannot read heartbeats: {exc.__class__.__name__}",
                     "Fix the database check first.")
    if not beats:
        return Check("milter last seen", False, "no milter has ever started against this database",
                     "Start it: `mailgate milter` (postfix/setup.sh does it for you).")
    now = utcnow()
    host, pid, last, detail = beats[0]
    age = int((now - last).total_seconds())
    live = [b for b in beats if now - b[2] <= HEARTBEAT_STALE and b[3].get("state") != "stopped"]
    text = f"{host} pid {pid}, {age} s ago" + (f"; {detail.get('messages', 0)} messages since start" if detail else "")
    if len(beats) > 1:
        text += f" ({len(live)} of {len(beats)} hosts alive)"
    if detail.get("state") == "stopped" and not live:
        return Check("milter last seen", False, text + " -- stopped cleanly since",
                     "Start it: `mailgate milter` (postfix/setup.sh, or systemctl start mailgate-milter).")
    if not live:
        return Check("milter last seen", False, text + " -- stopped or hung",
                     "Restart the milter; its log says why it stopped.")
    failing = [b for b in live if (b[3].get("stores_failed") or 0) >= STORE_FAILURES_ALERT]
    if failing:
        h, _, _, d = failing[0]
        return Check("milter last seen", False, f"{h}: the last {d['stores_failed']} stores failed "
                     f"({d.get('store_error') or 'unknown error'}): every message is deferred with 451",
                     "The milter's writer cannot write the database: look at its log, the database's "
                     "disk space and permissions; it recovers by itself once a store succeeds.")
    return Check("milter last seen", True, text)


def run_checks(settings: Settings, db: Database, *, postfix_config_dir: str | None = None) -> list[Check]:
    """Every check, in the order an operator fixes things. Never raises.

    `postfix_config_dir` selects a Postfix instance (`postconf -c DIR`);
    default: MAILGATE_POSTFIX_CONFIG, else the system instance.
    """
    pf = _Postfix(postfix_config_dir or settings.environ.get("MAILGATE_POSTFIX_CONFIG") or None)
    results: list[Check] = [check_configuration(settings)]

    def guarded(name: str, fn: Callable[[], Check]) -> Check:
        try:
            return fn()
        except Exception as exc:  # a check must never take the page down
            return Check(name, False, f"check crashed: {exc.__class__.__name__}: {exc}"[:400], "Report this as a bug.")

    results.append(guarded("database", lambda: check_database(settings, db)))
    results.append(guarded("mail key", lambda: check_mail_key(settings, db)))
    results.append(guarded("domains", lambda: check_domains(settings, db)))
    results.append(guarded("create addresses", lambda: check_create_addresses(settings, db)))
    results.append(guarded("sender authentication", lambda: check_sender_auth(settings)))
    results.append(guarded("postfix running", lambda: check_postfix_running(pf)))
    ours: list = []

    def configured() -> Check:
        nonlocal ours
        check, ours = check_milter_configured(settings, pf)
        return check

    results.append(guarded("milter configured", configured))
    results.append(guarded("milter default action", lambda: check_default_action(pf, ours)))
    results.append(guarded("domain routed", lambda: check_domain_routed(settings, pf)))
    results.append(guarded("starttls", lambda: check_starttls(pf)))
    results.append(guarded("milter socket", lambda: check_socket(settings, pf)))
    results.append(guarded("milter last seen", lambda: check_heartbeat(settings, db)))
    # Outbound last: mail in works without it. Imported here because
    # outbound.health builds on this module's Check.
    from mailgate.shared.outbound import health as outbound_health

    try:
        results.extend(outbound_health.check_mailers(settings, db=db))
    except Exception as exc:  # noqa: BLE001 -- same rule as guarded(): never take the page down
        results.append(Check("mailers", False, f"check crashed: {exc.__class__.__name__}: {exc}"[:400],
                             "Report this as a bug."))
    results.append(guarded("outbound queue", lambda: outbound_health.check_queue(db)))
    return results
