"""From a recorded conversion to deliveries, and each delivery's tries (DESIGN.md §7).

- A recorded conversion enqueues one `forward_conversion` job (after its commit); that job makes
  one delivery per active destination that wants the event type and enqueues one
  `deliver_forwarding` job each.
- A delivery is claimed before it is sent (status `sending`), so a duplicate job or a sweep
  racing a scheduled retry never sends twice.
- Network errors, 429 and 5xx are retried after FORWARDING_RETRY_BASE_SECONDS × 2^(n-1), up to
  FORWARDING_MAX_ATTEMPTS tries; other answers are final. Every try is a ForwardingAttempt row.
- FORWARDING_PAUSE_AFTER_FAILURES deliveries in a row that finally failed pause the destination;
  the settings page says so until the creator turns it back on.
"""

import logging
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import queue
from ..extensions import db
from ..models import CampaignLink, ConversionEvent, utcnow
from ..models.forwarding import ForwardingAttempt, ForwardingDelivery, ForwardingDestination
from .sending import forwarded_event, send

log = logging.getLogger(__name__)

LOST_AFTER = timedelta(minutes=10)  # a due delivery this late, or stuck sending, lost its job


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


# ---- the creator's view of deliveries --------------------------------------------------------


def recent_deliveries(destination_id: int, limit: int = 20) -> list[ForwardingDelivery]:
    return list(
        db.session.scalars(
            select(ForwardingDelivery)
            .where(ForwardingDelivery.destination_id == destination_id)
            .order_by(ForwardingDelivery.created_at.desc(), ForwardingDelivery.id.desc())
            .limit(limit)
        )
    )


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


def deliver(delivery_id: int) -> str:
    """Try one delivery once; schedule the next try or settle it. Answers its status."""
    now = utcnow()
    if not _claim(delivery_id, now):
        return "skipped"
    delivery = db.session.get(ForwardingDelivery, delivery_id)
    destination = delivery.destination
    config = current_app.config
    attempt = ForwardingAttempt(delivery_id=delivery.id, attempted_at=now)
    event = forwarded_event(delivery, destination)
    if event is None:
        code, error, retry = None, "The conversion no longer exists.", False
    elif not destination.active and not delivery.is_test:
        code, error, retry = None, "Not sent: the destination is off or paused.", False
    else:
        code, error, retry = send(destination, event)
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
