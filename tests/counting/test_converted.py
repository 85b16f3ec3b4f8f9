"""A click filed as a bot whose visitor then converts is a person's click: "1 click, 1 purchase,
100%", never "0 clicks, 1 purchase, 100% bot traffic", and the funnel never widens past its clicks."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from linktrack.counting import counters
from linktrack.counting.consumer import count_now
from linktrack.extensions import db
from linktrack.models import ClickEvent
from tests.support.counting import DAY_ONE, assert_rollups_and_recount_agree, convert, snapshot, visit
from tests.support.forms import form_post
from tests.support.redirect import CHROME_WINDOWS, create_link
from tests.support.reports import text_of

HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
)
NOON = DAY_ONE + timedelta(hours=12, seconds=1)  # 5 May 2026, 12:00 UTC


@pytest.fixture
def shop(app, creator):
    """A creator logged in, one link, and a client for the viewers."""
    with time_machine.travel(NOON, tick=False):
        user_id, email, password = creator()
        link = create_link(app, user_id)
        owner = app.test_client()
        assert form_post(owner, "/login", {"email": email, "password": password}).status_code == 302
    return link, owner, app.test_client()


def report(owner, link) -> tuple[dict, str]:
    html = owner.get(f"/links/{link['id']}/report").get_data(as_text=True)
    funnel = owner.get(f"/api/conversions/funnel/{link['id']}").get_json()
    return {stage["stage"]: stage["count"] for stage in funnel["stages"]}, html


def assert_funnel_never_widens(stages: dict) -> None:
    assert all(count <= stages["clicks"] for count in stages.values()), stages


def stored_click(app, tracking_id) -> ClickEvent:
    with app.app_context():
        return db.session.scalars(select(ClickEvent).where(ClickEvent.tracking_id == uuid.UUID(tracking_id))).one()


def test_a_headless_browser_that_buys_is_one_click_one_purchase_and_100_percent(app, shop):
    link, owner, viewer = shop
    with time_machine.travel(NOON, tick=False):
        headless = visit(viewer, link["short_code"], user_agent=HEADLESS, ip="198.51.100.20")
        assert stored_click(app, headless).is_bot, "filed as a bot when it clicked"
        convert(viewer, link["id"], headless, "purchase", "49.00")

        stages, html = report(owner, link)
        assert (text_of(html, "total-clicks"), text_of(html, "total-conversions")) == ("1", "1")
        assert "100.0% conversion rate" in html
        assert text_of(html, "bot-share") == "0.0%"
        assert stages == {"clicks": 1, "newsletter_signup": 0, "course_enrollment": 0, "purchase": 1}
        click = stored_click(app, headless)
        assert (click.is_bot, click.is_unique, click.bot_cleared_reason) == (False, True, "converted")
        assert click.bot_cleared_at == NOON

        visit(viewer, link["short_code"], user_agent=CHROME_WINDOWS, ip="198.51.100.21")
        stages, html = report(owner, link)
        assert (text_of(html, "total-clicks"), text_of(html, "total-conversions")) == ("2", "1")
        assert "50.0% conversion rate" in html
        assert_funnel_never_widens(stages)

        live = snapshot(app)
        day = live["stats"][(str(link["id"]), NOON.date())]
        assert (day["clicks"], day["unique_clicks"], day["bot_clicks"], day["purchase_visitors"]) == (2, 2, 0, 1)
        assert (str(link["id"]), NOON.date(), "browser", "HeadlessChrome") in live["breakdowns"]
        assert_rollups_and_recount_agree(app, live)
        assert report(owner, link)[0] == stages, "a recount shows the same"


def test_a_second_conversion_and_a_repeat_click_of_the_same_visitor_count_once(app, shop):
    link, owner, viewer = shop
    with time_machine.travel(NOON, tick=False):
        first = visit(viewer, link["short_code"], user_agent=HEADLESS, ip="198.51.100.30")
        convert(viewer, link["id"], first, "newsletter_signup")
        convert(viewer, link["id"], first, "purchase", "10.00")  # its click is a person's already
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        again = visit(viewer, link["short_code"], user_agent=HEADLESS, ip="198.51.100.30")
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        convert(viewer, link["id"], again, "purchase", "12.00")  # the same visitor's second click
    live = snapshot(app)
    day = live["stats"][(str(link["id"]), NOON.date())]
    assert (day["clicks"], day["unique_clicks"], day["bot_clicks"]) == (2, 1, 0), "the repeat is not unique"
    assert stored_click(app, again).bot_cleared_at == NOON + timedelta(minutes=5)
    assert_rollups_and_recount_agree(app, live)


def test_a_bot_click_that_converts_before_it_is_counted_is_counted_once_as_a_person(app, shop, monkeypatch):
    """The click's uncounted copy is changed when the run that counts the conversion does not take
    the click itself (another run's batch was full); the run that takes it counts a person."""
    link, _, viewer = shop
    with time_machine.travel(NOON, tick=False):
        monkeypatch.setattr("linktrack.tracking.service.conversion_stored", lambda: None)
        monkeypatch.setattr("linktrack.queue.sweep_if_due_without_redis", lambda: None)  # it would count too
        monkeypatch.setattr("linktrack.redirect.clicks.CountingConsumer.count_within", lambda self, seconds: None)
        headless = visit(viewer, link["short_code"], user_agent=HEADLESS, ip="198.51.100.40")
        convert(viewer, link["id"], headless, "purchase", "49.00")
        taken = counters._taken
        monkeypatch.setattr(
            counters,
            "_taken",
            lambda connection, table, key, limit: (
                [] if table is counters.UNCOUNTED_CLICKS else taken(connection, table, key, limit)
            ),
        )
        with app.app_context():
            assert count_now().conversions == 1
        monkeypatch.setattr(counters, "_taken", taken)
        with app.app_context():
            assert count_now().clicks == 1
    live = snapshot(app)
    day = live["stats"][(str(link["id"]), NOON.date())]
    assert (day["clicks"], day["unique_clicks"], day["bot_clicks"], day["purchase_count"]) == (1, 1, 0, 1)
    assert_rollups_and_recount_agree(app, live)


def test_a_bot_click_counted_in_the_same_run_as_its_conversion_is_counted_as_a_person(app, shop, monkeypatch):
    link, _, viewer = shop
    with time_machine.travel(NOON, tick=False):
        monkeypatch.setattr("linktrack.redirect.clicks.CountingConsumer.count_within", lambda self, seconds: None)
        headless = visit(viewer, link["short_code"], user_agent=HEADLESS, ip="198.51.100.50")
        convert(viewer, link["id"], headless, "course_enrollment")  # counts the click and the conversion
    live = snapshot(app)
    day = live["stats"][(str(link["id"]), NOON.date())]
    assert (day["clicks"], day["unique_clicks"], day["bot_clicks"], day["course_enrollment_visitors"]) == (1, 1, 0, 1)
    assert_rollups_and_recount_agree(app, live)


def test_a_bot_that_never_converts_stays_a_bot(app, shop):
    link, owner, viewer = shop
    with time_machine.travel(NOON, tick=False):
        bot = visit(viewer, link["short_code"], user_agent=HEADLESS, ip="198.51.100.60")
        person = visit(viewer, link["short_code"], ip="198.51.100.61")
        convert(viewer, link["id"], person, "purchase", "5.00")
        stages, html = report(owner, link)
    assert text_of(html, "bot-share") == "50.0%"
    assert stored_click(app, bot).bot_cleared_reason is None
    assert stages["clicks"] == 1
