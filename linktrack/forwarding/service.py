"""Forwarding conversions to a creator's destinations (DESIGN.md §7).

- A recorded conversion enqueues one `forward_conversion` job (after its commit); that job makes
  one delivery per active destination that wants the event type and enqueues one
  `deliver_forwarding` job each.
- A delivery is claimed before it is sent (status `sending`), so a duplicate job or a sweep
  racing a scheduled retry never sends twice.
- Network errors, 429 and 5xx are retried after FORWARDING_RETRY_BASE_SECONDS × 2^(n-1), up to
  FORWARDING_MAX_ATTEMPTS tries; other answers are final. Every try is a ForwardingAttempt row.
- FORWARDING_PAUSE_AFTER_FAILURES deliveries in a row that finally failed pause the destination;
  the settings page says so until the creator turns it back on.
- Credentials are stored as a Fernet token under a key derived from FORWARDING_KEY (or
  SECRET_KEY): changing that key makes stored credentials unreadable (deliveries then fail
  and say so), so set FORWARDING_KEY before rotating SECRET_KEY.
"""

import base64
import hashlib
import ipaddress
import json
import logging
import re
import socket
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote, quote_plus, urlsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import queue
from ..extensions import db
from ..models import EVENT_TYPES, CampaignLink, ClickEvent, ConversionEvent, utcnow
from ..models.forwarding import ForwardingAttempt, ForwardingDelivery, ForwardingDestination
from . import facebook, google, webhook
from .event import ForwardedEvent

log = logging.getLogger(__name__)

MODULES = {"facebook": facebook, "google": google, "webhook": webhook}
KIND_LABELS = {"facebook": "Facebook Conversions API", "google": "Google Analytics 4", "webhook": "Webhook"}
LOST_AFTER = timedelta(minutes=10)  # a due delivery this late, or stuck sending, lost its job
USER_AGENT = "linktrack-forwarding/1"


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


# ---- destinations ----------------------------------------------------------------------------


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
        return {"url": url}, {"signing_secret": webhook.new_signing_secret()}
    raise DestinationInvalid("kind", "Choose Facebook, Google Analytics 4 or a webhook.")


def create_destination(
    user_id: int, kind: str, name: str, fields: dict, event_types: list[str]
) -> tuple[ForwardingDestination, str | None]:
    """Store a destination; answers it and, for a webhook, its signing secret (shown once)."""
    name = (name or "").strip() or KIND_LABELS.get(kind, "")
    settings, credentials = _clean(kind, fields)
    chosen = [event_type for event_type in EVENT_TYPES if event_type in (event_types or [])]
    if not chosen:
        raise DestinationInvalid("event_types", "Choose at least one event type to send.")
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
    chosen = [event_type for event_type in EVENT_TYPES if event_type in (event_types or [])]
    if not chosen:
        raise DestinationInvalid("event_types", "Choose at least one event type to send.")
    destination.event_types = chosen
    db.session.commit()


def paused_count(user_id: int) -> int:
    """How many of the creator's destinations are paused: the settings page shows it as a badge."""
    return sum(1 for destination in destinations_for(user_id) if destination.paused_at is not None)


def delete_destination(destination: ForwardingDestination) -> None:
    db.session.delete(destination)
    db.session.commit()


def recent_deliveries(destination_id: int, limit: int = 20) -> list[ForwardingDelivery]:
    return list(
        db.session.scalars(
            select(ForwardingDelivery)
            .where(ForwardingDelivery.destination_id == destination_id)
            .order_by(ForwardingDelivery.created_at.desc(), ForwardingDelivery.id.desc())
            .limit(limit)
        )
    )


# ---- from a conversion to deliveries ---------------------------------------------------------


def conversion_recorded(conversion_id: uuid.UUID) -> None:
    """Called after the conversion's commit: one job fans it out. Never raises."""
    try:
        queue.enqueue("forward_conversion", str(conversion_id))
    except Exception:
        db.session.rollback()
        log.exception("could not start forwarding for conversion %s", conversion_id)


def fan_out(conversion_id: str) -> int:
    """One delivery (and one job) per active destination that wants this event type; safe to repeat.

    One query finds the destinations, so a creator with none costs a conversion a single SELECT.
    """
    conversion_uuid = uuid.UUID(conversion_id)
    rows = db.session.execute(
        select(ForwardingDestination, ConversionEvent.event_type)
        .join(CampaignLink, CampaignLink.user_id == ForwardingDestination.user_id)
        .join(ConversionEvent, ConversionEvent.campaign_link_id == CampaignLink.id)
        .where(
            ConversionEvent.id == conversion_uuid,
            ForwardingDestination.enabled.is_(True),
            ForwardingDestination.paused_at.is_(None),
        )
        .order_by(ForwardingDestination.id)
    ).all()
    wanted = [(destination, event_type) for destination, event_type in rows if event_type in destination.event_types]
    delivery_ids = []
    for destination, event_type in wanted:
        existing = db.session.scalar(
            select(ForwardingDelivery.id).where(
                ForwardingDelivery.destination_id == destination.id,
                ForwardingDelivery.conversion_id == conversion_uuid,
            )
        )
        if existing is not None:
            continue
        delivery = ForwardingDelivery(
            destination_id=destination.id,
            conversion_id=conversion_uuid,
            event_type=event_type,
            next_attempt_at=utcnow(),
        )
        db.session.add(delivery)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # another copy of this job made it first
            continue
        delivery_ids.append(delivery.id)
    for delivery_id in delivery_ids:
        queue.enqueue("deliver_forwarding", delivery_id)
    return len(delivery_ids)


def send_test_event(destination: ForwardingDestination) -> ForwardingDelivery:
    """A made-up conversion of the destination's first event type, sent once, never retried."""
    delivery = ForwardingDelivery(
        destination_id=destination.id,
        conversion_id=None,
        event_type=destination.event_types[0],
        next_attempt_at=utcnow(),
    )
    db.session.add(delivery)
    db.session.commit()
    queue.enqueue("deliver_forwarding", delivery.id)
    return delivery


def get_delivery(user_id: int, delivery_id: int) -> ForwardingDelivery | None:
    return db.session.scalar(
        select(ForwardingDelivery)
        .join(ForwardingDestination, ForwardingDestination.id == ForwardingDelivery.destination_id)
        .where(ForwardingDelivery.id == delivery_id, ForwardingDestination.user_id == user_id)
    )


def redeliver(delivery: ForwardingDelivery) -> bool:
    """Send a delivered or failed delivery again, with a fresh set of tries; False while one is under way."""
    if delivery.status not in ("delivered", "failed"):
        return False
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    db.session.commit()
    queue.enqueue("deliver_forwarding", delivery.id)
    return True


def requeue_lost_deliveries(now: datetime | None = None) -> int:
    """Deliveries whose job was lost (worker killed, Redis flushed): due long ago, or stuck sending."""
    now = now or utcnow()
    stale = now - LOST_AFTER
    db.session.execute(
        update(ForwardingDelivery)
        .where(ForwardingDelivery.status == "sending", ForwardingDelivery.updated_at <= stale)
        .values(status="retrying", next_attempt_at=stale, updated_at=now)
    )
    lost = list(
        db.session.scalars(
            select(ForwardingDelivery.id).where(
                ForwardingDelivery.status.in_(("pending", "retrying")),
                ForwardingDelivery.next_attempt_at <= stale,
            )
        )
    )
    db.session.commit()
    for delivery_id in lost:
        queue.enqueue("deliver_forwarding", delivery_id)
    return len(lost)


# ---- one try ---------------------------------------------------------------------------------


def _forwarded_event(delivery: ForwardingDelivery, destination: ForwardingDestination) -> ForwardedEvent | None:
    if delivery.is_test:
        landing = db.session.scalar(
            select(CampaignLink)
            .where(CampaignLink.user_id == destination.user_id)
            .order_by(CampaignLink.created_at.desc())
            .limit(1)
        )
        return ForwardedEvent(
            conversion_id=f"test-{delivery.id}",
            tracking_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"linktrack-test-{destination.id}")),
            campaign_link_id=str(landing.id) if landing else "test",
            event_type=delivery.event_type,
            revenue_amount=Decimal("1.00") if delivery.event_type == "purchase" else None,
            currency="USD",
            event_id=f"test-{delivery.id}",
            converted_at=delivery.created_at,
            source="server",
            event_data={},
            user_agent=None,
            event_source_url=landing.destination_url if landing else "https://example.com/",
            short_code=landing.short_code if landing else "test",
            campaign=landing.campaign if landing else "test",
            video_id=landing.video_id if landing else "",
            test=True,
        )
    row = db.session.execute(
        select(ConversionEvent, ClickEvent.user_agent, CampaignLink)
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .outerjoin(ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id)
        .where(ConversionEvent.id == delivery.conversion_id)
    ).first()
    if row is None:
        return None
    conversion, user_agent, link = row
    return ForwardedEvent(
        conversion_id=str(conversion.id),
        tracking_id=str(conversion.tracking_id),
        campaign_link_id=str(link.id),
        event_type=conversion.event_type,
        revenue_amount=conversion.revenue_amount,
        currency=conversion.currency,
        event_id=conversion.event_id or str(conversion.id),
        converted_at=conversion.converted_at,
        source=conversion.source,
        event_data=conversion.event_data or {},
        user_agent=user_agent,
        event_source_url=link.destination_url,
        short_code=link.short_code,
        campaign=link.campaign,
        video_id=link.video_id,
    )


def _claim(delivery_id: int, now: datetime) -> bool:
    claimed = db.session.execute(
        update(ForwardingDelivery)
        .where(
            ForwardingDelivery.id == delivery_id,
            ForwardingDelivery.status.in_(("pending", "retrying")),
            or_(ForwardingDelivery.next_attempt_at.is_(None), ForwardingDelivery.next_attempt_at <= now),
        )
        .values(status="sending", updated_at=now)
    ).rowcount
    db.session.commit()
    return claimed == 1


def _private_address_refusal(url: str) -> tuple[str, bool] | None:
    """(error, retry?) when a webhook URL resolves to a non-public address, else None.

    A creator's webhook must not reach linktrack's own network (Redis, the database, cloud
    metadata) and read answers back in the attempt log. The address is checked before each try;
    a DNS answer that changes between this check and the connection is not covered.
    """
    if current_app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"]:
        return None
    parts = urlsplit(url)
    try:
        answers = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"Cannot resolve {parts.hostname}: {exc}", True
    for *_, address in answers:
        if not ipaddress.ip_address(address[0]).is_global:
            return f"Refused: {parts.hostname} resolves to a private address ({address[0]}).", False
    return None


def _send(destination: ForwardingDestination, event: ForwardedEvent) -> tuple[int | None, str | None, bool]:
    """(status code, error, retry?) of one HTTP try."""
    try:
        credentials = decrypt_credentials(destination.credentials_encrypted)
    except (InvalidToken, ValueError):
        return None, "The stored credentials cannot be read (was FORWARDING_KEY or SECRET_KEY changed?).", False
    outbound = MODULES[destination.kind].build_request(destination.settings, credentials, event)
    if destination.kind == "webhook" and (refusal := _private_address_refusal(outbound.url)):
        return None, *refusal
    try:
        response = requests.post(
            outbound.url,
            data=outbound.body,
            headers={"User-Agent": USER_AGENT, **outbound.headers},
            timeout=current_app.config["FORWARDING_TIMEOUT_SECONDS"],
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, _masked(f"{type(exc).__name__}: {exc}", credentials)[:500], True
    code = response.status_code
    if 200 <= code < 300:
        return code, None, False
    return code, _masked(f"HTTP {code}: {response.text[:300]}", credentials), code == 429 or code >= 500


def _masked(error: str, credentials: dict) -> str:
    """The error as stored and shown, each credential cut to its last 4 characters like on the page:
    a connection error quotes the URL, where GA4's API secret travels."""
    for secret in credentials.values():
        if secret:
            for form in {secret, quote_plus(secret), quote(secret, safe="")}:
                error = error.replace(form, "••••" + secret[-4:])
    return error


def deliver(delivery_id: int) -> str:
    """Try one delivery once; schedule the next try or settle it. Answers its status."""
    now = utcnow()
    if not _claim(delivery_id, now):
        return "skipped"
    delivery = db.session.get(ForwardingDelivery, delivery_id)
    destination = delivery.destination
    config = current_app.config
    attempt = ForwardingAttempt(delivery_id=delivery.id, attempted_at=now)
    event = _forwarded_event(delivery, destination)
    if event is None:
        code, error, retry = None, "The conversion no longer exists.", False
    elif not destination.active and not delivery.is_test:
        code, error, retry = None, "Not sent: the destination is off or paused.", False
    else:
        code, error, retry = _send(destination, event)
    attempt.status_code, attempt.error = code, error
    delivery.attempts += 1
    if error is None:
        delivery.status, delivery.next_attempt_at = "delivered", None
        if not delivery.is_test:
            destination.consecutive_failures = 0
    elif retry and not delivery.is_test and delivery.attempts < config["FORWARDING_MAX_ATTEMPTS"]:
        delay = timedelta(seconds=config["FORWARDING_RETRY_BASE_SECONDS"] * 2 ** (delivery.attempts - 1))
        delivery.status, delivery.next_attempt_at = "retrying", now + delay
        attempt.next_retry_at = delivery.next_attempt_at
    else:
        delivery.status, delivery.next_attempt_at = "failed", None
        if not delivery.is_test and event is not None and destination.active:
            destination.consecutive_failures += 1
            if destination.consecutive_failures >= config["FORWARDING_PAUSE_AFTER_FAILURES"]:
                destination.paused_at = now
    db.session.add(attempt)
    db.session.commit()
    if delivery.status == "retrying":
        queue.enqueue("deliver_forwarding", delivery.id, at=delivery.next_attempt_at)
    return delivery.status
