"""Clicks filed as bots whose visitor converted: counted as people from then on.

Why: a headless browser or an in-app browser with an odd user agent is filed as a bot when it
clicks (redirect/clicks.py), yet a visitor who signs up or buys is a person. Left a bot, its
conversions had no click ("0 clicks, 1 purchase, 100% bot traffic"), rates passed 100% and the
funnel widened. So the counting run that counts a conversion (counters.count_uncounted), in its own
transaction, clears the bot flag of the conversion's click (keeping why and when:
bot_cleared_reason, bot_cleared_at), decides whether the click is unique as the redirect would
have for a person (models.events.seen_in_window), and:
- a click counted before moves from bot_clicks to clicks (and unique_clicks, and the breakdowns) on
  its day;
- a click taken by this same run is counted as a person;
- a click still uncounted has its uncounted copy changed, so the run that takes it counts a person.
The recount reads the flags of click_events, so it agrees. Limit: the stored device_type of such a
click stays 'bot' (the user agent is not parsed again here), so its device breakdown says 'bot'.
"""

from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from ..models import ClickEvent, ConversionEvent, UncountedClick
from ..models.base import utcnow
from ..models.events import BOT_CLEARED_CONVERTED, UNIQUE_WINDOW, seen_in_window, tracking_time_bounds

CLICKS = ClickEvent.__table__
UNCOUNTED_CLICKS = UncountedClick.__table__
CONVERSIONS = ConversionEvent.__table__
# What the counting needs of a cleared click (an UncountedClick's columns, besides is_bot and is_unique).
COUNTED_COLUMNS = ["campaign_link_id", "clicked_at", "referrer", "device_type", "browser", "os"]


def clear_converted_bots(connection: Connection, conversion_ids: list, taken: list) -> tuple[list, list]:
    """Clear the bot flag of the clicks of these conversions, in the caller's (the counting run's)
    transaction. Returns (`taken`, the uncounted clicks this run counts, with its cleared ones as
    people; the cleared clicks counted before, as people, whose bot count the caller moves)."""
    if not conversion_ids:
        return taken, []
    tracking_ids = connection.scalars(
        select(CONVERSIONS.c.tracking_id).where(CONVERSIONS.c.id.in_(conversion_ids)).distinct()
    ).all()
    if not tracking_ids:
        return taken, []
    bounds = [tracking_time_bounds(tracking_id) for tracking_id in tracking_ids]
    cleared = connection.execute(
        update(CLICKS)
        .where(
            CLICKS.c.tracking_id.in_(tracking_ids),
            # On PostgreSQL the partitions of these clicks' months only.
            CLICKS.c.clicked_at.between(min(since for since, _ in bounds), max(until for _, until in bounds)),
            CLICKS.c.is_bot.is_(True),
        )
        .values(is_bot=False, is_unique=False, bot_cleared_reason=BOT_CLEARED_CONVERTED, bot_cleared_at=utcnow())
        .returning(CLICKS.c.id, CLICKS.c.ip_hash, CLICKS.c.user_agent, *[CLICKS.c[name] for name in COUNTED_COLUMNS])
    ).all()
    if not cleared:
        return taken, []
    unique = {row.id for row in cleared if _is_unique(connection, row)}
    if unique:
        connection.execute(
            update(CLICKS)
            .where(CLICKS.c.id.in_(unique), CLICKS.c.clicked_at.between(*_span(cleared)))
            .values(is_unique=True)
        )
    still_uncounted = set(
        connection.scalars(
            update(UNCOUNTED_CLICKS)
            .where(UNCOUNTED_CLICKS.c.click_id.in_([row.id for row in cleared]))
            .values(is_bot=False, is_unique=UNCOUNTED_CLICKS.c.click_id.in_(unique))
            .returning(UNCOUNTED_CLICKS.c.click_id)
        ).all()
    )
    people = {row.id: _person(row, row.id in unique) for row in cleared}
    taken_ids = {row.click_id for row in taken}
    counted_before = [people[row.id] for row in cleared if row.id not in taken_ids | still_uncounted]
    return [people.get(row.click_id, row) for row in taken], counted_before


def _is_unique(connection: Connection, click) -> bool:
    """Whether the redirect would have counted this click as a unique person's."""
    seen = seen_in_window(
        CLICKS,
        click.campaign_link_id,
        click.ip_hash,
        click.user_agent,
        click.clicked_at - UNIQUE_WINDOW,
        click.clicked_at,
    )
    return not connection.scalar(select(seen))


def _span(rows) -> tuple:
    times = [row.clicked_at for row in rows]
    return min(times), max(times)


def _person(click, unique: bool) -> SimpleNamespace:
    """The cleared click as the counting reads an UncountedClick."""
    return SimpleNamespace(
        click_id=click.id, is_bot=False, is_unique=unique, **{name: getattr(click, name) for name in COUNTED_COLUMNS}
    )
