"""glibc's allocator, told to give memory back: the milter's processes must shrink after a burst of large mail.

Why: glibc serves an allocation over M_MMAP_THRESHOLD (128 KB at first)
with mmap and returns it on free -- but the first time such a block is
freed it raises the threshold to that block's size (up to 32 MB). After one
9.5 MB message, every later buffer up to that size came from the heap, and
a heap only shrinks from its top: the milter stayed at 2-3 times its idle
size after a burst (bench/RESULTS.md, "Milter memory"). A fixed threshold
keeps large buffers in mmap; fewer arenas keep libmilter's threads from
spreading small blocks over many heaps; `trim()` returns the free pages
that remain (malloc_trim). Nothing happens where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("mailgate.milter")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept fixed
ARENAS = 2  # one thread holds the GIL at a time: more arenas would mostly hold free memory

_libc = None


def _glibc():
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.gnu_get_libc_version  # noqa: B018 -- glibc only (musl has mallopt but not these options)
            _libc = libc
        except (OSError, AttributeError):
            _libc = False
    return _libc


def tune() -> bool:
    """Set the allocator up for this process (call before threads start); False where it is not glibc."""
    libc = _glibc()
    if not libc:
        return False
    ok = all(libc.mallopt(option, value) == 1 for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD), (M_ARENA_MAX, ARENAS)))
    if not ok:
        log.warning("mallopt refused an option; memory may not be given back after large messages")
    return ok


def trim() -> None:
    """Give the free pages of every arena back to the system (after large messages)."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
