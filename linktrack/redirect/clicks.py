"""Click logging for the redirect: who clicked (without storing who), from what, and whether it counts.

What is stored for a click that reaches `record_click`:
- people: a row with is_bot=False; is_unique=False when the same visitor (same ip hash and user
  agent) clicked the same link in the previous hour.
- bots and link-preview unfurlers: a row with is_bot=True and is_unique=False. Every count
  excludes them (reports filter on is_bot); the rows are kept so a creator can see how much
  bot traffic was filtered out.
HEAD requests and prefetches never get here (`is_counted`): they store nothing. Their
redirect still carries a fresh tracking id, which has no click row, so a conversion
reported for it is refused like any unknown click.

The raw IP is never stored: `ip_hash` is an HMAC-SHA256 of the IP under a key derived from
SECRET_KEY and the UTC date, so hashes can be compared within a day but not across days, and
not at all without the secret. A visitor who clicks just before and just after midnight UTC
therefore counts as unique twice.

Storage: `record_click` builds the row in the request and hands it to this app's ClickWriter
(click_writer.py), which writes batches from a background thread every CLICK_FLUSH_SECONDS
(read its docstring for what that trades), or at once when the setting is 0. One INSERT per
click, executed for the whole batch in one transaction; the uniqueness check is a NOT EXISTS
subquery inside it, served by the (campaign_link_id, ip_hash, clicked_at) index, and repeats
within one batch are marked before it is sent. Two first clicks of one visitor written by two
processes at the same moment may both count as unique; that race is accepted rather than
paid for with a lock. The batch's transaction also stores an uncounted copy of each click; the
counting consumer adds those to the report counts, one run at a time for every process
(counting/consumer.py), so a batch never waits for a count row's lock.
"""

import hashlib
import hmac
import logging
import re
import uuid
from datetime import date, datetime
from functools import lru_cache

import ua_parser
from crawlerdetect import CrawlerDetect
from flask import current_app
from sqlalchemy import Boolean, and_, bindparam, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.datastructures import Headers

from .. import metrics
from ..counting.buffer import ClickWriter, WriteLater
from ..counting.consumer import CountingConsumer, consumer
from ..counting.counters import hold_clicks
from ..errors import is_database_unavailable
from ..extensions import db
from ..models import ClickEvent
from ..models.events import UNIQUE_WINDOW, seen_in_window, time_ordered_id

log = logging.getLogger(__name__)

MAX_USER_AGENT_LENGTH = 512  # real browsers send ~100-400 characters; the rest would only cost storage
MAX_REFERRER_LENGTH = 1024

# Link-preview fetchers ("unfurlers") that post a card when a link is pasted in a chat or feed.
# crawlerdetect knows them today; naming them keeps them out of counts if its list changes.
UNFURLERS = re.compile(
    r"Slackbot-LinkExpanding|Slack-ImgProxy|Discordbot|Twitterbot|facebookexternalhit|Facebot"
    r"|meta-externalagent|^WhatsApp/|TelegramBot|LinkedInBot",
    re.IGNORECASE,
)
# Headers browsers send when they fetch a page the user has not asked for (yet).
PREFETCH_HEADERS = (
    ("Purpose", "prefetch"),
    ("Sec-Purpose", "prefetch"),
    ("X-Moz", "prefetch"),
    ("X-Purpose", "preview"),
)

_crawler_detect = CrawlerDetect()


def is_counted(method: str, headers: Headers) -> bool:
    """Whether a request to a short link may become a click row: not HEAD and not a prefetch.

    Sec-Purpose may carry more than one token ("prefetch;prerender"), hence the substring test.
    """
    if method == "HEAD":
        return False
    return not any(expected in headers.get(name, "").lower() for name, expected in PREFETCH_HEADERS)


def is_bot(user_agent: str) -> bool:
    """Crawlers, monitors, scripts and unfurlers. A missing user agent counts as a bot: every browser sends one."""
    return describe_user_agent(user_agent)[3]


@lru_cache(maxsize=4096)
def describe_user_agent(user_agent: str) -> tuple[str, str | None, str | None, bool]:
    """(device_type, browser, os, is_bot) for a user agent. Cached: most clicks come from a few agents."""
    if not user_agent.strip():
        return "bot", None, None, True
    bot = bool(UNFURLERS.search(user_agent)) or _crawler_detect.is_crawler(user_agent)
    parsed = ua_parser.parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_name = parsed.os.family if parsed.os else "Other"
    return _device_type(user_agent, parsed, os_name, bot), browser[:50], os_name[:50], bot


def _device_type(user_agent: str, parsed: ua_parser.Result, os_name: str, bot: bool) -> str:
    """desktop, mobile, tablet or bot. ua-parser names devices, not kinds, so the kind is inferred:
    tablets by name, Android without "Mobile" (Google's convention for tablets), phones by OS or "Mobi"."""
    if bot:
        return "bot"
    device = parsed.device
    device_names = f"{device.family} {device.brand or ''}".lower() if device else ""
    if "ipad" in device_names or "tablet" in device_names or "kindle" in device_names:
        return "tablet"
    if os_name == "Android":
        return "mobile" if "Mobile" in user_agent else "tablet"
    if os_name in {"iOS", "Windows Phone", "BlackBerry OS", "KaiOS"} or "Mobi" in user_agent:
        return "mobile"
    return "desktop"


@lru_cache(maxsize=1024)
def hash_ip(ip: str, day: date, secret_key: str) -> str:
    """A keyed hash of `ip` that changes every UTC day; without SECRET_KEY it cannot be reversed or linked.

    Cached: a click asks twice (its short link's limit, limit.py, and its row), and a viewer's next
    clicks ask again; HMAC by digest name cost a click about 20 us each time under load. The cache
    lives in this process only; nothing raw is written anywhere.
    """
    keyed = _daily_hmac(secret_key, day).copy()
    keyed.update(ip.encode())
    return keyed.hexdigest()


def address_key(ip: str, day: date, secret_key: str) -> str:
    """A rate limit's name for `ip` on `day` (UTC): its daily keyed hash, shortened. What Redis keys
    and the limits' memory hold, never the raw IP."""
    return hash_ip(ip, day, secret_key)[:32]


@lru_cache(maxsize=4)
def _daily_hmac(secret_key: str, day: date) -> hmac.HMAC:
    daily_key = hmac.digest(secret_key.encode(), b"click-ip-hash:" + day.isoformat().encode(), "sha256")
    return hmac.new(daily_key, digestmod=hashlib.sha256)


_clicks = ClickEvent.__table__
_SEEN_IN_WINDOW = seen_in_window(
    _clicks, bindparam("seen_link_id"), bindparam("seen_ip_hash"), bindparam("seen_user_agent"), bindparam("seen_since")
)
# Built once: SQLAlchemy caches its compiled form. Executed with a batch of rows, which psycopg
# sends in one pipeline (a multi-row VALUES, SQLAlchemy's "insertmanyvalues", measured twice as
# costly per row here).
INSERT_CLICK = insert(_clicks).values(is_unique=and_(bindparam("may_be_unique", type_=Boolean), ~_SEEN_IN_WINDOW))


def record_click(
    campaign_link_id: uuid.UUID,
    tracking_id: uuid.UUID,
    *,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
    clicked_at: datetime,
) -> None:
    """Log one click. Never raises: the viewer is redirected whatever happens to our bookkeeping,
    and a click that cannot be stored is logged (here or when its batch is written)."""
    try:
        row = click_row(campaign_link_id, tracking_id, ip, user_agent, referrer, clicked_at)
        click_writer().submit(row)
    except Exception:
        log.exception("click on link %s not stored (tracking id %s)", campaign_link_id, tracking_id)


def click_row(campaign_link_id, tracking_id, ip, user_agent, referrer, clicked_at) -> dict:
    """The click_events values for one click (is_unique is decided when it is written)."""
    user_agent = (user_agent or "")[:MAX_USER_AGENT_LENGTH]
    device_type, browser, os_name, bot = describe_user_agent(user_agent)
    return {
        "id": time_ordered_id(clicked_at),
        "campaign_link_id": campaign_link_id,
        "tracking_id": tracking_id,
        "ip_hash": hash_ip(ip, clicked_at.date(), current_app.config["SECRET_KEY"]) if ip else None,
        "user_agent": user_agent or None,
        "referrer": referrer[:MAX_REFERRER_LENGTH] if referrer else None,
        "device_type": device_type,
        "browser": browser,
        "os": os_name,
        "is_bot": bot,
        "clicked_at": clicked_at,
    }


def flush_clicks() -> int:
    """Write this app's buffered clicks now (needs an app context). Returns how many were written."""
    return click_writer().flush()


def write_buffered_clicks() -> bool:
    """Store this process's clicks that are still waiting for their batch (needs an app context);
    whether there were any. A conversion for an unknown tracking id calls it before giving up
    (tracking/service.py): its click may be one of them."""
    return click_writer().write_submitted()


_EXTENSION_KEY = "linktrack_click_writer"


def click_writer_stalled(now: float) -> str | None:
    """Why this process's click writer is not keeping up (buffer.ClickWriter.stalled), or None;
    None too before this process's first click (needs an app context; opens nothing)."""
    writer = current_app.extensions.get(_EXTENSION_KEY)
    return writer.stalled(now) if writer is not None else None


def click_writer() -> ClickWriter:
    """This app's writer in this process (needs an app context)."""
    writer = current_app.extensions.get(_EXTENSION_KEY)
    if writer is None:
        engine, counter = db.engine, consumer()
        flush_seconds, count_seconds = (
            current_app.config["CLICK_FLUSH_SECONDS"],
            current_app.config["CLICK_COUNT_SECONDS"],
        )
        writer = current_app.extensions.setdefault(
            _EXTENSION_KEY,
            ClickWriter(
                lambda rows: store_and_count(engine, rows, counter, count_seconds), flush_seconds, lost=_log_lost
            ),
        )
    return writer


def store_and_count(engine: Engine, rows: list[dict], counter: CountingConsumer, within: float) -> None:
    """store_clicks, then ask the counting consumer to count them within `within` seconds (the
    click writer's `write`: it runs in the writer's thread, outside any app context)."""
    store_clicks(engine, rows)
    counter.count_within(within)


def store_clicks(engine: Engine, rows: list[dict]) -> None:
    """Insert `rows` in one transaction. If a row breaks a constraint (its link was deleted a
    moment ago), the others are written one by one so that row costs only itself. Whatever cannot
    be written is logged with its tracking ids, except when the database is unreachable: then
    WriteLater tells the click writer to hold the batch and try again."""
    params = [_insert_params(row, repeat) for row, repeat in zip(rows, _repeats_within(rows), strict=True)]
    try:
        _insert(engine, params)
        return
    except IntegrityError as exc:
        if len(rows) == 1:
            _log_lost(rows, exc)
            return
    except Exception as exc:
        if is_database_unavailable(exc):
            raise WriteLater(str(exc).splitlines()[0]) from exc
        _log_lost(rows, exc)  # e.g. the table is missing: no retry would help
        return
    failed = []
    for row, one in zip(rows, params, strict=True):
        try:
            _insert(engine, [one])
        except Exception as exc:
            failed.append((row, exc))
    if failed:
        _log_lost([row for row, _ in failed], failed[0][1])


TRANSIENT_RETRIES = 3  # a deadlock or serialization failure rolls the batch back whole: write it again


def _insert(engine: Engine, params: list[dict]) -> None:
    """The rows and their uncounted copies (counting/counters.hold_clicks), in one transaction: both
    or neither. No count row is touched here: the counting consumer adds them (counting/consumer.py),
    so click batches never wait on each other's locks."""
    for attempt in range(1, TRANSIENT_RETRIES + 1):
        try:
            with engine.begin() as connection:
                connection.execute(INSERT_CLICK, params)
                hold_clicks(connection, params)
            return
        except OperationalError as exc:
            if attempt == TRANSIENT_RETRIES or not _is_transient(exc):
                raise
            log.warning("click batch of %d rolled back (%s); writing it again", len(params), type(exc.orig).__name__)


def _is_transient(exc: OperationalError) -> bool:
    """PostgreSQL's deadlock and serialization failures (SQLSTATE 40xxx): retrying is safe."""
    return str(getattr(exc.orig, "sqlstate", "") or "").startswith("40")


def _log_lost(rows: list[dict], exc: Exception) -> None:
    metrics.clicks_dropped(len(rows))
    shown = ", ".join(str(row["tracking_id"]) for row in rows[:20])
    more = f" and {len(rows) - 20} more" if len(rows) > 20 else ""
    log.error("%d click(s) not stored: tracking ids %s%s", len(rows), shown, more, exc_info=exc)


def _repeats_within(rows: list[dict]) -> list[bool]:
    """For each row, whether an earlier row of the same batch is the same visitor on the same link
    within UNIQUE_WINDOW: the database cannot see those yet when it checks."""
    last_seen: dict[tuple, datetime] = {}
    repeats = []
    for row in rows:
        visitor = (row["campaign_link_id"], row["ip_hash"], row["user_agent"])
        previous = last_seen.get(visitor)
        repeats.append(previous is not None and previous > row["clicked_at"] - UNIQUE_WINDOW)
        if row["ip_hash"] and row["user_agent"]:
            last_seen[visitor] = row["clicked_at"]
    return repeats


def _insert_params(row: dict, repeat: bool) -> dict:
    return {
        **row,
        "may_be_unique": not (row["is_bot"] or repeat),
        "seen_link_id": row["campaign_link_id"],
        "seen_ip_hash": row["ip_hash"],
        "seen_user_agent": row["user_agent"],
        "seen_since": row["clicked_at"] - UNIQUE_WINDOW,
    }
