"""The password reset in headless Chromium, from the login page to the emailed link (read from the real
SMTP server) and back, with an accessibility check (axe-core) of every page on the way."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.accessibility import AccessibilityAudit, serve_axe
from tests.support.live import serve_app

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new password"
WAIT_MS = 10_000


def test_a_creator_resets_a_forgotten_password_and_every_page_passes_axe(browser, make_app, smtp_server, creator):
    host, port, mailbox = smtp_server
    app = make_app(MAIL_SERVER=host, MAIL_PORT=port)
    _, email, _ = creator()
    with serve_app(app) as app_url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        serve_axe(context, app_url)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        audit = AccessibilityAudit(app_url)

        page.goto(f"{app_url}/login")
        page.get_by_role("link", name="Forgot password?").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
        audit.check(page, "forgot password")
        page.get_by_label("Email").fill("not an address")
        page.get_by_role("button", name="Email me a reset link").click()
        expect(page.get_by_text("Enter a valid email address, like you@example.com.")).to_be_visible()
        audit.check(page, "forgot password with an error")
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Email me a reset link").click()
        expect(page.get_by_role("status").filter(has_text="If an account uses that address")).to_be_visible()
        audit.check(page, "reset link sent")

        link = re.search(r"http://\S+/reset-password/\S+", mailbox.only_message_to(email).get_content())[0]
        page.goto(link)
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
        audit.check(page, "choose a new password")
        page.get_by_label("New password", exact=True).fill("short")
        page.get_by_label("Confirm new password").fill("short")
        page.get_by_role("button", name="Save new password").click()
        expect(page.get_by_text("Use between 8 and 128 characters.")).to_be_visible()
        audit.check(page, "choose a new password with an error")
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Save new password").click()
        expect(page.get_by_text("Your password has been reset")).to_be_visible()

        page.goto(link)
        expect(page.get_by_text("This reset link has expired or has already been used.")).to_be_visible()
        audit.check(page, "used reset link")

        page.goto(f"{app_url}/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(f"{app_url}/dashboard")
        context.close()

    assert audit.violations == [], audit.report()


def test_without_mail_the_forgot_password_page_passes_axe(browser, make_app):
    with serve_app(make_app()) as app_url:
        context = browser.new_context()
        serve_axe(context, app_url)
        page = context.new_page()
        audit = AccessibilityAudit(app_url)
        page.goto(f"{app_url}/forgot-password")
        expect(page.get_by_text("flask users set-password you@example.com")).to_be_visible()
        audit.check(page, "forgot password without mail")
        context.close()

    assert audit.violations == [], audit.report()
