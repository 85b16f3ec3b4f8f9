"""linktrack behind Debian's PgBouncer in transaction mode (one server connection for every client,
the harshest pooling): the redirect, conversions, their forwarding job and the report pages work
through it with DATABASE_PREPARED_STATEMENTS off, and the recount and cleanup, which keep session
state, run on MAINTENANCE_DATABASE_URL. Each test also shows what breaks without the setting.
"""

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from linktrack.auth.service import create_api_key, register_user
from linktrack.counting.recount import recount_daily_stats
from linktrack.extensions import db
from linktrack.forwarding.destinations import create_destination
from linktrack.models import CampaignLink
from linktrack.tracking.cleanup import run_cleanup
from tests.support.forms import form_post
from tests.support.redirect import CHROME_WINDOWS, create_link

pytestmark = pytest.mark.postgresql  # a cluster and a pooler of the tests' own; run with the PostgreSQL suite

ORIGIN = "https://academy.example.com"
PASSWORD = "correct horse battery"
PURCHASES = 8  # more than psycopg's prepare threshold (5 runs of one statement on one connection)


def signed_in(app, client) -> tuple[int, str]:
    """A creator signed in on `client`; returns their id and an API key."""
    email = f"creator-{uuid.uuid4().hex[:8]}@example.com"
    with app.app_context():
        user = register_user(email, PASSWORD)
        _, key = create_api_key(user, "pooler")
        user_id = user.id
    assert form_post(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302
    return user_id, key


def click(client, short_code: str) -> str:
    response = client.get(f"/{short_code}", headers={"User-Agent": CHROME_WINDOWS})
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query)["ct_tracking_id"][0]


def purchase(client, link_id, tracking_id: str, number: int):
    body = {
        "tracking_id": tracking_id,
        "campaign_link_id": str(link_id),
        "event_type": "purchase",
        "revenue_amount": "10.00",
        "event_id": f"order-{number}",
    }
    return client.post("/api/conversions", json=body, headers={"Origin": ORIGIN})


def funnel(client, link_id) -> dict:
    response = client.get(f"/api/conversions/funnel/{link_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    return {"clicks": body["stages"][0]["count"], "revenue": body["total_revenue"]}


def advisory_locks(cluster) -> int:
    return int(cluster.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))


def test_clicks_conversions_jobs_reports_and_maintenance_through_transaction_pooling(
    primary, bouncer, app_on, httpserver
):
    app = app_on(bouncer.url, DATABASE_PREPARED_STATEMENTS=False, MAINTENANCE_DATABASE_URL=primary.url)
    client = app.test_client()
    user_id, key = signed_in(app, client)
    link = create_link(app, user_id)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    with app.app_context():
        create_destination(user_id, "webhook", "hook", {"url": httpserver.url_for("/hook")}, ["purchase"])
    carried_before = bouncer.transactions()

    for number in range(PURCHASES):
        response = purchase(client, link["id"], click(client, link["short_code"]), number)
        assert response.status_code == 201, response.get_data(as_text=True)

    assert len(httpserver.log) == PURCHASES  # each conversion's forwarding job delivered it
    assert funnel(client, link["id"]) == {"clicks": PURCHASES, "revenue": "80.00"}
    page = client.get(f"/links/{link['id']}/report")
    assert page.status_code == 200 and "80.00" in page.get_data(as_text=True)
    assert bouncer.transactions() - carried_before > 4 * PURCHASES  # the traffic went through PgBouncer

    with app.app_context():
        recount_daily_stats()
        recount_daily_stats()  # a second run on the same server would find the first's temporary tables
    cleaned = app.test_client().post("/api/conversions/cleanup", headers={"Authorization": f"Bearer {key}"})
    assert cleaned.status_code == 200, cleaned.get_data(as_text=True)
    assert funnel(client, link["id"]) == {"clicks": PURCHASES, "revenue": "80.00"}
    assert advisory_locks(primary) == 0  # the recount's lock ended with its own connection


def autocommit(engine):
    """A connection whose every statement is its own transaction, as the fast paths' kept ones are:
    it holds PgBouncer's one server connection only while a statement runs."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@pytest.mark.parametrize("prepared_statements", [True, False])
def test_prepared_statements_break_two_clients_sharing_a_transaction_pooled_server(
    primary, bouncer, app_on, prepared_statements
):
    """Two of the app's connections (two threads) look up a link, each more often than psycopg's
    prepare threshold: both prepare under the same name on PgBouncer's one server connection."""
    app = app_on(bouncer.url, DATABASE_PREPARED_STATEMENTS=prepared_statements)
    user_id, _ = signed_in(app, app.test_client())
    link = create_link(app, user_id)
    lookup = select(CampaignLink.id).where(CampaignLink.short_code == link["short_code"])
    with app.app_context(), autocommit(db.engine) as first, autocommit(db.engine) as second:

        def look_up_ten_times():
            for _ in range(10):
                assert first.scalar(lookup) == second.scalar(lookup) == link["id"]

        if prepared_statements:
            with pytest.raises(Exception, match='prepared statement "_pg3_0" already exists'):
                look_up_ten_times()
        else:
            look_up_ten_times()


@pytest.mark.parametrize("direct", [True, False])
def test_the_recount_leaves_its_lock_behind_on_a_transaction_pooled_server(primary, bouncer, app_on, direct):
    """Without MAINTENANCE_DATABASE_URL the recount's session advisory lock stays on the server
    connection PgBouncer keeps (closing the client ends nothing there): every later recount through
    another server connection would wait for it forever."""
    maintenance = {"MAINTENANCE_DATABASE_URL": primary.url} if direct else {}
    app = app_on(bouncer.url, DATABASE_PREPARED_STATEMENTS=False, **maintenance)
    with app.app_context():
        recount_daily_stats()
    assert advisory_locks(primary) == (0 if direct else 1)


def test_the_cleanup_and_its_recount_run_on_the_maintenance_url_with_the_pooler_down(primary, bouncer, app_on):
    app = app_on(bouncer.url, DATABASE_PREPARED_STATEMENTS=False, MAINTENANCE_DATABASE_URL=primary.url)
    client = app.test_client()
    user_id, _ = signed_in(app, client)
    link = create_link(app, user_id, attribution_window_days=30)
    for number in range(2):
        assert purchase(client, link["id"], click(client, link["short_code"]), number).status_code == 201
    with app.app_context():
        db.session.get(CampaignLink, link["id"]).attribution_window_days = -1  # both now outside it
        db.session.commit()
    bouncer.stop()

    with app.app_context():
        report = run_cleanup(user_id)

    assert report.conversions_outside_window_removed == 2
    assert report.links_recounted == 1
    assert primary.sql(f"SELECT count(*) FROM conversion_events WHERE campaign_link_id = '{link['id']}'") == "0"
