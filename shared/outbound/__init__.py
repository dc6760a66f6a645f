"""Mailgate's own outgoing mail: notification rows become MIME messages and leave through mailers.

Layout (small modules, one concern each):

- `compose`  — Message-IDs, threading and robot-quieting headers, the HTML alternative.
- `render`   — an OutboundMessage row to RFC 5322 bytes plus its envelope.
- `mailers`  — smtp / sendmail / test transports and the Phabricator-style order.
- `queue`    — claiming due rows safely for several workers, recording results, backoff.
- `worker`   — the loop behind `mailgate worker [--once]` and `send-test`.
- `actions`  — Resend / Void, shared by the console and the CLI (audited).
- `health`   — mailer probes and queue checks for `mailgate check` / the Health page.

The console and the CLI call these functions; no rule lives in a view or a command.
"""

from mailgate.shared.outbound.actions import OutboundError, get, resend, void
from mailgate.shared.outbound.render import headers_as_sent

__all__ = ["OutboundError", "get", "headers_as_sent", "resend", "void"]
