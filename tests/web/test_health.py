"""GET /healthz and GET /readyz as a load balancer sees them (web/health.py): /healthz is 200 with no
I/O whatever is away; /readyz is 200 when the database, Redis and the click writer answer, and 503
naming the one that does not, until it is back. Redis and PostgreSQL are taken away for real (a
redis-server and a cluster of the test's own, tests/support/faults.py), or pointed at a port
nobody listens on.
"""

import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import create_engine, text

from linktrack.config import normalise_database_url
from linktrack.counting.buffer import STALLED_SECONDS, ClickWriter, WriteLater
from linktrack.counting.consumer import consumer, count_now
from linktrack.redirect.clicks import click_writer, flush_clicks
from linktrack.web.health import READY_TIMEOUT_SECONDS
from tests.support.faults import RedisServer, free_port, wait_until
from tests.support.queries import statements_counted
from tests.support.redirect import CHROME_WINDOWS, create_link, stored_clicks

ALL_OK = {
    "database": {"status": "ok"},
    "redis": {"status": "ok"},
    "click_buffer": {"status": "ok"},
    "counting": {"status": "ok"},
}


def assert_probe_headers(response):
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def ready(client):
    response = client.get("/readyz")
    assert_probe_headers(response)
    return response.status_code, response.get_json()


# ---- /healthz -------------------------------------------------------------------------------------


def test_healthz_is_200_without_a_single_database_statement(app, client):
    with statements_counted(app) as sent:
        response = client.get("/healthz")
        head = client.head("/healthz")

    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    assert head.status_code == 200
    assert_probe_headers(response)
    assert sent == []  # no short-code lookup, no session, no user


def test_healthz_and_readyz_are_never_looked_up_as_short_codes(app, client):
    with statements_counted(app) as sent:
        client.get("/readyz")
    assert not any("campaign_links" in statement for statement in sent)


@pytest.mark.parametrize("code", ["healthz", "readyz", "ReadyZ"])
def test_a_creator_cannot_take_a_health_route_as_short_code(client, creator, api_key_for, code):
    key = api_key_for(creator()[0])
    body = {"video_url": "dQw4w9WgXcQ", "destination_url": "https://shop.example.com/", "short_code": code}
    response = client.post("/api/links", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "short_code_reserved"
    assert response.get_json()["error"]["field"] == "short_code"


def test_a_signed_in_creators_probe_gets_no_session_cookie(client, register):
    register()  # the client now carries a session cookie
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200
        assert_probe_headers(response)


# ---- /readyz --------------------------------------------------------------------------------------


def test_readyz_is_200_with_each_check_when_everything_answers(make_app, redis_url):
    status, body = ready(make_app(REDIS_URL=redis_url).test_client())
    assert (status, body) == (200, {"status": "ready", "failing": [], "checks": ALL_OK})


def test_without_redis_configured_the_redis_check_is_unused(client):
    status, body = ready(client)
    assert status == 200
    assert body["checks"]["redis"] == {"status": "unused"}


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.kill()


def test_readyz_names_redis_while_it_is_away_and_is_ready_again_when_it_returns(make_app, redis_server):
    client = make_app(REDIS_URL=redis_server.url).test_client()
    assert ready(client)[0] == 200

    redis_server.kill()
    started = time.monotonic()
    status, body = ready(client)
    waited = time.monotonic() - started

    assert status == 503
    assert body["status"] == "not_ready"
    assert body["failing"] == ["redis"]
    assert body["checks"]["redis"] == {"status": "failing", "reason": "ConnectionError"}
    assert body["checks"]["database"] == {"status": "ok"}
    assert waited < READY_TIMEOUT_SECONDS  # one try at a refused port, not redis-py's ten with backoff
    assert client.get("/healthz").status_code == 200

    redis_server.start()  # the same port
    assert ready(client) == (200, {"status": "ready", "failing": [], "checks": ALL_OK})


def test_readyz_names_the_database_when_nothing_listens_on_its_port(make_app, redis_url):
    nobody = normalise_database_url(f"postgresql://postgres@127.0.0.1:{free_port()}/linktrack")
    client = make_app(SQLALCHEMY_DATABASE_URI=nobody, REDIS_URL=redis_url).test_client()

    status, body = ready(client)

    assert status == 503
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == {"status": "failing", "reason": "OperationalError"}
    assert body["checks"]["redis"] == {"status": "ok"}
    assert client.get("/healthz").status_code == 200


def test_readyz_follows_a_postgresql_restart(make_app, cluster):
    client = make_app(SQLALCHEMY_DATABASE_URI=normalise_database_url(cluster.url)).test_client()
    assert ready(client)[0] == 200  # a pooled connection now exists

    cluster.stop()
    status, body = ready(client)
    assert (status, body["failing"]) == (503, ["database"])
    assert client.get("/healthz").status_code == 200

    cluster.start()
    assert ready(client)[0] == 200


# ---- the click writer -----------------------------------------------------------------------------


@contextmanager
def table_locked(database_url, table: str):
    """`table` locked by another connection while the block runs, as a long migration would."""
    locker = create_engine(database_url)
    lock = locker.connect()
    lock.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
    try:
        yield
    finally:
        lock.rollback()
        lock.close()
        locker.dispose()


def ready_past_the_stalled_bound(client):
    later = datetime.now(timezone.utc) + timedelta(seconds=STALLED_SECONDS + 5)
    with time_machine.travel(later, tick=False):
        return ready(client)


@pytest.mark.postgresql
def test_readyz_names_the_click_buffer_when_clicks_wait_on_a_locked_table(make_app, creator, database_url):
    """The database answers SELECT 1, but the click batch waits on a lock: past STALLED_SECONDS the
    process is not ready; once the batch is written it is again."""
    app = make_app(CLICK_FLUSH_SECONDS=0.05)
    link = create_link(app, creator()[0])
    client = app.test_client()
    with table_locked(database_url, "click_events"):
        clicked = client.get(f"/{link['short_code']}", headers={"User-Agent": CHROME_WINDOWS})
        assert clicked.status_code == 302  # the viewer does not wait for the batch
        assert ready(client)[0] == 200  # a batch in flight is not yet a stuck one

        status, body = ready_past_the_stalled_bound(client)
        assert status == 503
        assert body["failing"] == ["click_buffer"]
        assert body["checks"]["database"] == {"status": "ok"}
        assert body["checks"]["click_buffer"]["reason"].startswith("clicks not written for 3")

    with app.app_context():
        flush_clicks()  # waits for the batch the writer thread was blocked in
        assert len(stored_clicks(app)) == 1
        click_writer().close()
    assert ready(client)[0] == 200


@pytest.mark.postgresql
def test_readyz_names_the_counting_when_its_run_waits_on_a_locked_table(make_app, database_url):
    """The counting consumer adds stored events to the totals in a thread of its own
    (counting/consumer.py) and can be stuck the way the click writer is: its run waits on a lock
    while SELECT 1 still answers."""
    app = make_app(CLICK_COUNT_SECONDS=0.05)
    client = app.test_client()
    with table_locked(database_url, "uncounted_conversions"):
        with app.app_context():
            consumer().count_within(0.05)  # as a stored conversion asks, after its commit
        wait_until(lambda: consumer_running(app), 10, "the counting run to start")
        assert ready(client)[0] == 200  # a run in progress is not yet a stuck one

        status, body = ready_past_the_stalled_bound(client)
        assert status == 503
        assert body["failing"] == ["counting"]
        assert body["checks"]["click_buffer"] == {"status": "ok"}
        assert body["checks"]["counting"]["reason"].startswith("a counting run has waited 3")

    wait_until(lambda: not consumer_running(app), 10, "the counting run to end")
    with app.app_context():
        count_now()
    assert ready(client)[0] == 200


def consumer_running(app) -> bool:
    with app.app_context():
        return consumer().stalled(time.time() + STALLED_SECONDS + 5) is not None


class Database:
    """A `write` for a ClickWriter: refuses (WriteLater) while `down`, as store_clicks does with the
    database unreachable; the first write of a `dying` one ends the writer's thread (SystemExit,
    which its loop does not catch)."""

    def __init__(self, *, dying: bool = False):
        self.down = False
        self.dying = dying
        self.died = threading.Event()
        self.rows: list[dict] = []

    def write(self, rows: list[dict]) -> None:
        if self.dying:
            self.dying = False
            self.died.set()
            raise SystemExit
        if self.down:
            raise WriteLater("connection refused")
        self.rows.extend(rows)


def test_clicks_held_longer_than_the_bound_make_the_writer_stalled_until_written():
    database = Database()
    writer = ClickWriter(database.write, flush_seconds=3600)
    writer.submit({"number": 0})
    assert writer.stalled(time.time() + STALLED_SECONDS - 1) is None  # buffered, within the bound

    database.down = True
    assert writer.flush() == 0  # refused: held for the next try
    writer.submit({"number": 1})
    # The oldest held row decides, though a newer one arrived a moment ago.
    assert writer.stalled(time.time() + STALLED_SECONDS + 1).startswith("clicks not written for 3")

    database.down = False
    writer.flush()  # (or the writer's own retry, a second later)
    assert database.rows == [{"number": 0}, {"number": 1}]
    assert writer.stalled(time.time() + STALLED_SECONDS + 1) is None
    writer.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit, on purpose
def test_a_writer_whose_thread_ended_with_clicks_waiting_is_stalled_at_once():
    database = Database(dying=True)
    writer = ClickWriter(database.write, flush_seconds=0.01)
    writer.submit({"number": 0})  # its batch ends the thread
    assert database.died.wait(timeout=10)
    writer.submit({"number": 1})  # nobody left to write it
    wait_until(lambda: writer.stalled(time.time()) is not None, 10, "the writer thread to end")
    assert writer.stalled(time.time()).startswith("its writer thread ended")

    writer.close()  # writes what is left from here
    assert database.rows[-1] == {"number": 1}
