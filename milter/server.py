"""The milter process: checks before listening, the socket, the factory, a heartbeat, a graceful stop.

Start-up refuses to listen when it could only answer 451 to everything
(database unreachable, not initialised, no mail key) or when Postfix could
never connect (socket directory missing or not writable): an operator reads
one clear line instead of finding out from the mail log.

libmilter owns the signals: SIGTERM/SIGINT/SIGHUP make `milter.main()`
return after closing the listening socket. Messages already between MAIL FROM
and their end are then allowed to finish (up to `drain_seconds`) so that a
restart never cuts a message that is being stored; new messages on open
connections get 451 during the drain and Postfix retries them.
"""

from __future__ import annotations

import errno
import gc
import grp
import logging
import os
import signal
import socket as socketlib
import stat
import threading
import time
from pathlib import Path

import Milter
import milter as libmilter

from mailgate.milter.adapter import ACTIONS, RCPT_CACHE_REFUSED_SECONDS, MailgateMilter, RecipientCache, Runtime
from mailgate.milter import memory
from mailgate.milter.durability import open_database
from mailgate.milter.writer import WriterProcess
from mailgate.shared import logs, sender_auth
from mailgate.shared.config import Settings
from mailgate.shared.db import Database, utcnow
from mailgate.shared.outcomes import TempFail
from mailgate.shared.health import HEARTBEAT_INTERVAL, HEARTBEAT_SERVICE

log = logging.getLogger("mailgate.milter")

MILTER_NAME = "mailgate"
DRAIN_SECONDS = 60.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class StartupError(Exception):
    """The milter cannot usefully start; the message says what to do."""

    exit_code = 78  # EX_CONFIG: an operator must fix something; the unit does not restart on it


class DatabaseUnreachable(StartupError):
    """The database server is down or out of reach: worth retrying (a fleet's hosts start while it restarts)."""

    exit_code = 75  # EX_TEMPFAIL: the unit's Restart=on-failure tries again until the database is back


# --- checks before listening -----------------------------------------------------------

def socket_file(spec: str) -> str | None:
    """The path of a unix: socket spec; None for inet: (allowed, but slow: docs/milter.md)."""
    for prefix in ("unix:", "local:"):
        if spec.startswith(prefix):
            return spec[len(prefix):]
    return spec if spec.startswith("/") else None


def prepare_socket_dir(path: str, group: str | None) -> int | None:
    """Make sure the socket's directory exists and is writable; return the group id for the socket."""
    gid = None
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise StartupError(f"group {group!r} does not exist (is Postfix installed?); "
                               f"use --group to name the group Postfix runs as") from None
    directory = Path(path).parent
    if not directory.is_dir():
        try:
            directory.mkdir(mode=0o750, parents=False)
            if gid is not None:
                os.chown(directory, -1, gid)
        except OSError as exc:
            raise StartupError(f"socket directory {directory} does not exist and cannot be created "
                               f"({exc.strerror}); run postfix/setup.sh as root, or create it owned by "
                               f"this user with group {group or 'postfix'} and mode 0750") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartupError(f"socket directory {directory} is not writable by uid {os.getuid()}; "
                           f"chown it to the user running the milter (postfix/setup.sh does)")
    if os.path.exists(path) and not stat.S_ISSOCK(os.lstat(path).st_mode):
        raise StartupError(f"{path} exists and is not a socket; remove it")
    refuse_live_socket(path)
    return gid


def refuse_live_socket(path: str) -> None:
    """Refuse to start when another milter answers on `path`.

    libmilter's opensocket(True) removes whatever socket is at the path. Were
    another milter still listening there, it would go on running (heartbeat
    green) but unreachable, and when either of the two stopped, Postfix would
    find no socket at all: every message 451 until someone restarts the
    milter. A socket nobody listens on (a milter killed with SIGKILL) is
    stale and may be replaced.
    """
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return  # prepare_socket_dir() names that problem
    except FileNotFoundError:
        return
    with socketlib.socket(socketlib.AF_UNIX) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return  # stale
        except (socketlib.timeout, BlockingIOError):
            pass  # a full backlog: someone is listening
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                return
            raise StartupError(f"cannot tell whether another milter is listening on {path} "
                               f"({exc.strerror}); run the milter as the user that owns the socket") from None
    raise StartupError(f"another milter is listening on {path}; stop it first (postfix/setup.sh stops the "
                       f"one it started), or give this one another --socket")


def socket_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the socket file: which process's socket it is, at exit."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def remove_own_files(path: str | None, identity: tuple[int, int] | None, pid_file: str | None) -> None:
    """At exit, unlink the socket and the pid file only if they are still this process's.

    A milter started meanwhile on the same path (after this one stopped
    listening, while it finished its drain) owns a new socket file and has
    written its own pid: removing those would leave Postfix with no socket
    (451 for everything) and setup.sh with no pid to stop next time.
    """
    if path and identity is not None and socket_identity(path) == identity:
        try:
            os.unlink(path)
        except OSError:
            pass
    if pid_file:
        try:
            if Path(pid_file).read_text().strip() == str(os.getpid()):
                Path(pid_file).unlink()
        except (OSError, ValueError):
            pass


def check_database(db: Database) -> None:
    """Refuse to start on a database that would make every message a 451."""
    from mailgate.shared import schema
    from mailgate.shared.keys import NoMailKey, current_key

    try:
        current = schema.current_revision(db)
    except Exception as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        # A database server may be restarting (exit 75, retried); an SQLite file that cannot be opened is a
        # configuration error (78).
        error = StartupError if db.url.startswith("sqlite") else DatabaseUnreachable
        raise error(f"database unreachable ({exc.__class__.__name__}: {detail}); "
                    f"check MAILGATE_DATABASE_URL and the database server") from None
    if current is None:
        raise StartupError("database not initialised; run `mailgate init` with the same environment")
    problem = schema.mismatch(current)
    if problem:
        raise StartupError(problem)
    try:
        with db.read() as s:
            current_key(s)
    except NoMailKey:
        raise StartupError("no mail key; run `mailgate init`") from None


# --- heartbeat --------------------------------------------------------------------------

class Heartbeat(threading.Thread):
    """Writes the console's "milter last seen" every HEARTBEAT_INTERVAL seconds (never per message)."""

    def __init__(self, runtime: Runtime, socket_spec: str):
        super().__init__(name="mailgate-heartbeat", daemon=True)
        self.runtime = runtime
        self.socket_spec = socket_spec
        self.host = socketlib.gethostname()
        self.started_at = utcnow()
        self.stop_event = threading.Event()

    def beat(self, state: str = "running") -> None:
        from mailgate.shared.models.admin import Heartbeat as Row

        rt = self.runtime
        rt.health_changed.clear()
        detail = {"socket": self.socket_spec, "state": state, "messages": rt.messages, "tempfails": rt.tempfails,
                  "rcpt_rejects": rt.rcpt_rejects, "rate_limited": rt.rate_limited, "connections": rt.active,
                  "in_flight": rt.in_flight, "stores_failed": rt.stores_failed, "store_error": rt.store_error}
        try:
            with rt.db.transaction() as s:  # the only write in this process (messages: the writer process)
                row = s.get(Row, (HEARTBEAT_SERVICE, self.host))
                if row is None:
                    row = Row(service=HEARTBEAT_SERVICE, host=self.host)
                    s.add(row)
                row.pid, row.started_at, row.last_seen, row.detail = os.getpid(), self.started_at, utcnow(), detail
        except Exception as exc:  # the heartbeat must never take the milter down
            log.warning("heartbeat not written: %s: %s", exc.__class__.__name__, exc)

    def run(self) -> None:
        due = time.monotonic() + HEARTBEAT_INTERVAL
        while not self.stop_event.wait(1.0):
            # Every HEARTBEAT_INTERVAL, and at once when the stores start or stop failing.
            if time.monotonic() >= due or self.runtime.health_changed.is_set():
                due = time.monotonic() + HEARTBEAT_INTERVAL
                self.beat()
            if self.runtime.large_messages.is_set() and self.runtime.in_flight == 0:
                self.runtime.large_messages.clear()
                memory.trim()  # a burst of large messages is over: give the memory back


# --- serving ----------------------------------------------------------------------------

def make_factory(runtime: Runtime) -> type[MailgateMilter]:
    """A MailgateMilter subclass bound to this process's runtime (pymilter calls factory())."""
    return type("BoundMailgateMilter", (MailgateMilter,), {"runtime": runtime})


def _register(factory: type[MailgateMilter], spec: str, timeout: int) -> None:
    """What Milter.runmilter does, minus opening the socket (we set its mode and group)."""
    Milter.factory = factory
    # The only change Mailgate ever makes to a message is DELRCPT; SETSYMLIST asks for the macros it reads
    # (MailgateMilter.negotiate returns exactly these).
    libmilter.set_flags(ACTIONS)
    libmilter.set_exception_policy(libmilter.TEMPFAIL)  # a Python error that escaped: 451, never accept
    libmilter.set_connect_callback(Milter.connect_callback)
    libmilter.set_helo_callback(lambda ctx, host: ctx.getpriv().hello(host))
    libmilter.set_envfrom_callback(lambda ctx, *b: ctx.getpriv().envfrom_bytes(*b))
    libmilter.set_envrcpt_callback(lambda ctx, *b: ctx.getpriv().envrcpt_bytes(*b))
    libmilter.set_header_callback(lambda ctx, f, v: ctx.getpriv().header_bytes(f, v))
    libmilter.set_eoh_callback(lambda ctx: ctx.getpriv().eoh())
    libmilter.set_body_callback(lambda ctx, chunk: ctx.getpriv().body(chunk))
    libmilter.set_eom_callback(lambda ctx: ctx.getpriv().eom())
    libmilter.set_abort_callback(lambda ctx: ctx.getpriv().abort())
    libmilter.set_close_callback(Milter.close_callback)
    libmilter.setconn(spec)
    if timeout > 0:
        libmilter.settimeout(timeout)
    libmilter.setbacklog(128)
    libmilter.register(MILTER_NAME, data=lambda ctx: ctx.getpriv().data(),
                       unknown=lambda ctx, cmd: ctx.getpriv().unknown(cmd),
                       negotiate=Milter.negotiate_callback)


def rcpt_cache_from_env(environ) -> RecipientCache:
    """MAILGATE_MILTER_RCPT_CACHE_SECONDS: how long a usable address's RCPT verdict is reused (0: never)."""
    raw = environ.get("MAILGATE_MILTER_RCPT_CACHE_SECONDS", "").strip()
    if not raw:
        return RecipientCache()
    try:
        seconds = max(0.0, float(raw))
    except ValueError:
        raise StartupError(f"MAILGATE_MILTER_RCPT_CACHE_SECONDS={raw!r} is not a number of seconds") from None
    return RecipientCache(seconds=seconds, refused_seconds=min(seconds, RCPT_CACHE_REFUSED_SECONDS))


def pin_to_one_cpu(spec: str | None) -> int | None:
    """MAILGATE_MILTER_CPU: keep the whole process on one CPU; return it (None: not pinned, the default).

    The GIL lets one thread run Python at a time, so a second core buys the
    milter little, while its threads handing the GIL (and the write queue) to
    each other across cores cost cache misses and wake-up interrupts: no gain
    on a quiet machine, less CPU per message when other work shares the cores
    (bench/RESULTS.md). Off by
    default: two milters on one host pinned to the same CPU would share it.
    `spec`: "all" or unset (not pinned), "auto" (the CPU the process is on),
    or a CPU number. Threads created later (libmilter's, the heartbeat)
    inherit the calling thread's affinity, so this runs before any of them.
    """
    spec = (spec or "all").strip().lower()
    if spec in ("all", "none", "off"):
        return None
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return None
    if spec == "auto":
        if len(allowed) < 2:
            return None
        try:  # field 39 of /proc/self/stat: the CPU last run on (the name in parentheses may hold spaces)
            cpu = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[36])
        except (OSError, ValueError, IndexError):
            cpu = max(allowed)
        if cpu not in allowed:
            cpu = max(allowed)
    else:
        try:
            cpu = int(spec)
        except ValueError:
            raise StartupError(f"MAILGATE_MILTER_CPU={spec!r}: use auto, all, or a CPU number") from None
        if cpu not in allowed:
            raise StartupError(f"MAILGATE_MILTER_CPU={cpu}: this process may run on CPUs {sorted(allowed)} only")
    os.sched_setaffinity(0, {cpu})
    return cpu


def _affinity() -> set[int] | None:
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return None


def spool_directory(settings: Settings) -> str | None:
    """Where large messages' nameless files go: `spool` in the instance folder (the milter's own, on disk;
    /tmp may be memory), created 0700; None (the system's temporary folder) when it cannot be."""
    path = Path(settings.instance_path) / "spool"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # the instance folder (with PostgreSQL nothing else made it)
        path.mkdir(mode=0o700, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"{path} is not writable")
    except OSError as exc:
        log.warning("large messages go to the system's temporary folder: cannot use %s (%s)", path, exc)
        return None
    return str(path)


def drain(runtime: Runtime, seconds: float) -> int:
    """Wait for messages in flight to finish; return how many were still running at the deadline."""
    runtime.stopping.set()
    deadline = time.monotonic() + seconds
    while runtime.in_flight > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return runtime.in_flight


def serve(settings: Settings, *, socket_spec: str | None = None, group: str | None = "postfix",
          pid_file: str | None = None, log_level: str = "INFO", drain_seconds: float = DRAIN_SECONDS,
          db: Database | None = None) -> None:
    """Run until SIGTERM/SIGINT; raise StartupError for a problem an operator must fix first."""
    memory.tune()  # before any thread starts (libmilter's)
    logs.setup(log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    all_cpus = _affinity()
    cpu = pin_to_one_cpu(settings.environ.get("MAILGATE_MILTER_CPU"))  # before any thread starts
    spec = socket_spec or settings.milter_socket
    if spec.startswith("/"):
        spec = "unix:" + spec
    path = socket_file(spec)
    gid = prepare_socket_dir(path, group) if path else None
    if path is None:
        log.warning("listening on %s: a TCP socket costs ~43 ms per message (Nagle + delayed ACK); "
                    "use a unix socket", spec)
    if pid_file:
        write_pid_file(pid_file)
    try:
        if db is None:
            db = open_database(settings)  # this process only reads (RCPT checks) and writes the heartbeat
        check_database(db)
        # Every message is stored and processed in the writer process (milter/writer.py), in batches.
        writer = WriterProcess(settings, log_level, cpus=all_cpus)  # not pinned with us: it is the busy one
        try:
            writer.start()
        except TempFail:
            raise StartupError("the writer process could not open the database; see the lines above") from None
        try:
            _listen_and_serve(settings, db, writer, spec=spec, path=path, gid=gid, group=group, pid_file=pid_file,
                              drain_seconds=drain_seconds, cpu=cpu)
        finally:
            writer.stop()  # after a start-up refusal too: a writer left running would keep this process from exiting
    finally:
        remove_own_files(None, None, pid_file)  # a refused start leaves no pid file (setup.sh would trust it)


def write_pid_file(pid_file: str) -> None:
    """Write our pid before anything listens, so a pid file that cannot be written is a clear refusal.

    Written after the socket was open (as it was), a missing directory gave a
    traceback and left a socket and an "alive" heartbeat behind. A pid file
    naming another running mailgate process is not overwritten: postfix/setup.sh
    stops the milter by it.
    """
    path = Path(pid_file)
    try:
        other = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        other = None
    if other and other != os.getpid() and _is_mailgate(other):
        raise StartupError(f"pid file {pid_file} names pid {other}, a running mailgate process; "
                           f"stop it first, or use another --pid-file")
    try:
        path.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        raise StartupError(f"cannot write the pid file {pid_file} ({exc.strerror}); create its directory, "
                           f"writable by uid {os.getuid()} (postfix/setup.sh creates /run/mailgate)") from None


def _is_mailgate(pid: int) -> bool:
    """Whether `pid` is alive and runs mailgate (a stale pid file may name a pid reused by anything)."""
    try:
        return b"mailgate" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _open_socket(spec: str, path: str | None, gid: int | None, group: str | None) -> None:
    """libmilter's listening socket, 0660 and owned by the group Postfix runs as."""
    old_umask = os.umask(0o117)  # libmilter creates the socket 0660 (it honours the umask)
    try:
        libmilter.opensocket(True)
    except libmilter.error as exc:
        raise StartupError(f"cannot listen on {spec}: {exc}") from None
    finally:
        os.umask(old_umask)
    if path:
        try:
            if gid is not None:
                os.chown(path, -1, gid)
            os.chmod(path, 0o660)
        except OSError as exc:
            try:
                os.unlink(path)  # just created by us: a socket Postfix could not use must not stay behind
            except OSError:
                pass
            raise StartupError(f"cannot give {path} to group {group}: {exc.strerror}") from None


def _listen_and_serve(settings: Settings, db: Database, writer: WriterProcess, *, spec: str, path: str | None,
                      gid: int | None, group: str | None, pid_file: str | None, drain_seconds: float,
                      cpu: int | None) -> None:
    """From the listening socket to the end of the drain (the writer process is running already)."""
    runtime = Runtime(settings=settings, db=db, rcpt_cache=rcpt_cache_from_env(settings.environ), batcher=writer,
                      spool_dir=spool_directory(settings))
    _register(make_factory(runtime), spec, timeout=600)
    # "milter last seen" is written before the socket exists: whoever can connect
    # (Postfix, `mailgate check`, a test) finds this start recorded.
    if path:
        # Again, just before: the heartbeat row is shared per host, and a refused start must not write
        # "stopped" over the running milter's (prepare_socket_dir checked before the database work).
        refuse_live_socket(path)
    heartbeat = Heartbeat(runtime, spec)
    heartbeat.beat("started")
    try:
        _open_socket(spec, path, gid, group)
    except StartupError:
        heartbeat.beat("stopped")
        raise
    identity = socket_identity(path) if path else None
    threads: list[threading.Thread] = []  # libmilter's, once started
    failure: list[BaseException] = []  # what ended libmilter's thread, if it was not a stop
    left = 0
    # From here on the socket exists: whatever fails, the finally below removes it and writes "stopped".
    try:
        _serve_until_stopped(runtime, heartbeat, settings, spec, cpu, threads, failure)
        left = drain(runtime, drain_seconds)
    finally:
        for worker in threads:
            _stop_libmilter(worker, path)
        try:
            writer.stop()  # it finishes what it was sent (nothing, unless the drain timed out), then exits
        except Exception:  # noqa: BLE001 -- serve()'s finally tries again; the rest of the stop goes on
            log.exception("could not stop the writer process")
        heartbeat.stop_event.set()
        heartbeat.beat("stopped")
        runtime.refusals.stop(db)
        remove_own_files(path, identity, pid_file)
        log.info("stopped messages=%d tempfails=%d unfinished=%d", runtime.messages, runtime.tempfails, left)
        db.dispose()
    if failure:
        raise StartupError(f"libmilter stopped: {failure[0]}")


def _serve_until_stopped(runtime: Runtime, heartbeat: Heartbeat, settings: Settings, spec: str, cpu: int | None,
                         threads: list[threading.Thread], failure: list[BaseException]) -> None:
    """Run libmilter in a thread (appended to `threads`) until a stop signal or its end (appended to `failure`)."""
    # Who gets SIGTERM decides whether a stop is graceful. pymilter forgets its
    # interpreter as soon as libmilter's main() returns, after which callbacks of
    # sessions still open can no longer run: a message half-way would hang until
    # Postfix's timeout. So libmilter's own signal thread must never see the stop:
    # every thread but this one blocks the stop signals (threads inherit the mask
    # at creation), libmilter runs in a thread of its own, and this main thread --
    # which Linux prefers for a process-directed signal -- takes them, drains the
    # messages in flight, and only then tells libmilter to stop.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    heartbeat.start()
    runtime.refusals.start(runtime.db)  # a thread too: started with the stop signals blocked, as the others
    sender_auth.warm_up(settings)  # libraries and the suffix list loaded now, not by the first message
    # Everything loaded so far lives as long as the process: keep the cyclic GC from
    # rescanning it, and collect young objects less often (an ORM message makes many).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20000, 20, 20)

    def run_libmilter() -> None:
        try:
            libmilter.main()
        except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
            failure.append(exc)

    worker = threading.Thread(target=run_libmilter, name="libmilter", daemon=True)
    threads.append(worker)
    worker.start()
    received: list[int] = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    log.info("listening socket=%s database=%s domains=%s pid=%d cpu=%s", spec, settings.database_url.split("@")[-1],
             ",".join(settings.domains), os.getpid(), "all" if cpu is None else cpu)
    while not received and worker.is_alive():
        time.sleep(0.2)
    if received:
        log.info("stopping on %s: finishing %d message(s) in flight, new recipients get 451",
                 signal.Signals(received[0]).name, runtime.in_flight)


def _stop_libmilter(worker: threading.Thread, path: str | None, timeout: float = 10.0) -> None:
    """smfi_stop(), then wake libmilter's accept loop (it polls every 5 s) by connecting to it."""
    if not worker.is_alive():
        return
    libmilter.stop()
    deadline = time.monotonic() + timeout
    while worker.is_alive() and time.monotonic() < deadline:
        if path:
            try:
                with socketlib.socket(socketlib.AF_UNIX) as s:
                    s.settimeout(0.2)
                    s.connect(path)
            except OSError:
                pass
        worker.join(0.1)
