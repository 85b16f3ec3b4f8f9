"""From a recorded conversion to deliveries, and each delivery's tries (DESIGN.md §7).

- A recorded conversion enqueues one `forward_conversion` job (after its commit); that job makes
  one delivery per active destination that wants the event type (unique per destination and
  conversion, so fan-out is safe to repeat).
- Fair across creators: a delivery waits as `pending` until its creator has fewer than
  FORWARDING_IN_FLIGHT_PER_CREATOR deliveries `queued` or `sending`; then it is released (`queued`)
  with one `deliver_forwarding` job. Each finished try releases that creator's next one, so the one
  shared FIFO queue holds at most that many jobs per creator and interleaves creators: a slow
  receiver delays only its own creator's deliveries.
- A delivery is claimed before it is sent (`queued` → `sending`), so a duplicate job or a sweep
  racing a scheduled retry never sends twice.
- Network errors, 429 and 5xx are retried after FORWARDING_RETRY_BASE_SECONDS × 2^(n-1), up to
  FORWARDING_MAX_ATTEMPTS tries; other answers are final. Every try is a ForwardingAttempt row.
  A retry waits as `retrying` and is released, under the same cap, when due.
- Never lost (the minute sweep, `recover_lost_forwarding`): a job Redis lost is found from the
  database, whether it was a delivery's (queued or sending too long) or a conversion's fan-out (a
  conversion with no delivery for a destination that wants it, FORWARDING_LOST_AFTER_MINUTES after
  it was recorded, within FORWARDING_LOST_LOOKBACK_HOURS).
- FORWARDING_PAUSE_AFTER_FAILURES deliveries in a row that finally failed pause the destination;
  the settings page says so until the creator turns it back on.
"""

import logging
import uuid
from contextlib import suppress
from datetime import datetime, timedelta

from flask import current_app, g
from redis.exceptions import RedisError
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import metrics, queue
from ..extensions import db, redis_connection
from ..models import CampaignLink, ConversionEvent, User, utcnow
from ..models.forwarding import ForwardingAttempt, ForwardingDelivery, ForwardingDestination
from .sending import forwarded_event, send

log = logging.getLogger(__name__)

IN_FLIGHT = ("queued", "sending")  # a job is on the queue or running: counts toward the creator's cap
WAITING = ("pending", "retrying")  # no job: released when due and a slot is free
NOT_SENT_INACTIVE = "Not sent: the destination is off or paused."
LOST_CONVERSIONS_BATCH = 500  # conversions fanned out again per destination and sweep, at most


# ---- from a conversion to deliveries ---------------------------------------------------------


def conversion_recorded(conversion_id: uuid.UUID) -> None:
    """Called after the conversion's commit: one job fans it out. Never raises."""
    try:
        queue.enqueue("forward_conversion", str(conversion_id))
    except Exception:
        db.session.rollback()
        log.exception("could not start forwarding for conversion %s", conversion_id)


def fan_out(conversion_id: str) -> int:
    """One delivery per destination that wants this event type, safe to repeat; answers how many
    are to be sent.

    A destination that is off or paused gets its delivery too, settled at once as not sent, so
    "no delivery" always means "never fanned out" and the sweep (fan_out_lost_conversions) cannot
    send it later, once the destination is on again. One query finds the destinations, so a
    creator with none costs a conversion a single SELECT.
    """
    conversion_uuid = uuid.UUID(conversion_id)
    rows = db.session.execute(
        select(ForwardingDestination, ConversionEvent.event_type)
        .join(CampaignLink, CampaignLink.user_id == ForwardingDestination.user_id)
        .join(ConversionEvent, ConversionEvent.campaign_link_id == CampaignLink.id)
        .where(ConversionEvent.id == conversion_uuid)
        .order_by(ForwardingDestination.id)
    ).all()
    wanted = [(destination, event_type) for destination, event_type in rows if event_type in destination.event_types]
    made = 0
    for destination, event_type in wanted:
        existing = db.session.scalar(
            select(ForwardingDelivery.id).where(
                ForwardingDelivery.destination_id == destination.id,
                ForwardingDelivery.conversion_id == conversion_uuid,
            )
        )
        if existing is not None:
            continue
        now = utcnow()
        delivery = ForwardingDelivery(
            destination_id=destination.id, conversion_id=conversion_uuid, event_type=event_type, next_attempt_at=now
        )
        if not destination.active:
            delivery.status, delivery.next_attempt_at = "failed", None
            delivery.attempt_log.append(ForwardingAttempt(attempted_at=now, error=NOT_SENT_INACTIVE))
        db.session.add(delivery)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # another copy of this job made it first
            continue
        if destination.active:
            made += 1
    if made:
        release_deliveries(wanted[0][0].user_id)
    return made


def send_test_event(destination: ForwardingDestination) -> ForwardingDelivery:
    """A made-up conversion of the destination's first event type, sent once, never retried."""
    delivery = ForwardingDelivery(
        destination_id=destination.id,
        conversion_id=None,
        event_type=destination.event_types[0],
        status="queued",  # the creator pressed the button and waits: not held behind the cap
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
    release_deliveries(delivery.destination.user_id)
    return True


# ---- fairness: at most FORWARDING_IN_FLIGHT_PER_CREATOR of a creator's jobs on the queue ------


def release_deliveries(user_id: int, now: datetime | None = None) -> int:
    """Queue the creator's due waiting deliveries, oldest first, while they have a free slot.

    Releases for one creator take turns on the creator's row (a row lock; SQLite has one writer
    anyway), so two workers finishing that creator's tries at once never pass the cap together;
    each delivery is also taken with a conditional UPDATE, so none is queued twice. Without Redis a
    released delivery runs inline at once, so this loops until nothing is waiting, not recursing."""
    if g.get("releasing_deliveries"):
        return 0  # inline mode: the release that ran this delivery goes on with the next one
    g.releasing_deliveries = True
    try:
        released = 0
        while batch := _take_free_slots(user_id, now or utcnow()):
            for delivery_id in batch:
                queue.enqueue("deliver_forwarding", delivery_id)
            released += len(batch)
        return released
    finally:
        g.releasing_deliveries = False


def _take_free_slots(user_id: int, now: datetime) -> list[int]:
    cap = current_app.config["FORWARDING_IN_FLIGHT_PER_CREATOR"]
    # FOR NO KEY UPDATE: releases for this creator queue up; rows that merely reference it do not.
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    of_creator = ForwardingDelivery.destination_id.in_(
        select(ForwardingDestination.id).where(ForwardingDestination.user_id == user_id)
    )
    in_flight = db.session.scalar(select(func.count()).where(of_creator, ForwardingDelivery.status.in_(IN_FLIGHT)))
    if in_flight >= cap:
        db.session.commit()
        return []
    due = db.session.scalars(
        select(ForwardingDelivery.id)
        .where(of_creator, ForwardingDelivery.status.in_(WAITING), _due(now))
        .order_by(ForwardingDelivery.next_attempt_at, ForwardingDelivery.id)
        .limit(cap - in_flight)
    ).all()
    taken = []
    for delivery_id in due:
        if _move(delivery_id, WAITING, "queued", now, _due(now)):
            taken.append(delivery_id)
    db.session.commit()
    return taken


def _due(now: datetime):
    return or_(ForwardingDelivery.next_attempt_at.is_(None), ForwardingDelivery.next_attempt_at <= now)


def _move(delivery_id: int, from_statuses: tuple, to_status: str, now: datetime, *conditions) -> bool:
    """One delivery from one status to the next, only if no other process moved it first."""
    return (
        db.session.execute(
            update(ForwardingDelivery)
            .where(ForwardingDelivery.id == delivery_id, ForwardingDelivery.status.in_(from_statuses), *conditions)
            .values(status=to_status, updated_at=now)
        ).rowcount
        == 1
    )


# ---- the sweep: nothing lost when Redis loses its jobs -----------------------------------------


def recover_lost_forwarding(now: datetime | None = None) -> dict:
    """The minute sweep's forwarding part: deliveries whose job was lost are released again, and
    conversions whose fan-out job was lost are fanned out. Answers how many of each."""
    now = now or utcnow()
    return {
        "deliveries_requeued": requeue_lost_deliveries(now),
        "conversions_fanned_out": fan_out_lost_conversions(now),
    }


def requeue_lost_deliveries(now: datetime | None = None) -> int:
    """Deliveries whose job was lost (worker killed, Redis flushed) wait again, then every creator
    with due waiting deliveries gets its free slots filled (a retry whose release job was lost, or
    one left waiting when a try's release failed)."""
    now = now or utcnow()
    stale = now - lost_after()
    db.session.execute(
        update(ForwardingDelivery)
        .where(ForwardingDelivery.status == "sending", ForwardingDelivery.updated_at <= stale)
        .values(status="retrying", next_attempt_at=stale, updated_at=now)
    )
    db.session.execute(
        update(ForwardingDelivery)
        .where(ForwardingDelivery.status == "queued", ForwardingDelivery.updated_at <= stale)
        .values(status="pending", updated_at=now)
    )
    creators = db.session.scalars(
        select(ForwardingDestination.user_id)
        .join(ForwardingDelivery, ForwardingDelivery.destination_id == ForwardingDestination.id)
        .where(ForwardingDelivery.status.in_(WAITING), _due(now))
        .distinct()
    ).all()
    db.session.commit()
    return sum(release_deliveries(user_id, now) for user_id in creators)


def lost_after() -> timedelta:
    return timedelta(minutes=current_app.config["FORWARDING_LOST_AFTER_MINUTES"])


def fan_out_lost_conversions(now: datetime | None = None) -> int:
    """Conversions whose fan-out job was lost: fanned out again (fan_out makes only what is missing)."""
    now = now or utcnow()
    lost, checked_through = lost_conversions(now)
    if lost:
        log.warning(
            "%d conversions had no delivery %s after they were recorded; fanning out again", len(lost), lost_after()
        )
    for conversion_id in lost:
        fan_out(str(conversion_id))
    _remember_checked_through(checked_through)
    return len(lost)


def lost_conversions(now: datetime) -> tuple[list[uuid.UUID], datetime]:
    """Conversions with no delivery for an active destination that wants them, recorded after the
    destination was created, within FORWARDING_LOST_LOOKBACK_HOURS and older than
    FORWARDING_LOST_AFTER_MINUTES (a younger one's fan-out job may still be on its way); and the
    time up to which every conversion has now been looked at.

    An earlier sweep's mark (kept in Redis, or in the process without it) narrows the look to what
    it has not seen, so each minute reads about a minute of conversions. When Redis loses its jobs
    it loses the mark with them (or the mark is older than the outage), and the next sweep reads
    the whole lookback again: about 1 s for 300,000 conversions on PostgreSQL, against a few
    milliseconds for a minute's (bench/lost_forwarding.py). One query per active destination, each
    index-backed on both databases: the creator's links (campaign_links.user_id), their
    conversions in the window ((campaign_link_id, converted_at)), each probed for a delivery (the
    unique (destination_id, conversion_id)). At most LOST_CONVERSIONS_BATCH per destination; the
    mark stops where a full batch stopped, so the next sweep takes the rest."""
    newest = now - lost_after()
    oldest = now - timedelta(hours=current_app.config["FORWARDING_LOST_LOOKBACK_HOURS"])
    mark = _checked_through()
    if mark is not None and oldest < mark <= newest:
        oldest = mark
    destinations = db.session.execute(
        select(
            ForwardingDestination.id,
            ForwardingDestination.user_id,
            ForwardingDestination.event_types,
            ForwardingDestination.created_at,
        )
        .where(ForwardingDestination.enabled.is_(True), ForwardingDestination.paused_at.is_(None))
        .order_by(ForwardingDestination.id)
    ).all()
    lost: dict[uuid.UUID, None] = {}
    checked_through = newest
    for destination_id, user_id, event_types, created_at in destinations:
        if not event_types or created_at > newest:
            continue
        found = db.session.execute(
            lost_for_destination(destination_id, user_id, event_types, max(oldest, created_at), newest)
        ).all()
        lost.update(dict.fromkeys(conversion_id for conversion_id, _ in found))
        if len(found) == LOST_CONVERSIONS_BATCH:
            checked_through = min(checked_through, found[-1].converted_at)
    db.session.commit()
    return list(lost), checked_through


CHECKED_THROUGH_KEY = "linktrack:forwarding:conversions-checked-through"


def _checked_through() -> datetime | None:
    redis = redis_connection()
    if redis is None:
        return current_app.extensions.get("linktrack_forwarding_checked_through")
    try:
        value = redis.get(CHECKED_THROUGH_KEY)
    except RedisError:
        return None
    return datetime.fromisoformat(value.decode()) if value else None


def _remember_checked_through(moment: datetime) -> None:
    redis = redis_connection()
    if redis is None:
        current_app.extensions["linktrack_forwarding_checked_through"] = moment
        return
    with suppress(RedisError):  # then the next sweep reads the whole lookback
        redis.set(CHECKED_THROUGH_KEY, moment.isoformat())


def lost_for_destination(destination_id: int, user_id: int, event_types: list[str], oldest: datetime, newest: datetime):
    """The SELECT for one destination (a statement, so the benchmark can EXPLAIN it)."""
    delivered = exists().where(
        ForwardingDelivery.destination_id == destination_id,
        ForwardingDelivery.conversion_id == ConversionEvent.id,
    )
    return (
        select(ConversionEvent.id, ConversionEvent.converted_at)
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .where(
            CampaignLink.user_id == user_id,
            ConversionEvent.event_type.in_(event_types),
            ConversionEvent.converted_at >= oldest,
            ConversionEvent.converted_at <= newest,
            ~delivered,
        )
        .order_by(ConversionEvent.converted_at)
        .limit(LOST_CONVERSIONS_BATCH)
    )


# ---- one try ---------------------------------------------------------------------------------


def _claim(delivery_id: int, now: datetime) -> bool:
    claimed = _move(delivery_id, ("queued",), "sending", now)
    db.session.commit()
    return claimed


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
        code, error, retry = None, NOT_SENT_INACTIVE, False
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
    status, user_id = delivery.status, destination.user_id
    metrics.forwarding_attempt(destination.kind, status)
    if status == "retrying":
        queue.enqueue("release_forwarding", user_id, at=delivery.next_attempt_at)
    release_deliveries(user_id)  # this try's slot goes to the creator's next delivery
    return status
