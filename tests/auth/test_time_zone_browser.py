"""Registration in headless Chromium picks up the browser's time zone (Playwright's timezone_id),
from a static script the strict CSP allows, and Settings shows it; the pages pass axe."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from linktrack.extensions import db
from linktrack.models import User
from tests.support.accessibility import AccessibilityAudit, serve_axe
from tests.support.live import serve_app

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
WAIT_MS = 10_000


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York"])
def test_registration_takes_the_browsers_time_zone(browser, app, zone):
    email = f"{zone.split('/')[1].lower()}@example.com"
    with serve_app(app) as app_url:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=zone)
        serve_axe(context, app_url)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        problems = []
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        audit = AccessibilityAudit(app_url)

        page.goto(f"{app_url}/register")
        audit.check(page, "register")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Confirm password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text("Welcome to linktrack!")).to_be_visible()

        page.goto(f"{app_url}/settings")
        expect(page.get_by_role("combobox", name="Time zone")).to_have_value(zone)
        audit.check(page, "settings")
        context.close()
    assert problems == []  # no CSP refusal, no script error
    assert audit.violations == [], audit.report()
    with app.app_context():
        assert db.session.scalar(select(User.time_zone).where(User.email == email)) == zone
