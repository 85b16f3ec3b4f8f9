"""The CampaignTracker in real headless Chromium: short link → landing page → conversion stored."""

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select

from linktrack.extensions import db
from linktrack.models import CampaignLink, ConversionEvent
from linktrack.tracking import sightings
from tests.support.live import serve_app, serve_directory

pytestmark = pytest.mark.browser

LANDING_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>Course</title>
<link rel="icon" href="data:,"><script src="{app}/api/conversions/script"></script></head>
<body><h1>Buy the course</h1></body></html>"""


@pytest.fixture
def servers(app, tmp_path):
    with serve_app(app) as app_url:
        (tmp_path / "landing.html").write_text(LANDING_HTML.format(app=app_url))
        with serve_directory(tmp_path) as landing_url:
            yield app_url, landing_url


@pytest.fixture
def short_link(app, creator, make_link, servers):
    _, landing_url = servers
    link_id = make_link(
        creator()[0], destination_url=f"{landing_url}/landing.html?plan=pro", allowed_origins=[landing_url]
    )
    return link_id, short_code_of(app, link_id)


def short_code_of(app, link_id: str) -> str:
    with app.app_context():
        return db.session.get(CampaignLink, uuid.UUID(link_id)).short_code


def conversions(app):
    with app.app_context():
        return list(db.session.scalars(select(ConversionEvent).order_by(ConversionEvent.converted_at)))


def watch_console(page) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: problems.append(f"console.error: {msg.text}") if msg.type == "error" else None)
    return problems


def test_purchase_through_a_real_short_link_is_stored(app, browser, servers, short_link):
    app_url, landing_url = servers
    link_id, short_code = short_link
    context = browser.new_context()
    page = context.new_page()
    problems = watch_console(page)

    with page.expect_response(lambda r: r.url.startswith(f"{landing_url}/landing.html")) as landed:
        page.goto(f"{app_url}/{short_code}")
    assert landed.value.url.startswith(f"{landing_url}/landing.html?plan=pro&")
    assert "ct_tracking_id=" in landed.value.url and f"ct_campaign_link_id={link_id}" in landed.value.url
    assert page.evaluate("CampaignTracker.getAttribution()")["campaign_link_id"] == link_id
    result = page.evaluate("CampaignTracker.trackPurchase(49.99, {eventId: 'order-1001'})")
    assert result["ok"] is True, result
    assert result["conversion"]["revenue_amount"] == "49.99"

    stored = conversions(app)
    assert [(c.event_type, str(c.revenue_amount), c.event_id, c.source) for c in stored] == [
        ("purchase", "49.99", "order-1001", "browser")
    ]
    assert str(stored[0].campaign_link_id) == link_id

    # A retried call with the same eventId is not counted twice.
    again = page.evaluate("CampaignTracker.trackPurchase(49.99, {eventId: 'order-1001'})")
    assert again["ok"] is True and again["conversion"]["id"] == result["conversion"]["id"]
    assert len(conversions(app)) == 1
    assert problems == []
    context.close()


def test_reload_and_a_later_visit_still_attribute(app, browser, servers, short_link):
    app_url, landing_url = servers
    _, short_code = short_link
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{app_url}/{short_code}")
    attribution = page.evaluate("CampaignTracker.getAttribution()")
    assert attribution["tracking_id"]

    # Reload without the parameters: the session keeps the attribution.
    page.goto(f"{landing_url}/landing.html")
    assert page.evaluate("CampaignTracker.getAttribution()") == attribution
    assert page.evaluate("CampaignTracker.trackNewsletterSignup()")["ok"] is True

    # Ten days later, in a new tab of the same browser: localStorage still attributes.
    later = datetime.now(timezone.utc) + timedelta(days=10)
    with time_machine.travel(later, tick=True):
        tab = context.new_page()
        tab.clock.set_system_time(later)
        tab.goto(f"{landing_url}/landing.html")
        assert tab.evaluate("CampaignTracker.getAttribution()") == attribution
        enrolled = tab.evaluate("CampaignTracker.trackCourseEnrollment({revenue: 199})")
    assert enrolled["ok"] is True, enrolled
    assert enrolled["conversion"]["days_since_click"] == 10
    assert [c.event_type for c in conversions(app)] == ["newsletter_signup", "course_enrollment"]
    context.close()


def test_a_new_click_replaces_the_stored_attribution(app, browser, servers, short_link):
    app_url, _ = servers
    _, short_code = short_link
    page = browser.new_page()
    page.goto(f"{app_url}/{short_code}")
    first = page.evaluate("CampaignTracker.getAttribution()")
    page.goto(f"{app_url}/{short_code}")
    second = page.evaluate("CampaignTracker.getAttribution()")
    assert second["tracking_id"] != first["tracking_id"]
    assert (
        page.evaluate("CampaignTracker.trackNewsletterSignup()")["conversion"]["tracking_id"] == second["tracking_id"]
    )


def test_a_visitor_without_attribution_resolves_no_attribution_quietly(app, browser, servers):
    _, landing_url = servers
    page = browser.new_page()
    problems = watch_console(page)
    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    page.goto(f"{landing_url}/landing.html")
    result = page.evaluate("CampaignTracker.trackPurchase(10)")
    assert result == {"ok": False, "reason": "no_attribution"}
    assert problems == []
    assert any("no attribution" in w for w in warnings)
    assert conversions(app) == []


def test_refusals_resolve_with_the_reason_and_never_throw(app, browser, servers, short_link):
    app_url, _ = servers
    _, short_code = short_link
    page = browser.new_page()
    problems = watch_console(page)
    page.goto(f"{app_url}/{short_code}")
    result = page.evaluate("CampaignTracker.trackPurchase(0)")
    assert result["ok"] is False and result["reason"] == "revenue_not_positive"
    unknown = page.evaluate("CampaignTracker.track('refund')")
    assert unknown["reason"] == "invalid_event_type"
    assert [p for p in problems if "pageerror" in p] == []
    assert conversions(app) == []


def test_the_tracking_parameters_leave_the_address_bar_once_stored(app, browser, make_link, creator, servers):
    app_url, landing_url = servers
    link_id = make_link(
        creator()[0],
        destination_url=f"{landing_url}/landing.html?plan=pro&note=a+b#pricing",
        allowed_origins=[landing_url],
    )
    short_code = short_code_of(app, link_id)
    context = browser.new_context()
    page = context.new_page()
    problems = watch_console(page)
    page.goto(f"{app_url}/{short_code}")
    page.wait_for_function("!location.search.includes('ct_')")
    # The page's own query (as the redirect sent it) and the fragment stay; a shared URL carries no attribution.
    assert page.url == f"{landing_url}/landing.html?plan=pro&note=a+b#pricing"

    result = page.evaluate("CampaignTracker.trackPurchase(19, {eventId: 'order-7'})")
    assert result["ok"] is True, result
    assert result["conversion"]["campaign_link_id"] == link_id
    page.reload()  # the stored attribution, not the URL, attributes now
    assert page.evaluate("CampaignTracker.getAttribution()")["tracking_id"] == result["conversion"]["tracking_id"]
    assert problems == []
    context.close()


def test_the_parameters_stay_when_nothing_could_store_them(app, browser, servers, short_link):
    app_url, landing_url = servers
    link_id, short_code = short_link
    context = browser.new_context()
    context.add_init_script("Storage.prototype.setItem = function () { throw new Error('QuotaExceededError'); };")
    page = context.new_page()
    page.goto(f"{app_url}/{short_code}")
    assert page.evaluate("CampaignTracker.getAttribution()")["campaign_link_id"] == link_id
    # A reload must still attribute, so the URL keeps what no storage could.
    assert "ct_tracking_id=" in page.url and f"ct_campaign_link_id={link_id}" in page.url
    assert page.evaluate("CampaignTracker.trackNewsletterSignup()")["ok"] is True
    context.close()


def test_the_install_panel_examples_run_and_the_panel_names_the_page(app, browser, creator, make_link, servers):
    """The creator copies the panel's tag and examples into a page; a visitor's conversion from it is
    what the panel then reports, by the page's origin."""
    app_url, landing_url = servers
    user_id, email, password = creator()
    link_id = make_link(user_id, destination_url=f"{landing_url}/landing.html", allowed_origins=[landing_url])
    short_code = short_code_of(app, link_id)
    studio = browser.new_context()
    studio.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    owner = studio.new_page()
    problems = watch_console(owner)
    owner.goto(f"{app_url}/login")
    owner.get_by_label("Email").fill(email)
    owner.get_by_label("Password", exact=True).fill(password)
    owner.get_by_role("button", name="Log in").click()
    owner.goto(f"{app_url}/links/{link_id}")
    assert owner.locator("#tracker-status").inner_text().startswith("No event yet")
    owner.locator('[data-copy-target="tracker-tag"]').click()
    assert (
        owner.evaluate("navigator.clipboard.readText()") == f'<script src="{app_url}/api/conversions/script"></script>'
    )
    owner.get_by_role("button", name="Copy examples").click()
    examples = owner.evaluate("navigator.clipboard.readText()")
    assert examples == owner.locator("#tracker-examples").inner_text()

    page = browser.new_page()
    page.goto(f"{app_url}/{short_code}")
    calls = [line.rstrip(";") for line in examples.splitlines() if line.startswith("CampaignTracker.")]
    results = [page.evaluate(call) for call in calls]
    assert [r["ok"] for r in results] == [True, True, True], results
    assert [c.event_type for c in conversions(app)] == ["purchase", "newsletter_signup", "course_enrollment"]

    owner.reload()
    seen = owner.locator("#tracker-status").inner_text()
    assert re.fullmatch(
        rf"Last event received from {re.escape(landing_url)} at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC\.", seen
    )
    with app.app_context():
        (sighting,) = sightings.link_sightings(user_id, uuid.UUID(link_id))
    assert sighting.origin == landing_url and sighting.last_seen_at > datetime.now(timezone.utc) - timedelta(minutes=1)
    assert problems == []
    studio.close()
