"""DNS for sender authentication: dnspython, the configured servers and timeout, one answer cache per process.

Every check (SPF, DKIM keys, DMARC records) asks through one `Resolver`, so
a message's look-ups and those of the messages after it share a cache
(dnspython's LRUCache, thread-safe; negative answers are cached too). A
timeout, SERVFAIL or REFUSED from every server is `DnsTemporary`: the caller
turns it into `temperror`, never into a failure.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import time
from typing import Iterator

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

CACHE_ENTRIES = 20000
MESSAGE_BUDGET_TIMEOUTS = 3  # one message waits for DNS servers at most this many MAILGATE_DNS_TIMEOUTs in all

# When the message being checked must have its answers (time.monotonic()); None: no budget.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("mailgate_dns_deadline", default=None)


@contextlib.contextmanager
def message_budget(seconds: float) -> Iterator[None]:
    """Bound the time one message's look-ups may wait for servers, in this thread (cached answers are free)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


class DnsTemporary(Exception):
    """No answer now (timeout, SERVFAIL, REFUSED): the sender should try again later."""


def parse_server(spec: str) -> tuple[str, int]:
    """`192.0.2.53`, `192.0.2.53:5353`, `[2001:db8::53]:53` or `2001:db8::53` -> (address, port)."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, int(port)
    return spec, 53


class Resolver:
    """Queries for the checks; `servers` empty means the system's resolv.conf."""

    def __init__(self, servers: tuple[str, ...] = (), timeout: float = 5.0) -> None:
        self.servers, self.timeout = servers, timeout
        self._resolver = dns.resolver.Resolver(configure=not servers)
        if servers:
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_server(s)) for s in servers]
        self._resolver.timeout = timeout  # per server tried
        self._resolver.lifetime = timeout  # per question, all servers and retries together
        self._resolver.cache = dns.resolver.LRUCache(CACHE_ENTRIES)
        # In front of it, the records of recent answers until their TTL ends: a cache hit through
        # dnspython's resolve() builds a whole resolution (~20 us); a message makes four or five.
        self._recent: dict[tuple[str, str], tuple[float, list]] = {}
        self.hits = 0

    def answers(self, name: str | bytes, rdtype: str) -> list:
        """The records of that type (empty: no such name, or no such record); DnsTemporary when unanswered."""
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        key = (name.lower().rstrip("."), rdtype)
        hit = self._recent.get(key)
        if hit is not None and hit[0] > time.time():
            self.hits += 1  # statistics only: an increment lost between threads does not matter
            return hit[1]
        lifetime = self.timeout
        deadline = _deadline.get()
        if deadline is not None:
            lifetime = min(lifetime, deadline - time.monotonic())
            if lifetime <= 0:
                raise DnsTemporary(f"{rdtype} {name}: not asked, this message's DNS time is used up")
        try:
            answer = self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False, lifetime=lifetime)
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration) as exc:
            raise DnsTemporary(f"{rdtype} {name}: {exc.__class__.__name__}") from None
        except (dns.resolver.YXDOMAIN, dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong,
                dns.exception.SyntaxError, UnicodeError):
            return []  # a name that cannot exist has no records
        records = list(answer.rrset or [])
        if len(self._recent) >= CACHE_ENTRIES:
            self._recent.clear()
        self._recent[key] = (answer.expiration, records)
        return records

    def cache_statistics(self) -> tuple[int, int]:
        """(answers from a cache, answers asked of a server)."""
        stats = self._resolver.cache.get_statistics_snapshot()
        return self.hits + stats.hits, stats.misses

    def txt(self, name: str | bytes) -> list[str]:
        """Each TXT record as one string (its character-strings joined, as SPF, DKIM and DMARC read them)."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.answers(name, "TXT")]


@functools.lru_cache(maxsize=4)
def shared_resolver(servers: tuple[str, ...], timeout: float) -> Resolver:
    """The process's resolver for these settings: its cache serves every session thread."""
    return Resolver(servers, timeout)
