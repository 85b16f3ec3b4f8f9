"""The creator's day: which calendar day an instant falls on in the creator's time zone.

Every aggregate row's `day` (and so every report, chart, range and CSV) is a day in its creator's
time zone (users.time_zone, an IANA name; 'UTC' unless they chose another). `local_day` is the one
rule in Python (the counting consumer); dialect.local_day is the same rule in SQL (the recount), so
both put an event on the same day. Days, not UTC hours, because a zone such as Asia/Kolkata
(+05:30) starts its days on the half hour: hourly UTC counters could not give its days exactly.
"""

import functools
import os
import zoneinfo
from datetime import date, datetime, timezone

DEFAULT_TIME_ZONE = "UTC"
# The regions of the IANA names a creator chooses from (Area/Location), as YouTube Studio offers
# them: no POSIX-style, "Etc/GMT+5" (its sign is inverted) or country aliases.
_REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """The zones a creator can choose, sorted, UTC first: each once, by its current name."""
    aliases = _aliases()
    names = (name for name in zoneinfo.available_timezones() if name not in aliases and _offered(name))
    return (DEFAULT_TIME_ZONE, *sorted(names))


def canonical_time_zone(name: str | None) -> str | None:
    """The offered name of the zone `name` (an old alias such as Asia/Calcutta, which Chromium still
    reports for India, becomes Asia/Kolkata), or None when it is no zone a creator can choose."""
    name = _aliases().get(name, name)
    return name if name in _known() else None


def is_time_zone(name: str | None) -> bool:
    """Whether `name` is exactly one of the offered names."""
    return name in _known()


def _offered(name: str) -> bool:
    return "/" in name and name.split("/")[0] in _REGIONS


@functools.cache
def _aliases() -> dict[str, str]:
    """{old name: current name} from the tz database's links (tzdata.zi "L target alias" lines),
    where the system has that file; without it every name stays as it is."""
    for directory in zoneinfo.TZPATH:
        path = os.path.join(directory, "tzdata.zi")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as lines:
                links = (line.split()[1:3] for line in lines if line.startswith("L "))
                return {alias: target for target, alias in links if _offered(alias) and _offered(target)}
    return {}


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(time_zone_names())


@functools.lru_cache(maxsize=1024)
def zone_info(name: str) -> zoneinfo.ZoneInfo:
    """The zone called `name`, built once per process (a counting run asks for it per event)."""
    return zoneinfo.ZoneInfo(name)


def local_day(instant: datetime, zone: str) -> date:
    """The calendar day `instant` (timezone-aware) falls on in `zone`."""
    return instant.astimezone(zone_info(zone)).date()


def local_day_text(stored: str | None, zone: str | None) -> str | None:
    """local_day for SQLite's stored text ('YYYY-MM-DD HH:MM:SS[.ffffff]', UTC without a zone), as
    'YYYY-MM-DD': the SQL function dialect.py registers on every SQLite connection."""
    if stored is None or zone is None:
        return None
    instant = datetime.fromisoformat(stored).replace(tzinfo=timezone.utc)
    return local_day(instant, zone).isoformat()
