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

One INSERT per click: the uniqueness check is a NOT EXISTS subquery inside it, served by the
(campaign_link_id, ip_hash, clicked_at) index. Two simultaneous first clicks of one visitor
may both count as unique; that race is accepted rather than paid for with a lock.
"""

import hashlib
import hmac
import logging
import re
import uuid
from datetime import date, datetime, timedelta
from functools import lru_cache

import ua_parser
from crawlerdetect import CrawlerDetect
from flask import current_app
from sqlalchemy import Boolean, and_, bindparam, insert, select
from werkzeug.datastructures import Headers

from ..extensions import db
from ..models import ClickEvent

log = logging.getLogger(__name__)

UNIQUE_WINDOW = timedelta(hours=1)
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


def hash_ip(ip: str, day: date, secret_key: str) -> str:
    """A keyed hash of `ip` that changes every UTC day; without SECRET_KEY it cannot be reversed or linked."""
    return hmac.new(_daily_key(secret_key, day), ip.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def _daily_key(secret_key: str, day: date) -> bytes:
    return hmac.new(secret_key.encode(), b"click-ip-hash:" + day.isoformat().encode(), hashlib.sha256).digest()


_clicks = ClickEvent.__table__
_SEEN_IN_WINDOW = (
    select(_clicks.c.id)
    .where(
        _clicks.c.campaign_link_id == bindparam("seen_link_id"),
        _clicks.c.ip_hash == bindparam("seen_ip_hash"),
        _clicks.c.user_agent == bindparam("seen_user_agent"),
        _clicks.c.clicked_at > bindparam("seen_since"),
    )
    .exists()
)
# Built once: SQLAlchemy caches its compiled form, so a click pays only for the parameters.
INSERT_CLICK = insert(_clicks).values(is_unique=and_(bindparam("may_be_unique", type_=Boolean), ~_SEEN_IN_WINDOW))


def record_click(
    campaign_link_id: uuid.UUID,
    tracking_id: uuid.UUID,
    *,
    ip: str | None,
    user_agent: str | None,
    referrer: str | None,
    clicked_at: datetime,
) -> bool:
    """Store one click. Returns False, after logging why, when it could not be stored: the caller
    redirects either way, because a viewer must never see an error for our bookkeeping."""
    try:
        _insert_click(campaign_link_id, tracking_id, ip, user_agent, referrer, clicked_at)
    except Exception:
        log.exception("click on link %s not stored (tracking id %s)", campaign_link_id, tracking_id)
        return False
    return True


def _insert_click(campaign_link_id, tracking_id, ip, user_agent, referrer, clicked_at) -> None:
    user_agent = (user_agent or "")[:MAX_USER_AGENT_LENGTH]
    device_type, browser, os_name, bot = describe_user_agent(user_agent)
    ip_hash = hash_ip(ip, clicked_at.date(), current_app.config["SECRET_KEY"]) if ip else None
    params = {
        "id": uuid.uuid4(),
        "campaign_link_id": campaign_link_id,
        "tracking_id": tracking_id,
        "ip_hash": ip_hash,
        "user_agent": user_agent or None,
        "referrer": referrer[:MAX_REFERRER_LENGTH] if referrer else None,
        "device_type": device_type,
        "browser": browser,
        "os": os_name,
        "is_bot": bot,
        "clicked_at": clicked_at,
        "may_be_unique": not bot,
        "seen_link_id": campaign_link_id,
        "seen_ip_hash": ip_hash,
        "seen_user_agent": user_agent,
        "seen_since": clicked_at - UNIQUE_WINDOW,
    }
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # A click lost in a database crash (not a clean shutdown) is a fair price for not
            # waiting on a WAL flush in the viewer's redirect. Conversions keep full durability.
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        connection.execute(INSERT_CLICK, params)
