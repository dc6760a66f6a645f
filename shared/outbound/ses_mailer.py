"""Amazon SES through its official SDK (boto3): SES API v2 SendEmail with the raw MIME.

The SDK signs requests (Signature Version 4), which is reason enough not
to hand-write the client. Its own retries are switched off (one attempt):
the outbound queue already retries with backoff and fails over to the next
mailer, and a retry inside the SDK would hide a 429 from it.

Options: access-key and secret-key (both, or neither for the SDK's own
credential chain: instance role, AWS_* variables), region, endpoint (e.g.
a VPC endpoint, or a local stand-in), timeout. SES replaces any Message-ID
it is given, so an ses entry defaults to "message-id": false.
"""

from __future__ import annotations

from typing import Any, Sequence

from mailgate.shared.outbound.failures import CredentialsRefused, MailerDown, TemporaryFailure
from mailgate.shared.outbound.http_answers import failure_for, short

DEFAULT_TIMEOUT = 30.0
# SES answers that concern the account or its configuration, not this message: the mailer is down.
ACCOUNT_ERRORS = {"AccountSuspendedException", "SendingPausedException", "MailFromDomainNotVerifiedException",
                  "NotFoundException"}


class SesMailer:
    type = "ses"
    keeps_message_id = False

    def __init__(self, key: str, options: dict):
        import boto3
        from botocore.config import Config

        self.key = key
        self.region = str(options.get("region") or "")
        self.endpoint = str(options.get("endpoint") or f"https://email.{self.region}.amazonaws.com").rstrip("/")
        self.timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
        session = boto3.session.Session(aws_access_key_id=options.get("access-key") or None,
                                        aws_secret_access_key=options.get("secret-key") or None,
                                        region_name=self.region or None)
        config = Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                        retries={"total_max_attempts": 1, "mode": "standard"}, user_agent_extra="Mailgate")
        self.client = session.client("sesv2", endpoint_url=options.get("endpoint") or None, config=config)

    @property
    def where(self) -> str:
        return f"ses {self.endpoint}"

    def _call(self, operation: str, **params: Any) -> dict:
        """One SDK call, its failures mapped to the queue's outcomes."""
        from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError,
                                         NoCredentialsError, ReadTimeoutError)

        try:
            return getattr(self.client, operation)(**params)
        except ClientError as exc:
            raise self._failure(exc.response) from None
        except NoCredentialsError:
            raise CredentialsRefused(f"{self.where}: no AWS credentials (set options.access-key and secret-key)") \
                from None
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise MailerDown(f"{self.where}: no answer within {self.timeout:g} s ({exc.__class__.__name__})") from None
        except EndpointConnectionError as exc:
            raise MailerDown(f"{self.where}: {exc}") from None
        except BotoCoreError as exc:
            raise TemporaryFailure(f"{self.where}: {exc.__class__.__name__}: {exc}") from None

    def _failure(self, response: dict) -> Exception:
        meta = response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        error = response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        text = f"{code}: {message}" if code else message
        if code in ACCOUNT_ERRORS:
            return CredentialsRefused(f"{self.where}: HTTP {status}: {short(text)}")
        headers = {k.lower(): v for k, v in (meta.get("HTTPHeaders") or {}).items()}
        return failure_for(status, text, self.where, headers.get("retry-after")) or \
            TemporaryFailure(f"{self.where}: HTTP {status}: {short(text)}")

    def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        answer = self._call("send_email", FromEmailAddress=sender, Destination={"ToAddresses": list(recipients)},
                            Content={"Raw": {"Data": data}})
        return f"SES MessageId {answer['MessageId']}" if answer.get("MessageId") else ""

    def probe(self) -> str:
        """GetAccount: reads the account's sending status, proving the keys; changes nothing."""
        account = self._call("get_account")
        if not account.get("SendingEnabled", True):
            raise CredentialsRefused(f"{self.where}: the account's sending is paused (SendingEnabled false)")
        quota = account.get("SendQuota") or {}
        return f"sending enabled, max {quota.get('MaxSendRate', '?')}/s"

    def close(self) -> None:
        self.client.close()
