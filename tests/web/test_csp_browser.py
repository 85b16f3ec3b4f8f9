"""The pages' Content-Security-Policy, enforced by real headless Chromium: signed in, every page
(charts, QR code, the link form's live preview) works without a single violation."""

import pytest

from tests.support.live import serve_app

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"

# Runs before each page's own scripts; the CSP does not apply to what the browser is told to inject.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__violations.push(event.violatedDirective + " blocked " + (event.blockedURI || event.sample));
});
"""


def test_no_page_breaks_its_content_security_policy(app, browser, creator, make_link, make_click):
    user_id, email, _ = creator(password=PASSWORD)
    link_id = make_link(user_id)
    tracking_id = make_click(link_id)
    body = {"tracking_id": tracking_id, "campaign_link_id": link_id, "event_type": "purchase"}
    response = app.test_client().post(
        "/api/conversions", json={**body, "revenue_amount": "49.99"}, headers={"Origin": "https://landing.example.com"}
    )
    assert response.status_code == 201

    with serve_app(app) as app_url:
        page = browser.new_context().new_page()
        page.add_init_script(RECORD_VIOLATIONS)
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))

        def violations() -> list[str]:
            return page.evaluate("window.__violations")

        page.goto(f"{app_url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{app_url}/dashboard")
        assert violations() == []

        for path in (
            "/dashboard",
            "/links",
            f"/links/{link_id}",
            f"/links/{link_id}/report",
            "/reports/funnel",
            "/reports/revenue",
            "/settings",
            "/settings/forwarding",
        ):
            page.goto(app_url + path)
            assert violations() == [], path

        page.goto(f"{app_url}/links/new")
        with page.expect_response(lambda answer: answer.url.endswith("/api/links/preview")) as preview:
            page.fill("input[name=video_url]", "https://youtu.be/dQw4w9WgXcQ")
            page.fill("input[name=destination_url]", "https://landing.example.com/offer")
        assert preview.value.status == 200
        page.wait_for_selector("[data-preview-url]:not([hidden])")
        assert violations() == []
        assert [problem for problem in problems if "Content Security Policy" in problem] == []
