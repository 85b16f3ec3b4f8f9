"""The redirect's one cached lookup of a link by short code, and how an edit reaches every process.

Every process keeps the links it served in the last few seconds, so a popular link costs one
SELECT per process every LINK_TTL_SECONDS instead of one per click. Unknown codes are remembered
too (for MISS_TTL_SECONDS), so a burst of requests for one mistyped code is one query; a stream of
*different* unknown codes is bounded by the redirect's miss limit (redirect/limit.py), not here.

Links and misses are kept apart, each bounded (MAX_LINKS, MAX_MISSES): when full, the oldest
entry goes (entries live seconds, so oldest-stored is close enough to least-recently-used), so a
flood of made-up codes can never push the live links out, and nothing is cleared whole.

How fresh (the bound an operator can count on):
- Always: an edit, archive, restore or new link is seen by every process within LINK_TTL_SECONDS
  (a code remembered as unknown: MISS_TTL_SECONDS), and at once by the process that made it.
- With REDIS_URL: the links service calls `forget(code)` after its commit, which also publishes
  the code on a Redis channel (`channel_name`); a listener thread in every process drops it from
  that process's cache on hearing it, typically within a millisecond or two of the commit. The
  listener is started lazily by the first lookup in each process (so gunicorn's forked workers
  each get their own), reconnects after Redis restarts or goes silent (PING every PING_SECONDS),
  and empties its cache whenever it (re)subscribes, since it may have missed edits meanwhile.
  While Redis is away, the TTL bound above is what holds. A redirect never waits on Redis.
- A load that was running when an edit was heard is returned but not kept (the generation
  check), so a read from just before the commit cannot be cached after the invalidation.

The whole Location is precomputed with a placeholder for the tracking id (by urls.py, the one
query builder), so a click only fills in its id.

Freshness uses wall-clock time (time.time), not a monotonic clock, so tests can move it;
an entry stamped in the future (clock stepped back) counts as stale.
"""

import logging
import os
import re
import threading
import time
import uuid
import weakref
from dataclasses import dataclass

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.urls import iri_to_uri

from ..extensions import db, redis_connection
from ..models import CampaignLink
from .urls import UTM_FIELDS, utm_destination, with_query_params

log = logging.getLogger(__name__)

LINK_TTL_SECONDS = 5.0
MISS_TTL_SECONDS = 2.0
MAX_LINKS = 10_000  # live links kept per process; the oldest goes first
MAX_MISSES = 10_000  # unknown codes kept per process, apart from the links: probes cannot evict a link
SHORT_CODE_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # anything else cannot be a code: no query
CHANNEL = "linktrack:link-edits"  # + ":<redis db>": pub/sub channels are shared by every database
PING_SECONDS = 5.0  # the listener pings this often; silent for 3 pings: reconnect
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)  # waits between failed connections, then 5 s each

_EXTENSION_KEY = "linktrack_link_cache"
# Left as is by URL encoding, and never a real tracking id (those are UUIDs).
_TRACKING_ID_PLACEHOLDER = "ct-tracking-id-placeholder"
NOT_CACHED = object()  # `cached()`'s answer when the code must be looked up


@dataclass(frozen=True, slots=True)
class CachedLink:
    """What the redirect needs of a link, its Location precomputed up to the tracking id."""

    id: uuid.UUID
    destination: str  # destination_url with the link's UTM added where the URL does not set them
    location_template: str  # destination with both tracking parameters, the tracking id a placeholder
    archived: bool
    expires_at: float | None  # epoch seconds

    def is_gone(self, now: float) -> bool:
        """Archived or expired links answer 410."""
        return self.archived or (self.expires_at is not None and self.expires_at <= now)

    def plain_location(self) -> str:
        """The destination without tracking parameters (a viewer over the short links' limit)."""
        return iri_to_uri(self.destination)

    def location(self, tracking_id: uuid.UUID) -> str:
        """Where this click goes: the template with its tracking id, a string replace per click."""
        if self.location_template.count(_TRACKING_ID_PLACEHOLDER) == 1:
            return self.location_template.replace(_TRACKING_ID_PLACEHOLDER, str(tracking_id))
        # The destination itself contains the placeholder text: build the URL the long way.
        return iri_to_uri(
            with_query_params(self.destination, _tracking_params(self.id, str(tracking_id)), override=True)
        )


class LinkCache:
    """One app's cache in one process: links and misses, each a bounded dict of
    code -> (stored_at, fresh_until, link). Reads take no lock (a dict read is atomic); stores and
    evictions take one, so two threads never evict the same entry."""

    def __init__(self, redis_url: str | None):
        self.links: dict[str, tuple[float, float, CachedLink]] = {}
        self.misses: dict[str, tuple[float, float, None]] = {}
        self.generation = 0  # bumped by every invalidation heard: a load that overlaps one is not kept
        self._lock = threading.Lock()
        self._redis_url = redis_url
        self._listener: EditListener | None = None
        self._listener_pid = 0

    def cached(self, short_code: str, now: float):
        """The cached link, None for a cached miss, or NOT_CACHED."""
        if self._redis_url and self._listener_pid != os.getpid():
            self._start_listener()
        entry = self.links.get(short_code) or self.misses.get(short_code)
        if entry is not None and entry[0] <= now < entry[1]:
            return entry[2]
        return NOT_CACHED

    def store(self, short_code: str, link: CachedLink | None, now: float, generation: int) -> None:
        """Keep a load's answer, unless an invalidation was heard while it ran."""
        entries, ttl, most = (
            (self.links, LINK_TTL_SECONDS, MAX_LINKS) if link else (self.misses, MISS_TTL_SECONDS, MAX_MISSES)
        )
        with self._lock:
            if generation != self.generation:
                return
            other = self.misses if link else self.links
            other.pop(short_code, None)
            entries.pop(short_code, None)  # re-inserted last: the oldest-first order stays true
            while len(entries) >= most:
                del entries[next(iter(entries))]
            entries[short_code] = (now, now + ttl, link)

    def forget(self, short_code: str) -> None:
        with self._lock:
            self.generation += 1
            self.links.pop(short_code, None)
            self.misses.pop(short_code, None)

    def forget_all(self) -> None:
        with self._lock:
            self.generation += 1
            self.links.clear()
            self.misses.clear()

    def _start_listener(self) -> None:
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            # A fork copies the parent's entries but not its thread: start clean, with a listener of its own.
            self.generation += 1
            self.links.clear()
            self.misses.clear()
            self._listener = EditListener(self._redis_url, self)
            self._listener_pid = os.getpid()
        self._listener.start()

    def close(self) -> None:
        """Stop this process's listener (tests; a process that exits needs nothing: it is a daemon)."""
        if self._listener is not None:
            self._listener.stop()


def channel_name(client: Redis) -> str:
    """The link-edit channel of this Redis database: pub/sub channels are not per database, so two
    installations sharing a Redis (on different databases) never hear each other's edits."""
    return f"{CHANNEL}:{client.connection_pool.connection_kwargs.get('db', 0)}"


class EditListener:
    """A daemon thread subscribed to the link-edit channel, dropping each code it hears from its
    cache. It holds the cache weakly: an app that is gone (tests build many) ends its listener."""

    def __init__(self, redis_url: str, cache: LinkCache):
        self._redis_url = redis_url
        self._cache = weakref.ref(cache)
        self._stopped = threading.Event()
        self.subscribed = threading.Event()  # set while subscribed: edits are heard
        self._thread = threading.Thread(target=self._run, name="linktrack-link-edits", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=PING_SECONDS + 2)

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set() and self._cache() is not None:
            try:
                self._listen()
                failures = 0
            except (RedisError, OSError) as exc:
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                if failures == 0:
                    log.warning(
                        "link edits not heard from Redis (links stay cached %s s at most): %s", LINK_TTL_SECONDS, exc
                    )
                failures += 1
                self._stopped.wait(wait)
            finally:
                self.subscribed.clear()

    def _listen(self) -> None:
        client = Redis.from_url(self._redis_url, socket_connect_timeout=1, socket_timeout=PING_SECONDS)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(channel_name(client))
            heard_at = pinged_at = time.monotonic()
            while not self._stopped.is_set():
                message = pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if not self._hear(message):
                    return
                if message is not None:
                    heard_at = now
                if now - pinged_at >= PING_SECONDS:
                    pubsub.ping()
                    pinged_at = now
                if now - heard_at > 3 * PING_SECONDS:
                    raise RedisError(f"no answer from Redis for {3 * PING_SECONDS:.0f} s")
        finally:
            pubsub.close()
            client.close()

    def _hear(self, message: dict | None) -> bool:
        """Apply one message to the cache; False once the cache (its app) is gone. The cache is not
        held between messages, so a finished app can be collected and its listener end."""
        cache = self._cache()
        if cache is None:
            return False
        if message is not None and message["type"] == "message":
            cache.forget(message["data"].decode("utf-8", "replace"))
        elif message is not None and message["type"] == "subscribe":
            cache.forget_all()  # edits made while not subscribed were missed
            self.subscribed.set()
        return True


def find_link(short_code: str, now: float | None = None) -> CachedLink | None:
    """The link for `short_code` (live, archived or expired), or None when there is no such code."""
    now = time.time() if now is None else now
    found = cached(short_code, now)
    return load(short_code, now) if found is NOT_CACHED else found


def cached(short_code: str, now: float):
    """The cached answer for `short_code` (a CachedLink, or None for a cached miss), or NOT_CACHED
    when only `load` can tell: the redirect checks its miss limit in between (redirect/limit.py)."""
    return _cache().cached(short_code, now)


def load(short_code: str, now: float) -> CachedLink | None:
    """Look `short_code` up in the database (no query for a string that cannot be a code) and keep the answer."""
    if not SHORT_CODE_SHAPE.fullmatch(short_code):
        return None
    cache = _cache()
    generation = cache.generation
    link = _load(short_code)
    cache.store(short_code, link, now, generation)
    return link


def forget(short_code: str) -> None:
    """Drop `short_code` from every process's cache, so an edit, archive or new link shows at once
    here and, with REDIS_URL, within milliseconds elsewhere (LINK_TTL_SECONDS at worst).

    Call after the commit: a process that hears the code reloads it, and must read the new row.
    A Redis failure is logged, not raised: the edit is committed, and the TTL bound still holds.
    Needs an app context.
    """
    _cache().forget(short_code)
    client = redis_connection()
    if client is None:
        return
    try:
        client.publish(channel_name(client), short_code)
    except RedisError as exc:
        log.warning(
            "link %s changed; other processes see it within %s s (Redis: %s)", short_code, LINK_TTL_SECONDS, exc
        )


def link_cache() -> LinkCache:
    """This app's cache in this process (tests read its listener's state)."""
    return _cache()


def _cache() -> LinkCache:
    """One cache per app, so apps built side by side (tests) never share entries."""
    cache = current_app.extensions.get(_EXTENSION_KEY)
    if cache is None:
        cache = current_app.extensions.setdefault(_EXTENSION_KEY, LinkCache(current_app.config.get("REDIS_URL")))
    return cache


def _tracking_params(link_id: uuid.UUID, tracking_id: str) -> dict[str, str]:
    return {"ct_tracking_id": tracking_id, "ct_campaign_link_id": str(link_id)}


def _load(short_code: str) -> CachedLink | None:
    columns = [CampaignLink.id, CampaignLink.destination_url, CampaignLink.archived_at, CampaignLink.expires_at]
    utm_columns = [getattr(CampaignLink, field) for field in UTM_FIELDS]
    query = select(*columns, *utm_columns).where(CampaignLink.short_code == short_code)
    with db.engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    destination = utm_destination(row.destination_url, {field: getattr(row, field) for field in UTM_FIELDS})
    tracking = _tracking_params(row.id, _TRACKING_ID_PLACEHOLDER)
    return CachedLink(
        id=row.id,
        destination=destination,
        # URI-safe once here (as Flask's redirect would make it per request): the fast path sends it as is.
        location_template=iri_to_uri(with_query_params(destination, tracking, override=True)),
        archived=row.archived_at is not None,
        expires_at=row.expires_at.timestamp() if row.expires_at else None,
    )
