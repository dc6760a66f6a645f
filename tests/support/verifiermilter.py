"""A stand-in for the operator's verifier (OpenDKIM/OpenDMARC with AuthservIDWithJobID) in front of Mailgate.

A milter of its own, run as its own process and listed before Mailgate's in
smtpd_milters: at the end of each message it puts, at the top,
`Authentication-Results: <authserv-id>/<queue id>; <results>`, the results
given on the command line (it verifies nothing: the tests use it to see
what Mailgate believes of a verifier's header, not to test a verifier).

    python verifiermilter.py SOCKET AUTHSERV_ID 'dkim=pass header.d=a.test; dmarc=pass header.from=a.test'
"""

from __future__ import annotations

import os
import sys

import Milter


def main(socket_path: str, authserv_id: str, results: str) -> None:
    class Verifier(Milter.Base):
        def eom(self) -> int:
            qid = self.getsymval("i") or ""
            self.addheader("Authentication-Results", f"{authserv_id}/{qid}; {results}", 0)
            return Milter.CONTINUE

    Milter.factory = Verifier
    Milter.set_flags(Milter.ADDHDRS)
    os.umask(0o000)  # the socket must be connectable by Postfix's smtpd (user postfix)
    Milter.runmilter("verifier", f"unix:{socket_path}", 30)


if __name__ == "__main__":
    main(*sys.argv[1:4])
