"""The short links' rate limit per link and viewer address: SHORT_LINK_RATE_LIMIT_PER_IP.

Why: every click mints a tracking id, so without a limit one script could mint as many as it
likes, each a fresh allowance under the per-tracking-id conversion limit, and inflate the link's
clicks. Why these numbers ("120/minute;1200/hour" per link and address): a real viewer clicks a
link a few times; a shared address (a mobile carrier's NAT, a school) carries many viewers, and
two a second on one link, sustained for 10 minutes, is beyond what a creator's audience sends
through one address; a script minting ids at a useful rate is not.

Over the limit the viewer is still redirected (a real viewer behind a busy NAT must never be
stranded), to the plain destination: no tracking id is minted and no click is stored, so the
excess is neither counted nor attributable. Counted by tracking/ip_limit.py's IpLimit (in the
process, added up in Redis in batches: no Redis round trip per click). The address is counted
by its daily keyed hash (clicks.hash_ip) with the link's id, so no raw IP reaches Redis or memory.
"""

import uuid
from datetime import date
from functools import lru_cache

from flask import current_app
from limits import RateLimitItem, parse_many

from ..tracking.ip_limit import IpLimit
from .clicks import hash_ip

KEY_PREFIX = "LIMITS:short-link-ip"
_EXTENSION_KEY = "linktrack_short_link_limit"


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
    limit = current_app.extensions.get(_EXTENSION_KEY)
    if limit is None:
        storage = config["RATELIMIT_STORAGE_URI"]
        shared = storage if storage.startswith(("redis://", "rediss://", "unix://")) else None
        limit = current_app.extensions.setdefault(
            _EXTENSION_KEY, IpLimit(shared, config.get("RATELIMIT_STORAGE_OPTIONS"), key_prefix=KEY_PREFIX)
        )
    visitor = f"{link_id.hex}:{hash_ip(ip, day, config['SECRET_KEY'])[:32]}"
    return all(limit.hit(item, visitor) is None for item in parsed_limits(config["SHORT_LINK_RATE_LIMIT_PER_IP"]))
