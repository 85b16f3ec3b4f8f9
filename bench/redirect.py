"""Benchmark: the click-logging redirect against a bare Flask 302, both under the same gunicorn.

    .venv/bin/python -m bench.redirect [--duration 20] [--connections 32] [--workers 4] [--gunicorn-threads 1]
    .venv/bin/python -m bench.redirect --hot-link --processes 8,4 [--duration 10]

Serves linktrack with gunicorn on loopback against PostgreSQL (BENCH_REDIRECT_DATABASE_URL,
default postgresql://postgres@127.0.0.1:5432/bench_redirect: created if missing and emptied, only
ever a benchmark's own: bench/common.py), seeds a creator and four links, and drives GET /<code>
with wrk (Debian: `apt-get install wrk`) for a fixed time. Then it does the same against
bench/bare_app.py, a Flask app answering the same 302 from a dict. It prints requests/s, p50 and
p99 latency, the 302s answered and, for linktrack, the click rows stored during the run.

It also prints the app's CPU time per request (gunicorn's master and workers, bench/common.py's
CpuMeter): on a shared machine throughput moves with the neighbours' load, CPU per request much less.

Every request carries a browser user agent, so every answered 302 must have stored a row.
Rows are counted after gunicorn has shut down gracefully, so requests wrk abandoned at the end
of its run may add up to --connections rows more than the 302s it saw; fewer rows than 302s
would mean lost clicks. Targets (issue 3): >= 75% of the bare throughput, p99 < 20 ms.

With --hot-link every request goes to one short link (a viral video), and instead of the bare app
linktrack itself alternates with each number of gunicorn worker processes --processes names
(8 and 4). Meanwhile a thread samples pg_stat_activity every LOCK_SAMPLE_SECONDS for backends of
the bench database waiting on a lock (wait_event_type 'Lock'): a wait lasts from the first sample
that sees it to the last (same backend, same query start). It prints the throughput per process
count, their ratio, and the longest wait and the waits over 50 ms. Targets (issue 14): 8 processes
at least the throughput of 4, and no lock wait over 50 ms.
"""

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import CpuMeter, scratch_database_url, wrk_report_lua

ROOT = Path(__file__).resolve().parent.parent
USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
WARM_UP_SECONDS = 3
LOCK_SAMPLE_SECONDS = 0.005
LONG_WAIT_SECONDS = 0.050

# wrk script: rotate over the short codes; wrk_report_lua counts the 302s and prints the figures.
WRK_SCRIPT = """
local codes = {%(codes)s}
local counter = 0
local threads = {}

function setup(thread) table.insert(threads, thread) end
function request()
  counter = counter + 1
  return wrk.format("GET", "/" .. codes[(counter %% #codes) + 1])
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of measured load per app and round")
    parser.add_argument("--rounds", type=int, default=3, help="bare and linktrack alternate this many times")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers, as the Procfile (both apps)")
    parser.add_argument(
        "--gunicorn-threads", type=int, default=1, help="threads per worker (1, as the Procfile: sync workers)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--app", default="wsgi:app", help="the linktrack WSGI app gunicorn serves")
    parser.add_argument("--hot-link", action="store_true", help="one short link only; linktrack per --processes")
    parser.add_argument("--processes", default="8,4", help="with --hot-link: gunicorn worker counts to compare")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    database_url = scratch_database_url("redirect")
    links = prepare_database(database_url)
    codes = list(links)
    if args.hot_link:
        hot_link(database_url, codes[:1], args)
        return
    worker_class = "gthread" if args.gunicorn_threads > 1 else "sync"
    gunicorn_args = ["--workers", str(args.workers), "--worker-class", worker_class, "--log-level", "warning"]
    gunicorn_args += ["--threads", str(args.gunicorn_threads)]
    print(f"{os.cpu_count()} CPUs; gunicorn {' '.join(gunicorn_args)}; wrk -t{args.threads} -c{args.connections}")
    print(f"{args.rounds} rounds of -d{args.duration}s per app after a {WARM_UP_SECONDS}s warm-up each; ", end="")
    print(f"PostgreSQL database {make_url(database_url).database}")
    print()
    print(HEADER)

    bare_env = {"BARE_LINKS": json.dumps(links)}
    app_env = linktrack_env(database_url)
    rounds = []
    for number in range(1, args.rounds + 1):
        # Alternating keeps both apps exposed to the same background load on a shared machine.
        bare = run_load("bench.bare_app:app", bare_env, gunicorn_args, codes, args)
        print(row(f"{number}: bare Flask 302", bare))
        linktrack = run_load(
            args.app, app_env, gunicorn_args, codes, args, count_rows=lambda: count_clicks(database_url)
        )
        print(row(f"{number}: linktrack", linktrack))
        rounds.append((bare, linktrack))
    report(rounds)


def linktrack_env(database_url: str) -> dict:
    """The app's environment. The load comes from one address: the short links' limit per address is
    raised above it (it is still counted on every click, as in production), so every 302 must store
    its row."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key",
        "REDIS_URL": "",
        "SHORT_LINK_RATE_LIMIT_PER_IP": "1000000000/minute;1000000000/hour",
    }


def hot_link(database_url: str, codes: list[str], args) -> None:
    """linktrack on one short link with each of --processes worker counts, alternating per round."""
    counts = [int(number) for number in args.processes.split(",")]
    print(f"{os.cpu_count()} CPUs; one hot link; gunicorn --workers {args.processes} (sync, --preload); ", end="")
    print(f"wrk -t{args.threads} -c{args.connections}; {args.rounds} rounds of -d{args.duration}s each")
    print(f"lock waits sampled from pg_stat_activity every {LOCK_SAMPLE_SECONDS * 1000:.0f} ms")
    print()
    print(HEADER + f"{'max wait':>10}{'> 50 ms':>9}")
    rounds = []
    for number in range(1, args.rounds + 1):
        results = {}
        for processes in counts if number % 2 else counts[::-1]:  # each goes first in every other round
            # --preload: the workers fork with the app loaded, so all of them serve from the warm-up
            # on (on a loaded machine, booting 8 had left the first ones measured alone).
            gunicorn_args = ["--workers", str(processes), "--worker-class", "sync", "--log-level", "warning"]
            gunicorn_args.append("--preload")
            sampler = LockWaitSampler(database_url)
            result = run_load(
                args.app,
                linktrack_env(database_url),
                gunicorn_args,
                codes,
                args,
                count_rows=lambda: count_clicks(database_url),
                during=sampler,
            )
            result["waits"] = sampler.waits()
            results[processes] = result
            long = sum(wait > LONG_WAIT_SECONDS for wait in result["waits"])
            print(
                row(f"{number}: {processes} processes", result)
                + f"{max(result['waits'], default=0) * 1000:>10.1f}{long:>9}"
            )
        rounds.append(results)
    print()
    for processes in counts:
        results = [results[processes] for results in rounds]
        waits = [wait for result in results for wait in result["waits"]]
        print(
            f"median {processes} processes: {statistics.median(rps(r) for r in results):.0f} requests/s, "
            f"p99 {statistics.median(r['p99_us'] for r in results) / 1000:.2f} ms; "
            f"lock waits: max {max(waits, default=0) * 1000:.1f} ms, "
            f"{sum(wait > LONG_WAIT_SECONDS for wait in waits)} over 50 ms, {len(waits)} seen"
        )
    most, fewest = max(counts), min(counts)
    ratio = statistics.median(rps(results[most]) / rps(results[fewest]) for results in rounds)
    print(f"throughput {most}/{fewest} processes: {ratio:.2f} (target >= 1)")
    answered = sum(result["expected"] for results in rounds for result in results.values())
    stored = sum(result["stored"] for results in rounds for result in results.values())
    print(f"clicks: {answered} answered 302s, {stored} rows stored")


class LockWaitSampler:
    """Samples pg_stat_activity for the database's backends waiting on a lock, in a thread, while
    a load runs (`with sampler:`). `waits()`: each wait's length in seconds (first to last sample
    that saw it, plus one interval)."""

    def __init__(self, url: str):
        self.url = url
        self._stop = threading.Event()
        self._seen: dict[tuple, list[float]] = {}

    def __enter__(self):
        import psycopg

        target = make_url(self.url)
        self._connection = psycopg.connect(
            host=target.host, port=target.port, user=target.username, dbname=target.database, autocommit=True
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stop.set()
        self._thread.join()
        self._connection.close()

    def _run(self) -> None:
        query = (
            "SELECT pid, query_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        while not self._stop.wait(LOCK_SAMPLE_SECONDS):
            now = time.monotonic()
            for key in self._connection.execute(query).fetchall():
                self._seen.setdefault(key, [now, now])[1] = now

    def waits(self) -> list[float]:
        return [last - first + LOCK_SAMPLE_SECONDS for first, last in self._seen.values()]


def prepare_database(url: str) -> dict[str, list[str]]:
    """Create (if needed) and empty the bench database, migrate it, seed four links.

    Returns {short_code: [destination with UTM, link id]}, which the bare app serves too.
    """
    from linktrack.extensions import db
    from linktrack.links.urls import UTM_FIELDS, utm_destination

    from .common import BENCH_VIDEO_ID, bench_creator, bench_link, rebuild_database

    app = rebuild_database(url, {"TESTING": True})
    links = {}
    with app.app_context():
        user = bench_creator()
        for number, destination in enumerate(
            [
                "https://academy.example.com/course",
                "https://shop.example.com/gear?ref=yt#buy",
                "https://newsletter.example.com/join",
                "https://academy.example.com/editing?utm_source=newsletter",
            ]
        ):
            link = bench_link(
                user.id,
                f"bench{number}",
                destination,
                campaign="bench",
                utm_source="youtube",
                utm_medium="video",
                utm_campaign="bench",
                utm_content=BENCH_VIDEO_ID,
            )
            db.session.flush()
            utm = {field: getattr(link, field) for field in UTM_FIELDS}
            links[link.short_code] = [utm_destination(destination, utm).split("#")[0], str(link.id)]
        db.session.commit()
        db.engine.dispose()
    return links


def count_clicks(url: str) -> int:
    from sqlalchemy import create_engine

    from linktrack.config import normalise_database_url
    from linktrack.models import ClickEvent

    engine = create_engine(normalise_database_url(url))
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(ClickEvent))
    engine.dispose()
    return count


def run_load(
    app_spec: str, env: dict, gunicorn_args: list[str], codes: list[str], args, count_rows=None, during=None
) -> dict:
    """Serve `app_spec` with gunicorn, warm it up, measure, stop it gracefully. Returns wrk's figures,
    with the click rows stored during the measured run when `count_rows` is given; `during` (a
    context manager, the lock-wait sampler) is entered for the measured run only."""
    port = free_port()
    gunicorn = [str(Path(sys.executable).with_name("gunicorn")), *gunicorn_args, "--bind", f"127.0.0.1:{port}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"codes": ", ".join(f'"{code}"' for code in codes)} + wrk_report_lua(302))
    server = subprocess.Popen([*gunicorn, app_spec], cwd=ROOT, env={**os.environ, **env}, start_new_session=True)
    try:
        wait_until_serving(port, codes[0])
        wrk(port, script.name, WARM_UP_SECONDS, args)  # first requests load parsers and open connections
        time.sleep(1)  # let requests wrk abandoned at the end of the warm-up finish
        before = count_rows() if count_rows else None
        meter = CpuMeter(server.pid, scratch_database_url("redirect"))
        meter.start()
        with during or contextlib.nullcontext():
            result = wrk(port, script.name, args.duration, args)
        result["app_cpu_us"] = meter.stop()["app"] / max(result["requests"], 1) * 1e6
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # graceful: workers finish the requests they hold
        server.wait(timeout=60)
        os.unlink(script.name)
    if count_rows:
        result["stored"] = count_rows() - before
    return result


def wrk(port: int, script: str, seconds: int, args) -> dict:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-H",
        f"User-Agent: {USER_AGENT}",
        "-s",
        script,
        f"http://127.0.0.1:{port}",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(port: int, code: str, timeout: float = 30) -> None:
    """Poll until gunicorn answers a 302."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", f"/{code}", headers={"User-Agent": USER_AGENT})
            status = connection.getresponse().status
            connection.close()
            if status == 302:
                return
            raise SystemExit(f"the app answered {status} instead of 302")
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


HEADER = f"{'':22}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'302s':>9}{'other':>7}{'errors':>8}{'rows':>9}"


def rps(result: dict) -> float:
    return result["requests"] / (result["duration_us"] / 1e6)


def row(name: str, result: dict) -> str:
    rows = str(result.get("stored", "-"))
    return (
        f"{name:22}{rps(result):>12.0f}{result['p50_us'] / 1000:>9.2f}{result['p99_us'] / 1000:>9.2f}"
        f"{result['expected']:>9}{result['others']:>7}{result['socket_errors']:>8}{rows:>9}"
    )


def report(rounds: list[tuple[dict, dict]]) -> None:
    """Medians over the rounds; the throughput ratio is taken per round (neighbours in time), then the median."""
    bare = [pair[0] for pair in rounds]
    linktrack = [pair[1] for pair in rounds]
    ratio = statistics.median(rps(app) / rps(base) for base, app in rounds)
    p99 = statistics.median(result["p99_us"] for result in linktrack) / 1000
    answered = sum(result["expected"] for result in linktrack)
    stored = sum(result["stored"] for result in linktrack)
    lost = sum(max(0, result["expected"] - result["stored"]) for result in linktrack)
    print()
    for name, results in (("bare Flask 302", bare), ("linktrack redirect", linktrack)):
        print(
            f"median {name}: {statistics.median(rps(r) for r in results):.0f} requests/s, "
            f"p50 {statistics.median(r['p50_us'] for r in results) / 1000:.2f} ms, "
            f"p99 {statistics.median(r['p99_us'] for r in results) / 1000:.2f} ms"
        )
    cpu = [statistics.median(result["app_cpu_us"] for result in results) for results in (bare, linktrack)]
    print(f"app CPU per request: linktrack {cpu[1]:.0f} us, bare Flask {cpu[0]:.0f} us (gunicorn master and workers)")
    print(f"throughput: {ratio:.0%} of bare (target >= 75%)")
    print(f"p99: {p99:.1f} ms (target < 20 ms)")
    print(f"clicks: {answered} answered 302s, {stored} rows stored, {lost} answered but not stored (target 0)")


if __name__ == "__main__":
    main()
