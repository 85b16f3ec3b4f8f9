"""The new-link form's live preview in real Chromium: bad input lists each field's problem, and a
reserved code ("login") is never shown as the short link; good input shows the final URL again."""

import pytest

from tests.support.live import serve_app, signed_in_page

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def test_the_live_preview_lists_the_problems_and_never_previews_a_reserved_code(app, browser, creator):
    _, email, _ = creator(password=PASSWORD)
    with serve_app(app) as app_url:
        page = signed_in_page(browser, app_url, email, PASSWORD)

        page.goto(f"{app_url}/links/new")
        with page.expect_response(lambda answer: answer.url.endswith("/api/links/preview")):
            page.fill("input[name=video_url]", "https://example.com/not-youtube")
            page.fill("input[name=destination_url]", "https://landing.example.com/offer")
            page.fill("input[name=short_code]", "login")
        page.wait_for_selector("[data-preview-problems]:not([hidden]) li")
        problems = page.locator("[data-preview-problems] li").all_inner_texts()
        assert any("reserved" in problem for problem in problems), problems
        assert len(problems) == 2, problems  # the video and the code, each with its own sentence
        assert page.locator("[data-preview-code]").inner_text() == "…"
        assert page.locator("[data-preview-url]").is_hidden()
        assert page.locator("[data-preview-problems] a[href='#short_code']").count() == 1

        with page.expect_response(lambda answer: answer.url.endswith("/api/links/preview")):
            page.fill("input[name=video_url]", "https://youtu.be/dQw4w9WgXcQ")
            page.fill("input[name=short_code]", "spring-offer")
        page.wait_for_selector("[data-preview-url]:not([hidden])")
        assert page.locator("[data-preview-problems]").is_hidden()
        assert page.locator("[data-preview-code]").inner_text() == "spring-offer"
        assert page.locator("[data-preview-url]").inner_text().startswith("https://landing.example.com/offer?")
