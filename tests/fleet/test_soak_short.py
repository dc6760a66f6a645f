"""The CI version of bench/soak.py: 300 messages over 8 clients and both hosts, one milter kill, 3 s without PostgreSQL."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postfix, pytest.mark.postgres, pytest.mark.slow]

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def _soak_module():
    spec = importlib.util.spec_from_file_location("mailgate_bench_soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mailgate_bench_soak", module)
    spec.loader.exec_module(module)
    return module


def test_short_soak_nothing_lost_nothing_duplicated(healthy):
    soak = _soak_module()
    lines: list[str] = []
    report = soak.soak(healthy, messages=300, clients=8, kills=1, db_stop=3.0, restart_delay=1.0, log=lines.append)
    soak.print_report(report, out=lines.append)
    print("\n".join(lines))  # shown with -s or on failure
    assert report["ok"], "\n".join(lines) + "\n" + healthy.logs()
    assert report["lost"] == 0 and report["duplicated"] == 0 and report["gave_up"] == 0
    assert report["accepted_first"] + report["accepted_after_4xx"] == 300
    # The faults really happened under traffic and the clients really saw 4xx and retried.
    assert [f["kind"] for f in report["faults"]] == ["kill", "db-stop"]
    assert report["accepted_after_4xx"] > 0
