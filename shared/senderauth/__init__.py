"""Sender authentication: who really sent a message (SPF, DKIM, DMARC, or our MTA's Authentication-Results).

`verify.authenticate()` finds the facts (no database); `policy` decides what
off / report / require make of them; docs/sender-auth.md says it in words.
"""

from mailgate.shared.senderauth.result import AuthResult, DkimSignature
from mailgate.shared.senderauth.verify import AuthConfig, Transport, authenticate

__all__ = ["AuthConfig", "AuthResult", "DkimSignature", "Transport", "authenticate"]
