"""Benchmark: what cross-host correctness costs a redirect, in process (no HTTP, no gunicorn).

    .venv/bin/python -m bench.cross_host [--rounds 5] [--clicks 3000]

Calls the app's WSGI stack for one cached live link, in interleaved rounds, under three settings:
no Redis (the reference), Redis for the link-edit listener only (limits in memory), and Redis for
both (the short links' per-address limit one shared count, a Lua call per counted click). Prints
the median microseconds per redirect of each and its ratio to the reference, then the median cost
of one shared limit hit. SQLite in a temporary directory; Redis BENCH_CROSS_HOST_REDIS_URL (default
redis://127.0.0.1:6379/3, emptied first). Clicks are written behind the request as in production.
"""

import argparse
import os
import statistics
import tempfile
import time
import uuid

from limits import parse
from redis import Redis

from bench.common import bench_app, bench_link
from linktrack.extensions import db
from linktrack.tracking.ip_limit import IpLimit

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clicks", type=int, default=3000, help="redirects per setting and round")
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_CROSS_HOST_REDIS_URL", DEFAULT_REDIS_URL)
    Redis.from_url(redis_url).flushdb()
    directory = tempfile.mkdtemp(prefix="h3-cross-host-")
    url = f"sqlite:///{directory}/bench.db"
    unlimited = "1000000000/minute;1000000000/hour"  # counted on every click, never over
    settings = {
        "no Redis": {"RATELIMIT_STORAGE_URI": "memory://"},
        "Redis: edits published": {"REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": "memory://"},
        "Redis: edits + shared limits": {"REDIS_URL": redis_url, "RATELIMIT_STORAGE_URI": redis_url},
    }
    apps = {
        name: bench_app(url, {"SHORT_LINK_RATE_LIMIT_PER_IP": unlimited, **extra}) for name, extra in settings.items()
    }
    code = seed(next(iter(apps.values())))
    results = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            results[name].append(per_redirect_us(app, code, args.clicks))
    reference = statistics.median(results["no Redis"])
    print(f"{os.cpu_count()} CPUs; {args.rounds} interleaved rounds of {args.clicks} redirects of one cached link")
    for name, rounds in results.items():
        median = statistics.median(rounds)
        print(f"median {name}: {median:.0f} us per redirect ({median / reference:.2f} x no Redis)")
    limit = IpLimit(redis_url)
    item = parse("1000000000/minute")
    hits = [timed_hits(limit, item, 2000) for _ in range(args.rounds)]
    print(f"median shared limit hit (Lua INCR, one round trip): {statistics.median(hits):.0f} us")
    limit.close()


def seed(app) -> str:
    from flask_migrate import upgrade

    from linktrack.auth.service import register_user

    with app.app_context():
        upgrade()
        user = register_user(f"bench-{uuid.uuid4().hex[:6]}@example.com", "correct horse battery")
        link = bench_link(
            user.id, "benchcode", "https://landing.example.com/offer", allowed_origins=["https://landing.example.com"]
        )
        db.session.commit()
        return link.short_code


def per_redirect_us(app, code: str, clicks: int) -> float:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": f"/{code}",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "HTTP_USER_AGENT": BROWSER,
        "REMOTE_ADDR": "198.51.100.7",
    }

    def start_response(status, headers):
        assert status.startswith("302"), status

    for _ in range(50):  # warm: the link cached, the listener started
        app.wsgi_app(dict(environ), start_response)
    started = time.perf_counter()
    for _ in range(clicks):
        app.wsgi_app(dict(environ), start_response)
    return (time.perf_counter() - started) / clicks * 1e6


def timed_hits(limit: IpLimit, item, hits: int) -> float:
    started = time.perf_counter()
    for n in range(hits):
        limit.hit(item, f"{n % 50:032x}")
    return (time.perf_counter() - started) / hits * 1e6


if __name__ == "__main__":
    main()
