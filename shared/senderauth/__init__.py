"""Sender authentication: who really sent a message (SPF, DKIM, DMARC, or our MTA's Authentication-Results).

`verify.authenticate()` finds the facts (no database); `policy` decides what
off / report / require make of them; docs/sender-auth.md says it in words.
The names below load on first use: dnspython, dkimpy and pyspf cost a
quarter of a second to import, which a CLI command that never verifies
should not pay.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"AuthResult": "result", "DkimSignature": "result", "AuthConfig": "verify", "Transport": "verify",
          "authenticate": "verify"}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
