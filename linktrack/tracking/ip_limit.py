"""The per-IP limit on a landing page's conversions, counted in each process and added up in Redis
in batches: most conversions cost no Redis round trip.

Why: that round trip (Flask-Limiter's hit, one Lua call per conversion) was the largest single
cost of a conversion after PostgreSQL's own, in bench/conversions.py. A real landing page's
visitors each send a handful of conversions, far under the limit, so asking Redis about every one
of them buys nothing.

How it counts: fixed windows aligned to the clock (a minute's limit counts from :00 to :59), so
every process agrees on the window without asking. A process counts its hits for an address in
memory and adds them to the address's shared counter in Redis (INCRBY, one pipeline for every
address it holds) when it has held `push_every(limit)` of them, or PUSH_SECONDS after its last
push; each push tells it the shared totals. An address is refused when the shared total it last
heard plus what it holds reaches the limit, so refusals need no Redis at all.

What that costs in exactness: a process lets through at most `push_every(limit) - 1` hits beyond
what it has heard from the others. Limits under 2 x PUSH_FRACTION (32) push every hit, and are
exact: the hit is added in Redis before it is judged, as Flask-Limiter does. The default, 120 a
minute, may let 7 a process through beyond it; the limit exists to stop a flood, not to count.

The short links' limit per link and address (redirect/limit.py) is counted by the same class,
under its own key prefix, with addresses the caller has already hashed.

Without Redis (RATELIMIT_STORAGE_URI memory://), or while it fails, each process counts alone,
as Flask-Limiter's in-memory fallback does; after a failure Redis is left alone for
REDIS_REST_SECONDS, so a hung Redis costs one request a socket timeout, not every request.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem
from redis import Redis

log = logging.getLogger(__name__)

PUSH_SECONDS = 0.25
PUSH_FRACTION = 16  # a process holds at most limit / PUSH_FRACTION hits of one address unpushed
REDIS_REST_SECONDS = 30.0
KEY_PREFIX = "LIMITS:conversions-ip"


def push_every(limit: RateLimitItem) -> int:
    """How many hits of one address a process may hold before it adds them up in Redis."""
    return max(1, limit.amount // PUSH_FRACTION)


@dataclass
class _Count:
    window: int  # the window's number: seconds since the epoch // the limit's period
    heard: int = 0  # the shared total at this process's last push (its own pushed hits included)
    held: int = 0  # hits counted here and not pushed yet


class IpLimit:
    """One per process (its fast path holds it); safe across a gthread worker's threads."""

    def __init__(self, redis_url: str | None, redis_options: dict | None = None, key_prefix: str = KEY_PREFIX):
        self.key_prefix = key_prefix  # one per use (conversions, short links), so their counts never mix
        self._redis = Redis.from_url(redis_url, **(redis_options or {})) if redis_url else None
        self._counts: dict[tuple[RateLimitItem, str], _Count] = {}
        self._lock = threading.Lock()
        self._pushed_at = 0.0
        self._swept_at = 0.0
        self._resting_until = 0.0

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()

    def hit(self, limit: RateLimitItem, address: str) -> int | None:
        """Count one conversion from `address`; None if it is allowed, else the seconds until the
        window ends (the refusal's Retry-After)."""
        now = time.time()
        period = limit.get_expiry()
        window = int(now // period)
        retry_after = max(1, math.ceil((window + 1) * period - now))
        key = (limit, address)
        with self._lock:
            count = self._counts.get(key)
            if count is None or count.window != window:
                count = self._counts[key] = _Count(window)
            if count.heard + count.held >= limit.amount:
                return retry_after
            count.held += 1
            due = count.held >= push_every(limit) or now - self._pushed_at >= PUSH_SECONDS
        if due and self._push(now):
            with self._lock:
                if count.heard + count.held > limit.amount:
                    return retry_after  # this hit, added in Redis, went over: refused, and counted
        return None

    def _push(self, now: float) -> bool:
        """Add every held hit to the shared counters and hear their totals, in one round trip.
        False when there is no Redis to push to (none configured, or resting after a failure)."""
        with self._lock:
            if now - self._swept_at >= PUSH_SECONDS:
                self._swept_at = now
                # Windows that ended are dropped (their counters expire in Redis too), so memory
                # holds the addresses of the current windows only.
                self._counts = {
                    (limit, address): count
                    for (limit, address), count in self._counts.items()
                    if count.window >= now // limit.get_expiry()
                }
            self._pushed_at = now
            if self._redis is None or now < self._resting_until:
                return False
            pushing = [(key, count, count.held) for key, count in self._counts.items() if count.held]
            for _, count, held in pushing:
                count.held -= held
        if not pushing:
            return True
        pipeline = self._redis.pipeline(transaction=False)
        for (limit, address), count, held in pushing:
            name = f"{self.key_prefix}:{limit.amount}/{limit.get_expiry()}s:{address}:{count.window}"
            pipeline.incrby(name, held)
            # A relative expiry, read by Redis's clock: the window ends within a period of now.
            pipeline.expire(name, limit.get_expiry() + 1)
        try:
            totals = pipeline.execute()[::2]
        except Exception as exc:
            log.warning("conversion limits per IP counted in this process for %d s: %s", REDIS_REST_SECONDS, exc)
            self._resting_until = now + REDIS_REST_SECONDS
            with self._lock:
                for _, count, held in pushing:
                    count.held += held  # pushed after the rest, if their window is still open
            return False
        with self._lock:
            for (_, count, _), total in zip(pushing, totals, strict=True):
                count.heard = max(count.heard, total)
        return True
