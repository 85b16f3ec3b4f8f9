"""Short links' rate limit per link and address (issue 13, item 4): over it the viewer is still
redirected, to the plain destination, and nothing is counted."""

import uuid
from datetime import datetime, timezone

import pytest
import time_machine
from sqlalchemy import func, select

from linktrack.extensions import db
from linktrack.models import CampaignLink, ClickEvent

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}
DESTINATION = "https://landing.example.com/offer"


@pytest.fixture
def frozen():
    with time_machine.travel(datetime(2026, 3, 2, 12, 0, 10, tzinfo=timezone.utc), tick=False) as traveller:
        yield traveller


def short_code(app, link_id: str) -> str:
    with app.app_context():
        return db.session.get(CampaignLink, uuid.UUID(link_id)).short_code


def clicks(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ClickEvent))


def click(app, code: str, ip: str) -> str:
    answer = app.test_client().get(f"/{code}", headers=BROWSER, environ_base={"REMOTE_ADDR": ip})
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_an_address_over_the_limit_is_redirected_without_tracking(make_app, creator, make_link, frozen):
    app = make_app(RATELIMIT_ENABLED=True, SHORT_LINK_RATE_LIMIT_PER_IP="3/minute;5/hour")
    user_id = creator()[0]
    code = short_code(app, make_link(user_id, destination_url=DESTINATION))
    other = short_code(app, make_link(user_id, destination_url=DESTINATION))

    assert all("ct_tracking_id=" in click(app, code, "203.0.113.7") for _ in range(3))
    over = click(app, code, "203.0.113.7")
    assert over.startswith(DESTINATION) and "ct_tracking_id" not in over and "ct_campaign_link_id" not in over
    assert clicks(app) == 3
    # Another viewer, and the same viewer on another link, are counted apart.
    assert "ct_tracking_id=" in click(app, code, "198.51.100.20")
    assert "ct_tracking_id=" in click(app, other, "203.0.113.7")
    # The next minute opens the minute's limit again; the hour's still counts.
    frozen.shift(60)
    assert [("ct_tracking_id=" in click(app, code, "203.0.113.7")) for _ in range(3)] == [True, True, False]
    assert clicks(app) == 3 + 2 + 2


def test_the_limit_is_shared_by_processes_through_redis(make_app, creator, make_link, redis_client, redis_url, frozen):
    apps = [make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url, SHORT_LINK_RATE_LIMIT_PER_IP="3/minute")]
    apps.append(
        make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url, SHORT_LINK_RATE_LIMIT_PER_IP="3/minute")
    )
    code = short_code(apps[0], make_link(creator()[0], destination_url=DESTINATION))
    tracked = [("ct_tracking_id=" in click(app, code, "203.0.113.7")) for app in (*apps, *apps)]
    assert tracked == [True, True, True, False]
    # No raw address is stored in Redis: the counter is named by the link and the address's hash.
    assert not any(b"203.0.113.7" in key for key in redis_client.keys("*"))
