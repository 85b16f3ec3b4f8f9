"""click_events' monthly partitions on PostgreSQL: the 0015 migration on a live table, and a night's
cleanup over a partitioned table (bench/README.md, "Partitions").

    .venv/bin/python -m bench.partitions --migration-rows 5000000 --cleanup-rows 20000000

migration: the database at 0013 with `--migration-rows` clicks (UUIDv4 ids over 180 days, made by
generate_series in SQL), then `flask db upgrade` to head while a writer inserts a click every 10 ms
on its own connection, as the redirect would: the migration's time, and the writer's slowest
insert (how long the migration held clicks back). Every row is counted before and after.

cleanup: a partitioned table laid out as a year of nightly runs leaves it: `--cleanup-rows` clicks
over 120 days (UUIDv7 ids of their times), those older than the 90-day retention already stripped,
the cleanup cursor at the last of them. One night's run (it strips the clicks that passed 90 days
since) is timed beside the read the old cleanup made every night: every click past retention,
checked for personal data (here a sequential scan, its lower bound: the old walk went by the
random UUIDv4 id order). Then the first night after the migration (no cursor: every click past
retention still personal, --catch-up-days of them) is timed within CLEANUP_MAX_SECONDS.

Database: BENCH_PARTITIONS_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench_partitions),
dropped and made again by each phase: never point it at a database you care about.
"""

import argparse
import os
import statistics
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import time_machine
from sqlalchemy.engine import make_url

from bench.common import bench_app

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_partitions"
LINKS = 100
CHUNK = 1_000_000  # rows per generating statement
RETENTION_DAYS = 90
SPAN_DAYS = 120
QUIET_SECONDS = 12  # the reference writer runs about as long as the migration of 5 M rows


def _connect(url: str, dbname: str | None = None) -> psycopg.Connection:
    target = make_url(url)
    return psycopg.connect(
        host=target.host, port=target.port, user=target.username, dbname=dbname or target.database, autocommit=True
    )


def fresh_database(url: str) -> None:
    name = make_url(url).database
    with _connect(url, "postgres") as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def migrate(url: str, revision: str = "head", at: datetime | None = None) -> float:
    from flask_migrate import upgrade

    app = bench_app(url)
    started = time.perf_counter()
    with app.app_context():
        if at is None:
            upgrade(revision=revision)
        else:
            with time_machine.travel(at, tick=True):
                upgrade(revision=revision)
        from linktrack.extensions import db

        db.engine.dispose()
    return time.perf_counter() - started


def seed_links(connection: psycopg.Connection) -> None:
    connection.execute(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES (1, 'bench@example.com', 'x', now())"
    )
    connection.execute(
        "INSERT INTO campaign_links (id, user_id, short_code, video_id, video_url, destination_url,"
        " attribution_window_days, allowed_origins, created_at, updated_at)"
        " SELECT gen_random_uuid(), 1, 'b' || g, 'dQw4w9WgXcQ', 'https://youtu.be/dQw4w9WgXcQ',"
        f" 'https://shop.example.com', 30, '[]', now(), now() FROM generate_series(1, {LINKS}) g"
    )


def uuid7_sql(moment: str) -> str:
    """A UUIDv7 of timestamp expression `moment`, in SQL (PostgreSQL 15 has no uuidv7())."""
    random_hex = "replace(gen_random_uuid()::text, '-', '')"
    millis = f"lpad(to_hex((extract(epoch FROM {moment}) * 1000)::bigint), 12, '0')"
    return f"({millis} || '7' || substr({random_hex}, 14, 3) || substr({random_hex}, 17, 16))::uuid"


def generate_clicks(
    connection: psycopg.Connection, rows: int, span_days: int, *, time_ordered: bool, stripped_before_days=None
) -> float:
    """`rows` clicks spread evenly over the last `span_days` days, newest last; returns seconds."""
    started = time.perf_counter()
    now = connection.execute("SELECT now()").fetchone()[0]
    for first in range(1, rows + 1, CHUNK):
        last = min(first + CHUNK - 1, rows)
        at = f"(timestamptz '{now.isoformat()}' - ((1 - g::float8 / {rows}) * interval '{span_days} days'))"
        personal = "true" if stripped_before_days is None else f"{at} >= now() - interval '{stripped_before_days} days'"
        id_sql = uuid7_sql(at) if time_ordered else "gen_random_uuid()"
        connection.execute(
            "INSERT INTO click_events (id, campaign_link_id, tracking_id, ip_hash, user_agent, referrer,"
            " device_type, browser, os, is_bot, is_unique, clicked_at)"
            f" SELECT {id_sql}, links.ids[1 + g % {LINKS}], {id_sql},"
            f" CASE WHEN {personal} THEN md5(g::text) || md5((g + 1)::text) END,"
            f" CASE WHEN {personal} THEN 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0' END,"
            f" CASE WHEN {personal} THEN 'https://www.youtube.com/watch?v=' || (g % 997)"
            " ELSE 'https://www.youtube.com' END,"
            f" 'desktop', 'Chrome', 'Windows', false, true, {at}"
            f" FROM generate_series({first}, {last}) g, (SELECT array_agg(id) AS ids FROM campaign_links) links"
        )
    connection.execute("VACUUM ANALYZE click_events")
    return time.perf_counter() - started


class LiveWriter(threading.Thread):
    """Inserts a click every 10 ms on its own connection, recording each insert's latency."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with _connect(self.url) as connection:
            link = connection.execute("SELECT id FROM campaign_links LIMIT 1").fetchone()[0]
            while not self.stop.is_set():
                started = time.perf_counter()
                connection.execute(
                    "INSERT INTO click_events (id, campaign_link_id, tracking_id, is_bot, is_unique, clicked_at)"
                    " VALUES (gen_random_uuid(), %s, gen_random_uuid(), false, true, now())",
                    (link,),
                )
                self.latencies.append(time.perf_counter() - started)
                self.stop.wait(0.01)


def count(url: str) -> int:
    with _connect(url) as connection:
        return connection.execute("SELECT count(*) FROM click_events").fetchone()[0]


def migration_phase(url: str, rows: int) -> None:
    fresh_database(url)
    migrate(url, "0013_sessions_that_end")
    with _connect(url) as connection:
        seed_links(connection)
        generated = generate_clicks(connection, rows, 180, time_ordered=False)
    print(f"migration: {rows:,} clicks generated in {generated:.0f} s")
    quiet = LiveWriter(url)  # the reference: the same writer with no migration running
    quiet.start()
    time.sleep(QUIET_SECONDS)
    quiet.stop.set()
    quiet.join()
    writer = LiveWriter(url)
    writer.start()
    time.sleep(1)
    before = count(url)
    seconds = migrate(url)
    time.sleep(1)
    writer.stop.set()
    writer.join()
    after = count(url)
    with _connect(url) as connection:
        partitions = connection.execute(
            "SELECT string_agg(inhrelid::regclass::text, ', ' ORDER BY inhrelid::regclass::text)"
            " FROM pg_inherits WHERE inhparent = 'click_events'::regclass"
        ).fetchone()[0]
    inserted = len(writer.latencies)
    worst = max(writer.latencies) * 1000
    typical = statistics.median(writer.latencies) * 1000
    print(f"migration 0013 -> head over {rows:,} rows: {seconds:.1f} s")
    print(f"live writer: {inserted} inserts, median {typical:.1f} ms, slowest {worst:.0f} ms")
    quiet_worst = max(quiet.latencies) * 1000
    quiet_typical = statistics.median(quiet.latencies) * 1000
    print(f"reference, no migration ({QUIET_SECONDS} s): median {quiet_typical:.1f} ms, slowest {quiet_worst:.0f} ms")
    print(f"rows: {before:,} before (at the writer's start), {after:,} after; partitions: {partitions}")


def cleanup_phase(url: str, rows: int, catch_up_days: float, max_seconds: float) -> None:
    from sqlalchemy import text

    from linktrack.extensions import db
    from linktrack.models import CleanupCursor
    from linktrack.tracking.cleanup import ANONYMISATION_CURSOR, run_cleanup
    from linktrack.tracking.partitions import create_click_partitions, month_start, next_month

    fresh_database(url)
    now = datetime.now(timezone.utc)
    first_month = month_start((now - timedelta(days=SPAN_DAYS + 31)).date())
    # Migrated long ago: the partition of clicks from before it is empty, the months have their own.
    migrate(url, at=datetime.combine(first_month, datetime.min.time(), timezone.utc) - timedelta(days=1))
    app = bench_app(url, {"CLICK_PII_RETENTION_DAYS": RETENTION_DAYS, "CLEANUP_MAX_SECONDS": max_seconds})
    with app.app_context():
        month = first_month
        while month <= now.date():
            create_click_partitions(datetime.combine(month, datetime.min.time(), timezone.utc))
            month = next_month(month)
        db.engine.dispose()
    with _connect(url) as connection:
        seed_links(connection)
        generated = generate_clicks(
            connection, rows, SPAN_DAYS, time_ordered=True, stripped_before_days=RETENTION_DAYS + 1
        )
        size = connection.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits"
            " WHERE inhparent = 'click_events'::regclass"
        ).fetchone()
        partitions = connection.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'click_events'::regclass"
        ).fetchone()[0]
    print(f"cleanup: {rows:,} clicks over {SPAN_DAYS} days generated in {generated:.0f} s ({partitions} partitions)")

    cutoff_sql = f"now() - interval '{RETENTION_DAYS} days'"
    with app.app_context():
        last_stripped = db.session.execute(
            text(
                "SELECT clicked_at, id FROM click_events WHERE user_agent IS NULL AND clicked_at >= now() - interval"
                f" '{SPAN_DAYS} days' ORDER BY clicked_at DESC, id DESC LIMIT 1"
            )
        ).one()
        db.session.merge(
            CleanupCursor(name=ANONYMISATION_CURSOR, clicked_at=last_stripped[0], click_id=last_stripped[1])
        )
        db.session.commit()
        started = time.perf_counter()
        old_read = db.session.execute(
            text(
                f"SELECT count(*) FROM click_events WHERE clicked_at < {cutoff_sql}"
                " AND (user_agent IS NOT NULL OR ip_hash IS NOT NULL OR referrer LIKE '%/watch%')"
            )
        ).scalar_one()
        old_seconds = time.perf_counter() - started
        started = time.perf_counter()
        night = run_cleanup()
        night_seconds = time.perf_counter() - started

        db.session.commit()
        print(f"table size {size[0]}")
        stripped, finished = night.clicks_anonymised, night.finished
        print(f"one night: {stripped:,} clicks stripped in {night_seconds:.1f} s (finished: {finished})")
        print(f"the old nightly read (seq scan of every click past retention): {old_seconds:.1f} s, {old_read} found")

        # The first night after the migration: no cursor, and catch_up_days of clicks still personal.
        db.session.execute(text(f"DELETE FROM cleanup_cursors WHERE name = '{ANONYMISATION_CURSOR}'"))
        db.session.execute(
            text(
                "UPDATE click_events SET user_agent = 'Mozilla/5.0', ip_hash = md5(id::text)"
                f" WHERE clicked_at >= {cutoff_sql} - interval '{catch_up_days} days' AND clicked_at < {cutoff_sql}"
            )
        )
        db.session.commit()
        with _connect(url) as connection:
            connection.execute("VACUUM ANALYZE click_events")
        started = time.perf_counter()
        first = run_cleanup()
        first_seconds = time.perf_counter() - started
        rate = first.clicks_anonymised / first_seconds
        print(
            f"first night ({catch_up_days:g} days past retention still personal, no cursor): "
            f"{first.clicks_anonymised:,} clicks stripped in {first_seconds:.1f} s, {rate:,.0f} clicks/s"
            f" (finished: {first.finished})"
        )
        db.engine.dispose()


OLD_NIGHT = """
import json, sys, time
from linktrack import create_app
from linktrack.tracking.cleanup import run_cleanup
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "bench", "REDIS_URL": None,
                  "CLICK_PII_RETENTION_DAYS": int(sys.argv[2])})
with app.app_context():
    started = time.perf_counter()
    report = run_cleanup()
    print(json.dumps({"seconds": time.perf_counter() - started, **report.as_dict()}))
"""


def comparison_phase(url: str, rows: int, before: str, timeout: float) -> None:
    """One night's cleanup by the code before partitions (`before`, a checkout of it) on its
    unpartitioned table, then by this code after migration 0015, on the same clicks."""
    import json
    import subprocess
    import sys

    from sqlalchemy import text

    from linktrack.config import normalise_database_url
    from linktrack.extensions import db
    from linktrack.models import CleanupCursor
    from linktrack.tracking.cleanup import ANONYMISATION_CURSOR, run_cleanup

    fresh_database(url)
    migrate(url, "0013_sessions_that_end")
    with _connect(url) as connection:
        seed_links(connection)
        generate_clicks(connection, rows, SPAN_DAYS, time_ordered=False, stripped_before_days=RETENTION_DAYS + 1)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", OLD_NIGHT, normalise_database_url(url), str(RETENTION_DAYS)],
            cwd=before,
            env={**os.environ, "PYTHONPATH": before},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        old = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
        if old is None:
            print(done.stderr[-2000:])
    except subprocess.TimeoutExpired:
        old = {"seconds": time.perf_counter() - started, "clicks_anonymised": "unfinished"}
    print(f"before partitions, {rows:,} clicks: one night {old['seconds']:.1f} s, {old['clicks_anonymised']} stripped")

    personal_again = (
        "UPDATE click_events SET user_agent = 'Mozilla/5.0', ip_hash = md5(id::text),"
        " referrer = 'https://www.youtube.com/watch?v=x' WHERE user_agent IS NULL"
        f" AND clicked_at >= now() - interval '{RETENTION_DAYS + 1} days'"
    )
    with _connect(url) as connection:
        connection.execute(personal_again)  # the same night's clicks, to strip again
        connection.execute("VACUUM ANALYZE click_events")
    migration = migrate(url)
    app = bench_app(url, {"CLICK_PII_RETENTION_DAYS": RETENTION_DAYS, "CLEANUP_MAX_SECONDS": timeout})
    with app.app_context():
        last_stripped = db.session.execute(
            text(
                "SELECT clicked_at, id FROM click_events WHERE user_agent IS NULL"
                " ORDER BY clicked_at DESC, id DESC LIMIT 1"
            )
        ).one()
        db.session.merge(
            CleanupCursor(name=ANONYMISATION_CURSOR, clicked_at=last_stripped[0], click_id=last_stripped[1])
        )
        db.session.commit()
        started = time.perf_counter()
        new = run_cleanup()
        seconds = time.perf_counter() - started
        db.engine.dispose()
    print(f"migration 0013 -> head over {rows:,} rows: {migration:.1f} s")
    print(f"after partitions, same clicks: one night {seconds:.1f} s, {new.clicks_anonymised} stripped")
    if isinstance(old["clicks_anonymised"], int):
        print(f"one night: {old['seconds'] / seconds:.1f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--migration-rows", type=int, default=5_000_000, help="0 skips the migration phase")
    parser.add_argument("--cleanup-rows", type=int, default=5_000_000, help="0 skips the cleanup phase")
    parser.add_argument("--catch-up-days", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="CLEANUP_MAX_SECONDS for the runs")
    parser.add_argument("--compare-rows", type=int, default=0, help="with --before: one night, before and after")
    parser.add_argument("--before", help="a checkout of the code before partitions (git archive 17f86a7)")
    parser.add_argument("--rounds", type=int, default=1, help="accepted for bench.interleave; one round")
    args = parser.parse_args()
    url = os.environ.get("BENCH_PARTITIONS_DATABASE_URL", DEFAULT_URL)
    if args.migration_rows:
        migration_phase(url, args.migration_rows)
    if args.cleanup_rows:
        cleanup_phase(url, args.cleanup_rows, args.catch_up_days, args.max_seconds)
    if args.compare_rows and args.before:
        comparison_phase(url, args.compare_rows, args.before, args.max_seconds)


if __name__ == "__main__":
    main()
