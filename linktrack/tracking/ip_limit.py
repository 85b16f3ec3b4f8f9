"""Limits per (hashed) address, shared by every process through Redis, in two ways.

`IpLimit`, exact: the landing page's conversions per IP (CONVERSION_RATE_LIMIT_PER_IP) and the
unknown short codes per IP (redirect/limit.py). Bound, whatever the number of processes and hosts:
- With Redis: one counter per limit and address, INCR'd atomically (one Lua call, one round trip)
  before the hit is judged, its window started by the first hit and timed by Redis's own clock (the
  key's expiry), so hosts whose clocks disagree still share one window. At most `limit.amount` hits
  are let through per window of `limit` seconds, for 1 process or 100. As with any fixed window
  (Flask-Limiter's default too), two windows back to back can let up to 2 x amount through in one
  period-long span that straddles them.
- An address already heard over the limit is refused from memory until its window ends (Redis's
  TTL, heard with the count): a flood costs Redis one call per process and window, not one per hit.
- Without Redis (RATELIMIT_STORAGE_URI memory://), or while it fails, each process counts alone in
  windows aligned to its clock, as Flask-Limiter's in-memory fallback does: processes x amount.
  After a failure Redis is left alone for REDIS_REST_SECONDS, so a hung Redis costs one request a
  socket timeout, not every request.
Cost: one Redis round trip per counted hit (bench/README.md, "Cross-host": about 0.3 ms of CPU per
conversion on the loaded 2-CPU machine). The batched design it replaces for conversions let each
process through amount/16 beyond the limit: 40 processes were about 3x the limit.

`BatchedIpLimit`, cheap: the short links' clicks per link and IP (redirect/limit.py), where a
round trip per click would cost the redirect more than the rest of it (bench/cross_host.py). Each
process counts in memory and adds up in Redis every amount/16 hits or PUSH_SECONDS; its bound
grows with the processes (its docstring), which is acceptable for a limit whose excess is only
left untracked, never refused.

Addresses reach this module already hashed by the caller (redirect/clicks.hash_ip, the daily keyed
hash): Redis keys never hold a raw IP. The hash changes at 00:00 UTC, so a window open at midnight
lets an address start again.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem
from redis import Redis

log = logging.getLogger(__name__)

REDIS_REST_SECONDS = 30.0
PUSH_SECONDS = 0.25  # BatchedIpLimit: held hits are pushed at least this often
PUSH_FRACTION = 16  # BatchedIpLimit: a process holds at most limit / PUSH_FRACTION hits of one address unpushed
SWEEP_SECONDS = 1.0  # ended windows are dropped from memory at most this often
KEY_PREFIX = "LIMITS:conversions-ip"

# INCR the window's counter, starting its window (expiry) at the first hit; answer the count and
# the milliseconds left. A counter without an expiry (never, short of a failed PEXPIRE) gets one.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if n == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


@dataclass
class _Heard:
    count: int  # the shared count after this process's last hit (or its own count, without Redis)
    until: float  # when the window ends (epoch seconds)


class IpLimit:
    """One per process and use (conversions, short links); safe across a gthread worker's threads."""

    def __init__(self, redis_url: str | None, redis_options: dict | None = None, key_prefix: str = KEY_PREFIX):
        self.key_prefix = key_prefix  # one per use, so their counts never mix
        self._redis = Redis.from_url(redis_url, **(redis_options or {})) if redis_url else None
        self._hit_script = self._redis.register_script(_HIT) if self._redis is not None else None
        self._shared: dict[tuple[RateLimitItem, str], _Heard] = {}  # what Redis last said
        self._local: dict[tuple[RateLimitItem, str], _Heard] = {}  # counted here (no Redis, or resting)
        self._lock = threading.Lock()
        self._swept_at = 0.0
        self._resting_until = 0.0

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()

    def key(self, limit: RateLimitItem, address: str) -> str:
        """The Redis key of `address`'s counter for `limit`."""
        return f"{self.key_prefix}:{limit.amount}/{limit.get_expiry()}s:{address}"

    def refused(self, limit: RateLimitItem, address: str) -> int | None:
        """Whether `address` is over `limit` as last heard, without counting or asking Redis: the
        seconds until its window ends, or None. For a caller that counts only some requests
        (redirect/limit.py counts unknown codes) and must decide before it knows which."""
        now = time.time()
        heard = (self._local if self._resting(now) else self._shared).get((limit, address))
        if heard is not None and now < heard.until and heard.count >= limit.amount:
            return max(1, math.ceil(heard.until - now))
        return None

    def hit(self, limit: RateLimitItem, address: str) -> int | None:
        """Count one hit from `address`; None if it is allowed, else the seconds until the window
        ends (the refusal's Retry-After)."""
        now = time.time()
        self._sweep(now)
        if self._resting(now):
            return self._hit_locally(limit, address, now)
        key = (limit, address)
        heard = self._shared.get(key)
        if heard is not None and now < heard.until and heard.count >= limit.amount:
            return max(1, math.ceil(heard.until - now))  # refused without asking: the window is spent
        period_ms = limit.get_expiry() * 1000
        try:
            count, ttl_ms = self._hit_script(keys=[self.key(limit, address)], args=[period_ms])
        except Exception as exc:
            log.warning("limits per address counted in each process for %d s: %s", REDIS_REST_SECONDS, exc)
            self._resting_until = now + REDIS_REST_SECONDS
            return self._hit_locally(limit, address, now)
        with self._lock:
            self._shared[key] = _Heard(count, now + ttl_ms / 1000)
        return None if count <= limit.amount else max(1, math.ceil(ttl_ms / 1000))

    def _resting(self, now: float) -> bool:
        return self._redis is None or now < self._resting_until

    def _hit_locally(self, limit: RateLimitItem, address: str, now: float) -> int | None:
        """This process alone, in windows aligned to its clock (a minute's from :00 to :59)."""
        period = limit.get_expiry()
        until = (now // period + 1) * period
        key = (limit, address)
        with self._lock:
            heard = self._local.get(key)
            if heard is None or heard.until != until:
                heard = self._local[key] = _Heard(0, until)
            if heard.count >= limit.amount:
                return max(1, math.ceil(until - now))
            heard.count += 1
        return None

    def _sweep(self, now: float) -> None:
        """Drop ended windows, so memory holds the addresses of the current windows only."""
        if now - self._swept_at < SWEEP_SECONDS:
            return
        with self._lock:
            self._swept_at = now
            for counts in (self._shared, self._local):
                for key in [key for key, heard in counts.items() if heard.until <= now]:
                    del counts[key]


def limit_from_config(kind, config, **options):
    """An IpLimit or BatchedIpLimit (`kind`) shared through Flask-Limiter's Redis when its storage is
    one (RATELIMIT_STORAGE_URI), else counted in this process alone."""
    storage = config["RATELIMIT_STORAGE_URI"]
    shared = storage if storage.startswith(("redis://", "rediss://", "unix://")) else None
    return kind(shared, config.get("RATELIMIT_STORAGE_OPTIONS"), **options)


def push_every(limit: RateLimitItem) -> int:
    """How many hits of one address a process may hold before it adds them up in Redis."""
    return max(1, limit.amount // PUSH_FRACTION)


@dataclass
class _Count:
    window: int  # the window's number: seconds since the epoch // the limit's period
    heard: int = 0  # the shared total at this process's last push (its own pushed hits included)
    held: int = 0  # hits counted here and not pushed yet


class BatchedIpLimit:
    """Counted in each process, added up in Redis in batches: no round trip per hit, for the
    redirect (the short links' limit per link and address). Bound: the limit plus, per process, up to
    push_every(limit) - 1 hits beyond what it has heard from the others (6 at 120 a minute); limits
    under 2 x PUSH_FRACTION push every hit and are exact. One per process; thread-safe."""

    def __init__(self, redis_url: str | None, redis_options: dict | None, key_prefix: str):
        self.key_prefix = key_prefix
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
        """Count one hit from `address`; None if it is allowed, else the seconds until the
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
            log.warning("limits per address counted in each process for %d s: %s", REDIS_REST_SECONDS, exc)
            self._resting_until = now + REDIS_REST_SECONDS
            with self._lock:
                for _, count, held in pushing:
                    count.held += held  # pushed after the rest, if their window is still open
            return False
        with self._lock:
            for (_, count, _), total in zip(pushing, totals, strict=True):
                count.heard = max(count.heard, total)
        return True
