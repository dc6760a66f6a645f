"""A scripted IMAP server on loopback that misbehaves on purpose (Dovecot cannot be made to).

Speaks just enough IMAP4rev1 for the poller (LOGIN, SELECT, UID SEARCH, UID
FETCH, UID STORE, UID EXPUNGE, LOGOUT) over one mailbox of messages, and
answers a FETCH the way `trick` says: "no-body" answers the body fetch with
flags only, "bad-size" gives RFC822.SIZE as a word, "drop-once" closes the
connection at the first body fetch (a network blip). Records what the client
did (`stored_flags`, `expunged`), so a test sees whether mail was removed.
"""

from __future__ import annotations

import re
import socket
import threading

CAPABILITY = b"IMAP4rev1 UIDPLUS"


class HostileImap:
    def __init__(self, messages: list[bytes], trick: str = "") -> None:
        self.messages = {100 + i: raw for i, raw in enumerate(messages)}
        self.trick = trick
        self.tricked: set[int] | None = None  # the uids the trick applies to (None: all)
        self.stored_flags: list[tuple[int, bytes]] = []
        self.expunged: list[int] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> "HostileImap":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.listener.close()

    def env(self) -> dict[str, str]:
        return {"MAILGATE_IMAP_HOST": "127.0.0.1", "MAILGATE_IMAP_PORT": str(self.port), "MAILGATE_IMAP_SSL": "false",
                "MAILGATE_IMAP_USER": "u", "MAILGATE_IMAP_PASSWORD": "p"}

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                try:
                    self._session(conn.makefile("rb"), conn)
                except (OSError, ValueError):
                    pass

    def _session(self, rfile, conn) -> None:
        conn.sendall(b"* OK [CAPABILITY " + CAPABILITY + b"] hostile ready\r\n")
        while line := rfile.readline():
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            command = rest.upper()
            if command.startswith(b"LOGOUT"):
                conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                return
            if self.trick == "drop-once" and command.startswith(b"UID FETCH") and b"HEADER" not in command:
                self.trick = ""
                return  # the connection drops mid-session
            conn.sendall(self._answer(command, rest) + tag + b" OK done\r\n")

    def _answer(self, command: bytes, rest: bytes) -> bytes:
        if command.startswith(b"CAPABILITY"):
            return b"* CAPABILITY " + CAPABILITY + b"\r\n"
        if command.startswith(b"SELECT") or command.startswith(b"EXAMINE"):
            return b"* %d EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n" % len(self.messages)
        if command.startswith(b"UID SEARCH"):
            return b"* SEARCH " + b" ".join(str(u).encode() for u in self.messages) + b"\r\n"
        if command.startswith(b"UID FETCH"):
            return self._fetch(rest)
        if command.startswith(b"UID STORE"):
            uid = int(rest.split()[2])
            self.stored_flags.append((uid, rest.split(b" ", 4)[-1]))
            return b""
        if command.startswith(b"UID EXPUNGE"):
            uid = int(rest.split()[2])
            self.expunged.append(uid)
            self.messages.pop(uid, None)
            return b""
        return b""

    def _fetch(self, rest: bytes) -> bytes:
        uid = int(rest.split()[2])
        raw = self.messages.get(uid)
        if raw is None:
            return b""
        seq = list(self.messages).index(uid) + 1
        trick = self.trick if self.tricked is None or uid in self.tricked else ""
        if b"HEADER" in rest.upper():
            head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            size = b"lots" if trick == "bad-size" else str(len(raw)).encode()
            return (b"* %d FETCH (UID %d RFC822.SIZE %s BODY[HEADER] {%d}\r\n" % (seq, uid, size, len(head))
                    + head + b")\r\n")
        if trick == "no-body":
            return b"* %d FETCH (UID %d FLAGS (\\Seen))\r\n" % (seq, uid)
        return b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, uid, len(raw)) + raw + b")\r\n"
