"""Measurements for the load model in docs/scale.md: CPU per click and per conversion, bytes per row
and per index of click_events and conversion_events.

    .venv/bin/python -m bench.scale [--rows 1000000] [--duration 10] [--rounds 3] [--skip-cpu] [--skip-storage]

CPU: rounds that alternate a redirect load (GET of one hot link, as one viral video makes it) and
a conversion load (bench/conversions.py's purchases), each against a fresh gunicorn serving
wsgi:app as the Procfile's web process does (4 sync workers; no access log), with Redis set as in
production (BENCH_CONVERSIONS_REDIS_URL, default redis://127.0.0.1:6379/8, emptied first), driven
by wrk at 32 connections. bench/common.py's CpuMeter reads the CPU seconds of the gunicorn master
and workers, of the PostgreSQL backends serving the database, of Redis and of wrk from /proc, and
the machine's steal; the figures are CPU milliseconds per answered 302 or 201, medians of the
rounds. wrk runs flat out, so these are the costs at saturation, where batches are largest.

Storage: --rows synthetic clicks (1,000 links, a day's clicks a second apart, browser user
agents, YouTube referrers, SHA-256 IP hashes) and a fifth as many conversions, inserted with
generate_series into the migrated tables with their indexes in place (as the app inserts: random
UUIDv4 keys split their B-tree pages as live inserts do), then VACUUM ANALYZE; prints the table's
and each index's bytes per row (summed over partitions if the table is partitioned). The same
clicks again with time-ordered UUIDv7 ids and tracking ids, in a copy of the table, show what the
time-ordered ids issue 14 asks for change in the indexes, and a copy as the cleanup leaves clicks
past their PII retention (written afresh) what an old month costs.

Databases: bench_scale (BENCH_SCALE_DATABASE_URL) for the redirect and the storage,
bench_scale_conversions (BENCH_SCALE_CONVERSIONS_DATABASE_URL) for the conversions; both rebuilt.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import psycopg
from redis import Redis
from sqlalchemy.engine import make_url

from bench import conversions
from bench import redirect as redirect_bench
from bench.common import CpuMeter, rebuild_database, scratch_database_url, wrk_report_lua

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("app", "postgresql", "redis", "wrk")
LIMITS_ABOVE_THE_LOAD = "1000000000 per minute"  # the load comes from one address
USER_AGENTS = [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic clicks for the storage figures")
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (as the Procfile)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-storage", action="store_true")
    args = parser.parse_args()
    print(machine_state())
    if not args.skip_cpu:
        measure_cpu(args)
    if not args.skip_storage:
        measure_storage(scratch_database_url("scale"), args.rows)


def machine_state() -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    memory = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (
        f"{os.cpu_count()} CPUs, {int(memory['MemTotal'].split()[0]) // 1024:,} MiB RAM, "
        f"load average {' '.join(load)} (1, 5, 15 min) before the run"
    )


# --- CPU per click and per conversion -------------------------------------------------------------


def measure_cpu(args) -> None:
    redis_url = conversions.redis_url()
    Redis.from_url(redis_url).flushdb()
    redirect_url = scratch_database_url("scale")
    links = redirect_bench.prepare_database(redirect_url)
    hot_code = next(iter(links))
    conversion_url = scratch_database_url("scale_conversions")
    conversion_args = SimpleNamespace(
        duration=args.duration,
        rounds=args.rounds,
        connections=args.connections,
        workers=args.workers,
        gunicorn_threads=1,
        threads=args.threads,
        clicks_per_thread=150_000,
    )
    link_id = conversions.prepare_database(conversion_url, args.threads, conversion_args.clicks_per_thread)
    print(
        f"\ngunicorn --workers {args.workers} (sync), wrk -t{args.threads} -c{args.connections}, "
        f"{args.rounds} rounds of {args.duration} s each; Redis {redis_url}\n"
    )
    print(f"{'':16}{'answered/s':>11}{'p99 ms':>8}" + "".join(f"{part:>11}" for part in PARTS) + f"{'steal':>7}")
    clicks, purchases, start = [], [], 0
    for number in range(1, args.rounds + 1):
        click = click_round(redirect_url, redis_url, hot_code, args)
        clicks.append(click)
        print(cpu_row(f"{number}: click", click))
        purchase, start = conversions.run_round(conversion_url, link_id, start, conversion_args)
        purchases.append(purchase)
        print(cpu_row(f"{number}: conversion", purchase))
    print("\nmedian CPU ms per answered request (" + ", ".join(PARTS) + "):")
    for name, results in (("click (302)", clicks), ("conversion (201)", purchases)):
        medians = {part: statistics.median(per_request(result, part) for result in results) for part in PARTS}
        served = sum(medians[part] for part in ("app", "postgresql", "redis"))
        print(
            f"  {name:18}"
            + "  ".join(f"{part} {value:.3f}" for part, value in medians.items())
            + f"  | served (app + PostgreSQL + Redis) {served:.3f}"
        )


def click_round(database_url: str, redis_url: str, code: str, args) -> dict:
    """A warm-up and a measured wrk run of GET /<code> against a fresh gunicorn (wsgi:app)."""
    port = redirect_bench.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key",
        "REDIS_URL": redis_url,
        "SHORT_LINK_RATE_LIMIT_PER_IP": LIMITS_ABOVE_THE_LOAD,
    }
    gunicorn = [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(args.workers)]
    gunicorn += ["--log-level", "warning", "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(redirect_bench.WRK_SCRIPT % {"codes": f'"{code}"'} + wrk_report_lua(302))
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, start_new_session=True)
    try:
        redirect_bench.wait_until_serving(port, code)
        redirect_bench.wrk(port, script.name, redirect_bench.WARM_UP_SECONDS, args)
        time.sleep(1)
        meter = CpuMeter(server.pid, database_url, Redis.from_url(redis_url).info("server")["process_id"])
        meter.start()
        result = redirect_bench.wrk(port, script.name, args.duration, args)
        result["cpu"] = meter.stop()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        os.unlink(script.name)
    return result


def per_request(result: dict, part: str) -> float:
    return result["cpu"][part] * 1000 / max(result["expected"], 1)


def cpu_row(name: str, result: dict) -> str:
    answered = result["expected"] / (result["duration_us"] / 1e6)
    return (
        f"{name:16}{answered:>11.0f}{result['p99_us'] / 1000:>8.1f}"
        + "".join(f"{per_request(result, part):>11.3f}" for part in PARTS)
        + f"{result['cpu']['steal_share']:>7.0%}"
    )


# --- bytes per row and per index ------------------------------------------------------------------

# One creator, 1,000 links; the clicks a second apart from a day ago on, spread over the links.
SEED_SQL = """
INSERT INTO users (email, password_hash, created_at, session_version)
VALUES ('scale@example.com', '!', now(), 1);
INSERT INTO campaign_links (id, user_id, short_code, video_id, video_url, destination_url, campaign,
                            attribution_window_days, allowed_origins, created_at, updated_at)
SELECT gen_random_uuid(), (SELECT id FROM users), 'scale' || n, 'dQw4w9WgXcQ',
       'https://youtu.be/dQw4w9WgXcQ', 'https://academy.example.com/course', 'scale', 30,
       '["https://academy.example.com"]', now(), now()
FROM generate_series(1, 1000) AS n;
CREATE TEMPORARY TABLE scale_links AS
SELECT row_number() OVER (ORDER BY id) - 1 AS number, id FROM campaign_links;
"""

# Columns as the redirect fills them for a browser click (redirect/clicks.py).
CLICKS_SQL = """
INSERT INTO {table} (id, campaign_link_id, tracking_id, ip_hash, user_agent, referrer, device_type,
                     browser, os, is_bot, is_unique, clicked_at)
SELECT {uuid}, l.id, {uuid},
       encode(sha256(('198.51.100.' || (n %% 50000))::bytea), 'hex'),
       (ARRAY[%(agents)s])[1 + n %% 4],
       CASE WHEN n %% 10 < 8 THEN 'https://www.youtube.com/' ELSE NULL END,
       (ARRAY['mobile', 'mobile', 'desktop', 'desktop'])[1 + n %% 4],
       (ARRAY['Chrome', 'Safari', 'Chrome', 'Firefox'])[1 + n %% 4],
       (ARRAY['Android', 'iOS', 'Windows', 'Linux'])[1 + n %% 4],
       false, n %% 8 <> 0, t.at
FROM generate_series(1, %(rows)s) AS n
CROSS JOIN LATERAL (SELECT now() - interval '1 day' + n * interval '1 second' AS at) AS t
JOIN scale_links AS l ON l.number = n %% 1000
ORDER BY n  -- in time order, as they arrive
"""
UUID4 = "gen_random_uuid()"
# UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, then random bits.
UUID7 = (
    "(lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7' "
    "|| substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid"
)

# A fifth of the clicks convert: purchases and signups from the browser, as the CampaignTracker sends.
CONVERSIONS_SQL = """
INSERT INTO conversion_events (id, tracking_id, campaign_link_id, event_type, revenue_amount, currency,
                               event_data, event_id, source, converted_at)
SELECT gen_random_uuid(), c.tracking_id, c.campaign_link_id,
       CASE WHEN c.n % 2 = 0 THEN 'purchase' ELSE 'newsletter_signup' END,
       CASE WHEN c.n % 2 = 0 THEN 49.99 END, 'USD',
       CASE WHEN c.n % 2 = 0 THEN '{"product": "course", "page": "/thank-you"}'::jsonb END,
       'order-' || gen_random_uuid(), 'browser', c.clicked_at + interval '10 minutes'
FROM (SELECT row_number() OVER () AS n, tracking_id, campaign_link_id, clicked_at
      FROM click_events TABLESAMPLE BERNOULLI (20)) AS c
"""


# Clicks past CLICK_PII_RETENTION_DAYS as the cleanup leaves them (user agent and IP hash cleared, the
# referrer cut to its origin), written afresh, as a rewritten or recreated monthly partition holds them.
ANONYMISED_SQL = """
CREATE TABLE scale_click_events_anonymised (LIKE click_events INCLUDING ALL);
INSERT INTO scale_click_events_anonymised
SELECT id, campaign_link_id, tracking_id, NULL, NULL, CASE WHEN referrer IS NOT NULL THEN 'https://www.youtube.com' END,
       device_type, browser, os, is_bot, is_unique, clicked_at
FROM click_events ORDER BY clicked_at;
"""
TABLES = ("click_events", "scale_click_events_v7", "scale_click_events_anonymised", "conversion_events")


def measure_storage(url: str, rows: int) -> None:
    from linktrack.extensions import db

    with rebuild_database(url).app_context():
        db.engine.dispose()
    target = make_url(url)
    agents = ", ".join("'" + agent.replace("'", "''") + "'" for agent in USER_AGENTS)
    with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn:
        conn.execute(SEED_SQL)
        conn.execute("CREATE TABLE scale_click_events_v7 (LIKE click_events INCLUDING ALL)")
        for table, uuid in (("click_events", UUID4), ("scale_click_events_v7", UUID7)):
            started = time.perf_counter()
            sql = CLICKS_SQL.format(table=table, uuid=uuid)
            conn.execute(sql % {"agents": agents, "rows": rows})
            conn.commit()
            print(f"\n{rows:,} clicks into {table} in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        conn.execute(CONVERSIONS_SQL)
        conn.commit()
        print(f"conversions from a fifth of them in {time.perf_counter() - started:.1f} s")
        conn.execute(ANONYMISED_SQL)
        conn.commit()
        conn.autocommit = True
        for table in TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
        for table in TABLES:
            print_sizes(conn, table)


def print_sizes(conn: psycopg.Connection, table: str) -> None:
    """Bytes per row of the table (heap + TOAST, over every partition) and of each of its indexes."""
    count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    heap = conn.execute(
        """SELECT coalesce((SELECT sum(pg_table_size(relid)) FROM pg_partition_tree(%(t)s::regclass) WHERE isleaf),
                           pg_table_size(%(t)s::regclass))""",
        {"t": table},
    ).fetchone()[0]
    indexes = conn.execute(
        """SELECT i.indexrelid::regclass::text,
                  coalesce((SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(i.indexrelid) WHERE isleaf),
                           pg_relation_size(i.indexrelid))
           FROM pg_index AS i WHERE i.indrelid = %s::regclass ORDER BY 1""",
        (table,),
    ).fetchall()
    total_indexes = sum(size for _, size in indexes)
    print(
        f"\n{table}: {count:,} rows; table {heap / count:.0f} B/row, indexes {total_indexes / count:.0f} B/row, "
        f"together {(heap + total_indexes) / count:.0f} B/row"
    )
    for name, size in indexes:
        print(f"  {name:52}{size / count:>6.1f} B/row")


if __name__ == "__main__":
    main()
