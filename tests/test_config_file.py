"""One configuration for every entry point: process environment, then MAILGATE_CONFIG's file, then defaults."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailgate.shared import config
from mailgate.shared.config import ConfigError, from_env, parse_config_text
from mailgate.webui.cli import main

MAILGATE = str(Path(sys.executable).with_name("mailgate"))


def write_config(path: Path, **values: str) -> Path:
    """A config file as setup.sh writes it (single quotes where sh needs them)."""
    lines = ["# Mailgate configuration"]
    for name, value in values.items():
        plain = re.fullmatch(r"[A-Za-z0-9_./:@,+=-]*", value)  # as setup.sh's quoted()
        lines.append(f"MAILGATE_{name}={value}" if plain else f"MAILGATE_{name}='{value}'")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_file_values_apply_and_the_process_environment_wins(tmp_path):
    f = write_config(tmp_path / "mailgate.env", INSTANCE=str(tmp_path / "inst"), REPLY_DOMAIN="file.example.test",
                     MAILERS='[{"key": "local", "type": "sendmail"}]', PUBLIC_REPLIES="true")
    s = from_env({"MAILGATE_CONFIG": str(f), "MAILGATE_PUBLIC_REPLIES": "false"})
    assert s.reply_domain == "file.example.test"
    assert [m.key for m in s.mailers] == ["local"]
    assert s.public_replies is False  # the process environment first
    assert s.instance_path == tmp_path / "inst"
    assert s.config_file == f
    assert s.environ["MAILGATE_REPLY_DOMAIN"] == "file.example.test"
    assert s.environ["MAILGATE_PUBLIC_REPLIES"] == "false"


def test_a_file_variant_in_the_environment_overrides_the_plain_value_in_the_file(tmp_path):
    key = tmp_path / "secret"
    key.write_text("from-the-secret-file\n")
    f = write_config(tmp_path / "mailgate.env", INSTANCE=str(tmp_path), SECRET_KEY="from-the-config-file")
    s = from_env({"MAILGATE_CONFIG": str(f), "MAILGATE_SECRET_KEY_FILE": str(key)})
    assert s.secret_key == "from-the-secret-file"


def test_empty_mailgate_config_reads_no_file_and_a_missing_one_is_an_error(tmp_path, monkeypatch):
    present = write_config(tmp_path / "default.env", REPLY_DOMAIN="default.example.test")
    monkeypatch.setattr(config, "DEFAULT_CONFIG_FILE", present)
    monkeypatch.setenv("MAILGATE_INSTANCE", str(tmp_path))
    monkeypatch.delenv("MAILGATE_CONFIG")
    assert from_env().reply_domain == "default.example.test"  # the default, when present
    assert from_env().config_file == present
    monkeypatch.setenv("MAILGATE_CONFIG", "")
    assert from_env().config_file is None and from_env().reply_domain == config.DEFAULT_REPLY_DOMAIN
    monkeypatch.setenv("MAILGATE_CONFIG", str(tmp_path / "nope.env"))
    with pytest.raises(ConfigError) as err:
        from_env()
    assert err.value.variable == "MAILGATE_CONFIG" and "does not exist" in str(err.value)


def test_an_explicit_mapping_never_reads_the_default_file(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_CONFIG_FILE", write_config(tmp_path / "d.env", REPLY_DOMAIN="d.example.test"))
    assert from_env({"MAILGATE_INSTANCE": str(tmp_path)}).reply_domain == config.DEFAULT_REPLY_DOMAIN


def test_an_unreadable_file_says_so(tmp_path):
    f = write_config(tmp_path / "m.env", REPLY_DOMAIN="x.example.test")
    f.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(ConfigError, match="permission denied"):
            from_env({"MAILGATE_CONFIG": str(f)})
        return
    # root reads any file: ask from a child that has become user nobody
    import pwd

    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            try:
                from_env({"MAILGATE_CONFIG": str(f)})
                message = "read it"
            except ConfigError as exc:
                message = str(exc)
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        assert "permission denied" in fh.read()


def test_the_format_is_what_sh_reads_alike():
    text = ("# comment\n\nMAILGATE_A=1\nexport MAILGATE_B='[{\"key\": \"x\"}]'  # why\n"
            'MAILGATE_C="say \\"hi\\" \\$5"\nMAILGATE_D=\n')
    assert parse_config_text(text, "f") == {"MAILGATE_A": "1", "MAILGATE_B": '[{"key": "x"}]',
                                            "MAILGATE_C": 'say "hi" $5', "MAILGATE_D": ""}
    # and sh agrees
    out = subprocess.run(["sh", "-c", text + '\nprintf "%s|%s|%s|%s" "$MAILGATE_A" "$MAILGATE_B" "$MAILGATE_C" "$MAILGATE_D"'],
                         capture_output=True, text=True, check=True)
    assert out.stdout == '1|[{"key": "x"}]|say "hi" $5|'


@pytest.mark.parametrize("line,problem", [
    ("MAILGATE_A = 1", "expected NAME=value"),
    ("REPLY_DOMAIN=x", "not a Mailgate setting"),
    ("MAILGATE_A=two words", "quote a value with spaces"),
    ('MAILGATE_A="$HOME"', "expanded by a shell"),
    ("MAILGATE_A='open", "unterminated single quote"),
    ("MAILGATE_A=1\nMAILGATE_A=2", "set twice (first on line 2)"),
    ("MAILGATE_CONFIG=/etc/other.env", "cannot be set inside it"),
    ("MAILGATE_MAILERS=[{\"key\":1}]", "single quotes"),
])
def test_bad_lines_name_the_file_and_line(tmp_path, line, problem):
    f = tmp_path / "m.env"
    f.write_text("# first\n" + line + "\n")
    with pytest.raises(ConfigError) as err:
        from_env({"MAILGATE_CONFIG": str(f)})
    assert err.value.variable == "MAILGATE_CONFIG"
    assert f"{f} line " in str(err.value) and problem in str(err.value)


def test_the_cli_reads_the_file_without_sourcing_it(env, db, tmp_path):
    """The issue's first complaint: a plain `mailgate` ignored /etc/mailgate/mailgate.env."""
    f = write_config(tmp_path / "mailgate.env", INSTANCE=env["MAILGATE_INSTANCE"],
                     DATABASE_URL=env["MAILGATE_DATABASE_URL"], SECRET_KEY="k",
                     REPLY_DOMAIN="reply.example.test", MAILERS='[{"key": "t", "type": "test"}]')
    run_env = {"PATH": os.environ["PATH"], "MAILGATE_CONFIG": str(f), "PYTHONSAFEPATH": "1"}
    mg = lambda *a, **kw: subprocess.run([MAILGATE, *a], env=run_env, capture_output=True, text=True, **kw)  # noqa: E731
    assert mg("user", "add", "demo", "demo@example.org").returncode == 0
    added = mg("address", "add", "tasks", "bugs@reply.example.test")
    assert added.returncode == 0, added.stderr
    raw = "From: demo@example.org\nTo: bugs@reply.example.test\nSubject: hi\nMessage-ID: <c1@x>\n\nbody\n"
    assert json.loads(mg("receive-test", "--json", input=raw).stdout)["status"] == "processed"
    assert mg("reply-address", "T1", "demo").stdout.strip().splitlines()[-1].endswith("@reply.example.test")
    check = mg("check", "--json")
    first = json.loads(check.stdout)[0]
    assert first["name"] == "configuration" and str(f) in first["detail"]
    assert "mailer t (test)" in {c["name"] for c in json.loads(check.stdout) if c["ok"]}


def test_check_and_the_health_page_read_the_same_file(env, db, tmp_path, monkeypatch):
    from mailgate.webui import create_app

    f = write_config(tmp_path / "mailgate.env", INSTANCE=env["MAILGATE_INSTANCE"],
                     DATABASE_URL=env["MAILGATE_DATABASE_URL"], SECRET_KEY="k", REPLY_DOMAIN="reply.example.test")
    for name in [k for k in os.environ if k.startswith("MAILGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MAILGATE_CONFIG", str(f))
    text = CliRunner().invoke(main, ["check"]).output
    assert "configuration" in text and str(f) in text
    cli = {c["name"]: c["ok"] for c in json.loads(CliRunner().invoke(main, ["check", "--json"]).output)}
    app = create_app({"TESTING": True})
    from mailgate.webui.health import checks

    with app.test_request_context():
        page = {c.name: (c.ok, c.detail) for c in checks()}
    assert page["configuration"][1].startswith(str(f))
    assert "reply.example.test" in page["domains"][1]
    assert {name: ok for name, (ok, _) in page.items()} == cli
