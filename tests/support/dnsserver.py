"""A real authoritative DNS server on loopback for the sender-authentication tests, run as its own process.

Serves the records of a master-format zone file (dnslib reads it), answers
NXDOMAIN for names it has nothing under and NOERROR with no answer for a
name that exists with other types (as an authoritative server does), and,
for the failure cases, never answers any name under a `--silent` zone (the
client times out) and answers SERVFAIL under a `--servfail` zone. UDP and
TCP, like any name server; started and stopped by `DnsServer` (tests/support/dnszones.py).

    python dnsserver.py --zone FILE --port N [--silent ZONE ...] [--servfail ZONE ...]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from dnslib import QTYPE, RCODE, RR, DNSLabel
from dnslib.server import BaseResolver, DNSError, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    """The records of one zone file, answered authoritatively."""

    def __init__(self, zone_text: str, silent: list[str], servfail: list[str]) -> None:
        self.records = list(RR.fromZone(zone_text))
        self.names = {rr.rname for rr in self.records}
        self.silent = [DNSLabel(z) for z in silent]
        self.servfail = [DNSLabel(z) for z in servfail]

    def resolve(self, request, handler):
        qname, qtype = request.q.qname, request.q.qtype
        if any(qname.matchSuffix(z) for z in self.silent):
            raise DNSError(f"dropped on purpose: {qname}")  # dnslib's handler sends nothing back
        reply = request.reply()
        if any(qname.matchSuffix(z) for z in self.servfail):
            reply.header.rcode = RCODE.SERVFAIL
            reply.header.aa = 0
            return reply
        for rr in self.records:
            if rr.rname == qname and (rr.rtype == qtype or qtype == QTYPE.ANY):
                reply.add_answer(rr)
        if not reply.rr and not any(name == qname or name.matchSuffix(qname) for name in self.names):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zone", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--silent", action="append", default=[])
    parser.add_argument("--servfail", action="append", default=[])
    args = parser.parse_args(argv)
    with open(args.zone, encoding="utf-8") as fh:
        resolver = ZoneResolver(fh.read(), args.silent, args.servfail)
    quiet = DNSLogger("-recv,-send,-request,-reply,-truncated,-data,-error")
    servers = [DNSServer(resolver, port=args.port, address=args.address, tcp=tcp, logger=quiet) for tcp in (False, True)]
    for server in servers:
        server.start_thread()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
