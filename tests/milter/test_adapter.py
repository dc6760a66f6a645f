"""The milter's decisions through pymilter's TestCtx: no libmilter socket, no Postfix.

Each test drives the callbacks in the order libmilter would, and checks the
return code, the SMTP reply set, the recipients deleted and what was stored.
"""

from __future__ import annotations

import email
import logging
import socket
from pathlib import Path

import Milter
import milter
import pytest
from Milter import testctx

from mailgate.milter.adapter import MailgateMilter, Runtime
from mailgate.milter.server import make_factory
from mailgate.shared import queries
from mailgate.shared.models import ReceivedMessage


def test_milter_is_pymilters_c_module():
    """The repo's milter/ folder must never shadow pymilter's C module."""
    path = Path(milter.__file__)
    assert "site-packages" in path.parts or "dist-packages" in path.parts, path
    assert path.suffix == ".so", path
    assert hasattr(milter, "register")


class Conn:
    """One SMTP connection seen through TestCtx."""

    def __init__(self, runtime: Runtime):
        Milter.factory = make_factory(runtime)
        self.ctx = ctx = testctx.TestCtx()
        # TestCtx._connect closes the connection on NOREPLY (it predates no-reply
        # negotiation), so connect and HELO are driven here as libmilter does.
        assert ctx._negotiate() == Milter.CONTINUE
        if ctx._protocol & Milter.P_NOCONNECT:
            # Negotiated away (TestCtx offers SETSYMLIST): the MTA sends the client as macros with MAIL FROM.
            ctx._setsymval("{client_addr}", "192.0.2.7")
            ctx._setsymval("{client_name}", "mx.example.org")
        else:
            ctx._stage = Milter.M_CONNECT
            assert Milter.connect_callback(ctx, "mx.example.org", socket.AF_INET, ("192.0.2.7", 40000)) == Milter.NOREPLY
        ctx._stage = Milter.M_HELO
        assert ctx.getpriv().hello("mx.example.org") == Milter.NOREPLY
        ctx._stage = None
        self.n = 0

    @property
    def milter(self) -> MailgateMilter:
        return self.ctx.getpriv()

    def send(self, raw: bytes, sender: str, *rcpts: str, qid: str | None = None) -> dict:
        """Drive one message; returns rcpt results, the final code and the context's state."""
        ctx = self.ctx
        self.n += 1
        ctx._delrcpt, ctx._reply, ctx._body = [], None, None
        ctx._setsymval("i", qid or f"QID{self.n}")
        result: dict = {"rcpt": {}, "rcpt_reply": {}}
        assert ctx._envfrom(f"<{sender}>") in (Milter.CONTINUE, Milter.NOREPLY)
        accepted = 0
        for r in rcpts:
            ctx._reply = None
            rc = ctx._envrcpt(f"<{r}>")
            result["rcpt"][r] = rc
            result["rcpt_reply"][r] = ctx._reply
            accepted += rc == Milter.CONTINUE
        ctx._reply = None
        if not accepted:
            ctx.getpriv().abort()  # libmilter's abort keeps the connection (TestCtx._abort closes it)
            result["eom"] = None
            return result
        assert ctx._data() in (Milter.CONTINUE, Milter.NOREPLY)
        msg = email.message_from_bytes(raw)
        for name, value in msg.items():
            ctx._header(name, value)
        ctx._eoh()
        body = raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else b""
        rc = Milter.CONTINUE
        for i in range(0, len(body), 4096):
            rc = ctx._priv.body(body[i:i + 4096])
            if rc != Milter.CONTINUE:
                break
        result["body"] = rc
        if rc in (Milter.CONTINUE, Milter.SKIP):
            rc = ctx._eom()
        result["eom"] = rc
        result["reply"] = ctx._reply
        result["delrcpt"] = list(ctx._delrcpt)
        return result


@pytest.fixture
def runtime(db, settings, caplog):
    caplog.set_level(logging.INFO)  # the log lines are built, so their code runs in every test
    return Runtime(settings=settings, db=db)


@pytest.fixture
def conn(runtime):
    return Conn(runtime)


def _messages(db):
    with db.read() as s:
        return [queries.inbound_json(r) for r in s.query(ReceivedMessage).order_by(ReceivedMessage.id)]


def test_good_reply_is_stored_commented_and_deleted_from_recipients(conn, db, seed, task_with_reply, mail, caplog):
    ref, addr = task_with_reply
    before = len(_messages(db))
    res = conn.send(mail(sender="bob@example.org", to=addr, subject="Re: Printer", body="Fixed it.\n"),
                    "bob@example.org", addr, qid="4ABCD")
    assert res["rcpt"][addr] == Milter.CONTINUE
    assert res["eom"] == Milter.CONTINUE
    assert res["delrcpt"] == [f"<{addr}>"]
    rows = _messages(db)
    assert len(rows) == before + 1
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("message "))
    for part in ("qid=4ABCD", "status=processed", f"rcpt={addr}", "mid=", "ms=", "reason="):
        assert part in line, line
    rec = rows[-1]
    assert rec["status"] == "processed" and rec["action"] == "comment" and rec["object"] == ref
    with db.read() as s:
        stored = s.get(ReceivedMessage, rec["id"])
        assert stored.source == "milter" and stored.queue_id == "4ABCD"
        assert stored.client_addr == "192.0.2.7" and stored.helo == "mx.example.org"
        assert stored.mail_from == "bob@example.org" and stored.rcpt_to == [addr]
        task = queries.get_task(s, ref)
        assert any("Fixed it." in c["text"] for c in queries.task_json(s, task)["comments"])


def test_forged_hash_is_refused_at_rcpt_with_a_sentence(conn, db, seed, task_with_reply):
    ref, addr = task_with_reply
    local, domain = addr.split("@")
    forged = local[:-4] + ("0000" if not local.endswith("0000") else "1111") + "@" + domain
    res = conn.send(b"Subject: x\n\nhello\n", "bob@example.org", forged)
    assert res["rcpt"][forged] == Milter.REJECT
    code, xcode, text = res["rcpt_reply"][forged][:3]
    assert (code, xcode) == ("550", "5.1.1")
    assert "mail key was rotated" in text


def test_unknown_create_address_and_missing_object_refused_at_rcpt(conn, seed, settings):
    res = conn.send(b"Subject: x\n\nhello\n", "bob@example.org", f"nosuchlist@{settings.reply_domain}")
    assert res["rcpt"][f"nosuchlist@{settings.reply_domain}"] == Milter.REJECT
    missing = seed.reply_address("T999", seed.bob)
    res = conn.send(b"Subject: x\n\nhello\n", "bob@example.org", missing)
    assert res["rcpt"][missing] == Milter.REJECT
    assert "T999" in res["rcpt_reply"][missing][2]


def test_other_domains_pass_untouched_and_are_not_stored(conn, db, seed, mail):
    res = conn.send(mail(to="someone@elsewhere.example"), "alice@example.org", "someone@elsewhere.example")
    assert res["rcpt"]["someone@elsewhere.example"] == Milter.CONTINUE
    assert res["eom"] == Milter.CONTINUE and res["delrcpt"] == []
    assert _messages(db) == []


def test_mixed_recipients_delete_only_ours(conn, db, seed, mail):
    raw = mail(sender="alice@example.org", to=f"{seed.create_address}, carol@localhost", subject="New bug")
    res = conn.send(raw, "alice@example.org", "carol@localhost", seed.create_address)
    assert res["eom"] == Milter.CONTINUE
    assert res["delrcpt"] == [f"<{seed.create_address}>"]
    assert _messages(db)[-1]["status"] == "processed"


def test_rcpt_case_is_kept_for_delrcpt(conn, db, seed, task_with_reply, mail):
    ref, addr = task_with_reply
    shouted = addr.upper().replace("@REPLY.EXAMPLE.COM", "@Reply.Example.COM")
    res = conn.send(mail(sender="bob@example.org", to=shouted, body="Case.\n"), "bob@example.org", shouted)
    assert res["rcpt"][shouted] == Milter.CONTINUE
    assert res["delrcpt"] == [f"<{shouted}>"]
    assert _messages(db)[-1]["status"] == "processed"


def test_unknown_sender_on_create_address_is_550_when_all_ours(conn, db, seed, mail):
    raw = mail(sender="stranger@example.net", subject="Hi")
    res = conn.send(raw, "stranger@example.net", seed.create_address)
    assert res["eom"] == Milter.REJECT
    assert res["reply"][:2] == ("550", "5.7.1")
    assert res["delrcpt"] == []
    assert _messages(db)[-1]["status"] == "rejected"
    assert _messages(db)[-1]["reason"] == "unknown_sender"


def test_unknown_sender_with_other_recipient_continues_and_records(conn, db, seed, mail):
    raw = mail(sender="stranger@example.net", subject="Hi", to=f"{seed.create_address}, carol@localhost")
    res = conn.send(raw, "stranger@example.net", seed.create_address, "carol@localhost")
    assert res["eom"] == Milter.CONTINUE
    assert res["delrcpt"] == [f"<{seed.create_address}>"]
    assert _messages(db)[-1]["reason"] == "unknown_sender"


def test_robot_mail_is_accepted_silently(conn, db, seed, task_with_reply, mail):
    ref, addr = task_with_reply
    raw = mail(sender="bob@example.org", to=addr, subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    res = conn.send(raw, "bob@example.org", addr)
    assert res["eom"] == Milter.CONTINUE and res["delrcpt"] == [f"<{addr}>"]
    assert _messages(db)[-1]["status"] == "ignored"


def test_too_large_is_refused_in_the_body_without_buffering(runtime, db, seed, mail, settings):
    conn = Conn(runtime)
    limit = settings.max_message_bytes
    raw = mail(sender="alice@example.org", body="x" * 70 + "\n") 
    raw = raw + (b"y" * 76 + b"\n") * (limit // 77 + 50)
    res = conn.send(raw, "alice@example.org", seed.create_address)
    assert res["body"] == Milter.REJECT
    assert res["reply"][:2] == ("552", "5.3.4")
    assert conn.milter.spool.size == 0
    assert _messages(db) == []


def test_database_error_at_rcpt_is_451_never_accept(conn, seed, monkeypatch, task_with_reply):
    ref, addr = task_with_reply

    def boom(*a, **k):
        raise RuntimeError("database is on fire")

    monkeypatch.setattr("mailgate.milter.adapter.check_recipient", boom)
    res = conn.send(b"Subject: x\n\nhi\n", "bob@example.org", addr)
    assert res["rcpt"][addr] == Milter.TEMPFAIL
    assert res["rcpt_reply"][addr][:2] == ("451", "4.3.0")


@pytest.mark.parametrize("error", ["tempfail", "crash"])
def test_error_at_end_of_message_is_451(conn, db, seed, monkeypatch, task_with_reply, mail, error):
    from mailgate.shared.outcomes import TempFail

    ref, addr = task_with_reply

    def failing(*a, **k):
        if error == "tempfail":
            raise TempFail("could not store the message")
        raise KeyError("unexpected")

    monkeypatch.setattr("mailgate.shared.batching.receive_many", failing)  # what the writer thread calls
    res = conn.send(mail(sender="bob@example.org", to=addr), "bob@example.org", addr)
    assert res["eom"] == Milter.TEMPFAIL
    assert res["reply"][:2] == ("451", "4.3.0")
    assert res["delrcpt"] == []


def test_failure_in_a_noreply_callback_is_answered_451_later(conn, seed, monkeypatch, task_with_reply, mail):
    ref, addr = task_with_reply
    monkeypatch.setattr(MailgateMilter, "_reset", lambda self: (_ for _ in ()).throw(RuntimeError("x")))
    res = conn.send(mail(sender="bob@example.org", to=addr), "bob@example.org", addr)
    assert res["rcpt"][addr] == Milter.TEMPFAIL


def test_several_messages_on_one_connection_keep_state_apart(conn, db, seed, task_with_reply, mail):
    ref, addr = task_with_reply
    first = conn.send(mail(sender="bob@example.org", to=addr, body="First.\n"), "bob@example.org", addr)
    second = conn.send(mail(to="carol@localhost", body="Not ours.\n"), "alice@example.org", "carol@localhost")
    third = conn.send(mail(sender="alice@example.org", subject="Another bug", body="Third.\n"),
                      "alice@example.org", seed.create_address)
    assert first["delrcpt"] == [f"<{addr}>"]
    assert second["delrcpt"] == []
    assert third["delrcpt"] == [f"<{seed.create_address}>"]
    rows = _messages(db)[-2:]
    assert [r["action"] for r in rows] == ["comment", "create"]
    with db.read() as s:
        assert s.get(ReceivedMessage, rows[-1]["id"]).rcpt_to == [seed.create_address]
        assert s.get(ReceivedMessage, rows[-1]["id"]).mail_from == "alice@example.org"


def test_abort_forgets_the_message(conn, db, seed, task_with_reply):
    ref, addr = task_with_reply
    ctx = conn.ctx
    ctx._envfrom("<bob@example.org>")
    ctx._envrcpt(f"<{addr}>")
    assert conn.milter.ours
    conn.milter.abort()
    assert conn.milter.ours == [] and conn.milter.spool.size == 0
    assert conn.milter.runtime.in_flight == 0


def test_headers_and_body_are_stored_as_received(conn, db, seed, task_with_reply, mail):
    ref, addr = task_with_reply
    raw = mail(sender="bob@example.org", to=addr, subject="A long subject that Postfix may fold",
               body="Line one.\nLine two.\n", headers={"Authentication-Results": "mx; dkim=pass"})
    conn.send(raw, "bob@example.org", addr)
    rec_id = _messages(db)[-1]["id"]
    with db.read() as s:
        stored = queries.inbound_raw(s, rec_id)
        assert s.get(ReceivedMessage, rec_id).auth_results == "mx; dkim=pass"
    assert b"Subject: A long subject that Postfix may fold\r\n" in stored
    assert b"\r\n\r\nLine one.\nLine two.\n" in stored


def test_the_adapter_never_discards():
    """DISCARD stalls Postfix's flow control and drops other recipients' copies (docs/milter.md)."""
    import inspect

    import mailgate.milter.adapter as adapter

    source = inspect.getsource(adapter)
    assert "Milter.DISCARD" not in source and "milter.DISCARD" not in source


def test_empty_body_still_ends_the_headers(conn, db, seed, task_with_reply):
    """No body callback comes for an empty body: the blank line after the headers is added at the end."""
    ref, addr = task_with_reply
    res = conn.send(f"From: bob@example.org\nTo: {addr}\nSubject: Re: x\n\n".encode(), "bob@example.org", addr)
    assert res["eom"] == Milter.REJECT and res["reply"][0] == "550"  # stored, refused as empty
    with db.read() as s:
        stored = queries.inbound_raw(s, _messages(db)[-1]["id"])
    assert stored.endswith(b"Subject: Re: x\r\n\r\n")


@pytest.fixture
def offered(monkeypatch):
    """What the (test) MTA offers at negotiation; TestCtx shares one list between contexts, so replace it."""

    def offer(actions: int = Milter.CURR_ACTS, steps: int = 0x1FFFFF) -> None:
        monkeypatch.setattr(testctx.TestCtx, "default_opts", [actions, steps, 0, 0])

    offer()
    return offer


def test_negotiation_takes_only_the_steps_actions_and_macros_it_uses(runtime, offered):
    Milter.factory = make_factory(runtime)
    ctx = testctx.TestCtx()
    assert ctx._negotiate() == Milter.CONTINUE
    assert ctx._opts[0] == Milter.DELRCPT | Milter.SETSYMLIST  # never anything that changes a message
    for step in (Milter.P_NOCONNECT, Milter.P_NODATA, Milter.P_NOEOH, Milter.P_NOUNKNOWN,  # not sent at all
                 Milter.P_NR_HELO, Milter.P_NR_MAIL, Milter.P_NR_HDR, Milter.P_SKIP):  # sent, not answered
        assert ctx._protocol & step, hex(step)
    for step in (Milter.P_NOHELO, Milter.P_NOMAIL, Milter.P_NORCPT, Milter.P_NOHDRS, Milter.P_NOBODY,
                 Milter.P_NR_RCPT, Milter.P_NR_BODY):  # RCPT and body answers can refuse
        assert not ctx._protocol & step, hex(step)
    assert ctx._symlist[Milter.M_ENVFROM] == {b"{client_addr}", b"{client_name}"}
    assert ctx._symlist[Milter.M_ENVRCPT] == ctx._symlist[Milter.M_EOM] == {b"i"}


def test_without_setsymlist_the_client_comes_from_the_connect_callback(runtime, offered, db, seed, task_with_reply,
                                                                      mail):
    offered(actions=Milter.CURR_ACTS & ~Milter.SETSYMLIST)
    conn = Conn(runtime)
    assert not conn.ctx._protocol & Milter.P_NOCONNECT
    assert conn.ctx._opts[0] == Milter.DELRCPT
    ref, addr = task_with_reply
    assert conn.send(mail(sender="bob@example.org", to=addr, body="Via connect.\n"), "bob@example.org", addr)["eom"] \
        == Milter.CONTINUE
    with db.read() as s:
        stored = s.get(ReceivedMessage, _messages(db)[-1]["id"])
        assert (stored.client_addr, stored.client_name, stored.helo) == ("192.0.2.7", "mx.example.org", "mx.example.org")


def test_rcpt_verdicts_are_cached_briefly_and_the_end_of_message_checks_again(conn, db, seed, task_with_reply, mail,
                                                                            monkeypatch):
    import mailgate.milter.adapter as adapter
    from mailgate.shared.keys import rotate_key

    ref, addr = task_with_reply
    looked_up = []
    real = adapter.check_recipient
    monkeypatch.setattr(adapter, "check_recipient", lambda s, st, a: looked_up.append(a) or real(s, st, a))
    assert conn.send(mail(sender="bob@example.org", to=addr, body="One.\n"), "bob@example.org", addr)["eom"] \
        == Milter.CONTINUE
    assert conn.send(mail(sender="bob@example.org", to=addr, body="Two.\n"), "bob@example.org", addr)["eom"] \
        == Milter.CONTINUE
    assert looked_up == [addr]  # the second RCPT was answered from the cache
    cache = conn.milter.runtime.rcpt_cache
    assert cache.hits == 1

    # The key is rotated while the address is cached as usable: RCPT still passes, the end of message refuses.
    with db.transaction() as s:
        rotate_key(s)
    res = conn.send(mail(sender="bob@example.org", to=addr, body="After rotation.\n"), "bob@example.org", addr)
    assert res["rcpt"][addr] == Milter.CONTINUE and looked_up == [addr]
    assert res["eom"] == Milter.REJECT and res["reply"][0] == "550"
    assert _messages(db)[-1]["status"] == "rejected"

    # Once the entry has expired RCPT refuses it again, and the refusal is cached (briefly) too.
    monkeypatch.setattr(cache, "_entries", {})
    for _ in range(2):
        res = conn.send(b"Subject: x\n\nhello\n", "bob@example.org", addr)
        assert res["rcpt"][addr] == Milter.REJECT and res["rcpt_reply"][addr][0] == "550"
    assert looked_up == [addr, addr]


def test_rcpt_cache_expiry_and_switch_off():
    from mailgate.milter.adapter import RecipientCache
    from mailgate.shared.outcomes import Reason, Reject

    cache = RecipientCache(seconds=10, refused_seconds=2, size=3)
    no = Reject(Reason.INVALID_HASH)
    cache.put("a@x", True, now=100.0)
    cache.put("b@x", no, now=100.0)
    assert cache.get("a@x", 109.0) is True and cache.get("b@x", 101.0) is no
    assert cache.get("a@x", 110.5) is None and cache.get("b@x", 102.5) is None
    cache.put("c@x", True, now=100.0)
    cache.put("d@x", True, now=100.0)  # full: emptied first
    assert cache.get("a@x", 100.0) is None and cache.get("d@x", 100.0) is True
    off = RecipientCache(seconds=0, refused_seconds=0)
    off.put("a@x", True, now=100.0)
    assert off.get("a@x", 100.0) is None


def test_rcpt_cache_seconds_from_the_environment():
    from mailgate.milter.server import StartupError, rcpt_cache_from_env

    assert rcpt_cache_from_env({}).seconds == 10.0
    off = rcpt_cache_from_env({"MAILGATE_MILTER_RCPT_CACHE_SECONDS": "0"})
    assert off.seconds == off.refused_seconds == 0
    with pytest.raises(StartupError):
        rcpt_cache_from_env({"MAILGATE_MILTER_RCPT_CACHE_SECONDS": "soon"})
