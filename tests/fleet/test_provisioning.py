"""Hosts provisioned at once: every host's postfix/setup.sh runs `mailgate init` on the shared database.

Fleet audit finding 2: two upgrades side by side collided in PostgreSQL's catalogue and the loser
exited 1 (so its setup.sh stopped before wiring Postfix). They take turns now.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .harness import pg_bindir

MAILGATE = str(Path(sys.executable).with_name("mailgate"))


def test_hosts_initialising_one_new_database_at_once_all_succeed(healthy, tmp_path, hosts=3):
    pg = healthy.pg
    name = f"init_race_{tmp_path.name[-8:].replace('-', '_')}"
    pg._run(str(pg_bindir() / "createdb"), "-h", str(pg.root), "-p", str(pg.port), "-U", "postgres", name)
    url = pg.url.replace(f"/{pg.dbname}?", f"/{name}?")
    env = lambda i: {"PATH": "/usr/bin:/bin", "MAILGATE_DATABASE_URL": url,  # noqa: E731
                     "MAILGATE_INSTANCE": str(tmp_path / f"host{i}"), "MAILGATE_REPLY_DOMAIN": "reply.example.com"}
    runs = [subprocess.Popen([MAILGATE, "init", "--json"], env=env(i), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd="/") for i in range(hosts)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in runs]
    assert [rc for rc, _, _ in results] == [0] * hosts, results
    created = sum('"schema_from": null' in out for _, out, _ in results)
    assert created == 1, results  # one host created it; the others waited and found it at head
    again = subprocess.run([MAILGATE, "init"], env=env(0), capture_output=True, text=True, cwd="/")
    assert again.returncode == 0 and "up to date" in again.stdout
