"""The links list's Copy button in headless Chromium: it copies the short URL (static JS, under the
strict CSP), and without JavaScript it is a link to the page where the short URL can be copied."""

import pytest
from playwright.sync_api import expect

from tests.support.live import serve_app
from tests.support.redirect import create_link

pytestmark = pytest.mark.browser
WAIT_MS = 10_000


def signed_in_page(context, base: str, email: str, password: str):
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard", timeout=WAIT_MS)
    return page


def test_copy_puts_the_short_url_on_the_clipboard_and_without_javascript_opens_the_link(app, browser, creator):
    user_id, email, password = creator()
    link = create_link(app, user_id, short_code="spring")
    with serve_app(app) as base:
        context = browser.new_context()
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = signed_in_page(context, base, email, password)
        problems = []
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.goto(f"{base}/links")
        copy = page.get_by_role("link", name="Copy the short link /spring")
        copy.click()
        expect(copy).to_have_text("Copied", timeout=WAIT_MS)
        assert page.url == f"{base}/links", "a copy stays on the list"
        assert page.evaluate("navigator.clipboard.readText()") == f"{base}/spring"
        assert problems == [], "no script or style was refused by the CSP"
        context.close()

        plain = browser.new_context(java_script_enabled=False)
        page = signed_in_page(plain, base, email, password)
        page.goto(f"{base}/links")
        page.get_by_role("link", name="Copy the short link /spring").click()
        page.wait_for_url(f"{base}/links/{link['id']}#short-url", timeout=WAIT_MS)
        expect(page.get_by_role("textbox", name="Short link")).to_have_value(f"{base}/spring")
        plain.close()
