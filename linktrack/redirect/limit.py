"""The short links' limits per viewer address: clicks per link (SHORT_LINK_RATE_LIMIT_PER_IP) and
unknown codes looked up (SHORT_LINK_MISS_RATE_LIMIT_PER_IP).

Why: every click mints a tracking id, so without a limit one script could mint as many as it
likes, each a fresh allowance under the per-tracking-id conversion limit, and inflate the link's
clicks. Why these numbers ("120/minute;1200/hour" per link and address): a real viewer clicks a
link a few times; a shared address (a mobile carrier's NAT, a school) carries many viewers, and
two a second on one link, sustained for 10 minutes, is beyond what a creator's audience sends
through one address; a script minting ids at a useful rate is not.

Over the limit the viewer is still redirected (a real viewer behind a busy NAT must never be
stranded), to the plain destination: no tracking id is minted and no click is stored, so the
excess is neither counted nor attributable.

Unknown codes: each made-up code is a database query on every process it reaches (the link
cache remembers a miss, but a prober sends a new code each time). So an address may look up at
most SHORT_LINK_MISS_RATE_LIMIT_PER_IP unknown codes ("60/minute"); past it, a code this process
has not cached answers 429 without a query, until the window ends. Only misses count: a viewer
behind a busy NAT clicking real links is never limited by this, and a link cached here still
redirects. Bound: an address costs the database at most the limit's amount of miss queries per
window across all processes with Redis (each process refuses from what its own last miss heard,
so add at most one per process), or that many per process without Redis.

Clicks are counted by tracking/ip_limit.py's BatchedIpLimit (no Redis round trip per click: the
limit plus a few per process, its docstring says how many); misses by its IpLimit (one exact count
in Redis: a miss already costs a query, a round trip to Redis is cheaper). The address is
counted by its daily keyed hash (clicks.hash_ip), with the link's id for clicks, so no raw IP
reaches Redis or memory.
"""

import uuid
from datetime import date, datetime, timezone
from functools import lru_cache

from flask import current_app
from limits import RateLimitItem, parse_many

from ..links import cache
from ..links.cache import CachedLink
from ..tracking.ip_limit import BatchedIpLimit, IpLimit, limit_from_config
from .clicks import address_key

KEY_PREFIX = "LIMITS:short-link-ip"
MISS_KEY_PREFIX = "LIMITS:short-link-miss"
_EXTENSION_KEY = "linktrack_short_link_limit"
_MISS_EXTENSION_KEY = "linktrack_short_link_miss_limit"


class TooManyMisses(Exception):
    """This address looked up too many unknown codes: answer 429 with `retry_after`, without a query."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many unknown short codes; retry after {retry_after} s")
        self.retry_after = retry_after


@lru_cache(maxsize=16)
def parsed_limits(setting: str) -> tuple[RateLimitItem, ...]:
    """ "120/minute;1200/hour" (Flask-Limiter's syntax), parsed once per process."""
    return tuple(parse_many(setting))


def counts_click(link_id: uuid.UUID, ip: str | None, day: date) -> bool:
    """Count one click of `link_id` from `ip`; False when that address is over
    SHORT_LINK_RATE_LIMIT_PER_IP for this link (needs an app context)."""
    config = current_app.config
    if not ip or not config.get("RATELIMIT_ENABLED", True):
        return True
    limit = _app_limit(_EXTENSION_KEY, KEY_PREFIX, BatchedIpLimit)
    visitor = f"{link_id.hex}:{address_key(ip, day, config['SECRET_KEY'])}"
    return all(limit.hit(item, visitor) is None for item in parsed_limits(config["SHORT_LINK_RATE_LIMIT_PER_IP"]))


def find_link_for(short_code: str, ip: str | None, now: float) -> CachedLink | None:
    """links.cache.find_link, with the unknown-code limit of `ip` checked before a query and
    counted after a miss. Raises TooManyMisses (needs an app context)."""
    found = cache.cached(short_code, now)
    if found is not cache.NOT_CACHED:
        return found
    config = current_app.config
    if not ip or not config.get("RATELIMIT_ENABLED", True) or not cache.SHORT_CODE_SHAPE.fullmatch(short_code):
        return cache.load(short_code, now)
    limit = _app_limit(_MISS_EXTENSION_KEY, MISS_KEY_PREFIX, IpLimit)
    visitor = address_key(ip, datetime.fromtimestamp(now, timezone.utc).date(), config["SECRET_KEY"])
    items = parsed_limits(config["SHORT_LINK_MISS_RATE_LIMIT_PER_IP"])
    waits = [wait for item in items if (wait := limit.refused(item, visitor)) is not None]
    if waits:
        raise TooManyMisses(max(waits))
    link = cache.load(short_code, now)
    if link is None:
        for item in items:
            limit.hit(item, visitor)
    return link


def _app_limit(extension_key: str, key_prefix: str, kind: type[IpLimit] | type[BatchedIpLimit]):
    """This app's limit for one use, shared through Flask-Limiter's Redis when it has one."""
    limit = current_app.extensions.get(extension_key)
    if limit is None:
        limit = current_app.extensions.setdefault(
            extension_key, limit_from_config(kind, current_app.config, key_prefix=key_prefix)
        )
    return limit
