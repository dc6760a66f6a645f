"""Tables only, one module per area. Behaviour lives in the pipeline modules."""

from mailgate.shared.models.admin import AdminUser, AuditEntry, Heartbeat, RefusalCount
from mailgate.shared.models.ingress import IngressRefusal, WebhookToken
from mailgate.shared.models.directory import AppUser, Application, CreateAddress, UserEmail
from mailgate.shared.models.mail import MailKey, MessageClaim, OutboundMessage, ReceivedMessage, ReceivedRaw
from mailgate.shared.models.tracker import Attachment, Comment, Task, TaskParticipant, TaskSubscriber

__all__ = [
    "AdminUser", "AuditEntry", "Heartbeat", "RefusalCount",
    "AppUser", "Application", "CreateAddress", "UserEmail",
    "MailKey", "MessageClaim", "OutboundMessage", "ReceivedMessage", "ReceivedRaw",
    "Attachment", "Comment", "Task", "TaskParticipant", "TaskSubscriber",
    "IngressRefusal", "WebhookToken",
]
