"""What sender authentication found about one message, in the shape the CLI and console show.

`AuthResult.to_json()` is the `auth` object of `show-inbound --json` and
`receive-test --json` (its keys are fixed: spf, dkim, dmarc, aligned,
verdict, source; the others are extra).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("pass", "fail", "none", "temperror")
SOURCES = ("verified", "upstream")
# RFC 8601 result words for SPF and DKIM (and DMARC's subset of them)
SPF_RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
DKIM_RESULTS = ("pass", "fail", "neutral", "policy", "none", "temperror", "permerror")
DMARC_RESULTS = ("pass", "fail", "none", "temperror", "permerror")


@dataclass(frozen=True)
class DkimSignature:
    domain: str
    result: str


@dataclass
class AuthResult:
    spf: str = "none"
    dkim: list[DkimSignature] = field(default_factory=list)
    dmarc: str = "none"
    aligned: bool = False
    verdict: str = "none"
    source: str = "verified"
    from_domain: str = ""
    spf_domain: str = ""  # the MAIL FROM domain SPF checked (the HELO name for the null sender)
    policy: str = ""  # the From domain's DMARC p= (or sp=) when it publishes one
    envelope_mismatch: bool = False  # MAIL FROM's organisation differs from From's, and DMARC did not pass
    note: str = ""  # one sentence when something could not be checked (a DNS timeout, no From domain)

    def to_json(self) -> dict[str, Any]:
        return {
            "spf": self.spf,
            "dkim": [{"domain": s.domain, "result": s.result} for s in self.dkim],
            "dmarc": self.dmarc,
            "aligned": self.aligned,
            "verdict": self.verdict,
            "source": self.source,
            "from_domain": self.from_domain,
            "spf_domain": self.spf_domain,
            "policy": self.policy or None,
            "envelope_mismatch": self.envelope_mismatch,
            "note": self.note or None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "AuthResult | None":
        if not data:
            return None
        return cls(
            spf=str(data.get("spf") or "none"),
            dkim=[DkimSignature(str(s.get("domain") or ""), str(s.get("result") or "none"))
                  for s in data.get("dkim") or [] if isinstance(s, dict)],
            dmarc=str(data.get("dmarc") or "none"),
            aligned=bool(data.get("aligned")),
            verdict=str(data.get("verdict") or "none"),
            source=str(data.get("source") or "verified"),
            from_domain=str(data.get("from_domain") or ""),
            spf_domain=str(data.get("spf_domain") or ""),
            policy=str(data.get("policy") or ""),
            envelope_mismatch=bool(data.get("envelope_mismatch")),
            note=str(data.get("note") or ""),
        )


def verdict_of(dmarc: str) -> str:
    """DMARC's result as Mailgate's verdict: a malformed record (permerror) counts as none published."""
    return {"pass": "pass", "fail": "fail", "temperror": "temperror"}.get(dmarc, "none")


def mismatch_sentence(auth: AuthResult | None, mail_from: str | None, from_addr: str) -> str:
    """The plain sentence the console and `show-inbound` print when the envelope and From disagree."""
    if auth is None or not auth.envelope_mismatch:
        return ""
    return (f"The envelope sender (MAIL FROM {mail_from}) is not at the From address's domain "
            f"({from_addr}), and DMARC did not pass: the From address may be forged.")


def summary(auth: AuthResult | None) -> str:
    """One line for logs and lists: verdict, then what decided it."""
    if auth is None:
        return "not checked"
    dkim = ",".join(f"{s.domain}={s.result}" for s in auth.dkim) or "none"
    return (f"{auth.verdict} ({auth.source}: dmarc={auth.dmarc} spf={auth.spf} dkim={dkim} "
            f"aligned={'yes' if auth.aligned else 'no'})")
