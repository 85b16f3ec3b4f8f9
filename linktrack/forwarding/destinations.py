"""A creator's forwarding destinations: adding, listing, switching on and off, removing.

Credentials are stored as a Fernet token under a key derived from FORWARDING_KEY (or
SECRET_KEY): changing that key makes stored credentials unreadable (deliveries then fail and
say so), so set FORWARDING_KEY before rotating SECRET_KEY. Every lookup takes the creator's id,
so another creator's destination is simply not found.
"""

import base64
import hashlib
import json
import re
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import EVENT_TYPES, User
from ..models.forwarding import ForwardingDestination
from . import webhook
from .addresses import AddressRefused, AddressUnresolvable, webhook_addresses

KIND_LABELS = {"facebook": "Facebook Conversions API", "google": "Google Analytics 4", "webhook": "Webhook"}


class DestinationInvalid(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# ---- credentials at rest ---------------------------------------------------------------------


def _fernet() -> Fernet:
    secret = current_app.config.get("FORWARDING_KEY") or current_app.config["SECRET_KEY"]
    key = hashlib.sha256(b"linktrack forwarding credentials\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_credentials(credentials: dict) -> str:
    return _fernet().encrypt(json.dumps(credentials).encode()).decode()


def decrypt_credentials(token: str) -> dict:
    return json.loads(_fernet().decrypt(token.encode()))


# ---- checks ----------------------------------------------------------------------------------


def _required(fields: dict, name: str, label: str) -> str:
    value = (fields.get(name) or "").strip()
    if not value:
        raise DestinationInvalid(name, f"Enter the {label}.")
    return value


def _clean(kind: str, fields: dict) -> tuple[dict, dict]:
    """(settings, credentials) for a kind, or DestinationInvalid naming the field at fault."""
    if kind == "facebook":
        pixel_id = _required(fields, "pixel_id", "pixel (dataset) id")
        if not re.fullmatch(r"\d{5,20}", pixel_id):
            raise DestinationInvalid("pixel_id", "A pixel id is digits only, as Events Manager shows it.")
        settings = {"pixel_id": pixel_id}
        if code := (fields.get("test_event_code") or "").strip():
            settings["test_event_code"] = code
        return settings, {"access_token": _required(fields, "access_token", "access token")}
    if kind == "google":
        measurement_id = _required(fields, "measurement_id", "measurement id").upper()
        if not re.fullmatch(r"G-[A-Z0-9]{4,20}", measurement_id):
            raise DestinationInvalid("measurement_id", "A GA4 measurement id looks like G-XXXXXXXXXX.")
        return {"measurement_id": measurement_id}, {"api_secret": _required(fields, "api_secret", "API secret")}
    if kind == "webhook":
        url = _required(fields, "url", "webhook URL")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
            raise DestinationInvalid("url", "Use an absolute https:// URL without credentials in it.")
        _check_webhook_address(url)
        return {"url": url}, {"signing_secret": webhook.new_signing_secret()}
    raise DestinationInvalid("kind", "Choose Facebook, Google Analytics 4 or a webhook.")


def _check_webhook_address(url: str) -> None:
    """The send-time address rule, applied when the URL is saved, so a refused URL is never stored.

    A name that does not resolve yet is accepted (the receiver's DNS may not be live): each try
    resolves and judges it again, and says so in the attempt log until it resolves.
    """
    try:
        webhook_addresses(url)
    except ValueError:  # urllib's word for a port out of range or not a number
        raise DestinationInvalid("url", "The port in this URL is not a valid port number.") from None
    except AddressRefused as exc:
        raise DestinationInvalid("url", f"{exc} A webhook must be on a public address.") from None
    except AddressUnresolvable:
        pass


def _check_room_for_another(user_id: int) -> None:
    """FORWARDING_MAX_DESTINATIONS per creator: every destination is a delivery job per conversion.

    On PostgreSQL the creator's row is locked first, so two adds at once cannot both take the last
    place (SQLite has no row locks: there two adds in the same instant could).
    """
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    limit = current_app.config["FORWARDING_MAX_DESTINATIONS"]
    count = db.session.scalar(
        select(func.count()).select_from(ForwardingDestination).where(ForwardingDestination.user_id == user_id)
    )
    if count >= limit:
        db.session.rollback()  # let go of the lock now, not when the request ends
        raise DestinationInvalid(
            "kind", f"You have {count} destinations, the most an account can have ({limit}). Remove one to add another."
        )


def _chosen_event_types(event_types: list[str] | None) -> list[str]:
    """The known event types among those asked for, in EVENT_TYPES order; at least one."""
    chosen = [event_type for event_type in EVENT_TYPES if event_type in (event_types or [])]
    if not chosen:
        raise DestinationInvalid("event_types", "Choose at least one event type to send.")
    return chosen


# ---- destinations ----------------------------------------------------------------------------


def create_destination(
    user_id: int, kind: str, name: str, fields: dict, event_types: list[str]
) -> tuple[ForwardingDestination, str | None]:
    """Store a destination; answers it and, for a webhook, its signing secret (shown once)."""
    name = (name or "").strip() or KIND_LABELS.get(kind, "")
    settings, credentials = _clean(kind, fields)
    chosen = _chosen_event_types(event_types)
    _check_room_for_another(user_id)
    secret = next(iter(credentials.values()))
    destination = ForwardingDestination(
        user_id=user_id,
        kind=kind,
        name=name[:100],
        settings=settings,
        credentials_encrypted=encrypt_credentials(credentials),
        secret_hint=secret[-4:],
        event_types=chosen,
    )
    db.session.add(destination)
    db.session.commit()
    return destination, secret if kind == "webhook" else None


def destinations_for(user_id: int) -> list[ForwardingDestination]:
    return list(
        db.session.scalars(
            select(ForwardingDestination)
            .where(ForwardingDestination.user_id == user_id)
            .order_by(ForwardingDestination.created_at, ForwardingDestination.id)
        )
    )


def get_destination(user_id: int, destination_id: int) -> ForwardingDestination | None:
    return db.session.scalar(
        select(ForwardingDestination).where(
            ForwardingDestination.id == destination_id, ForwardingDestination.user_id == user_id
        )
    )


def set_enabled(destination: ForwardingDestination, enabled: bool) -> None:
    """Turning a destination on also lifts a pause and starts its failure count afresh."""
    destination.enabled = enabled
    if enabled:
        destination.paused_at = None
        destination.consecutive_failures = 0
    db.session.commit()


def set_event_types(destination: ForwardingDestination, event_types: list[str]) -> None:
    destination.event_types = _chosen_event_types(event_types)
    db.session.commit()


def paused_count(user_id: int) -> int:
    """How many of the creator's destinations are paused: the settings page shows it as a badge."""
    return sum(1 for destination in destinations_for(user_id) if destination.paused_at is not None)


def delete_destination(destination: ForwardingDestination) -> None:
    db.session.delete(destination)
    db.session.commit()
