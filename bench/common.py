"""What the benchmarks share: a scratch PostgreSQL database rebuilt by the migrations, gunicorn
and wrk helpers, a CPU meter and a webhook receiver."""

import os
import resource
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
from flask import Flask
from psycopg import sql
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import make_url

from linktrack import create_app
from linktrack.config import normalise_database_url

BENCH_SECRET_KEY = "bench-secret-key"


# Each benchmark's own scratch database on the local PostgreSQL. A benchmark empties the database
# it runs on, so no two share one, and none is named like a test's, a helper's or a person's.
DATABASES = {
    "conversions": "bench_conversions",
    "jobs": "bench_jobs",
    "lost": "bench_lost",
    "redirect": "bench_redirect",
    "reports": "bench_reports",
    "reports_small": "bench_reports_small",
    "scale": "bench_scale",
    "scale_conversions": "bench_scale_conversions",
    "soak": "bench_soak",
}
LOCAL_POSTGRESQL = "postgresql://postgres@127.0.0.1:5432/"
# Written on every database a benchmark creates: the mark that lets a later run empty it.
SCRATCH_MARK = "linktrack benchmark scratch database: every bench/ run empties it"


def scratch_database_url(benchmark: str) -> str:
    """`benchmark`'s database: BENCH_<NAME>_DATABASE_URL if set, else its own name in DATABASES."""
    return os.environ.get(f"BENCH_{benchmark.upper()}_DATABASE_URL", LOCAL_POSTGRESQL + DATABASES[benchmark])


def ensure_database(url: str) -> None:
    """Create the database `url` names if it does not exist (connecting to the `postgres` database),
    marked as a benchmark's scratch database."""
    with _admin_connection(url) as admin:
        name = make_url(url).database
        if not _database_exists(admin, name):
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            _mark_scratch(admin, name)


def claim_scratch_database(url: str) -> None:
    """Refuse (SystemExit) to go on with a database no benchmark made: one that holds tables, is not
    marked SCRATCH_MARK and is not named in DATABASES. A benchmark only ever empties what a
    benchmark created, whatever URL it is handed; an empty database, or one of the names above,
    is marked and used."""
    with _admin_connection(url) as admin:
        name = make_url(url).database
        mark = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if mark and mark[0] == SCRATCH_MARK:
            return
        with psycopg.connect(_libpq_url(url)) as target:
            tables = target.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            ).fetchone()[0]
        if tables and name not in DATABASES.values():
            raise SystemExit(
                f"refusing to empty database {name!r}: it has {tables} tables and no benchmark created it. "
                f"Point the benchmark at a new name (it creates it), or drop {name!r} yourself."
            )
        _mark_scratch(admin, name)


def rebuild_database(url: str, config: dict | None = None) -> Flask:
    """Create the database if needed, drop every table in it, migrate it (flask_migrate.upgrade).
    Only a benchmark's own database is emptied (claim_scratch_database).

    Returns the app built on it (`config` laid over the bench settings), ready for an app context.
    """
    from flask_migrate import upgrade

    ensure_database(url)
    claim_scratch_database(url)
    sqlalchemy_url = normalise_database_url(url)
    engine = create_engine(sqlalchemy_url)
    with engine.begin() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        for table in metadata.sorted_tables:  # a partitioned table takes its partitions with it
            connection.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
    engine.dispose()

    app = bench_app(url, config)
    with app.app_context():
        upgrade()
    return app


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin_connection(url: str) -> psycopg.Connection:
    """An autocommit connection to the `postgres` database of `url`'s server."""
    target = make_url(url)
    return psycopg.connect(
        host=target.host,
        port=target.port,
        user=target.username,
        password=target.password,
        dbname="postgres",
        autocommit=True,
    )


def _database_exists(admin: psycopg.Connection, name: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _mark_scratch(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(SCRATCH_MARK)))


BENCH_VIDEO_ID = "dQw4w9WgXcQ"


def bench_creator(email: str = "bench@example.com"):
    """A creator for a benchmark's links (needs an app context; added and flushed, not committed).
    The password hash is unusable on purpose: nobody logs in."""
    from linktrack.extensions import db
    from linktrack.models import User

    user = User(email=email, password_hash="!")
    db.session.add(user)
    db.session.flush()
    return user


def bench_link(user_id: int, short_code: str, destination_url: str, **fields):
    """A link to the benchmarks' video (needs an app context; added to the session, not committed)."""
    from linktrack.extensions import db
    from linktrack.models import CampaignLink

    link = CampaignLink(
        user_id=user_id,
        short_code=short_code,
        video_id=BENCH_VIDEO_ID,
        video_url=f"https://youtu.be/{BENCH_VIDEO_ID}",
        destination_url=destination_url,
        **fields,
    )
    db.session.add(link)
    return link


def bench_app(url: str, config: dict | None = None) -> Flask:
    """linktrack on `url` with a fixed secret and no Redis (jobs inline), as a benchmark needs it."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(url),
            "SECRET_KEY": BENCH_SECRET_KEY,
            "REDIS_URL": None,
            **(config or {}),
        }
    )


def wrk_report_lua(expected_status: int) -> str:
    """The end of every benchmark's wrk script: count answers with `expected_status` (and the rest)
    per thread, then print one JSON line that bench/redirect.py's `wrk()` reads. Scripts that use it
    must collect their threads in a `threads` table from setup()."""
    return """
function init(args) expected = 0; others = 0 end

function response(status, headers, body)
  if status == __EXPECTED__ then expected = expected + 1 else others = others + 1 end
end

function done(summary, latency, requests)
  local x, o = 0, 0
  for _, thread in ipairs(threads) do
    x = x + thread:get("expected")
    o = o + thread:get("others")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "expected": %d, "others": %d, '
    .. '"p50_us": %d, "p99_us": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, x, o, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout))
end
""".replace("__EXPECTED__", str(expected_status))


class CpuMeter:
    """CPU seconds spent by the app (a gunicorn master and its workers), the PostgreSQL backends
    serving one database, the Redis server (when `redis_pid` is given) and wrk, between `start()`
    and `stop()`, and the machine's steal: time the hypervisor gave this VM's CPUs to someone else.

    Throughput on a shared 2-CPU machine moves with whatever else runs; CPU time per request
    moves much less, so it says what the code costs (and what the machine could serve alone).
    """

    def __init__(self, gunicorn_pid: int, database_url: str, redis_pid: int | None = None):
        self.gunicorn_pid = gunicorn_pid
        self.database_url = database_url
        self.redis_pid = redis_pid

    def _snapshot(self) -> tuple[dict[int, float], dict[int, float], float]:
        app = [self.gunicorn_pid, *_children(self.gunicorn_pid)]
        target = make_url(self.database_url)
        with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname=target.database) as conn:
            backends = [
                pid
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        redis = _cpu([self.redis_pid] if self.redis_pid else [])
        return _cpu(app), _cpu(backends), children.ru_utime + children.ru_stime, redis, _steal(), time.monotonic()

    def start(self) -> None:
        self._before = self._snapshot()

    def stop(self) -> dict[str, float]:
        """Seconds of CPU per part: {"app", "postgresql", "redis", "wrk"} (wrk: every child process
        that ended), and "steal_share": stolen CPU time over the CPUs' time in between."""
        after = self._snapshot()
        elapsed = (after[5] - self._before[5]) * (os.cpu_count() or 1)
        return {
            "app": _delta(self._before[0], after[0]),
            "postgresql": _delta(self._before[1], after[1]),
            "redis": _delta(self._before[3], after[3]),
            "wrk": after[2] - self._before[2],
            "steal_share": (after[4] - self._before[4]) / elapsed if elapsed else 0.0,
        }


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def _cpu(pids) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def _steal() -> float:
    """Seconds every CPU of this machine has lost to the hypervisor since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def _delta(before: dict[int, float], after: dict[int, float]) -> float:
    """Processes that started in between count whole; those that ended are not seen."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def wait_until_ok(url: str, timeout: float = 60) -> None:
    """Poll `url` until it answers 200 (gunicorn is up and the app imported), or give up loudly."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not start ({url} never answered 200)")


class WebhookReceiver:
    """The creator's webhook endpoint: waits `delay` seconds, answers 200, counts the calls."""

    def __init__(self, delay: float = 0.0):
        receiver = self
        self.received = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if delay:
                    time.sleep(delay)
                with receiver._lock:
                    receiver.received += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
