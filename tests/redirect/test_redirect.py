"""GET /<short_code>: the 302 and its query, 404/410 pages, headers, the link cache, storage failures."""

import logging
import uuid
from datetime import datetime, timedelta, timezone
from html import escape
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine
from flask import g, request_finished
from sqlalchemy import text

from linktrack.extensions import db
from linktrack.links import cache
from linktrack.models import utcnow
from linktrack.models.events import embedded_time
from tests.support.redirect import click, create_link, stored_clicks, update_link

START = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def owner(creator):
    return creator()[0]


def query_of(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query, keep_blank_values=True)


def test_redirects_to_the_destination_with_utm_and_tracking_ids(app, client, owner):
    link = create_link(app, owner)

    response = click(client, link["short_code"])

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "academy.example.com", "/course")
    query = dict(query_of(response.headers["Location"]))
    assert query == {
        "utm_source": "youtube",
        "utm_medium": "video",
        "utm_campaign": "spring-launch",
        "utm_content": "dQw4w9WgXcQ",
        "ct_tracking_id": query["ct_tracking_id"],
        "ct_campaign_link_id": str(link["id"]),
    }
    # time-ordered (UUIDv7) and naming the click's time, to the millisecond: lookups find its partition
    assert uuid.UUID(query["ct_tracking_id"]).version == 7
    [stored] = stored_clicks(app)
    assert stored.tracking_id == uuid.UUID(query["ct_tracking_id"])
    assert embedded_time(stored.tracking_id) == stored.clicked_at.replace(
        microsecond=stored.clicked_at.microsecond // 1000 * 1000
    )
    assert stored.id.version == 7
    assert stored.campaign_link_id == link["id"]


def test_existing_query_and_fragment_are_kept(app, client, owner):
    link = create_link(app, owner, destination_url="https://shop.example.com/gear?ref=yt&empty=&tag=a&tag=b#buy-now")

    location = click(client, link["short_code"]).headers["Location"]

    assert location.startswith("https://shop.example.com/gear?ref=yt&empty=&tag=a&tag=b&utm_source=youtube&")
    assert urlsplit(location).fragment == "buy-now"
    assert location.endswith("#buy-now")


def test_the_destinations_own_utm_wins_over_the_links(app, client, owner):
    link = create_link(
        app, owner, destination_url="https://academy.example.com/?utm_source=newsletter&utm_campaign=", utm_term="cut"
    )

    query = query_of(click(client, link["short_code"]).headers["Location"])

    keys = [key for key, _ in query]
    assert keys.count("utm_source") == 1 and keys.count("utm_campaign") == 1
    values = dict(query)
    assert values["utm_source"] == "newsletter"
    assert values["utm_campaign"] == ""  # set by the creator, even if empty
    assert values["utm_medium"] == "video"
    assert values["utm_term"] == "cut"


def test_links_without_utm_add_only_the_tracking_ids(app, client, owner):
    utm_fields = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
    link = create_link(app, owner, **dict.fromkeys(utm_fields))

    query = dict(query_of(click(client, link["short_code"]).headers["Location"]))

    assert set(query) == {"ct_tracking_id", "ct_campaign_link_id"}


def test_every_click_gets_a_fresh_tracking_id_that_overrides_one_in_the_destination(app, client, owner):
    stale = str(uuid.uuid4())
    link = create_link(app, owner, destination_url=f"https://academy.example.com/?ct_tracking_id={stale}")

    locations = [click(client, link["short_code"]).headers["Location"] for _ in range(3)]

    tracking_ids = [[value for key, value in query_of(loc) if key == "ct_tracking_id"] for loc in locations]
    assert all(len(ids) == 1 for ids in tracking_ids)
    fresh = {ids[0] for ids in tracking_ids}
    assert len(fresh) == 3 and stale not in fresh
    assert {str(c.tracking_id) for c in stored_clicks(app)} == fresh


def test_unknown_code_is_a_friendly_404_page(app, client, owner):
    create_link(app, owner, short_code="spring-sale")

    for path in ("/Spring-Sale", "/no-such-link", "/not.a.code", "/" + "x" * 65):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
        assert "This link does not exist" in response.get_data(as_text=True)
    assert stored_clicks(app) == []


def test_archived_link_answers_410_page_and_logs_nothing(app, client, owner):
    link = create_link(app, owner, archived_at=utcnow())

    response = click(client, link["short_code"])

    assert response.status_code == 410
    assert "This link has ended" in response.get_data(as_text=True)
    assert stored_clicks(app) == []


def test_link_answers_410_from_its_expiry_on(app, client, owner):
    link = create_link(app, owner, expires_at=START + timedelta(hours=1))

    with time_machine.travel(START + timedelta(minutes=59, seconds=59), tick=False):
        assert click(client, link["short_code"]).status_code == 302
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        assert click(client, link["short_code"]).status_code == 410
    assert len(stored_clicks(app)) == 1


def test_head_is_redirected_but_not_counted(app, client, owner):
    link = create_link(app, owner)

    response = client.head(f"/{link['short_code']}")

    assert response.status_code == 302
    assert "ct_tracking_id=" in response.headers["Location"]
    assert stored_clicks(app) == []


@pytest.mark.parametrize("status_link", ["live", "archived", "unknown"])
def test_redirect_answers_are_never_cached_and_say_how_much_referrer_to_pass_on(app, client, owner, status_link):
    link = create_link(app, owner, archived_at=utcnow() if status_link == "archived" else None)
    code = link["short_code"] if status_link != "unknown" else "nothing-here"

    response = click(client, code)

    assert response.status_code == {"live": 302, "archived": 410, "unknown": 404}[status_link]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_a_signed_in_creator_clicking_gets_no_cookie_and_no_user_is_loaded(app, client, owner, register):
    register()  # the client now holds a signed-in session cookie
    link = create_link(app, owner)
    user_loaded = []

    def note_user(sender, response, **extra):
        user_loaded.append("_login_user" in g)

    request_finished.connect(note_user, app)
    try:
        responses = [click(client, link["short_code"]), client.get("/no-such-link")]
    finally:
        request_finished.disconnect(note_user, app)

    assert [r.status_code for r in responses] == [302, 404]
    for response in responses:
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    # The 302 is answered before Flask runs at all (ShortLinkFastPath); only the 404 page, which
    # renders the navigation, loads the user.
    assert user_loaded == [True]
    assert client.get("/dashboard").status_code == 200  # the session itself is untouched


def test_an_anonymous_click_sets_no_cookie(app, client, owner):
    link = create_link(app, owner)

    response = click(client, link["short_code"])

    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("session") is None


def test_a_click_that_cannot_be_stored_is_still_redirected_and_logged(app, client, owner, caplog):
    link = create_link(app, owner)
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE click_events RENAME TO click_events_away"))
    try:
        with caplog.at_level(logging.ERROR, logger="linktrack.redirect.clicks"):
            response = click(client, link["short_code"])
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE click_events_away RENAME TO click_events"))

    assert response.status_code == 302
    assert "ct_tracking_id=" in response.headers["Location"]
    [record] = [r for r in caplog.records if r.name == "linktrack.redirect.clicks"]
    assert "not stored" in record.getMessage()
    assert stored_clicks(app) == []
    assert click(client, link["short_code"]).status_code == 302
    assert len(stored_clicks(app)) == 1  # and storage works again once the table is back


def test_an_archive_reaches_the_redirect_within_the_cache_ttl(app, client, owner):
    link = create_link(app, owner)
    with time_machine.travel(START, tick=False) as clock:
        assert click(client, link["short_code"]).status_code == 302  # now cached
        update_link(app, link["id"], archived_at=utcnow())

        clock.shift(cache.LINK_TTL_SECONDS - 0.5)
        assert click(client, link["short_code"]).status_code == 302
        clock.shift(0.5)
        assert click(client, link["short_code"]).status_code == 410

        update_link(app, link["id"], archived_at=None)  # restored
        clock.shift(cache.LINK_TTL_SECONDS)
        assert click(client, link["short_code"]).status_code == 302


def test_an_edited_destination_reaches_the_redirect_within_the_cache_ttl(app, client, owner):
    link = create_link(app, owner)
    with time_machine.travel(START, tick=False) as clock:
        click(client, link["short_code"])
        update_link(app, link["id"], destination_url="https://academy.example.com/new", utm_source="shorts")
        clock.shift(cache.LINK_TTL_SECONDS)
        location = click(client, link["short_code"]).headers["Location"]
    assert location.startswith("https://academy.example.com/new?utm_source=shorts&")


def test_forget_makes_an_edit_visible_at_once_in_this_process(app, client, owner):
    link = create_link(app, owner)
    with time_machine.travel(START, tick=False):
        click(client, link["short_code"])
        update_link(app, link["id"], archived_at=utcnow())
        with app.app_context():
            cache.forget(link["short_code"])
        assert click(client, link["short_code"]).status_code == 410


def test_unknown_codes_are_remembered_briefly(app, client, owner):
    with time_machine.travel(START, tick=False) as clock:
        assert click(client, "fresh-code").status_code == 404
        create_link(app, owner, short_code="fresh-code")
        assert click(client, "fresh-code").status_code == 404  # the miss is cached
        clock.shift(cache.MISS_TTL_SECONDS)
        assert click(client, "fresh-code").status_code == 302


def test_forget_also_drops_a_remembered_miss(app, client, owner):
    assert click(client, "brand-new").status_code == 404
    create_link(app, owner, short_code="brand-new")
    with app.app_context():
        cache.forget("brand-new")
    assert click(client, "brand-new").status_code == 302


def test_a_clock_stepped_back_does_not_keep_a_stale_entry(app, client, owner):
    link = create_link(app, owner)
    with time_machine.travel(START, tick=False):
        click(client, link["short_code"])
    update_link(app, link["id"], archived_at=utcnow())
    with time_machine.travel(START - timedelta(minutes=5), tick=False):
        assert click(client, link["short_code"]).status_code == 410


def test_named_routes_are_not_taken_for_short_codes(app, client, owner):
    create_link(app, owner, short_code="login")  # the links service refuses this; the route still wins

    assert client.get("/login").status_code == 200
    assert stored_clicks(app) == []


def test_the_fast_path_never_takes_the_apps_own_pages(app, client, owner):
    # A code equal to a route's first segment could only come from outside the links service
    # (which refuses reserved words); even then the page wins, never a redirect.
    create_link(app, owner, short_code="settings")
    create_link(app, owner, short_code="links")

    assert client.get("/settings").status_code == 302
    assert client.get("/settings").headers["Location"].startswith("/login")
    assert client.get("/links").headers["Location"].startswith("/login")
    assert stored_clicks(app) == []


def test_head_answers_like_get_without_a_body(app, client, owner):
    link = create_link(app, owner)

    get = click(client, link["short_code"])
    head = client.head(f"/{link['short_code']}")

    assert head.status_code == 302
    assert head.get_data() == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert b"Redirecting" in get.get_data()


def test_a_destination_with_non_ascii_characters_is_sent_uri_safe(app, client, owner):
    link = create_link(app, owner, destination_url="https://shop.example.com/café/über?q=naïve#größe")

    location = click(client, link["short_code"]).headers["Location"]

    assert location.isascii()
    assert location.startswith("https://shop.example.com/caf%C3%A9/%C3%BCber?q=na%C3%AFve&utm_source=youtube")
    assert location.endswith("#gr%C3%B6%C3%9Fe")


def test_the_flask_view_answers_a_click_exactly_as_the_fast_path_does(app, creator):
    """Both ways to a 302 (the WSGI fast path, and views.follow when the fast path hands a request on)
    build it with views.redirect_answer: same headers, same body, each click counted."""
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    link = create_link(app, creator()[0])
    fast = click(app.test_client(), link["short_code"])
    flask_only = app.wsgi_app.wsgi_app.wsgi_app  # under ShortLinkFastPath and ConversionFastPath
    viewed = click(Client(flask_only, Response), link["short_code"])
    assert (fast.status_code, viewed.status_code) == (302, 302)
    for name in ("Content-Type", "Cache-Control", "Referrer-Policy", "X-Content-Type-Options"):
        assert fast.headers[name] == viewed.headers[name], name
    for response in (fast, viewed):
        location = response.headers["Location"]
        assert location.startswith("https://academy.example.com/course?")
        assert response.get_data(as_text=True).endswith("If not, click the link.\n")
        assert f'href="{escape(location)}"' in response.get_data(as_text=True)
    assert len(stored_clicks(app)) == 2
