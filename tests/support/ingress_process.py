"""`mailgate ingress` as its own process for a test: started, listening, stopped, and recorded as a
leftover meanwhile so an interrupted run cannot leave it behind (tests/support/leftovers.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import leftovers

MAILGATE = str(Path(sys.executable).with_name("mailgate"))


@dataclass
class Listener:
    port: int
    proc: subprocess.Popen
    output: str = ""  # what it printed (stdout and stderr), once stopped


@contextmanager
def running_ingress(env: dict, port: int, *args: str) -> Iterator[Listener]:
    """`mailgate ingress --port PORT ARGS` with `env` over this process's environment, once it listens."""
    proc = subprocess.Popen([MAILGATE, "ingress", "--port", str(port), *args],
                            env={**os.environ, "PYTHONSAFEPATH": "1", **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    token = leftovers.started(f"mailgate ingress on port {port}", proc.kill, leftovers.process(proc.pid))
    listener = Listener(port, proc)
    try:
        _wait_for(port, proc)
        yield listener
    finally:
        proc.terminate()
        try:
            listener.output = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            listener.output = proc.communicate(timeout=10)[0]
        leftovers.stopped(token)


def _wait_for(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mailgate ingress did not listen on {port}: {proc.communicate()[0]}") from None
            time.sleep(0.1)
