"""Benchmark: forwarding jobs per second for the Procfile's RQ worker, forking per job or not.

    .venv/bin/python -m bench.jobs [--conversions 300] [--worker fork simple] [--processes 1]
                                   [--webhook-delay-ms 0] [--timeout 600]

For each worker kind: rebuilds PostgreSQL `bench_jobs` (BENCH_JOBS_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/bench_jobs) with the migrations, empties Redis db 9
(BENCH_JOBS_REDIS_URL), seeds one creator whose webhook destination is a local HTTP server in
this process and `--conversions` purchases, enqueues one `forward_conversion` job per purchase
(as the conversion API does), then starts the Procfile's `worker` command (`--processes` copies)
and waits until the queue has drained. Each purchase costs two jobs: the fan-out, then the
delivery (an HTTP POST to the receiver, which waits `--webhook-delay-ms` before answering, as a
remote endpoint would).

Prints per kind: jobs/s and purchases forwarded/s while the worker worked (first job started to
queue drained), the drain time from the worker's start (so including its start-up), webhook calls
received against purchases, and the worker's memory (RSS) at the end. `fork` is rq's forking
Worker as the Procfile ran it before (ForkingAppWorker below); `simple` is linktrack.queue.AppWorker.
Bounded: stops waiting after `--timeout` seconds per kind (and says so).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from redis import Redis
from rq import Queue, Worker
from sqlalchemy.engine import make_url

from bench.common import (
    BENCH_SECRET_KEY,
    WebhookReceiver,
    bench_app,
    bench_link,
    rebuild_database,
    scratch_database_url,
)
from linktrack import queue as linktrack_queue

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
WORKER_CLASSES = {"fork": "bench.jobs.ForkingAppWorker", "simple": "linktrack.queue.AppWorker"}


class ForkingAppWorker(Worker):
    """The Procfile's worker class before: rq's Worker, which forks a process per job, with the app
    built once before the first fork (as linktrack.queue.AppWorker did)."""

    def work(self, *args, **kwargs):
        linktrack_queue._app_for_worker()
        return super().work(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversions", type=int, default=300, help="purchases to forward (two jobs each)")
    parser.add_argument("--worker", nargs="+", choices=sorted(WORKER_CLASSES), default=["fork", "simple"])
    parser.add_argument("--processes", type=int, default=1, help="copies of the Procfile's worker command")
    parser.add_argument("--webhook-delay-ms", type=int, default=0, help="the receiver's answer time")
    parser.add_argument("--timeout", type=int, default=600, help="seconds to wait for a drain, per kind")
    args = parser.parse_args()
    if not 1 <= args.conversions <= 20_000 or not 1 <= args.processes <= 16:
        sys.exit("--conversions must be 1-20000 and --processes 1-16")

    database_url = scratch_database_url("jobs")
    redis_url = os.environ.get("BENCH_JOBS_REDIS_URL", DEFAULT_REDIS_URL)
    procfile_worker = procfile_command("worker")
    print(f"{os.cpu_count()} CPUs; Procfile worker: {procfile_worker}")
    print(
        f"{args.conversions} purchases ({2 * args.conversions} jobs) per run; {args.processes} worker "
        f"process(es); webhook answers after {args.webhook_delay_ms} ms; PostgreSQL database "
        f"{make_url(database_url).database}, Redis {redis_url}\n"
    )
    receiver = WebhookReceiver(args.webhook_delay_ms / 1000)
    try:
        results = {kind: run(kind, procfile_worker, database_url, redis_url, receiver, args) for kind in args.worker}
    finally:
        receiver.close()
    print(
        f"\n{'worker':10}{'jobs/s':>9}{'purchases/s':>13}{'drain s':>9}{'start s':>9}"
        f"{'webhooks':>10}{'delivered':>11}{'RSS MB':>9}{'errors':>8}"
    )
    for kind, result in results.items():
        print(
            f"{kind:10}{result['jobs_per_s']:>9.1f}{result['purchases_per_s']:>13.1f}"
            f"{result['drain_s']:>9.1f}{result['start_s']:>9.1f}{result['webhooks']:>10}"
            f"{result['delivered']:>11}{result['rss_mb']:>9.1f}{result['errors']:>8}"
            + ("" if result["drained"] else "  (NOT drained: timed out)")
        )


def procfile_command(name: str) -> str:
    entries = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)
    return entries[name]


def run(kind: str, procfile_worker: str, database_url: str, redis_url: str, receiver, args) -> dict:
    conversion_ids = prepare_database(database_url, receiver.url, args.conversions)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    enqueue_forwarding(database_url, redis_url, conversion_ids)
    queue = Queue(linktrack_queue.QUEUE_NAME, connection=redis)
    received_before = receiver.received

    command = worker_command(procfile_worker, redis_url, WORKER_CLASSES[kind])
    scratch = tempfile.mkdtemp(prefix="linktrack-bench-jobs-")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": BENCH_SECRET_KEY,
        "FORWARDING_ALLOW_PRIVATE_ADDRESSES": "true",  # the receiver is on loopback
        "PYTHONPATH": str(ROOT),
    }
    logs, workers = [], []
    started = time.monotonic()
    for number in range(args.processes):
        log = open(Path(scratch) / f"worker-{number}.log", "w")  # noqa: SIM115 (open while it runs)
        logs.append(log)
        workers.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    try:
        first_job_at, drained_at = wait_for_drain(queue, 2 * len(conversion_ids), started, args.timeout)
        jobs_done = queue.finished_job_registry.count + queue.failed_job_registry.count
        rss_mb = sum(rss_kb_with_children(worker.pid) for worker in workers) / 1024
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)  # warm stop: the current job finishes
        for worker in workers:
            worker.wait(timeout=60)
        for log in logs:
            log.close()
    errors = logged_errors(scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    drained = drained_at is not None
    end = drained_at if drained else time.monotonic()
    working = max(end - (first_job_at or end), 1e-9)
    return {
        "jobs_per_s": jobs_done / working,
        "purchases_per_s": delivered_count(database_url) / working,
        "drain_s": end - started,
        "start_s": (first_job_at or end) - started,
        "webhooks": receiver.received - received_before,
        "delivered": delivered_count(database_url),
        "rss_mb": rss_mb,
        "errors": errors,
        "drained": drained,
    }


def worker_command(procfile_worker: str, redis_url: str, worker_class: str) -> list[str]:
    """The Procfile's worker line, run from this venv, with `worker_class` in place of its own."""
    words = procfile_worker.replace("$REDIS_URL", redis_url).split()
    assert words[:2] == ["rq", "worker"], procfile_worker
    words[words.index("--worker-class") + 1] = worker_class
    return [str(Path(sys.executable).parent / "rq"), *words[1:]]


def prepare_database(url: str, webhook_url: str, conversions: int) -> list[str]:
    """Rebuild the scratch database; seed a creator with a link, one click, a webhook destination
    for purchases and `conversions` purchases from that click. Answers the purchases' ids."""
    from linktrack.auth.service import register_user
    from linktrack.extensions import db
    from linktrack.forwarding.destinations import create_destination
    from linktrack.models import ClickEvent, ConversionEvent, utcnow

    settings = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    settings["FORWARDING_ALLOW_PRIVATE_ADDRESSES"] = True  # the receiver is on loopback, as for the worker
    app = rebuild_database(url, settings)
    with app.app_context():
        user = register_user("bench-jobs@example.com", "correct horse battery")
        link = bench_link(
            user.id,
            "benchjobs",
            "https://academy.example.com/course",
            campaign="bench",
            allowed_origins=["https://academy.example.com"],
        )
        db.session.flush()
        click = ClickEvent(campaign_link_id=link.id, clicked_at=utcnow() - timedelta(hours=1))
        db.session.add(click)
        db.session.flush()
        rows = [
            ConversionEvent(
                id=uuid.uuid4(),
                tracking_id=click.tracking_id,
                campaign_link_id=link.id,
                event_type="purchase",
                revenue_amount=Decimal("49.99"),
                event_id=f"bench-{number}",
                source="server",
                event_data={"email": f"buyer{number}@example.com"},
            )
            for number in range(conversions)
        ]
        db.session.add_all(rows)
        db.session.commit()
        create_destination(user.id, "webhook", "bench receiver", {"url": webhook_url}, ["purchase"])
        ids = [str(row.id) for row in rows]
        db.engine.dispose()
    return ids


def enqueue_forwarding(database_url: str, redis_url: str, conversion_ids: list[str]) -> None:
    """What the conversion API does after each commit: one forward_conversion job per purchase."""
    app = bench_app(database_url, {"REDIS_URL": redis_url})
    with app.app_context():
        for conversion_id in conversion_ids:
            assert linktrack_queue.enqueue("forward_conversion", conversion_id) == "queued"


def wait_for_drain(queue: Queue, jobs: int, started: float, timeout: int) -> tuple[float | None, float | None]:
    """(when the first job started, when all `jobs` had run and nothing waited), monotonic; None for
    what did not happen within `timeout` seconds of `started`."""
    queued = queue.count
    first_job_at = drained_at = None
    while time.monotonic() - started < timeout:
        waiting, running = queue.count, queue.started_job_registry.count
        if first_job_at is None and (running or waiting < queued):
            first_job_at = time.monotonic()
        finished = queue.finished_job_registry.count + queue.failed_job_registry.count
        if first_job_at is not None and waiting == 0 and running == 0 and finished >= jobs:
            drained_at = time.monotonic()
            break
        time.sleep(0.02)
    return first_job_at, drained_at


def delivered_count(url: str) -> int:
    target = make_url(url)
    with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn:
        return conn.execute("SELECT count(*) FROM forwarding_deliveries WHERE status = 'delivered'").fetchone()[0]


def rss_kb_with_children(pid: int) -> int:
    """The worker's resident memory, with its scheduler process (and, forking, the job's horse)."""
    total = 0
    for process in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def logged_errors(scratch: str) -> int:
    lines = []
    for log in Path(scratch).glob("worker-*.log"):
        lines += log.read_text().splitlines()
    errors = [line for line in lines if "ERROR" in line or "Traceback" in line]
    if errors:
        print(f"  first logged error: {errors[0][:200]}")
    return len(errors)


if __name__ == "__main__":
    main()
