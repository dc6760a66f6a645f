import pytest

from mailgate.shared.config import ConfigError, from_env


def base(tmp_path, **extra):
    env = {"MAILGATE_INSTANCE": str(tmp_path)}
    env.update(extra)
    return env


def test_defaults_give_an_embedded_sqlite_setup(tmp_path):
    s = from_env(base(tmp_path))
    assert s.database_url == f"sqlite:///{tmp_path / 'mailgate.db'}"
    assert s.reply_domain and s.domains == (s.reply_domain,)
    assert s.public_replies is False
    assert s.milter_socket.startswith("unix:")
    # the console's session key is generated once and kept
    assert (tmp_path / "secret_key").read_text().strip() == s.secret_key
    assert from_env(base(tmp_path)).secret_key == s.secret_key


def test_file_variant_reads_secrets_from_a_file(tmp_path):
    f = tmp_path / "key"
    f.write_text("s3cret\n")
    assert from_env(base(tmp_path, MAILGATE_SECRET_KEY_FILE=str(f))).secret_key == "s3cret"


@pytest.mark.parametrize("env,variable", [
    ({"MAILGATE_PUBLIC_REPLIES": "maybe"}, "MAILGATE_PUBLIC_REPLIES"),
    ({"MAILGATE_MAX_MESSAGE_BYTES": "lots"}, "MAILGATE_MAX_MESSAGE_BYTES"),
    ({"MAILGATE_MAX_MESSAGE_BYTES": "10"}, "MAILGATE_MAX_MESSAGE_BYTES"),
    ({"MAILGATE_REPLY_DOMAIN": "not a domain"}, "MAILGATE_REPLY_DOMAIN"),
    ({"MAILGATE_DATABASE_URL": "mysql://x"}, "MAILGATE_DATABASE_URL"),
    ({"MAILGATE_MAILERS": "[{"}, "MAILGATE_MAILERS"),
    ({"MAILGATE_MAILERS": '[{"key": "a", "type": "carrier-pigeon"}]'}, "MAILGATE_MAILERS"),
    ({"MAILGATE_MAILERS": '[{"key": "a", "type": "test"}, {"key": "a", "type": "test"}]'}, "MAILGATE_MAILERS"),
    ({"MAILGATE_REPLY_PREFIX": "a+b"}, "MAILGATE_REPLY_PREFIX"),
    ({"MAILGATE_MILTER_SOCKET": "tcp:1"}, "MAILGATE_MILTER_SOCKET"),
    ({"MAILGATE_SECRET_KEY_FILE": "/nonexistent/key"}, "MAILGATE_SECRET_KEY_FILE"),
    ({"MAILGATE_PURGE_AFTER_DAYS": "3"}, "MAILGATE_PURGE_AFTER_DAYS"),
    ({"MAILGATE_TRUSTED_PROXIES": "yes"}, "MAILGATE_TRUSTED_PROXIES"),
    ({"MAILGATE_FROM_ADDRESS": "nöreply@reply.example.com"}, "MAILGATE_FROM_ADDRESS"),
    ({"MAILGATE_FROM_ADDRESS": "noreply@réply.example.com"}, "MAILGATE_FROM_ADDRESS"),
    ({"MAILGATE_FROM_ADDRESS": "Mailgate <noreply@reply.example.com>"}, "MAILGATE_FROM_ADDRESS"),
    ({"MAILGATE_FROM_ADDRESS": "noreply@@reply.example.com"}, "MAILGATE_FROM_ADDRESS"),
    ({"MAILGATE_SECRET_KEY": "a", "MAILGATE_SECRET_KEY_FILE": "/etc/hostname"}, "MAILGATE_SECRET_KEY"),
])
def test_bad_values_name_the_variable(tmp_path, env, variable):
    with pytest.raises(ConfigError) as err:
        from_env(base(tmp_path, **env))
    assert err.value.variable == variable
    assert str(err.value).startswith(variable + ":")


def test_values_are_parsed(tmp_path):
    s = from_env(base(
        tmp_path,
        MAILGATE_REPLY_DOMAIN="Reply.Example.COM.",
        MAILGATE_DOMAINS="tasks.example.com, other.example.com",
        MAILGATE_PUBLIC_REPLIES="yes",
        MAILGATE_REPLY_PREFIX="Mg",
        MAILGATE_MAX_MESSAGE_BYTES="2048",
        MAILGATE_DATABASE_URL="postgresql://u:p@db/mailgate",
        MAILGATE_MAILERS='[{"key": "a", "type": "smtp", "priority": 10, "options": {"host": "x"}}]',
    ))
    assert s.reply_domain == "reply.example.com"
    assert s.domains == ("reply.example.com", "tasks.example.com", "other.example.com")
    assert s.public_replies and s.reply_prefix == "mg" and s.max_message_bytes == 2048
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.mailers[0].key == "a" and s.mailers[0].priority == 10


def _mailer(mtype: str, **options) -> str:
    import json

    return json.dumps([{"key": "relay", "type": mtype, "options": options}])


@pytest.mark.parametrize("value,words", [
    (_mailer("smtp", port="abc"), "options.port"),
    (_mailer("smtp", port=0), "options.port"),
    (_mailer("smtp", port=70000), "options.port"),
    (_mailer("smtp", port=True), "options.port"),
    (_mailer("smtp", timeout="slow"), "options.timeout"),
    (_mailer("smtp", timeout=0), "options.timeout"),
    (_mailer("smtp", ssl="false"), "options.ssl"),
    (_mailer("smtp", starttls="yes"), "options.starttls"),
    (_mailer("smtp", verify=0), "options.verify"),
    (_mailer("smtp", ssl=True, starttls=True), "exclude each other"),
    (_mailer("smtp", hots="relay.example.com"), "unknown option 'hots'"),
    (_mailer("smtp", password=1234), "options.password"),
    (_mailer("sendmail", args="-v"), "options.args"),
    (_mailer("sendmail", args=["-v", 1]), "options.args"),
    (_mailer("sendmail", timeout=-1), "options.timeout"),
    (_mailer("test", fail="sometimes"), "options.fail"),
    (_mailer("test", delay="1"), "options.delay"),
    (_mailer("test", port=25), "unknown option 'port'"),
])
def test_bad_mailer_options_name_the_variable_and_the_mailer(tmp_path, value, words):
    with pytest.raises(ConfigError) as err:
        from_env(base(tmp_path, MAILGATE_MAILERS=value))
    assert err.value.variable == "MAILGATE_MAILERS"
    assert "mailer 'relay'" in str(err.value) and words in str(err.value)


def test_documented_mailer_options_are_accepted(tmp_path):
    import json

    mailers = [
        {"key": "a", "type": "smtp", "priority": 10,
         "options": {"host": "relay-a.example.com", "port": 587, "starttls": True, "user": "mailgate",
                     "password": "x", "timeout": 2.5, "verify": False, "local_hostname": "mg.example.com"}},
        {"key": "b", "type": "smtp", "options": {"host": "relay-b.example.com", "ssl": True, "port": None}},
        {"key": "c", "type": "sendmail", "options": {"binary": "/usr/sbin/sendmail", "args": ["-v"], "timeout": 60}},
        {"key": "d", "type": "test", "options": {"log": "/tmp/x", "fail": "temporary", "delay": 0}},
    ]
    s = from_env(base(tmp_path, MAILGATE_MAILERS=json.dumps(mailers)))
    assert [m.key for m in s.mailers] == ["a", "b", "c", "d"]
    assert s.mailers[2].options["args"] == ["-v"]


def test_a_null_mailer_option_is_the_transports_default(tmp_path):
    mailers = '[{"key": "a", "type": "smtp", "options": {"host": "mx", "verify": null, "port": null}}]'
    settings = from_env(base(tmp_path, MAILGATE_MAILERS=mailers))
    assert dict(settings.mailers[0].options) == {"host": "mx"}  # "verify": null read as false turned TLS checks off


@pytest.mark.parametrize("value,ok", [("noreply@reply.example.com", True), ("noreply@reply.example.com\n", False),
                                      ("nöreply@x.example", False), ("a b@x.example", False)])
def test_an_envelope_address_is_one_plain_addr_spec(value, ok):
    from mailgate.shared.addresses import is_addr_spec

    assert is_addr_spec(value) is ok  # a trailing newline must not pass as the end of the address
