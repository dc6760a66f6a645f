"""`mailgate check`'s "domain routed": a Mailgate domain Postfix treats as local is a failure.

With the domain also in mydestination (Debian's default `$myhostname, ...`
is enough when myhostname is the reply domain) or in a virtual domain list,
smtpd refuses every Mailgate address as "User unknown" before the milter is
asked, while check used to say ok (audit finding 3). Real `postconf`/`postmap`
on a scratch configuration directory.
"""

from __future__ import annotations

import pytest

from privatepostfix import SAFETY_NET
from mailgate.shared import health

from .conftest import require


def _config(tmp_path, net: str = "mailgate-refuse:", **extra: str) -> str:
    lines = {"compatibility_level": "3.6", "queue_directory": str(tmp_path / "queue"),
             "myhostname": "mx.example.net", "mydestination": "$myhostname, localhost",
             "relay_domains": "reply.example.com",
             "transport_maps": f"texthash:{tmp_path}/transport", **extra}
    (tmp_path / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))
    (tmp_path / "transport").write_text(f"reply.example.com {net}\n")
    (tmp_path / "master.cf").write_text("smtp inet n - y - - smtpd\n" + SAFETY_NET + "\n")
    return str(tmp_path)


def _routed(settings, config_dir: str) -> health.Check:
    require("postconf", "postfix")
    return health.check_domain_routed(settings, health._Postfix(config_dir))


def test_a_relay_only_domain_is_routed(settings, tmp_path):
    check = _routed(settings, _config(tmp_path))
    assert check.ok, check


@pytest.mark.parametrize("extra, parameter", [
    ({"myhostname": "reply.example.com"}, "mydestination"),  # via Debian's default $myhostname
    ({"virtual_alias_domains": "other.example, reply.example.com"}, "virtual_alias_domains"),
    ({"virtual_mailbox_domains": "texthash:{dir}/vdomains"}, "virtual_mailbox_domains"),
])
def test_a_domain_postfix_treats_as_local_fails_with_setup_sh_fix(settings, tmp_path, extra, parameter):
    (tmp_path / "vdomains").write_text("reply.example.com OK\n")
    extra = {k: v.format(dir=tmp_path) for k, v in extra.items()}
    check = _routed(settings, _config(tmp_path, **extra))
    assert not check.ok
    assert f"reply.example.com is in {parameter}" in check.detail
    assert f"remove them from {parameter}" in check.fix and "relay domains only" in check.fix


def test_a_safety_net_that_drops_mail_fails(settings, tmp_path):
    """The pre-issue-20 wiring (discard:) lost a message that bypassed the milter after a 250."""
    check = _routed(settings, _config(tmp_path, net="discard:NOT-CONSUMED-BY-MAILGATE"))
    assert not check.ok and "discard" in check.detail and "postfix/setup.sh" in check.fix


def test_the_refusing_safety_net_needs_its_master_cf_service(settings, tmp_path):
    conf = _config(tmp_path)
    (tmp_path / "master.cf").write_text("smtp inet n - y - - smtpd\n")
    check = _routed(settings, conf)
    assert not check.ok and "mailgate-refuse" in check.detail and "master.cf" in check.detail
