"""Benchmark: accepted conversions per second on PostgreSQL, at 32 connections.

    .venv/bin/python -m bench.conversions [--duration 20] [--connections 32] [--workers 4]

Serves linktrack with gunicorn on loopback against PostgreSQL (BENCH_CONVERSIONS_DATABASE_URL,
default postgresql://postgres@127.0.0.1:5432/bench_conversions: created if missing and emptied),
seeds one creator, one link and enough clicks, then drives POST /api/conversions with wrk for a
fixed time: every request is a purchase from the landing page's origin for a different click,
with its own event id, so every answered 201 must be a new row. As in production, Redis is there
(BENCH_CONVERSIONS_REDIS_URL, default redis://127.0.0.1:6379/8, emptied first): rate limiting stays
on, counted in Redis, with limits raised above the load, since all of it comes from one IP. (With
no Redis, limits are counted in each process's memory, whose expiry thread walks every key every
10 ms: with a key per tracking id that costs more than the conversions at this rate.)
Prints accepted conversions/s, p50, p99, the 201s, other answers, and the rows counted afterwards.
Target (issue 4): at least 1,000 accepted conversions/s on a 2-CPU machine.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from redis import Redis
from sqlalchemy.engine import make_url

from bench.common import (
    CpuMeter,
    bench_creator,
    bench_link,
    rebuild_database,
    scratch_database_url,
    wait_until_ok,
    wrk_report_lua,
)
from bench.redirect import free_port, rps, wrk

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
ORIGIN = "https://academy.example.com"
CLICKS_PER_THREAD = 1_000_000  # tracking ids are numbered; each wrk thread uses its own range
WARM_UP_SECONDS = 3

# Tracking ids are UUIDs made from a number, so Lua can write them without a table of 200k strings.
# (bench/soak.py sends the same requests.)
WRK_SCRIPT = """
local link_id = "%(link_id)s"
local threads = {}
local thread_number = 0
counter = 0

function setup(thread)
  thread:set("offset", thread_number * %(per_thread)d + %(start)d)
  thread_number = thread_number + 1
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  local n = offset + counter
  local body = string.format(
    '{"tracking_id":"00000000-0000-4000-8000-%%012x","campaign_link_id":"%%s","event_type":"purchase",'
    .. '"revenue_amount":"49.99","event_id":"%(event_prefix)s-%%d"}', n, link_id, n)
  return wrk.format("POST", "/api/conversions",
    {["Content-Type"] = "application/json", ["Origin"] = "%(origin)s"}, body)
end
"""

# The app gunicorn serves: linktrack as configured by the environment, limits above the load.
APP_MODULE = """
from linktrack import create_app
app = create_app({"CONVERSION_RATE_LIMIT_PER_IP": "10000000 per minute"})
"""


def tracking_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012x}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of measured load per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (as the Procfile)")
    parser.add_argument(
        "--gunicorn-threads", type=int, default=1, help="threads per worker (1, as the Procfile: sync workers)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--clicks-per-thread", type=int, default=150_000, help="clicks seeded per wrk thread")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    database_url = scratch_database_url("conversions")
    link_id = prepare_database(database_url, args.threads, args.clicks_per_thread)
    Redis.from_url(redis_url()).flushdb()
    worker = f"gthread, {args.gunicorn_threads} threads" if args.gunicorn_threads > 1 else "sync"
    print(
        f"{os.cpu_count()} CPUs; gunicorn --workers {args.workers} ({worker}); "
        f"wrk -t{args.threads} -c{args.connections}"
    )
    print(
        f"{args.rounds} rounds of -d{args.duration}s after a {WARM_UP_SECONDS}s warm-up; PostgreSQL database "
        f"{make_url(database_url).database}, Redis {redis_url()}\n"
    )
    print(
        f"{'':12}{'accepted/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'201s':>9}{'other':>7}{'errors':>8}{'rows':>9}"
        f"{'CPU ms per 201: app':>22}{'pg':>6}{'redis':>6}{'wrk':>6}{'steal':>7}"
    )
    results, start = [], 0
    for number in range(1, args.rounds + 1):
        result, start = run_round(database_url, link_id, start, args)
        results.append(result)
        print(
            f"{number:<12}{rps(result) * result['expected'] / max(result['requests'], 1):>12.0f}"
            f"{result['p50_us'] / 1000:>9.2f}{result['p99_us'] / 1000:>9.2f}{result['expected']:>9}"
            f"{result['others']:>7}{result['socket_errors']:>8}{result['stored']:>9}"
            + "".join(f"{per_conversion(result, part):>{width}.2f}" for part, width in CPU_COLUMNS)
            + f"{result['cpu']['steal_share']:>7.0%}"
        )
    accepted = statistics.median(rps(r) * r["expected"] / max(r["requests"], 1) for r in results)
    p99 = statistics.median(r["p99_us"] for r in results) / 1000
    created = sum(r["expected"] for r in results)
    stored = sum(r["stored"] for r in results)
    print(f"\nmedian: {accepted:.0f} accepted conversions/s (target >= 1000), p99 {p99:.1f} ms")
    print(f"rows: {created} answered 201, {stored} rows stored ({'all stored' if stored >= created else 'MISSING'})")
    cpu_ms = statistics.median(sum(per_conversion(r, part) for part, _ in CPU_COLUMNS) for r in results)
    print(
        f"CPU per accepted conversion (app + PostgreSQL + Redis + wrk): {cpu_ms:.2f} ms, so {os.cpu_count()} idle CPUs "
        f"could accept about {os.cpu_count() * 1000 / cpu_ms:.0f}/s"
    )


CPU_COLUMNS = [("app", 22), ("postgresql", 6), ("redis", 6), ("wrk", 6)]


def per_conversion(result: dict, part: str) -> float:
    """Milliseconds of CPU `part` spent per answered 201 in the measured run."""
    return result["cpu"][part] * 1000 / max(result["expected"], 1)


def prepare_database(url: str, threads: int, clicks_per_thread: int) -> str:
    """Rebuild the scratch database, seed a creator, a link and numbered clicks. Returns the link id."""
    from linktrack.extensions import db

    app = rebuild_database(url)
    with app.app_context():
        user = bench_creator()
        link = bench_link(user.id, "benchconv", f"{ORIGIN}/course", campaign="bench", allowed_origins=[ORIGIN])
        db.session.commit()
        link_id = str(link.id)
        db.engine.dispose()

    target = make_url(url)
    clicked_at = datetime.now(timezone.utc) - timedelta(days=1)
    started = time.monotonic()
    columns = "id, campaign_link_id, tracking_id, is_bot, is_unique, clicked_at"
    with (
        psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn,
        conn.cursor().copy(f"COPY click_events ({columns}) FROM STDIN") as copy,
    ):
        for thread in range(threads):
            for n in range(1, clicks_per_thread + 1):
                number = thread * CLICKS_PER_THREAD + n
                copy.write_row((tracking_id(number), link_id, tracking_id(number), False, True, clicked_at))
    print(f"seeded {threads * clicks_per_thread:,} clicks in {time.monotonic() - started:.1f} s")
    return link_id


def run_round(database_url: str, link_id: str, start: int, args) -> tuple[dict, int]:
    """One warm-up and one measured wrk run against a fresh gunicorn. Returns the figures and the next start."""
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "bench_conversions_app.py").write_text(APP_MODULE)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench",
            "REDIS_URL": redis_url(),
            "PYTHONPATH": f"{ROOT}:{scratch}",
        }
        gunicorn = [
            str(Path(sys.executable).with_name("gunicorn")),
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread" if args.gunicorn_threads > 1 else "sync",
            "--threads",
            str(args.gunicorn_threads),
            "--log-level",
            "warning",
            "--bind",
            f"127.0.0.1:{port}",
        ]
        server = subprocess.Popen([*gunicorn, "bench_conversions_app:app"], cwd=ROOT, env=env, start_new_session=True)
        try:
            wait_until_ok(f"http://127.0.0.1:{port}/api/conversions/script")
            wrk(port, write_script(scratch, link_id, start, args), WARM_UP_SECONDS, args)
            start += slice_size(args)  # the measured run uses tracking ids the warm-up did not touch
            time.sleep(1)
            before = count_rows(database_url)
            meter = CpuMeter(server.pid, database_url, Redis.from_url(redis_url()).info("server")["process_id"])
            meter.start()
            result = wrk(port, write_script(scratch, link_id, start, args), args.duration, args)
            result["cpu"] = meter.stop()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    result["stored"] = count_rows(database_url) - before
    return result, start + slice_size(args)


def redis_url() -> str:
    return os.environ.get("BENCH_CONVERSIONS_REDIS_URL", DEFAULT_REDIS_URL)


def slice_size(args) -> int:
    """Clicks per thread each wrk run may use: the seeded ones shared out over every run."""
    return args.clicks_per_thread // (2 * args.rounds)


def write_script(directory: str, link_id: str, start: int, args) -> str:
    path = Path(directory) / f"post-{start}.lua"
    path.write_text(
        WRK_SCRIPT
        % {
            "link_id": link_id,
            "per_thread": CLICKS_PER_THREAD,
            "start": start,
            "origin": ORIGIN,
            "event_prefix": "bench",
        }
        + wrk_report_lua(201)
    )
    return str(path)


def count_rows(url: str) -> int:
    target = make_url(url)
    with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn:
        return conn.execute("SELECT count(*) FROM conversion_events").fetchone()[0]


if __name__ == "__main__":
    main()
