"""One message's bytes as a session receives them: in memory while small, beyond that in an unlinked file.

Why: a session kept its message as a list of chunks, joined them into one
bytes object at the end, and pickled that to the writer process: about
three copies of every message at once, times the sessions. Fifty 9.5 MB
messages at once took the milter past 1.2 GB, and glibc kept most of it
afterwards (bench/RESULTS.md, "Milter memory"). Here a message past
`MEMORY_BYTES` goes to a temporary file that has no name (O_TMPFILE, or
unlinked at once): written once as it arrives, handed to the writer
process as a file descriptor, read there once, and gone when the session
closes it -- or when the process dies, so a crash leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile

MEMORY_BYTES = 256 * 1024  # a message up to this size stays in memory (most mail): no file, no system calls


class Spool:
    """Append-only bytes of one message; `truncate` keeps a prefix (the headers of a message over the limit)."""

    def __init__(self, directory: str | None = None, memory_bytes: int = MEMORY_BYTES) -> None:
        self.directory, self.memory_bytes = directory, memory_bytes
        self._buffer = bytearray()
        self._file = None  # an unbuffered, nameless file once the message outgrew memory
        self.size = 0

    @property
    def in_memory(self) -> bool:
        return self._file is None

    def write(self, data: bytes) -> None:
        if self._file is None:
            if self.size + len(data) <= self.memory_bytes:
                self._buffer += data
                self.size += len(data)
                return
            self._file = tempfile.TemporaryFile(dir=self.directory, buffering=0)  # mode 0600, no name
            self._write(bytes(self._buffer))
            self._buffer = bytearray()
        self._write(data)
        self.size += len(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]

    def truncate(self, size: int) -> None:
        """Keep the first `size` bytes only (and go on appending after them)."""
        if size >= self.size:
            return
        if self._file is None:
            del self._buffer[size:]
        else:
            self._file.truncate(size)
            self._file.seek(size)
        self.size = size

    def read(self, size: int | None = None) -> bytes:
        """The first `size` bytes (all by default): a copy."""
        size = self.size if size is None else min(size, self.size)
        if self._file is None:
            return bytes(self._buffer[:size])
        return read_fd(self._file.fileno(), size)

    def fileno(self) -> int:
        """The file's descriptor (only once the message is in a file)."""
        if self._file is None:
            raise ValueError("the message is in memory")
        return self._file.fileno()

    def close(self) -> None:
        """Forget the bytes; the file, if any, disappears with its last descriptor."""
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
        self._buffer = bytearray()
        self.size = 0


def read_fd(fd: int, size: int) -> bytes:
    """The first `size` bytes of the file behind `fd`, whatever its offset: one bytes object, one copy."""
    data = os.pread(fd, size, 0)  # a regular file gives all of it at once (up to 2 GB)
    if len(data) == size:
        return data
    parts, done = [data], len(data)
    while done < size:
        chunk = os.pread(fd, size - done, done)
        if not chunk:
            raise EOFError(f"the spooled message ended at {done} of {size} bytes")
        parts.append(chunk)
        done += len(chunk)
    return b"".join(parts)
