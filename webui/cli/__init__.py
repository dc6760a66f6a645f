"""`mailgate` console script: one group, one module per area registering its commands."""

from mailgate.webui.cli.base import main
from mailgate.webui.cli import core  # noqa: F401  (registers init, reply-address, rotate-key)
from mailgate.webui.cli import directory  # noqa: F401  (registers user, address)
from mailgate.webui.cli import inbound  # noqa: F401  (registers receive-test, receive, list-inbound, …)
from mailgate.webui.cli import tasks  # noqa: F401  (registers task)
from mailgate.webui.cli import milter  # noqa: F401  (registers check, milter)
from mailgate.webui.cli import outbound  # noqa: F401  (registers list-outbound, worker, …)
from mailgate.webui.cli import web  # noqa: F401  (registers web, create-admin)
from mailgate.webui.cli import retention  # noqa: F401  (registers purge)
from mailgate.webui.cli import admin  # noqa: F401  (registers admin passwd|list|disable|enable|unlock)
from mailgate.webui.cli import ingress  # noqa: F401  (registers imap, ingress)

__all__ = ["main"]
