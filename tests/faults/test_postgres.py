"""PostgreSQL restarted under load: 503s while it is away, no 500 and no stack trace, clicks held
and written once it is back, and the app recovers without a restart of its own.

The test runs its own PostgreSQL cluster (tests/faults_support.py), never the shared one, and
serves the app on a real socket (tests/live.py) while threads keep requesting.
"""

import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
import time_machine
from flask_migrate import upgrade
from sqlalchemy import func, select

from linktrack import create_app
from linktrack import queue as jobqueue
from linktrack.config import normalise_database_url
from linktrack.counting.buffer import ClickWriter, WriteLater
from linktrack.extensions import db
from linktrack.models import ClickEvent, ConversionEvent
from tests.support.app import app_settings as settings_for
from tests.support.faults import wait_until
from tests.support.live import serve_app
from tests.support.redirect import CHROME_WINDOWS, create_link

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
ORIGIN = "https://academy.example.com"
BROWSER = {"User-Agent": CHROME_WINDOWS}


@pytest.fixture
def app_on_cluster(cluster, tmp_path):
    """linktrack migrated onto the private cluster, with clicks written behind (the production way)."""
    settings = settings_for(
        normalise_database_url(cluster.url), CLICK_FLUSH_SECONDS=0.05, INSTANCE_PATH=str(tmp_path / "instance")
    )
    app = create_app(settings)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        from linktrack.redirect.clicks import click_writer

        click_writer().close()
        db.session.remove()
        db.engine.dispose()


def signed_in_creator(app, base: str) -> tuple[requests.Session, str]:
    """A creator registered and logged in through the pages; returns their browser and an API key."""
    from linktrack.auth.service import create_api_key
    from linktrack.models import User
    from tests.support.forms import csrf_token_from

    browser = requests.Session()
    email, password = f"creator-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery"
    form = browser.get(f"{base}/register").text
    fields = {"email": email, "password": password, "confirm": password, "csrf_token": csrf_token_from(form)}
    assert browser.post(f"{base}/register", data=fields, allow_redirects=False).status_code == 302
    with app.app_context():
        _, key = create_api_key(User.by_email(email), "faults")
    return browser, key


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def stored_tracking_ids(app) -> set[str]:
    with app.app_context():
        return {str(tracking_id) for tracking_id in db.session.scalars(select(ClickEvent.tracking_id))}


def conversion(base: str, link: dict, tracking_id: str, event_id: str) -> requests.Response:
    body = {
        "tracking_id": tracking_id,
        "campaign_link_id": str(link["id"]),
        "event_type": "purchase",
        "revenue_amount": "19.00",
        "event_id": event_id,
    }
    return requests.post(f"{base}/api/conversions", json=body, headers={"Origin": ORIGIN}, timeout=10)


def tracking_id_of(response: requests.Response) -> str:
    return response.headers["Location"].split("ct_tracking_id=")[1].split("&")[0]


class Load:
    """Threads requesting the redirect, a report page and the links API until stopped; every
    answer's status is kept, so the test can say nothing but the expected ones came back."""

    def __init__(self, base: str, browser: requests.Session, key: str, short_code: str):
        self.targets = [
            ("redirect", lambda: requests.get(f"{base}/{short_code}", headers=BROWSER, allow_redirects=False)),
            ("page", lambda: browser.get(f"{base}/dashboard", allow_redirects=False)),
            ("api", lambda: requests.get(f"{base}/api/links", headers={"Authorization": f"Bearer {key}"})),
        ]
        self.statuses: dict[str, list[int]] = {kind: [] for kind, _ in self.targets}
        self.redirect_tracking_ids: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(target,)) for target in self.targets]

    def _run(self, target) -> None:
        kind, call = target
        while not self._stop.is_set():
            response = call()
            self.statuses[kind].append(response.status_code)
            if kind == "redirect" and response.status_code == 302:
                self.redirect_tracking_ids.append(tracking_id_of(response))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def answered(self) -> int:
        return sum(len(statuses) for statuses in self.statuses.values())


def test_a_postgresql_restart_under_load_answers_503_then_recovers_on_its_own(cluster, app_on_cluster):
    app = app_on_cluster
    # Frozen wall clock: the redirect's link cache (5 s) stays fresh however long the restart takes.
    with time_machine.travel(NOW, tick=False), serve_app(app) as base:
        browser, key = signed_in_creator(app, base)
        with app.app_context():
            from linktrack.models import User

            user_id = db.session.scalar(select(User.id))
        hot, cold = create_link(app, user_id), create_link(app, user_id)
        before = requests.get(f"{base}/{hot['short_code']}", headers=BROWSER, allow_redirects=False)
        assert before.status_code == 302  # the hot link is now in this process's cache
        wait_until(lambda: count(app, ClickEvent) == 1, 10, "the first click to be written")
        for event_id in ("before-restart-1", "before-restart-2"):
            assert conversion(base, hot, tracking_id_of(before), event_id).status_code == 201

        with Load(base, browser, key, hot["short_code"]) as load:
            wait_until(lambda: load.answered() >= 30, 30, "load before the restart")
            cluster.stop()
            down_from = load.answered()

            # While it is down: pages, the API and unknown-to-the-cache links say 503, in their own shape.
            page = browser.get(f"{base}/dashboard", allow_redirects=False)
            assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
            assert "linktrack is briefly unavailable" in page.text and 'class="brand"' in page.text
            assert "Traceback" not in page.text and int(page.headers["Retry-After"]) > 0
            api = requests.get(f"{base}/api/links", headers={"Authorization": f"Bearer {key}"})
            assert api.status_code == 503 and api.json()["error"]["code"] == "service_unavailable"
            refused = conversion(base, hot, tracking_id_of(before), "during-restart")
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "service_unavailable"
            uncached = requests.get(f"{base}/{cold['short_code']}", headers=BROWSER, allow_redirects=False)
            assert uncached.status_code == 503 and uncached.headers["Cache-Control"] == "no-store"
            # A link the process has cached still redirects; its click waits for the database.
            during = requests.get(f"{base}/{hot['short_code']}", headers=BROWSER, allow_redirects=False)
            assert during.status_code == 302
            wait_until(lambda: load.answered() >= down_from + 30, 30, "load while the database is down")

            cluster.start()
            # The first request after the restart succeeds: no app restart, pre-ping replaced the dead connections.
            assert requests.get(f"{base}/api/links", headers={"Authorization": f"Bearer {key}"}).status_code == 200
            assert browser.get(f"{base}/dashboard", allow_redirects=False).status_code == 200
            assert (
                requests.get(f"{base}/{cold['short_code']}", headers=BROWSER, allow_redirects=False).status_code == 302
            )
            # The click made while it was down is written by the click writer's next try (RETRY_SECONDS).
            wait_until(lambda: tracking_id_of(during) in stored_tracking_ids(app), 10, "the held click")
            assert conversion(base, hot, tracking_id_of(during), "after-restart").status_code == 201
            up_from = load.answered()
            wait_until(lambda: load.answered() >= up_from + 30, 30, "load after the restart")

    # Under load, nothing but the expected answers or a 503: never a 500.
    assert set(load.statuses["redirect"]) <= {302, 503}
    assert set(load.statuses["page"]) <= {200, 503} and set(load.statuses["api"]) <= {200, 503}
    assert 503 in load.statuses["page"] + load.statuses["api"]
    assert load.statuses["page"][-1] == 200 and load.statuses["api"][-1] == 200
    # Every click answered with a 302 reached the database, those made while it was down included.
    answered = {tracking_id_of(before), tracking_id_of(during), *load.redirect_tracking_ids}
    wait_until(lambda: count(app, ClickEvent) >= len(answered) + 1, 30, "the held clicks to be written")
    stored = stored_tracking_ids(app)
    assert answered <= stored and len(stored) == len(answered) + 1  # + the cold link's click after the restart
    assert count(app, ConversionEvent) == 3  # two before, one after; the refused one was not stored


def test_a_hung_database_costs_a_request_the_connect_timeout_then_503(tmp_path):
    """A server that accepts connections and never answers (hung, or a half-dead failover):
    without a connect timeout libpq would wait on it for as long as TCP does, holding a worker."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # connections complete in the kernel's backlog; nothing ever answers
        url = f"postgresql+psycopg://postgres@127.0.0.1:{hung.getsockname()[1]}/linktrack"
        app = create_app(
            settings_for(url, DATABASE_CONNECT_TIMEOUT_SECONDS=2, INSTANCE_PATH=str(tmp_path / "instance"))
        )
        with serve_app(app) as base:
            started = time.monotonic()
            answer = requests.get(f"{base}/api/links", headers={"Authorization": "Bearer lt_whatever"}, timeout=20)
            waited = time.monotonic() - started
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "service_unavailable"
    assert waited < 6, waited
    with app.app_context():
        db.engine.dispose()


# ---- jobs that meet the database away ----------------------------------------------------------


def test_a_forwarding_job_that_meets_the_database_away_is_tried_again_later(
    cluster, tmp_path, redis_client, redis_url, httpserver
):
    """The worker runs jobs in its own process: when the database is away then, RQ tries the job
    again later (jobqueue.RETRY_INTERVALS) instead of leaving it failed, so the conversion is still
    forwarded, once."""
    from rq import Queue, SimpleWorker
    from rq.registry import FailedJobRegistry

    from linktrack.forwarding.destinations import create_destination

    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    app = create_app(
        settings_for(normalise_database_url(cluster.url), REDIS_URL=redis_url, INSTANCE_PATH=str(tmp_path / "i"))
    )
    with app.app_context():
        upgrade()
    with app.app_context():
        from linktrack.auth.service import register_user

        user_id = register_user("creator@example.com", "correct horse battery").id
        create_destination(user_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"])
    link = create_link(app, user_id)
    client = app.test_client()
    tracking_id = tracking_id_of(client.get(f"/{link['short_code']}", headers=BROWSER))
    body = {"tracking_id": tracking_id, "campaign_link_id": str(link["id"]), "event_type": "purchase"}
    posted = client.post("/api/conversions", json={**body, "revenue_amount": "9.00"}, headers={"Origin": ORIGIN})
    assert posted.status_code == 201

    def work():
        with app.app_context():
            queue = Queue(jobqueue.QUEUE_NAME, connection=redis_client)
            SimpleWorker([queue], connection=redis_client).work(burst=True, with_scheduler=True)

    try:
        cluster.stop()
        work()  # forward_conversion fails: no database
        cluster.start()
        assert httpserver.log == []
        work()  # not due yet: nothing runs
        assert httpserver.log == []
        with time_machine.travel(datetime.now(timezone.utc) + timedelta(seconds=jobqueue.RETRY_INTERVALS[0] + 1)):
            work()  # due: the scheduler puts it back on the queue and it runs
        assert len(httpserver.log) == 1
        assert FailedJobRegistry(jobqueue.QUEUE_NAME, connection=redis_client).count == 0
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# ---- the click writer's hold-and-retry, on its own ---------------------------------------------


class Database:
    """A `write` for the ClickWriter that refuses (WriteLater) while `down`, as store_clicks does."""

    def __init__(self):
        self.down = False
        self.rows: list[dict] = []
        self.refusals = 0
        self.written = threading.Event()

    def write(self, rows: list[dict]) -> None:
        if self.down:
            self.refusals += 1
            raise WriteLater("connection refused")
        self.rows.extend(rows)
        self.written.set()


@pytest.mark.parametrize("flush_seconds", [0, 0.01], ids=["written-in-the-request", "written-behind"])
def test_clicks_refused_by_an_unreachable_database_are_held_and_written_in_order_once_it_is_back(flush_seconds):
    database = Database()
    writer = ClickWriter(database.write, flush_seconds=flush_seconds)
    database.down = True
    for number in range(5):
        writer.submit({"number": number})  # never raises: the viewer's redirect is not held up
    wait_until(lambda: database.refusals >= 1, 5, "a refused write")
    assert writer.held == 5 and database.rows == []

    database.written.clear()
    database.down = False
    assert database.written.wait(timeout=10)  # the writer's own retry, within RETRY_SECONDS
    wait_until(lambda: len(database.rows) == 5, 5, "the held clicks")
    assert [row["number"] for row in database.rows] == [0, 1, 2, 3, 4]
    writer.submit({"number": 5})
    wait_until(lambda: len(database.rows) == 6, 5, "a click after recovery")
    writer.close()


def test_held_clicks_are_bounded_and_the_oldest_given_up_are_reported(monkeypatch):
    from linktrack.counting import buffer as click_writer

    monkeypatch.setattr(click_writer, "MAX_HELD", 3)
    database, given_up = Database(), []
    writer = ClickWriter(database.write, flush_seconds=0, lost=lambda rows, exc: given_up.extend(rows))
    database.down = True
    for number in range(5):
        writer.submit({"number": number})
    assert [row["number"] for row in given_up] == [0, 1]
    assert writer.held == 3

    writer.close()  # still down at exit: what is held is reported, not silently dropped
    assert [row["number"] for row in given_up] == [0, 1, 2, 3, 4]


def test_clicks_held_by_a_flush_from_outside_the_writer_are_still_retried():
    """flush_clicks() (a test, a benchmark) meeting the database away holds the clicks too, and
    the writer's own thread tries them again."""
    database = Database()
    writer = ClickWriter(database.write, flush_seconds=3600)
    writer.submit({"number": 0})
    database.down = True
    assert writer.flush() == 0 and writer.held == 1
    database.down = False
    assert database.written.wait(timeout=10)
    assert database.rows == [{"number": 0}]
    writer.close()
