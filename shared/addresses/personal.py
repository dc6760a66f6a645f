"""Secret personal create addresses (`tasks+u7-<secret>@domain`): the address itself says who is writing.

For people whose domain publishes no DMARC (so `require` would refuse
them): the 16 hex characters are an HMAC of the user id and the user's
serial under the current mail key, so the address dies when the user
rotates it (`user create-address --rotate` bumps the serial) and when the
mail key is rotated. The part before `+` is any create address; it only
routes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from mailgate.shared.keys import SigningKey
from mailgate.shared.models import MailKey

SECRET_LEN = 16
_LOCAL = re.compile(r"([a-z0-9!#$%&'*/=?^_`{|}~.-]+)\+u(\d{1,12})-([0-9a-f]{" + str(SECRET_LEN) + "})", re.ASCII)


@dataclass(frozen=True)
class PersonalToken:
    base: str  # the create address's local part
    user_id: int
    secret: str


def _secret(key: MailKey | SigningKey, user_id: int, serial: int) -> str:
    mac = hmac.new(key.secret.encode(), f"personal-create:{int(user_id)}:{int(serial)}".encode(), hashlib.sha256)
    return mac.hexdigest()[:SECRET_LEN]


def personal_address(key: MailKey | SigningKey, create_address: str, user_id: int, serial: int) -> str:
    local, domain = create_address.rsplit("@", 1)
    return f"{local}+u{int(user_id)}-{_secret(key, user_id, serial)}@{domain}"


def parse_personal_local(local: str) -> PersonalToken | None:
    """Recognise the shape (lowercased local part); None when it is not a personal address."""
    m = _LOCAL.fullmatch(local)
    return PersonalToken(m.group(1), int(m.group(2)), m.group(3)) if m else None


def verify_personal(key: SigningKey, token: PersonalToken, serial: int) -> bool:
    return hmac.compare_digest(_secret(key, token.user_id, serial), token.secret)
