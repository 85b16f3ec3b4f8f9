"""Benchmark: what DATABASE_PREPARED_STATEMENTS=false (for PgBouncer in transaction mode) costs.

    .venv/bin/python -m bench.prepared [--rounds 5] [--redirects 400] [--dashboards 100]

psycopg prepares a statement once a connection has run it five times; with the setting off every
statement is parsed and planned again. This runs the same work with the setting on and off in
alternating rounds, in this process and directly against PostgreSQL (BENCH_PREPARED_DATABASE_URL,
default postgresql://postgres@127.0.0.1:5432/bench_prepared: created if missing and emptied, a name
no other benchmark uses): a short link's redirect with its click stored in the request, and a
creator's dashboard (its report queries). It prints the medians per operation and the ratio off/on.
The test client stands in for gunicorn, so the figures are the app's and the database's work only.
"""

import argparse
import os
import statistics
import time

from .common import bench_app, bench_creator, bench_link, rebuild_database

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_prepared"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SETTINGS = {"TESTING": True, "RATELIMIT_ENABLED": False, "CLICK_FLUSH_SECONDS": 0, "CONVERSION_COUNT_SECONDS": 0}


def seed(url: str) -> tuple[int, str]:
    from linktrack.extensions import db

    app = rebuild_database(url, SETTINGS)
    with app.app_context():
        user = bench_creator()
        link = bench_link(user.id, "benchpr", "https://academy.example.com/course")
        db.session.commit()
        ids = user.id, link.short_code
        db.engine.dispose()
    return ids


def one_round(url: str, prepared: bool, user_id: int, code: str, args) -> tuple[float, float]:
    """Milliseconds per redirect and per dashboard, on a fresh app (its own pool)."""
    from linktrack.extensions import db
    from linktrack.reports.queries import dashboard_summary

    app = bench_app(url, {**SETTINGS, "DATABASE_PREPARED_STATEMENTS": prepared})
    client = app.test_client()
    for _ in range(10):  # warm: connect, and let psycopg reach its threshold when it may prepare
        client.get(f"/{code}", headers={"User-Agent": BROWSER})
    started = time.perf_counter()
    for _ in range(args.redirects):
        assert client.get(f"/{code}", headers={"User-Agent": BROWSER}).status_code == 302
    redirect_ms = (time.perf_counter() - started) * 1000 / args.redirects
    with app.app_context():
        for _ in range(10):
            dashboard_summary(user_id)
        started = time.perf_counter()
        for _ in range(args.dashboards):
            dashboard_summary(user_id)
        dashboard_ms = (time.perf_counter() - started) * 1000 / args.dashboards
        db.session.remove()
        db.engine.dispose()
    return redirect_ms, dashboard_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redirects", type=int, default=400)
    parser.add_argument("--dashboards", type=int, default=100)
    args = parser.parse_args()
    url = os.environ.get("BENCH_PREPARED_DATABASE_URL", DEFAULT_DATABASE_URL)
    user_id, code = seed(url)
    figures = {True: [], False: []}
    print(f"{os.cpu_count()} CPUs; {args.rounds} rounds of {args.redirects} redirects and {args.dashboards} dashboards")
    for number in range(1, args.rounds + 1):
        for prepared in (True, False):  # alternating: both see the same background load
            redirect_ms, dashboard_ms = one_round(url, prepared, user_id, code, args)
            figures[prepared].append((redirect_ms, dashboard_ms))
            label = "on " if prepared else "off"
            print(f"{number}: prepared {label}  redirect {redirect_ms:.3f} ms  dashboard {dashboard_ms:.3f} ms")
    medians = {key: [statistics.median(values) for values in zip(*rows, strict=True)] for key, rows in figures.items()}
    for index, name in enumerate(("redirect", "dashboard")):
        on, off = medians[True][index], medians[False][index]
        print(f"median {name}: prepared on {on:.3f} ms, off {off:.3f} ms: off/on {off / on:.2f}")


if __name__ == "__main__":
    main()
