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
