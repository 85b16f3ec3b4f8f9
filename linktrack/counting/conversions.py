"""Adding recorded conversions to the report counts, in batches after their commit.

Why: every conversion of a link on one day adds to the same few count rows (its day, month and
creator's day). Counted inside each conversion's transaction, those row locks were held until
its commit, so a busy link's conversions queued behind each other (bench/conversions.py: about
400 conversions/s at most, whatever the app did). Now a conversion's transaction only inserts
its own rows, one of them an UncountedConversion; this process's writer (the click writer's
batching, counting/buffer.py) counts its conversions every CONVERSION_COUNT_SECONDS (1 s) in
one transaction, and `count_leftovers` (every minute, jobs.run_due_jobs) counts those a process
recorded but never counted (it was killed, or the database refused the batch).

Reports may trail a conversion by that interval; nothing is lost or counted twice, because
counting a conversion and deleting its UncountedConversion row commit together
(counting/counters.add_conversions). Why a second and not the clicks' 0.1 s: a batch costs
about as much CPU whatever its size (measured in bench/conversions.py, batches every 0.1 s took a
quarter of a worker's CPU). With CONVERSION_COUNT_SECONDS 0 (the tests) each
conversion is counted right after its commit, inside its request.
"""

import logging
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy.engine import Engine

from ..errors import is_database_unavailable
from ..extensions import db
from ..models import utcnow
from .buffer import ClickWriter, WriteLater
from .counters import add_conversions

log = logging.getLogger(__name__)

LEFTOVER_AFTER = timedelta(seconds=30)  # an uncounted conversion this old lost its process's batch
LEFTOVER_BATCH = 1_000
_EXTENSION_KEY = "linktrack_conversion_counter"


def count_later(conversion_id: uuid.UUID) -> None:
    """Hand a committed conversion to this process's counter (needs an app context); never raises."""
    try:
        conversion_counter().submit({"conversion_id": conversion_id})
    except Exception:  # the row stays uncounted; count_leftovers adds it within a minute or two
        log.exception("conversion %s left for the leftover count", conversion_id)


def conversion_counter() -> ClickWriter:
    """This app's conversion counter in this process (needs an app context)."""
    writer = current_app.extensions.get(_EXTENSION_KEY)
    if writer is None:
        engine = db.engine
        writer = current_app.extensions.setdefault(
            _EXTENSION_KEY,
            ClickWriter(
                lambda rows: _count(engine, rows),
                current_app.config["CONVERSION_COUNT_SECONDS"],
                lost=_left,
                rows_name="conversions to count",
            ),
        )
    return writer


def conversion_counter_stalled(now: float) -> str | None:
    """Why this process's conversion counter is not keeping up (buffer.ClickWriter.stalled), or None;
    None too before this process's first conversion (needs an app context; opens nothing)."""
    writer = current_app.extensions.get(_EXTENSION_KEY)
    return writer.stalled(now) if writer is not None else None


def flush_conversion_counts() -> int:
    """Count this process's pending conversions now (needs an app context). Returns how many it
    handed over; those already counted elsewhere (by the minute sweep) are not counted again."""
    return conversion_counter().flush()


def count_leftovers() -> int:
    """Count conversions recorded over LEFTOVER_AFTER ago and still uncounted. Returns how many."""
    counted = 0
    while True:
        with db.engine.begin() as connection:
            batch = add_conversions(connection, recorded_before=utcnow() - LEFTOVER_AFTER, limit=LEFTOVER_BATCH)
        counted += batch
        if batch < LEFTOVER_BATCH:
            break
    if counted:
        log.warning("%d conversion(s) counted late, their process's batch never ran", counted)
    return counted


def _count(engine: Engine, rows: list[dict]) -> None:
    try:
        with engine.begin() as connection:
            add_conversions(connection, [row["conversion_id"] for row in rows], limit=len(rows))
    except Exception as exc:
        if is_database_unavailable(exc):
            raise WriteLater(str(exc).splitlines()[0]) from exc
        raise


def _left(rows: list[dict], exc: Exception) -> None:
    log.warning("%d conversion(s) left for the leftover count: %s", len(rows), exc)
