"""Managing who and where: app users, their addresses, and create addresses.

The CLI and the console call these same functions, so a rule (a reserved
name, a clash with the reply-address format) is enforced in one place.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.shared import audit
from mailgate.shared.addresses import AddressError, is_reserved, split_address
from mailgate.shared.config import Settings
from mailgate.shared.keys import current_key
from mailgate.shared.models import AppUser, Application, CreateAddress, UserEmail
from mailgate.shared.addresses.personal import personal_address
from mailgate.shared.senderauth.policy import MODES
from mailgate.shared.servicedesk import acknowledgement
from mailgate.shared.servicedesk.participants import SUPPORT_NAME, SUPPORT_USERNAME

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$", re.I)


class DirectoryError(ValueError):
    """A management request that cannot be done; the message says why."""


def _same_name(username: str):
    """Usernames are unique without case: `Carol` and `carol` would be one person to anyone writing mail."""
    return func.lower(AppUser.username) == username.lower()


def get_user(session: Session, username: str) -> AppUser:
    user = session.scalars(select(AppUser).where(AppUser.username == username)).first() or \
        session.scalars(select(AppUser).where(_same_name(username)).order_by(AppUser.id)).first()
    if user is None:
        raise DirectoryError(f"no user {username!r}")
    return user


def get_application(session: Session, name: str) -> Application:
    app = session.scalars(select(Application).where(Application.name == name)).first()
    if app is None:
        raise DirectoryError(f"no application {name!r}")
    return app


def _split(address: str) -> tuple[str, str]:
    try:
        return split_address(address)
    except AddressError as exc:
        raise DirectoryError(str(exc)) from None


def _address_in_use(session: Session, address: str) -> str | None:
    if session.scalars(select(UserEmail).where(UserEmail.address == address)).first():
        return "a user's address"
    if session.scalars(select(CreateAddress).where(CreateAddress.address == address)).first():
        return "a create address"
    return None


def add_user(session: Session, username: str, emails: list[str], name: str = "", *, settings: Settings,
             actor: str) -> AppUser:
    if not _USERNAME.match(username or ""):
        raise DirectoryError(f"username {username!r}: use letters, digits, '.', '_' or '-' (max 64)")
    existing = session.scalars(select(AppUser.username).where(_same_name(username))).first()
    if existing is not None:
        raise DirectoryError(f"user {username!r} already exists" +
                             (f" (as {existing!r}; usernames ignore case)" if existing != username else ""))
    if not emails:
        raise DirectoryError("a user needs at least one email address")
    user = AppUser(username=username, name=name.strip()[:200])
    session.add(user)
    for email in emails:
        _attach_email(session, settings, user, email)
    session.flush()
    audit.record(session, actor, "user.add", username, emails=[e.address for e in user.emails])
    return user


def _attach_email(session: Session, settings: Settings, user: AppUser, email: str) -> None:
    local, domain = _split(email)
    address = f"{local}@{domain}"
    if settings.serves_domain(domain):
        # Mail From such an address would authorise as this user while it is Mailgate's own (a create
        # or reply address, a reserved name): a user's mailbox is always somewhere else.
        raise DirectoryError(f"{address} is at Mailgate's own domain {domain}; a user's address must be elsewhere")
    used = _address_in_use(session, address)
    if used:
        raise DirectoryError(f"{address} is already {used}")
    user.emails.append(UserEmail(address=address))
    session.flush()


def add_user_email(session: Session, username: str, email: str, *, settings: Settings, actor: str) -> AppUser:
    user = get_user(session, username)
    if user.builtin:
        raise DirectoryError(f"{user.username} is the built-in Support identity: it has no address of its own")
    _attach_email(session, settings, user, email)
    audit.record(session, actor, "user.email.add", username, email=email.lower())
    return user


def set_user_enabled(session: Session, username: str, enabled: bool, *, actor: str) -> AppUser:
    user = get_user(session, username)
    user.enabled = enabled
    audit.record(session, actor, "user.enable" if enabled else "user.disable", username)
    return user


def validate_create_address(session: Session, settings: Settings, address: str) -> str:
    """The normalised address, or DirectoryError saying what is wrong with it."""
    local, domain = _split(address)
    if not settings.serves_domain(domain):
        raise DirectoryError(f"{domain} is not a domain Mailgate serves ({', '.join(settings.domains)})")
    if is_reserved(local):
        raise DirectoryError(f"{local}@ is a reserved name (postmaster, abuse, noreply, …)")
    if "+" in local:  # so it can never take the shape of a reply address (x+y+hash)
        raise DirectoryError(f"{local}@ clashes with the reply-address format (no '+' in create addresses)")
    normalised = f"{local}@{domain}"
    used = _address_in_use(session, normalised)
    if used:
        raise DirectoryError(f"{normalised} is already {used}")
    return normalised


def _sender_auth(mode: str | None) -> str | None:
    if mode in (None, "", "default"):
        return None
    if mode not in MODES:
        raise DirectoryError(f"sender authentication {mode!r}: use {', '.join(MODES)} (or default)")
    return mode


def add_create_address(session: Session, settings: Settings, app_name: str, address: str,
                       default_author: str | None = None, *, actor: str,
                       sender_auth: str | None = None, service_desk: bool = False, acknowledge: bool = True,
                       cc_participants: bool = False) -> CreateAddress:
    app = get_application(session, app_name)
    normalised = validate_create_address(session, settings, address)
    author = get_user(session, default_author) if default_author else None
    if author is not None and author.builtin:
        raise DirectoryError(f"{author.username} is the built-in Support identity: leave the default author "
                             "empty and it is used")
    mode = _sender_auth(sender_auth)
    row = CreateAddress(application_id=app.id, address=normalised, default_author_id=author.id if author else None,
                        sender_auth=mode, service_desk=service_desk, desk_acknowledge=acknowledge,
                        desk_cc=cc_participants)
    session.add(row)
    session.flush()
    if service_desk and author is None:
        support_identity(session)
    audit.record(session, actor, "address.add", normalised, application=app.name,
                 default_author=author.username if author else None, sender_auth=mode,
                 **({"service_desk": True, "acknowledge": acknowledge, "cc_participants": cc_participants}
                    if service_desk else {}))
    return row


_KEEP = object()


def set_service_desk(session: Session, address: str, *, actor: str, enabled: bool | None = None,
                     acknowledge: bool | None = None, cc_participants: bool | None = None,
                     template: str | None | object = _KEEP) -> CreateAddress:
    """Change a create address's service-desk settings; None (or, for the template, leaving it out) keeps one.

    `template` None goes back to the default acknowledgement text.
    """
    row = get_create_address(session, address)
    if enabled is not None:
        row.service_desk = enabled
    if acknowledge is not None:
        row.desk_acknowledge = acknowledge
    if cc_participants is not None:
        row.desk_cc = cc_participants
    if template is not _KEEP:
        try:
            row.desk_template = None if template is None else acknowledgement.check(str(template))
        except acknowledgement.TemplateError as exc:
            raise DirectoryError(str(exc)) from None
    if row.service_desk and row.default_author_id is None:
        support_identity(session)
    session.flush()
    audit.record(session, actor, "address.service_desk", row.address, service_desk=row.service_desk,
                 acknowledge=row.desk_acknowledge, cc_participants=row.desk_cc,
                 template="custom" if row.desk_template else "default")
    return row


def support_identity(session: Session) -> AppUser:
    """The built-in Support user (authors service-desk tasks without a default author); made once."""
    found = session.scalars(select(AppUser).where(AppUser.builtin.is_(True)).order_by(AppUser.id)).first()
    if found is not None:
        return found
    username, n = SUPPORT_USERNAME, 1
    while session.scalars(select(AppUser.id).where(_same_name(username))).first() is not None:
        n += 1
        username = f"{SUPPORT_USERNAME}-{n}"
    user = AppUser(username=username, name=SUPPORT_NAME, builtin=True)
    session.add(user)
    session.flush()
    return user


def set_sender_auth(session: Session, address: str, mode: str | None, *, actor: str) -> CreateAddress:
    """This address's own off/report/require; None follows MAILGATE_SENDER_AUTH."""
    row = get_create_address(session, address)
    row.sender_auth = _sender_auth(mode)
    audit.record(session, actor, "address.sender_auth", row.address, sender_auth=row.sender_auth)
    return row


def personal_create_address(session: Session, username: str, *, rotate: bool = False,
                            address: str | None = None, actor: str) -> str:
    """The user's secret personal create address (`--rotate` first kills the one handed out before)."""
    user = get_user(session, username)
    if address:
        base = get_create_address(session, address).address
    else:
        rows = list_create_addresses(session, "tasks") or list_create_addresses(session)
        if not rows:
            raise DirectoryError("there is no create address yet; add one with `mailgate address add tasks ADDRESS`")
        base = rows[0].address
    if rotate:
        user.create_address_serial = (user.create_address_serial or 0) + 1
        session.flush()
        audit.record(session, actor, "user.create_address.rotate", user.username)
    return personal_address(current_key(session), base, user.id, user.create_address_serial or 0)


def get_create_address(session: Session, address: str) -> CreateAddress:
    local, domain = _split(address)
    row = session.scalars(select(CreateAddress).where(CreateAddress.address == f"{local}@{domain}")).first()
    if row is None:
        raise DirectoryError(f"no create address {address!r}")
    return row


def remove_create_address(session: Session, address: str, *, actor: str) -> None:
    row = get_create_address(session, address)
    app = row.application.name
    session.delete(row)
    audit.record(session, actor, "address.remove", row.address, application=app)


def set_default_author(session: Session, address: str, username: str | None, *, actor: str) -> CreateAddress:
    row = get_create_address(session, address)
    user = get_user(session, username) if username else None
    if user is not None and user.builtin:
        raise DirectoryError(f"{user.username} is the built-in Support identity: clear the default author instead")
    row.default_author_id = user.id if user else None
    audit.record(session, actor, "address.default_author", row.address, default_author=username)
    return row


def list_create_addresses(session: Session, app_name: str | None = None) -> list[CreateAddress]:
    q = select(CreateAddress).join(Application).order_by(Application.name, CreateAddress.address)
    if app_name:
        q = q.where(Application.name == app_name)
    return list(session.scalars(q))


def stranded_addresses(session: Session, settings: Settings) -> list[tuple[str, str]]:
    """(application, address) of create addresses on a domain Mailgate no longer serves (a changed reply domain).

    Postfix no longer relays their domain to Mailgate, so mail to them never arrives; check and
    the Applications page name them so an admin removes them or serves their domain again.
    """
    rows = session.execute(select(Application.name, CreateAddress.address)
                           .join(CreateAddress, CreateAddress.application_id == Application.id)
                           .order_by(Application.name, CreateAddress.address)).all()
    return [(app, address) for app, address in rows
            if not settings.serves_domain(address.rpartition("@")[2])]
