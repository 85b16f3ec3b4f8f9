"""Conversions: validation, the attribution window, idempotent recording (DESIGN.md §6).

The rules themselves (event types, revenue, the window) are in rules.py, written once; this
module applies them to a request body and a click, and stores what they let in.
"""

import functools
import json
import logging
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

from flask import current_app
from limits import RateLimitItem
from limits import parse as parse_limit
from sqlalchemy import select

from .. import queue
from ..counting.consumer import conversion_stored
from ..errors import ApiError
from ..extensions import db
from ..forwarding.deliveries import conversion_recorded
from ..models import CampaignLink, ClickEvent, ConversionEvent, utcnow
from ..redirect.clicks import write_buffered_clicks
from ..web.formatting import money, money_by_currency, single_currency_money
from .rules import (
    EVENT_TYPES,
    check_browser_revenue,
    check_currency_precision,
    check_origin,
    check_revenue,
    days_since_click,
    parse_currency,
    parse_revenue,
    require_origin,
    window_expires_at,
    within_window,
)
from .sightings import note_sighting
from .store import UNCOUNTED_PARAMS, PsycopgStore, SessionStore

log = logging.getLogger(__name__)

EVENT_DATA_MAX_BYTES = 4_096
EVENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")
SOURCES = ("browser", "server")
CONVERSION_MAX_BYTES = 16 * 1024  # a whole request body


@dataclass
class ConversionRequest:
    """A validated conversion body, before it meets the database."""

    tracking_id: uuid.UUID
    campaign_link_id: uuid.UUID
    event_type: str
    revenue_amount: Decimal | None
    currency: str
    event_data: dict | None
    event_id: str | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ClickContext:
    """What recording a conversion needs of its click and link: read as plain columns in one query."""

    clicked_at: datetime
    link_id: uuid.UUID
    user_id: int
    allowed_origins: list[str]
    window_days: int
    first_of_type: bool  # the visitor has no conversion of the requested type yet
    forwards: bool  # the link's creator has an active forwarding destination
    max_browser_revenue: Decimal | None  # the link's cap on a browser's revenue_amount


@dataclass
class RecordedConversion:
    conversion: ConversionEvent | SimpleNamespace  # the stored row, or the one just stored (its columns)
    click: ClickContext
    days_since_click: int
    warnings: list[str]
    created: bool  # False for an idempotent replay


def _uuid(body: dict, name: str) -> uuid.UUID:
    value = body.get(name)
    if value is None or value == "":
        raise ApiError(400, f"missing_{name}", f"'{name}' is required.", name)
    if not isinstance(value, str):
        raise ApiError(400, f"invalid_{name}", f"'{name}' must be a UUID string.", name)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, f"invalid_{name}", f"'{name}' must be a UUID.", name) from None


def validate_conversion(body: dict) -> ConversionRequest:
    """Check a conversion body field by field; the first failure raises ApiError with its field."""
    tracking_id = _uuid(body, "tracking_id")
    campaign_link_id = _uuid(body, "campaign_link_id")

    event_type = body.get("event_type")
    if event_type is None or event_type == "":
        raise ApiError(400, "missing_event_type", "'event_type' is required.", "event_type")
    if event_type not in EVENT_TYPES:
        raise ApiError(
            400, "invalid_event_type", f"'event_type' must be one of: {', '.join(EVENT_TYPES)}.", "event_type"
        )

    revenue = parse_revenue(body.get("revenue_amount"))
    warnings = check_revenue(event_type, revenue)

    currency = parse_currency(body.get("currency"))
    check_currency_precision(revenue, currency)

    event_data = body.get("event_data")
    if event_data is not None:
        if not isinstance(event_data, dict):
            raise ApiError(400, "invalid_event_data", "'event_data' must be a JSON object.", "event_data")
        if len(json.dumps(event_data, separators=(",", ":"))) > EVENT_DATA_MAX_BYTES:
            raise ApiError(
                413, "event_data_too_large", f"'event_data' must be under {EVENT_DATA_MAX_BYTES} bytes.", "event_data"
            )

    event_id = body.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not EVENT_ID_PATTERN.fullmatch(event_id)):
        raise ApiError(400, "invalid_event_id", "'event_id' must be 1-100 letters, digits or . _ : -", "event_id")

    return ConversionRequest(
        tracking_id=tracking_id,
        campaign_link_id=campaign_link_id,
        event_type=event_type,
        revenue_amount=revenue,
        currency=currency,
        event_data=event_data,
        event_id=event_id,
        warnings=warnings,
    )


def find_click(tracking_id: uuid.UUID) -> tuple[ClickEvent, CampaignLink] | None:
    """The click of `tracking_id` and its link: on PostgreSQL from one month's partition when the
    id is a UUIDv7 (ClickEvent.with_tracking_id)."""
    row = db.session.execute(
        select(ClickEvent, CampaignLink)
        .join(CampaignLink, CampaignLink.id == ClickEvent.campaign_link_id)
        .where(ClickEvent.with_tracking_id(tracking_id))
    ).first()
    return (row[0], row[1]) if row else None


def _stored(request: ConversionRequest, source: str) -> ConversionEvent | None:
    """The conversion this source stored under the request's event_id: another source's is never
    seen, so a browser can neither claim nor read an event id the creator's server sends."""
    if request.event_id is None:
        return None
    return db.session.scalar(
        select(ConversionEvent).where(
            ConversionEvent.tracking_id == request.tracking_id,
            ConversionEvent.source == source,
            ConversionEvent.event_id == request.event_id,
        )
    )


def same_conversion(stored: ConversionEvent, request: ConversionRequest) -> bool:
    """Whether a replay's body is the stored one's: the same link, type, amount, currency and
    event_data (tracking id, source and event id are the key itself). Amounts compare as numbers
    ("19" and 19.00 are one amount); warnings and the time of the call do not count."""
    return (
        stored.campaign_link_id == request.campaign_link_id
        and stored.event_type == request.event_type
        and stored.revenue_amount == request.revenue_amount
        and stored.currency == request.currency
        and (stored.event_data or None) == (request.event_data or None)
    )


def _replay_of(stored: ConversionEvent, request: ConversionRequest, click: "ClickContext", days: int):
    if not same_conversion(stored, request):
        raise ApiError(
            409,
            "idempotency_conflict",
            "This event_id was already used for a different conversion; send a new event_id.",
            "event_id",
        )
    return RecordedConversion(stored, click, days, [], created=False)


def tracking_id_limit() -> RateLimitItem | None:
    """CONVERSION_RATE_LIMIT_PER_TRACKING_ID, or None while rate limits are off.

    Counted from the visitor's stored conversions, in the query that reads their click: no counter
    to keep anywhere, the same for every process, and no Redis round trip (which cost a conversion
    a quarter of its CPU in bench/conversions.py). Refused and replayed calls store nothing, so
    they do not count; the per-IP limit is what stops a flood of those.
    """
    config = current_app.config
    if not config.get("RATELIMIT_ENABLED", True):
        return None
    return parsed_limit(config["CONVERSION_RATE_LIMIT_PER_TRACKING_ID"])


@functools.lru_cache(maxsize=16)
def parsed_limit(setting: str) -> RateLimitItem:
    """A limit setting ("30 per minute") as the limits library's item, parsed once per process."""
    return parse_limit(setting)


def record_conversion(
    body: dict,
    *,
    source: str = "browser",
    origin: str | None = None,
    owner_id: int | None = None,
    now: datetime | None = None,
    store: SessionStore | PsycopgStore | None = None,
) -> RecordedConversion:
    """Validate and store one conversion; a replay of a known event_id returns the stored one.

    `origin` (browser calls) is required and must be one of the link's allowed origins; a browser's
    amount is capped by the link's max_browser_revenue. `owner_id` (server
    calls with an API key) must own the link. Raises ApiError with a code and field otherwise.
    `store` runs the statements (store.py): the request's session unless the caller brings one.
    The report counts are added after the commit, by the counting consumer (counting/consumer.py).
    """
    request = validate_conversion(body)
    browser = source == "browser"
    if browser:
        require_origin(origin)
    store = store or SessionStore()
    # The window is decided by the database's clock (one clock for every host; CONVERSION_CLOCK),
    # read in the statement that reads the click, unless the caller says what time it is.
    database_clock = now is None and current_app.config.get("CONVERSION_CLOCK", "database") == "database"
    now = now or utcnow()
    limit = tracking_id_limit()
    since = now - timedelta(seconds=limit.get_expiry()) if limit else now
    conversion = SimpleNamespace(
        id=uuid.uuid4(),
        tracking_id=request.tracking_id,
        campaign_link_id=request.campaign_link_id,
        event_type=request.event_type,
        revenue_amount=request.revenue_amount,
        currency=request.currency,
        event_data=request.event_data,
        event_id=request.event_id,
        source=source,
        converted_at=now,
    )

    # The store reads the click's context; PostgreSQL's fast path also stores the conversion in the
    # same round trip when the rules below would let it in (they then explain a refusal).
    def read_or_record():
        return store.read_or_record(
            vars(conversion),
            origin=origin,
            owner_id=owner_id,
            limit_amount=limit.amount if limit else None,
            since=since,
            database_clock=database_clock,
        )

    row, stored = read_or_record()
    if row is None and write_buffered_clicks():
        row, stored = read_or_record()  # the click was still in this process's batch
    if row is None:
        raise unknown_tracking_id()
    click = ClickContext(row[0], row[1], row[2], row[3] or [], row[4], bool(row[5]), bool(row[6]), row[9])
    if database_clock:
        looked_back = now - since
        now = conversion.converted_at = row[10].astimezone(timezone.utc)  # what the statement stored, if it did
        since = now - looked_back
    if limit and row[7] >= limit.amount:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many conversions for this visitor: at most {limit}. Try again later.",
            retry_after=max(1, math.ceil((row[8] - since).total_seconds())),
        )
    if click.link_id != request.campaign_link_id:
        raise ApiError(
            422, "tracking_id_link_mismatch", "This tracking id belongs to another campaign link.", "campaign_link_id"
        )
    if owner_id is not None and click.user_id != owner_id:
        # A creator's key cannot report conversions for someone else's link; say "unknown", not
        # "forbidden", with the very answer an unknown id gets.
        raise unknown_tracking_id()
    if browser:
        check_origin(origin, click.allowed_origins)
        check_browser_revenue(request.revenue_amount, click.max_browser_revenue)

    days = days_since_click(click.clicked_at, now)
    if not within_window(click.clicked_at, click.window_days, now):
        # A replay of an event stored while the window was open still answers with it.
        if existing := _stored(request, source):
            return _replay_of(existing, request, click, days)
        raise ApiError(
            422,
            "attribution_window_expired",
            f"The click was {days} days ago; this link attributes conversions for {click.window_days} days.",
            "tracking_id",
        )

    if stored is None:
        stored = store.insert(
            {
                **vars(conversion),
                **{
                    UNCOUNTED_PARAMS["campaign_link_id"]: click.link_id,
                    UNCOUNTED_PARAMS["user_id"]: click.user_id,
                    UNCOUNTED_PARAMS["event_type"]: request.event_type,
                    UNCOUNTED_PARAMS["revenue_amount"]: request.revenue_amount,
                    UNCOUNTED_PARAMS["currency"]: request.currency,
                    UNCOUNTED_PARAMS["days_since_click"]: days,
                    UNCOUNTED_PARAMS["first_of_type"]: click.first_of_type,
                    UNCOUNTED_PARAMS["recorded_at"]: now,
                },
            }
        )
    if not stored:
        store.rollback()
        return _replay(request, source, click, days)
    store.commit()
    _after_commit(conversion.id, click.forwards)
    if browser:
        note_sighting(click.link_id, origin)  # throttled, never raises (sightings.py)
    return RecordedConversion(conversion, click, days, request.warnings, created=True)


UNKNOWN_TRACKING_ID_RETRY_SECONDS = 1


def unknown_tracking_id() -> ApiError:
    """422 unknown_tracking_id, with `Retry-After: 1`: clicks are stored behind the redirect in
    batches (CLICK_FLUSH_SECONDS, 0.1 s), so a conversion sent right after its click to another
    app process can arrive before the click is stored. That process cannot see the other's buffer
    (its own it writes out first: record_conversion), so the caller is told to send it again, with
    the same event_id: CampaignTracker retries after 0.25, 0.5, 1 and 2 s. A wait on the server
    was not chosen: a sync worker held for each unknown id would let anyone tie the workers up
    with made-up ids. An id still unknown after a few seconds is not a click of this linktrack."""
    return ApiError(
        422,
        "unknown_tracking_id",
        "No click has this tracking id. A click is stored within a second of its redirect: "
        "a conversion sent right after it may be sent again, with the same event_id.",
        "tracking_id",
        retry_after=UNKNOWN_TRACKING_ID_RETRY_SECONDS,
    )


def _after_commit(conversion_id: uuid.UUID, forwards: bool) -> None:
    """Count and forward a stored conversion. Never raises: the conversion is committed, so its
    request must answer with it, and a caller that retried would record it again."""
    try:
        conversion_stored()
        if forwards:
            conversion_recorded(conversion_id)
        else:
            queue.sweep_if_due_without_redis()
    except Exception:  # the minute sweep counts and forwards what is left (jobs.run_due_jobs)
        log.exception("conversion %s stored; counting or forwarding it now failed", conversion_id)


def _replay(request: ConversionRequest, source: str, click: ClickContext, days: int) -> RecordedConversion:
    """A replay (or two copies of one event racing): the unique (tracking_id, source, event_id)
    index kept the copy out, and the conversion stored first is the answer if the bodies match.
    Checking before the INSERT would cost every first delivery a query; replays are the rare case."""
    existing = _stored(request, source)
    if existing is None:
        raise ApiError(409, "conflict", "The conversion could not be stored; try again.")
    return _replay_of(existing, request, click, days)


def conversion_json(recorded: RecordedConversion) -> dict:
    """The answer to a conversion call. A replay answers only the id, type, status and amount:
    whoever replays an event id learns that it was stored, never its event_data or anything else."""
    c = recorded.conversion
    revenue = money(c.revenue_amount) if c.revenue_amount is not None else None
    if not recorded.created:
        return {"id": str(c.id), "event_type": c.event_type, "status": "duplicate", "revenue_amount": revenue}
    return {
        "id": str(c.id),
        "status": "recorded",
        "tracking_id": str(c.tracking_id),
        "campaign_link_id": str(c.campaign_link_id),
        "event_type": c.event_type,
        "revenue_amount": revenue,
        "currency": c.currency,
        "event_data": c.event_data,
        "event_id": c.event_id,
        "source": c.source,
        "converted_at": c.converted_at.isoformat(),
        "days_since_click": recorded.days_since_click,
        "window_expires_at": window_expires_at(recorded.click.clicked_at, recorded.click.window_days).isoformat(),
        "warnings": recorded.warnings,
    }


def attribution(tracking_id: uuid.UUID, owner_id: int, now: datetime | None = None) -> dict | None:
    """Everything known about one click's attribution, or None if it is not owner_id's."""
    found = find_click(tracking_id)
    if found is None or found[1].user_id != owner_id:
        return None
    click, link = found
    now = now or utcnow()
    conversions = list(
        db.session.scalars(
            select(ConversionEvent)
            .where(ConversionEvent.tracking_id == tracking_id)
            .order_by(ConversionEvent.converted_at)
        )
    )
    days = days_since_click(click.clicked_at, now)
    totals: dict[str, Decimal] = {}
    for c in conversions:
        if c.revenue_amount is not None:
            totals[c.currency] = totals.get(c.currency, Decimal("0")) + c.revenue_amount
    return {
        "tracking_id": str(click.tracking_id),
        "campaign_link_id": str(link.id),
        "clicked_at": click.clicked_at.isoformat(),
        "days_since_click": days,
        "window_days": link.attribution_window_days,
        "within_window": days <= link.attribution_window_days,
        "window_expires_at": window_expires_at(click.clicked_at, link.attribution_window_days).isoformat(),
        "conversions": [
            {
                "id": str(c.id),
                "event_type": c.event_type,
                "revenue_amount": money(c.revenue_amount) if c.revenue_amount is not None else None,
                "currency": c.currency,
                "event_id": c.event_id,
                "source": c.source,
                "converted_at": c.converted_at.isoformat(),
                "days_since_click": days_since_click(click.clicked_at, c.converted_at),
            }
            for c in conversions
        ],
        "total_revenue": single_currency_money(totals),
        "revenue_by_currency": money_by_currency(totals),
    }
