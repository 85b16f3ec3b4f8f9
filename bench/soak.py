"""Soak benchmark: mixed traffic for 10 minutes with the RQ worker running, then proof nothing was lost.

    .venv/bin/python -m bench.soak [--duration 600] [--connections 16] [--workers 4]

Serves linktrack with gunicorn on loopback (gthread workers: the paced connections are slow clients,
which a sync worker would wait on, as it would without a buffering proxy) against PostgreSQL
(BENCH_SOAK_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/bench_soak: created if
missing and emptied, never a database you care about) and Redis (BENCH_SOAK_REDIS_URL, default
redis://127.0.0.1:6379/9: emptied), with the Procfile's RQ worker forwarding every purchase to a
webhook receiver in this process. Three
wrk processes (Debian: `apt-get install wrk`) share --connections for --duration seconds:

- redirects: GET /<code> over four links, as fast as half the connections go (or paced at
  --redirect-rate per second);
- conversions: POST /api/conversions (purchases from the landing page's origin, each for its own
  seeded click), paced at --conversion-rate per second over a quarter of the connections, each
  forwarded to the webhook by the worker (two jobs: the fan-out and the delivery);
- reports: the dashboard and a link's report page (signed-in session cookie) and the funnel JSON
  (API key), paced at --report-rate per second over the rest.

Prints, per kind, requests/s, p50 and p99 latency, the expected answers and the errors (any other
status, and socket errors); the resident memory (RSS) of the gunicorn master, each gunicorn worker
and the RQ worker right after the warm-up and at the end of the load; then, after gunicorn's
graceful stop, the click rows against the 302s and the conversion rows against the 201s (rows
are counted after the stop, so requests wrk abandoned at the very end may add a few rows, never
fewer), and, once the queue has drained, the webhook deliveries against the purchases.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from redis import Redis
from rq import Queue
from sqlalchemy.engine import make_url

from bench.common import (
    BENCH_SECRET_KEY,
    WebhookReceiver,
    rebuild_database,
    scratch_database_url,
    wait_until_ok,
    wrk_report_lua,
)
from bench.conversions import WRK_SCRIPT as CONVERSION_SCRIPT
from bench.redirect import USER_AGENT, free_port, rps
from bench.redirect import WRK_SCRIPT as REDIRECT_SCRIPT

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
ORIGIN = "https://academy.example.com"
EMAIL, PASSWORD = "soak@example.com", "correct horse battery staple"
WARM_UP_REQUESTS = 30  # per kind, one by one, before the memory is first read
KINDS = ("redirects", "conversions", "reports")
EXPECTED = {"redirects": 302, "conversions": 201, "reports": 200}

# The app gunicorn serves: linktrack as the environment configures it, with the conversion limit
# per IP above the load (all of it comes from 127.0.0.1) and a session cookie sent over plain http.
APP_MODULE = """
from linktrack import create_app
from linktrack import queue as jobqueue
app = create_app({"CONVERSION_RATE_LIMIT_PER_IP": "10000000 per minute", "SESSION_COOKIE_SECURE": False})
"""

# wrk's delay() paces a connection: each waits this long between its requests.
PACING = """
function delay() return %(delay_ms)d end
"""

REPORT_SCRIPT = """
local pages = {"/dashboard", "/links/%(link_id)s/report"}
local api = "/api/conversions/funnel/%(link_id)s"
local counter = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
  counter = counter + 1
  if counter %% 3 == 0 then
    return wrk.format("GET", api, {["Authorization"] = "Bearer %(api_key)s"})
  end
  return wrk.format("GET", pages[(counter %% 2) + 1], {["Cookie"] = "%(cookie)s"})
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of mixed load (default: 10 minutes)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections, shared by the three kinds")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--gunicorn-threads", type=int, default=4, help="threads per worker (1: sync workers, as the Procfile)"
    )
    parser.add_argument("--redirect-rate", type=float, default=0, help="redirects per second (0: as fast as they go)")
    parser.add_argument("--conversion-rate", type=float, default=5, help="conversions per second (each forwarded)")
    parser.add_argument("--report-rate", type=float, default=5, help="report requests per second")
    parser.add_argument("--drain", type=int, default=600, help="seconds to wait for the queue to empty after")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    connections = split_connections(args.connections)

    database_url = scratch_database_url("soak")
    redis_url = os.environ.get("BENCH_SOAK_REDIS_URL", DEFAULT_REDIS_URL)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    receiver = WebhookReceiver()
    clicks_needed = int(args.conversion_rate * args.duration * 1.5) + 10_000
    seeded = prepare_database(database_url, receiver.url, clicks_needed)
    worker_class = f"gthread, {args.gunicorn_threads} threads" if args.gunicorn_threads > 1 else "sync"
    print(
        f"{os.cpu_count()} CPUs; gunicorn --workers {args.workers} ({worker_class}); rq worker (Procfile); "
        f"wrk connections: {connections}; {args.duration} s; PostgreSQL database "
        f"{make_url(database_url).database}, Redis {redis_url}"
    )

    scratch = tempfile.mkdtemp(prefix="linktrack-soak-")
    (Path(scratch) / "bench_soak_app.py").write_text(APP_MODULE)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": BENCH_SECRET_KEY,
        "FORWARDING_ALLOW_PRIVATE_ADDRESSES": "true",  # the receiver is on loopback
        "PYTHONPATH": f"{ROOT}:{scratch}",
    }
    port = free_port()
    bin_dir = Path(sys.executable).parent
    gunicorn_log = open(Path(scratch) / "gunicorn.log", "w")  # noqa: SIM115 (open for the whole run)
    worker_log = open(Path(scratch) / "worker.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--workers", str(args.workers), "--threads", str(args.gunicorn_threads)]
        + ["--worker-class", "gthread" if args.gunicorn_threads > 1 else "sync"]
        + ["--log-level", "warning", "--bind", f"127.0.0.1:{port}", "bench_soak_app:app"],
        cwd=ROOT,
        env=env,
        stdout=gunicorn_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [str(bin_dir / "rq"), "worker", "--url", redis_url, "--with-scheduler"]
        + ["--worker-class", "linktrack.jobqueue.AppWorker", "default"],
        cwd=ROOT,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ok(f"{base}/login")
        cookie = log_in(base)
        warm_up(base, seeded, cookie)
        memory_start = memory(server.pid, worker.pid)
        before = count_rows(database_url)
        scripts = write_scripts(scratch, seeded, cookie, connections, args)
        results = run_wrk(port, scripts, connections, args.duration)
        memory_end = memory(server.pid, worker.pid)
        queued_at_end = Queue("default", connection=redis).count
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # graceful: workers finish their requests, write their clicks
        server.wait(timeout=120)
    after = count_rows(database_url)
    report_load(results, args.duration)
    report_memory(memory_start, memory_end)
    clicks_ok, conversions_ok = report_rows(results, before, after)
    try:
        started = time.monotonic()
        drained = drain(redis, args.drain)
        print(f"forwarding jobs queued when the load ended: {queued_at_end}, ", end="")
        print(f"drained {time.monotonic() - started:.0f} s after gunicorn stopped")
        report_forwarding(database_url, receiver, drained)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        receiver.close()
    report_logged_errors(scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    if not (clicks_ok and conversions_ok):
        sys.exit(1)


def split_connections(total: int) -> dict[str, int]:
    """Half for redirects, a quarter each for conversions and reports (at least one each)."""
    if total < 3:
        sys.exit("--connections must be at least 3 (one per kind)")
    conversions = max(1, total // 4)
    reports = max(1, total // 4)
    return {"redirects": total - conversions - reports, "conversions": conversions, "reports": reports}


def tracking_id(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012x}"


def prepare_database(url: str, webhook_url: str, clicks: int) -> dict:
    """Rebuild the scratch database; seed a creator (with a password and an API key), four links,
    a webhook destination for purchases, and `clicks` numbered clicks an hour old to convert."""
    from linktrack.auth.service import create_api_key, register_user
    from linktrack.extensions import db
    from linktrack.forwarding.destinations import create_destination
    from linktrack.models import CampaignLink

    app = rebuild_database(url, {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        user = register_user(EMAIL, PASSWORD)
        links = []
        for number, destination in enumerate(
            [f"{ORIGIN}/course", "https://shop.example.com/gear?ref=yt", f"{ORIGIN}/editing", f"{ORIGIN}/free"]
        ):
            link = CampaignLink(
                user_id=user.id,
                short_code=f"soak{number}",
                video_id="dQw4w9WgXcQ",
                video_url="https://youtu.be/dQw4w9WgXcQ",
                destination_url=destination,
                campaign="soak",
                allowed_origins=[ORIGIN],
            )
            db.session.add(link)
            links.append(link)
        db.session.commit()
        _, api_key = create_api_key(user, "soak")
        create_destination(user.id, "webhook", "soak receiver", {"url": webhook_url}, ["purchase"])
        seeded = {"codes": [link.short_code for link in links], "link_id": str(links[0].id), "api_key": api_key}
        db.engine.dispose()

    target = make_url(url)
    clicked_at = datetime.now(timezone.utc) - timedelta(hours=1)
    started = time.monotonic()
    columns = "id, campaign_link_id, tracking_id, is_bot, is_unique, clicked_at"
    with (
        psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn,
        conn.cursor().copy(f"COPY click_events ({columns}) FROM STDIN") as copy,
    ):
        for number in range(1, clicks + 1):
            copy.write_row((tracking_id(number), seeded["link_id"], tracking_id(number), False, True, clicked_at))
    print(f"seeded {clicks:,} clicks to convert in {time.monotonic() - started:.1f} s")
    seeded["clicks"] = clicks
    return seeded


def log_in(base: str) -> str:
    """Sign in through the login form like a browser; answers the session cookie for wrk."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    opener.addheaders = [("User-Agent", USER_AGENT)]
    form = opener.open(f"{base}/login").read().decode()
    token = form.split('name="csrf_token"')[1].split('value="')[1].split('"')[0]
    body = urlencode({"csrf_token": token, "email": EMAIL, "password": PASSWORD}).encode()
    try:
        opener.open(f"{base}/login", data=body)
    except urllib.error.HTTPError as answer:
        if answer.code != 302:
            raise SystemExit(f"login answered {answer.code}") from None
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    with opener.open(urllib.request.Request(f"{base}/dashboard", headers={"Cookie": cookie})) as page:
        assert page.status == 200
    return cookie


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def warm_up(base: str, seeded: dict, cookie: str) -> None:
    """A few requests of each kind, one by one, so every worker has loaded what it needs before
    memory is first read. They convert the last seeded clicks, which the load never reaches."""
    opener = urllib.request.build_opener(NoRedirect())
    opener.addheaders = [("User-Agent", USER_AGENT)]
    for number in range(WARM_UP_REQUESTS):
        for request in (
            urllib.request.Request(f"{base}/{seeded['codes'][number % 4]}"),
            urllib.request.Request(
                f"{base}/api/conversions",
                data=json.dumps(
                    {
                        "tracking_id": tracking_id(seeded["clicks"] - number),
                        "campaign_link_id": seeded["link_id"],
                        "event_type": "purchase",
                        "revenue_amount": "49.99",
                        "event_id": f"warm-{number}",
                    }
                ).encode(),
                headers={"Content-Type": "application/json", "Origin": ORIGIN},
            ),
            urllib.request.Request(f"{base}/dashboard", headers={"Cookie": cookie}),
            urllib.request.Request(
                f"{base}/api/conversions/funnel/{seeded['link_id']}",
                headers={"Authorization": f"Bearer {seeded['api_key']}"},
            ),
        ):
            try:
                opener.open(request, timeout=30).read()
            except urllib.error.HTTPError as answer:
                if answer.code != 302:
                    raise SystemExit(f"warm-up: {request.full_url} answered {answer.code}") from None


def write_scripts(scratch: str, seeded: dict, cookie: str, connections: dict, args) -> dict[str, str]:
    def pacing(kind: str, rate: float) -> str:
        return PACING % {"delay_ms": round(connections[kind] * 1000 / rate)} if rate > 0 else ""

    per_thread = seeded["clicks"] // 2
    bodies = {
        "redirects": REDIRECT_SCRIPT % {"codes": ", ".join(f'"{code}"' for code in seeded["codes"])}
        + pacing("redirects", args.redirect_rate),
        "conversions": CONVERSION_SCRIPT
        % {"link_id": seeded["link_id"], "per_thread": per_thread, "start": 0, "origin": ORIGIN, "event_prefix": "soak"}
        + pacing("conversions", args.conversion_rate),
        "reports": REPORT_SCRIPT % {"link_id": seeded["link_id"], "api_key": seeded["api_key"], "cookie": cookie}
        + pacing("reports", args.report_rate),
    }
    paths = {}
    for kind, body in bodies.items():
        path = Path(scratch) / f"{kind}.lua"
        path.write_text(body + wrk_report_lua(EXPECTED[kind]))
        paths[kind] = str(path)
    return paths


def run_wrk(port: int, scripts: dict[str, str], connections: dict[str, int], seconds: int) -> dict[str, dict]:
    """The three wrk processes at once; answers each one's figures."""
    running = {}
    for kind in KINDS:
        threads = min(2, connections[kind])
        command = ["wrk", f"-t{threads}", f"-c{connections[kind]}", f"-d{seconds}s", "--timeout", "10s"]
        command += ["-H", f"User-Agent: {USER_AGENT}", "-s", scripts[kind], f"http://127.0.0.1:{port}"]
        running[kind] = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    results = {}
    for kind, process in running.items():
        output, _ = process.communicate(timeout=seconds + 120)
        results[kind] = json.loads(output.strip().splitlines()[-1])
    return results


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return sorted(found)


def memory(gunicorn_pid: int, worker_pid: int) -> dict[str, int]:
    """RSS in kB of the gunicorn master, each of its workers (numbered by pid order) and the RQ worker."""
    sizes = {"gunicorn master": rss_kb(gunicorn_pid)}
    for number, pid in enumerate(children(gunicorn_pid), 1):
        sizes[f"gunicorn worker {number} (pid {pid})"] = rss_kb(pid)
    sizes["rq worker"] = rss_kb(worker_pid)
    return sizes


def count_rows(url: str) -> dict[str, int]:
    target = make_url(url)
    with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn:
        return {
            "clicks": conn.execute("SELECT count(*) FROM click_events").fetchone()[0],
            "conversions": conn.execute("SELECT count(*) FROM conversion_events").fetchone()[0],
        }


def drain(redis: Redis, timeout: int) -> bool:
    """Wait until the worker has run every queued job (forwarding); False if the time ran out."""
    queue = Queue("default", connection=redis)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.count == 0 and queue.started_job_registry.count == 0:
            return True
        time.sleep(1)
    return False


def report_load(results: dict[str, dict], seconds: int) -> None:
    print(f"\n{'':14}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'expected':>10}{'errors':>8}")
    for kind in KINDS:
        result = results[kind]
        errors = result["others"] + result["socket_errors"]
        print(
            f"{kind:14}{rps(result):>12.1f}{result['p50_us'] / 1000:>9.2f}{result['p99_us'] / 1000:>9.2f}"
            f"{result['expected']:>10}{errors:>8}"
        )
    total = sum(rps(result) for result in results.values())
    errors = sum(result["others"] + result["socket_errors"] for result in results.values())
    print(f"{'all':14}{total:>12.1f}{'':>18}{sum(r['expected'] for r in results.values()):>10}{errors:>8}")
    print(f"(errors: answers other than {EXPECTED} plus socket errors, over {seconds} s)")


def report_memory(start: dict[str, int], end: dict[str, int]) -> None:
    print(f"\n{'RSS, MB':40}{'start':>9}{'end':>9}{'change':>9}")
    for name in sorted(set(start) | set(end), key=lambda n: (n != "gunicorn master", n == "rq worker", n)):
        before, after = start.get(name), end.get(name)
        change = f"{(after - before) / 1024:+.1f}" if before and after else "-"
        shown_before = f"{before / 1024:.1f}" if before else "-"
        shown_after = f"{after / 1024:.1f}" if after else "-"
        print(f"{name:40}{shown_before:>9}{shown_after:>9}{change:>9}")


def report_rows(results: dict[str, dict], before: dict, after: dict) -> tuple[bool, bool]:
    clicks = after["clicks"] - before["clicks"]
    conversions = after["conversions"] - before["conversions"]
    redirected, accepted = results["redirects"]["expected"], results["conversions"]["expected"]
    clicks_ok, conversions_ok = clicks >= redirected, conversions >= accepted
    print(f"\nclicks: {redirected} answered 302, {clicks} rows stored ({'all stored' if clicks_ok else 'MISSING'})")
    print(
        f"conversions: {accepted} answered 201, {conversions} rows stored "
        f"({'all stored' if conversions_ok else 'MISSING'})"
    )
    return clicks_ok, conversions_ok


def report_forwarding(url: str, receiver: WebhookReceiver, drained: bool) -> None:
    target = make_url(url)
    with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn:
        purchases = conn.execute("SELECT count(*) FROM conversion_events").fetchone()[0]
        statuses = dict(conn.execute("SELECT status, count(*) FROM forwarding_deliveries GROUP BY status").fetchall())
    state = "queue drained" if drained else "queue NOT drained in time"
    verdict = "each purchase once" if receiver.received == purchases == statuses.get("delivered") else "NOT one each"
    print(f"forwarding: {purchases} purchases, {receiver.received} webhook calls received ({verdict}), ", end="")
    print(f"deliveries {statuses} ({state})")


def report_logged_errors(scratch: str) -> None:
    for name in ("gunicorn.log", "worker.log"):
        lines = (Path(scratch) / name).read_text().splitlines()
        errors = [line for line in lines if "ERROR" in line or "Traceback" in line]
        print(f"{name}: {len(errors)} error lines" + (f", first: {errors[0][:200]}" if errors else ""))


if __name__ == "__main__":
    main()
