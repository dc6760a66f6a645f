"""What tests start outside their own process is stopped, even when a run is cut short.

Private Postfix masters, `mailgate milter`s, Dovecot and PostgreSQL detach
from the test process (their own session), so a run that dies without its
teardown leaves them running. Each helper that starts one calls `started()`
with how to stop it and `stopped()` once it has, and this module keeps two
records of what is still running:

- in this process: at exit (`stop_all()`, also called by tests/conftest.py
  at the end of the session) whatever a test or fixture failed to stop is
  stopped and named, so the culprit can be fixed;
- on disk, one file per test process under OWNERS: a later run's `sweep()`
  stops what a process killed outright (SIGKILL, a timeout) left, once that
  process is gone. A file whose process still runs is never touched.

tests/conftest.py turns SIGTERM and SIGHUP into KeyboardInterrupt, so an
interrupted session runs its fixtures' teardown as Ctrl-C does.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

OWNERS = Path(os.environ.get("MAILGATE_TEST_OWNERS", "/tmp/mailgate-test-owners"))

_lock = threading.Lock()
_live: dict[int, tuple[str, Callable[[], object], dict]] = {}
_next = 0


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (with the pid, an identity that is never reused)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process(pid: int, group: bool = False) -> dict:
    """How to stop a child process (its whole process group when it leads one), for `started()`."""
    return {"kind": "process", "pid": pid, "start": _start_time(pid), "group": group}


def postfix(config_dir: Path, root: Path) -> dict:
    return {"kind": "postfix", "config": str(config_dir), "root": str(root)}


def postgres(data_dir: Path, root: Path) -> dict:
    return {"kind": "postgres", "data": str(data_dir), "root": str(root)}


def _owner_file() -> Path:
    return OWNERS / f"{os.getpid()}-{_start_time(os.getpid())}.json"


def _write_locked() -> None:
    """The owner file as `_live` is now; without a writable OWNERS only this process's record is kept."""
    path = _owner_file()
    try:
        if not _live:
            path.unlink(missing_ok=True)
            return
        if not OWNERS.is_dir():
            OWNERS.mkdir()
            OWNERS.chmod(0o1777)  # shared by every user's test runs, like /tmp
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([how for _, _, how in _live.values()]))
        os.replace(tmp, path)
    except OSError:
        pass


def started(what: str, stop: Callable[[], object], how: dict) -> int:
    """Record a running server: `what` names it, `stop` stops it here, `how` (above) from another process."""
    global _next
    with _lock:
        _next += 1
        _live[_next] = (what, stop, how)
        _write_locked()
        return _next


def stopped(token: int | None) -> None:
    if token is None:
        return
    with _lock:
        if _live.pop(token, None) is not None:
            _write_locked()


def stop_all() -> list[str]:
    """Stop whatever is still recorded (newest first); returns what that was."""
    with _lock:
        pending = sorted(_live.items(), reverse=True)
    names = []
    for token, (what, stop, _) in pending:
        names.append(what)
        try:
            stop()
        except Exception:  # noqa: BLE001 -- stop the rest; the file keeps it for a later sweep
            continue
        stopped(token)
    return names


atexit.register(stop_all)


# --- a later run: what a killed run left -----------------------------------------------------------

def _alive(pid: int, start: str | None) -> bool:
    return start is not None and _start_time(pid) == start


def _runs(pid: int, needle: str) -> bool:
    """Is `pid` still the server we mean (its command line or environment names `needle`)?"""
    try:
        return any(needle.encode() in Path(f"/proc/{pid}/{f}").read_bytes() for f in ("cmdline", "environ"))
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop(how: dict) -> None:
    kind = how.get("kind")
    if kind == "process" and _alive(how["pid"], how.get("start")):
        try:
            (os.killpg if how.get("group") else os.kill)(how["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
    elif kind == "postfix":
        master = _pid_from(Path(how["root"]) / "queue" / "pid" / "master.pid")
        if Path(how["config"]).is_dir():
            subprocess.run(["postfix", "-c", how["config"], "stop"], capture_output=True, timeout=60)
        if master and _runs(master, how["config"]) and not _wait_gone(master, 10):
            try:
                os.killpg(master, signal.SIGKILL)  # the master leads its session: its children too
            except ProcessLookupError:
                pass
        shutil.rmtree(how["root"], ignore_errors=True)
    elif kind == "postgres":
        postmaster = _pid_from(Path(how["data"]) / "postmaster.pid")
        if postmaster and _runs(postmaster, how["data"]):
            try:
                os.kill(postmaster, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
                if not _wait_gone(postmaster, 20):
                    os.kill(postmaster, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(how["root"], ignore_errors=True)


def sweep() -> list[str]:
    """Stop what test processes that no longer run left running; returns their owner files' names."""
    swept = []
    for path in sorted(OWNERS.glob("*.json")) if OWNERS.is_dir() else []:
        pid, _, start = path.stem.partition("-")
        if not pid.isdigit() or _alive(int(pid), start):
            continue
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            entries = []
        for how in entries:
            try:
                _stop(how)
            except Exception:  # noqa: BLE001 -- best effort: the next one
                pass
        path.unlink(missing_ok=True)
        swept.append(path.name)
    return swept
