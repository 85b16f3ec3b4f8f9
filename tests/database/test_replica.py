"""Report pages on a real streaming replica (pg_basebackup -R from the primary): with
REPORTS_DATABASE_URL set they read the replica, and trail it when its replay lags (paused here)
without breaking; everything that decides (sign-in, owner checks, conversions, counters, recount)
stays on the primary, which a standby would refuse to write anyway.
"""

import pytest
from sqlalchemy import text

from linktrack.counting.recount import recount_daily_stats
from linktrack.extensions import db, reports_session
from tests.database.test_pgbouncer import click, funnel, purchase, signed_in
from tests.support.faults import wait_until
from tests.support.redirect import create_link

pytestmark = pytest.mark.postgresql  # a cluster and a replica of the tests' own; run with the PostgreSQL suite


@pytest.fixture(scope="module")
def replica(primary):
    standby = primary.replica()
    yield standby
    standby.destroy()


def test_reports_read_the_replica_and_trail_it_while_decisions_stay_on_the_primary(primary, replica, app_on):
    app = app_on(primary.url, REPORTS_DATABASE_URL=replica.url)
    client = app.test_client()
    replica.sql("SELECT pg_wal_replay_pause()")  # the replica lags from here on
    try:
        user_id, _ = signed_in(app, client)  # the creator exists only on the primary so far
        link = create_link(app, user_id)
        for number in range(3):
            response = purchase(client, link["id"], click(client, link["short_code"]), number)
            assert response.status_code == 201, response.get_data(as_text=True)

        # The owner check reads the primary (the link is not on the replica yet): the page is
        # the creator's, with the replica's figures, which trail.
        assert funnel(client, link["id"]) == {"clicks": 0, "revenue": "0.00"}
        assert client.get(f"/links/{link['id']}/report").status_code == 200
        assert client.get("/dashboard").status_code == 200
    finally:
        replica.sql("SELECT pg_wal_replay_resume()")
    wait_until(lambda: replica.replayed(primary), 10, "the replica to replay the primary")

    assert funnel(client, link["id"]) == {"clicks": 3, "revenue": "30.00"}
    page = client.get(f"/links/{link['id']}/report")
    assert page.status_code == 200 and "30.00" in page.get_data(as_text=True)
    with app.app_context():
        assert reports_session().scalar(text("SELECT pg_is_in_recovery()")) is True
        assert db.session.scalar(text("SELECT pg_is_in_recovery()")) is False
        recount_daily_stats([link["id"]])  # it writes: a standby would refuse it


def test_without_the_setting_reports_read_the_primary(primary, replica, app_on):
    app = app_on(primary.url)
    with app.app_context():
        assert reports_session().scalar(text("SELECT pg_is_in_recovery()")) is False


def test_with_the_replica_down_reports_answer_503_and_clicks_and_conversions_go_on(primary, replica, app_on):
    app = app_on(primary.url, REPORTS_DATABASE_URL=replica.url)
    client = app.test_client()
    user_id, _ = signed_in(app, client)
    link = create_link(app, user_id)
    replica.stop()
    try:
        assert purchase(client, link["id"], click(client, link["short_code"]), 1).status_code == 201
        response = client.get(f"/api/conversions/funnel/{link['id']}")
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "service_unavailable"
        assert client.get(f"/links/{link['id']}/report").status_code == 503
        assert client.get("/readyz").status_code == 200  # the instance still serves what matters most
    finally:
        replica.start()
