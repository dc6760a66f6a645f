"""DNS for sender authentication: dnspython, the configured servers and timeout, one answer cache per process.

Every check (SPF, DKIM keys, DMARC records) asks through one `Resolver`, so
a message's look-ups and those of the messages after it share a cache
(dnspython's LRUCache, thread-safe; negative answers are cached too). A
timeout, SERVFAIL or REFUSED from every server is `DnsTemporary`: the caller
turns it into `temperror`, never into a failure.
"""

from __future__ import annotations

import functools

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

CACHE_ENTRIES = 20000


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

    def answers(self, name: str | bytes, rdtype: str) -> list:
        """The records of that type (empty: no such name, or no such record); DnsTemporary when unanswered."""
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        try:
            answer = self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration) as exc:
            raise DnsTemporary(f"{rdtype} {name}: {exc.__class__.__name__}") from None
        except (dns.resolver.YXDOMAIN, dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong,
                dns.exception.SyntaxError, UnicodeError):
            return []  # a name that cannot exist has no records
        return list(answer.rrset or [])

    def cache_statistics(self) -> tuple[int, int]:
        """(hits, misses) of the answer cache."""
        stats = self._resolver.cache.get_statistics_snapshot()
        return stats.hits, stats.misses

    def txt(self, name: str | bytes) -> list[str]:
        """Each TXT record as one string (its character-strings joined, as SPF, DKIM and DMARC read them)."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self.answers(name, "TXT")]


@functools.lru_cache(maxsize=4)
def shared_resolver(servers: tuple[str, ...], timeout: float) -> Resolver:
    """The process's resolver for these settings: its cache serves every session thread."""
    return Resolver(servers, timeout)
