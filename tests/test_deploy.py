"""The services' units (deploy/), the pid-file runner that uses them without systemd, and setup.sh's arguments."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = sorted((REPO / "deploy").glob("mailgate-*.service"))
MAILGATE = Path(sys.executable).with_name("mailgate")
HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes", "RestrictRealtime": "yes",
    "LockPersonality": "yes", "UMask": "0007", "User": "mailgate", "Group": "mailgate",
}


def keys(unit: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def test_the_three_services_have_units():
    assert {u.name for u in UNITS} >= {"mailgate-milter.service", "mailgate-web.service", "mailgate-worker.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_every_unit_follows_the_pattern(unit):
    k = keys(unit)
    for key, value in HARDENING.items():
        assert k.get(key) == value, (unit.name, key)
    assert k["Environment"] == "MAILGATE_CONFIG=/etc/mailgate/mailgate.env PYTHONSAFEPATH=1"
    assert "EnvironmentFile" not in k  # Mailgate reads its file itself, as every entry point does
    assert k["ReadWritePaths"].split()[0] in ("/var/lib/mailgate", "/var/spool/postfix/mailgate")
    cmd = k["ExecStart"].split()
    assert cmd[0] == "/opt/mailgate/bin/mailgate"
    # the command exists, with these options
    help_ = subprocess.run([str(MAILGATE), *cmd[1:], "--help"], capture_output=True, text=True)
    assert help_.returncode == 0, help_.stderr
    assert k["Documentation"].startswith("file:/opt/mailgate/share/doc/")
    assert (REPO / "docs" / k["Documentation"].rsplit("/", 1)[1]).exists()


def test_the_milter_hands_its_socket_to_postfix():
    k = keys(REPO / "deploy" / "mailgate-milter.service")
    assert k["SupplementaryGroups"] == "postfix" and "/var/spool/postfix/mailgate" in k["ReadWritePaths"]
    assert k["KillMode"] == "mixed" and k["RestartPreventExitStatus"] == "78"


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify(unit, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd", pytrace=False)
    # verify insists that ExecStart= exists: point it at this checkout's command
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/mailgate/bin/mailgate", str(MAILGATE)))
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr


# --- the pid-file runner (no systemd) ------------------------------------------------------------

def services(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MAILGATE_UNIT_DIR": str(tmp_path / "units"), "MAILGATE_RUN_DIR": str(tmp_path / "run"),
           "MAILGATE_LOG_DIR": str(tmp_path / "log"), "MAILGATE_ENABLED_FILE": str(tmp_path / "enabled"),
           "MAILGATE_NO_SYSTEMD": "1", "SECRET_OF_ROOTS_SHELL": "leaks?"}
    return subprocess.run([str(REPO / "scripts" / "mailgatectl"), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_without_systemd_the_unit_runs_as_its_user_with_its_groups_and_environment(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("starting a service as another user needs root (CI runs as root)")
    (tmp_path / "units").mkdir()
    (tmp_path / "units" / "mailgate-probe.service").write_text(
        "[Service]\nUser=nobody\nGroup=nogroup\nSupplementaryGroups=postdrop\n"
        "Environment=MAILGATE_CONFIG=/etc/mailgate/mailgate.env PYTHONSAFEPATH=1\n"
        "ExecStart=/usr/bin/tail -f -n +1 /etc/hostname\nTimeoutStopSec=5\n")
    (tmp_path / "enabled").write_text("probe\n")
    assert services(tmp_path, "start").returncode == 0
    pid = int((tmp_path / "run" / "probe.pid").read_text().split()[0])
    try:
        _check_probe(tmp_path, pid)
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, 9)


def _check_probe(tmp_path: Path, pid: int) -> None:
    for _ in range(50):
        if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/usr/bin/tail"):
            break
        time.sleep(0.1)
    status = Path(f"/proc/{pid}/status").read_text()
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    groups = next(line.split()[1:] for line in status.splitlines() if line.startswith("Groups:"))
    assert int(uid) == __import__("pwd").getpwnam("nobody").pw_uid
    assert groups == [str(grp.getgrnam("postdrop").gr_gid)]
    environ = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if v)
    assert environ["MAILGATE_CONFIG"] == "/etc/mailgate/mailgate.env" and environ["PYTHONSAFEPATH"] == "1"
    assert "SECRET_OF_ROOTS_SHELL" not in environ  # a clean environment, as systemd gives
    st = services(tmp_path, "status")
    assert st.returncode == 0 and f"mailgate-probe: running (pid {pid}, as nobody" in st.stdout
    assert Path("/etc/hostname").read_text().strip() in services(tmp_path, "logs", "probe").stdout
    assert services(tmp_path, "stop").returncode == 0
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    st = services(tmp_path, "status")
    assert st.returncode == 3 and "mailgate-probe: stopped" in st.stdout


# --- setup.sh's arguments ---------------------------------------------------------------------------

@pytest.fixture
def sandboxed_setup(tmp_path):
    """setup.sh in a copy whose lib.sh (the first thing it loads after the arguments) leaves a mark."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", scripts / "setup.sh")
    (scripts / "lib.sh").write_text(f"touch {tmp_path}/went-on; exit 99\n")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(scripts / "setup.sh"), *args], capture_output=True, text=True, timeout=30)

    return run, tmp_path / "went-on"


def test_help_prints_usage_and_changes_nothing(sandboxed_setup):
    run, mark = sandboxed_setup
    for flag in ("--help", "-h"):
        out = run(flag)
        assert out.returncode == 0 and "./scripts/setup.sh [OPTIONS] [REPLY_DOMAIN]" in out.stdout
        assert "--tls-cert FILE" in out.stdout and not mark.exists()
    assert run("example.test", "--help").returncode == 0 and not mark.exists()


@pytest.mark.parametrize("args,problem", [
    (["--bogus"], "unknown option --bogus"),
    (["not a domain"], "is not a domain name"),
    (["-x.example"], "unknown option"),
    (["a.example", "b.example"], "one REPLY_DOMAIN only"),
    (["--tls-cert", "/etc/hostname"], "go together"),
    (["--tls-cert"], "needs a value"),
    (["--base-url", "tracker.example.com"], "not an http(s) URL"),
])
def test_bad_arguments_stop_before_anything_is_written(sandboxed_setup, args, problem):
    run, mark = sandboxed_setup
    out = run(*args)
    assert out.returncode == 2 and problem in out.stderr, out.stderr
    assert not mark.exists()


def test_good_arguments_go_on(sandboxed_setup):
    run, mark = sandboxed_setup
    out = run("Reply.Example.TEST", "--base-url", "https://tracker.example.com", "--no-demo")
    if os.geteuid() == 0:
        assert out.returncode == 99 and mark.exists()
    else:
        assert out.returncode == 2 and "run as root" in out.stderr


def test_the_logrotate_snippet_is_valid(tmp_path):
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not Path(logrotate).exists():
        pytest.fail("logrotate is missing: apt-get install logrotate", pytrace=False)
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "worker.log").write_text("2026-12-06T18:22:14.582Z INFO mailgate.outbound worker started\n" * 10)
    snippet = tmp_path / "mailgate"
    snippet.write_text((REPO / "deploy" / "logrotate").read_text().replace("/var/log/mailgate", str(logs))
                       .replace("create 0640 root adm", "create 0640 root root"))
    snippet.chmod(0o644)
    out = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(snippet)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "error" not in out.stderr.lower(), out.stderr
    assert (logs / "worker.log.1").exists() and (logs / "worker.log").read_text() == ""  # copytruncate
