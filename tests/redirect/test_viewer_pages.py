"""The pages a creator's viewer meets when a short link leads nowhere (404, 410, 429): the creator's
link and what to do next, and nothing of linktrack (no navigation, no log in, no sign-up, no brand).
A creator's own missing page keeps the site's 404 with its navigation."""

import uuid

import pytest

from linktrack.models import utcnow
from tests.support.pages import visible_text
from tests.support.redirect import click, create_link

MARKETING = ("Log in", "Create account", "linktrack", 'aria-label="Main"', "Go to linktrack")


def assert_viewer_page(response, status: int, heading: str) -> str:
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in html
    for text in MARKETING:
        assert text not in html, text
    assert "<script" not in html and "style=" not in html
    return visible_text(html)


def test_an_ended_link_says_so_and_nothing_else(app, client, creator, register):
    link = create_link(app, creator()[0], archived_at=utcnow())
    register()  # a signed-in visitor sees the same page: it is the creator's, not theirs

    text = assert_viewer_page(click(client, link["short_code"]), 410, "This link has ended")
    assert "The video description may have a newer link." in text


def test_an_unknown_code_is_the_viewers_404(client):
    text = assert_viewer_page(client.get("/no-such-link"), 404, "This link does not exist")
    assert "copied in full from the video description" in text


@pytest.fixture
def limited(make_app, redis_client, redis_url):
    return make_app(
        RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_ENABLED=True, SHORT_LINK_MISS_RATE_LIMIT_PER_IP="2/minute"
    )


def test_the_viewers_429_has_no_sign_up_either(limited):
    client = limited.test_client()
    answers = [client.get(f"/{uuid.uuid4().hex[:10]}") for _ in range(3)]

    assert [a.status_code for a in answers] == [404, 404, 429]
    assert "do not exist" in assert_viewer_page(answers[2], 429, "Too many tries")


def test_a_creators_missing_page_keeps_the_site_404(client):
    html = client.get("/links/not-a-uuid/report/extra").get_data(as_text=True)
    assert 'aria-label="Main"' in html and "Log in" in html and "Go to linktrack" in html
