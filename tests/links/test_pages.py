"""The link pages as a creator uses them: forms with CSRF, previews, errors beside fields, QR codes."""

import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from html import unescape

import pytest
import time_machine

from linktrack.extensions import db
from linktrack.links import service
from linktrack.models import CampaignLink, User
from tests.support.forms import csrf_token_from, form_post

VIDEO = "dQw4w9WgXcQ"
LANDING = "https://shop.example.com/offer?ref=yt#buy"
PASSWORD = "correct horse battery"


def sign_up(app) -> tuple:
    """A new creator signed in on a client of their own; returns (client, user id)."""
    client = app.test_client()
    email = f"creator-{uuid.uuid4().hex[:8]}@example.com"
    response = form_post(client, "/register", {"email": email, "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    with app.app_context():
        return client, User.by_email(email).id


@pytest.fixture
def me(app):
    return sign_up(app)


def create_links(app, user_id, *specs: dict) -> list[str]:
    """Links made through the service, as the form would; returns their ids."""
    ids = []
    with app.test_request_context("/"):
        for spec in specs:
            values = {"video_url": VIDEO, "destination_url": "https://shop.example.com/offer", **spec}
            ids.append(str(service.create_link(user_id, values).id))
        db.session.remove()
    return ids


def text(response) -> str:
    return response.get_data(as_text=True)


def field_error(html: str, name: str) -> str | None:
    """The message shown under a field (the _forms.html macro ties it to the input by id)."""
    match = re.search(rf'<p class="error" id="{name}-error">(.*?)</p>', html, re.S)
    return unescape(match.group(1)) if match else None


def input_tag(html: str, name: str) -> str:
    match = re.search(rf'<(?:input|textarea)[^>]*\bname="{name}"[^>]*>', html)
    assert match, f"no input {name}"
    return unescape(match.group(0))


def final_destination(html: str) -> str | None:
    match = re.search(r'<p class="final-url mono"[^>]*>(.*?)</p>', html, re.S)
    return unescape(match.group(1)).strip() if match and match.group(1).strip() else None


def stored_links(app) -> list[CampaignLink]:
    with app.app_context():
        links = list(db.session.scalars(db.select(CampaignLink).order_by(CampaignLink.created_at)))
        db.session.expunge_all()
        return links


# ---- navigation and the empty list ---------------------------------------------------------------------


def test_links_page_needs_a_signed_in_creator(client):
    response = client.get("/links")
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_a_new_creator_is_told_how_to_start(me):
    client, _ = me
    html = text(client.get("/links"))
    assert '<a href="/links" aria-current="page">Links</a>' in html
    assert "Create your first campaign link" in html
    assert "Paste a YouTube video and the landing page" in html
    assert 'href="/links/new"' in html


# ---- creating -------------------------------------------------------------------------------------------


def test_create_a_link_through_the_form(app, me):
    client, user_id = me
    response = form_post(
        client,
        "/links/new",
        {
            "video_url": f"https://youtu.be/{VIDEO}?si=shared",
            "destination_url": LANDING,
            "campaign": "Spring Launch",
            "attribution_window_days": "14",
            "action": "save",
        },
    )
    assert response.status_code == 302
    (link,) = stored_links(app)
    assert response.location == f"/links/{link.id}"
    assert (link.user_id, link.video_id, link.utm_campaign, link.attribution_window_days) == (
        user_id,
        VIDEO,
        "spring-launch",
        14,
    )

    html = text(client.get(response.location))
    assert "Your link is ready: copy it into the video description." in html
    assert f'id="short-url" class="mono" type="text" value="http://localhost/{link.short_code}" readonly' in html
    assert 'data-copy-target="short-url">Copy</button>' in html
    assert "<svg" in html and "QR code for" in html
    assert final_destination(html) == (
        "https://shop.example.com/offer?ref=yt&utm_source=youtube&utm_medium=video"
        f"&utm_campaign=spring-launch&utm_content={VIDEO}#buy"
    )


def test_preview_shows_the_final_destination_before_saving(app, me):
    client, _ = me
    html = text(client.get("/links/new"))
    assert final_destination(html) is None
    assert "press <strong>Preview</strong>" in html
    assert 'placeholder="youtube"' in input_tag(html, "utm_source")

    response = form_post(
        client,
        "/links/new",
        {
            "video_url": VIDEO,
            "destination_url": "https://shop.example.com/p?utm_source=newsletter",
            "campaign": "Gear Guide",
            "utm_term": "lenses",
            "action": "preview",
        },
    )
    html = text(response)
    assert response.status_code == 200
    assert final_destination(html) == (
        "https://shop.example.com/p?utm_source=newsletter&utm_medium=video"
        f"&utm_campaign=gear-guide&utm_content={VIDEO}&utm_term=lenses"
    )
    assert 'placeholder="gear-guide"' in input_tag(html, "utm_campaign")  # the defaults, visible
    assert f'placeholder="{VIDEO}"' in input_tag(html, "utm_content")
    assert 'value="lenses"' in input_tag(html, "utm_term")  # what was typed stays typed
    assert stored_links(app) == []


def test_errors_are_shown_next_to_their_fields_and_nothing_is_saved(app, me):
    client, _ = me
    response = form_post(
        client,
        "/links/new",
        {
            "video_url": "https://www.youtube.com/playlist?list=PL123",
            "destination_url": "javascript:alert(1)",
            "short_code": "dashboard",
            "attribution_window_days": "400",
            "allowed_origins": "https://shop.example.com/checkout",
            "action": "save",
        },
    )
    html = text(response)
    assert response.status_code == 422
    assert "Please correct the fields marked below." in html
    assert "playlist" in field_error(html, "video_url")
    assert field_error(html, "destination_url") == (
        "javascript: URLs are not allowed. Use a web address starting with https://."
    )
    assert field_error(html, "short_code") == "“dashboard” is reserved for linktrack's own pages: choose another."
    assert field_error(html, "attribution_window_days") == "Choose an attribution window between 1 and 365 days."
    assert "has a path" in field_error(html, "allowed_origins")
    destination = input_tag(html, "destination_url")
    assert 'aria-invalid="true"' in destination
    assert "destination_url-error" in destination
    assert 'value="javascript:alert(1)"' in destination  # kept to correct, not retyped
    assert field_error(html, "campaign") is None
    assert stored_links(app) == []


def test_a_taken_short_code_is_refused_next_to_the_field(app, me):
    client, _ = me
    other, other_id = sign_up(app)
    create_links(app, other_id, {"short_code": "launch"})
    response = form_post(client, "/links/new", {"video_url": VIDEO, "destination_url": LANDING, "short_code": "Launch"})
    assert response.status_code == 422
    assert field_error(text(response), "short_code") == "The short code “Launch” is already in use: choose another."


def test_a_window_that_is_not_a_number_is_explained(me):
    client, _ = me
    response = form_post(
        client, "/links/new", {"video_url": VIDEO, "destination_url": LANDING, "attribution_window_days": "a month"}
    )
    assert response.status_code == 422
    assert field_error(text(response), "attribution_window_days") == (
        "Enter the attribution window as a whole number of days."
    )


def test_custom_code_origins_and_expiry_from_the_form(app, me):
    client, _ = me
    response = form_post(
        client,
        "/links/new",
        {
            "video_url": VIDEO,
            "destination_url": LANDING,
            "short_code": "spring-sale",
            "utm_source": "yt-description",
            "allowed_origins": "https://shop.example.com\nhttps://checkout.example.com/",
            "expires_at": "2099-06-30T18:00",
        },
    )
    assert response.status_code == 302
    (link,) = stored_links(app)
    assert link.short_code == "spring-sale"
    assert link.utm_source == "yt-description"
    assert link.allowed_origins == ["https://shop.example.com", "https://checkout.example.com"]
    assert link.expires_at == datetime(2099, 6, 30, 18, 0, tzinfo=timezone.utc)
    html = text(client.get(response.location))
    assert "2099-06-30 18:00 UTC" in html
    assert "http://localhost/spring-sale" in html


def test_a_form_without_its_csrf_token_is_refused(app, me):
    client, _ = me
    response = client.post("/links/new", data={"video_url": VIDEO, "destination_url": LANDING})
    assert response.status_code == 400
    assert stored_links(app) == []


# ---- detail, QR codes ------------------------------------------------------------------------------------


def test_qr_codes_download_as_svg_and_png(app, me):
    client, user_id = me
    (link_id,) = create_links(app, user_id, {"short_code": "qr-me"})
    svg = client.get(f"/links/{link_id}/qr.svg")
    assert svg.status_code == 200
    assert svg.mimetype == "image/svg+xml"
    assert svg.headers["Content-Disposition"] == "attachment; filename=linktrack-qr-me.svg"
    assert "<svg" in text(svg)

    png = client.get(f"/links/{link_id}/qr.png")
    assert png.status_code == 200
    assert png.mimetype == "image/png"
    assert png.headers["Content-Disposition"] == "attachment; filename=linktrack-qr-me.png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")

    html = text(client.get(f"/links/{link_id}"))
    assert f'href="/links/{link_id}/qr.svg" download>Download SVG' in html
    assert f'href="/links/{link_id}/qr.png" download>Download PNG' in html


def test_the_short_url_uses_the_configured_base_url(make_app, app):
    configured = make_app(LINKTRACK_BASE_URL="https://lt.example", TRUSTED_HOSTS="localhost")  # the test client
    client, user_id = sign_up(configured)
    (link_id,) = create_links(configured, user_id, {"short_code": "promo"})
    assert 'value="https://lt.example/promo"' in text(client.get(f"/links/{link_id}"))


def test_unknown_or_malformed_link_ids_are_404(me):
    client, _ = me
    assert client.get(f"/links/{uuid.uuid4()}").status_code == 404
    assert client.get("/links/not-a-uuid").status_code == 404
    assert client.get("/links/not-a-uuid/qr.png").status_code == 404


# ---- list: search, sort, pagination -------------------------------------------------------------------


def listed_codes(html: str) -> list[str]:
    return re.findall(r'<a class="mono" href="/links/[0-9a-f-]+">/([^<]+)</a>', html)


def test_list_search_and_sort(app, me):
    client, user_id = me
    create_links(
        app,
        user_id,
        {"short_code": "zeta", "campaign": "Gear guide"},
        {"short_code": "alpha", "campaign": "Course launch", "destination_url": "https://academy.example.com/x"},
        {"short_code": "mid", "campaign": "Course upsell"},
    )
    assert listed_codes(text(client.get("/links"))) == ["mid", "alpha", "zeta"]
    assert listed_codes(text(client.get("/links?sort=short_code"))) == ["alpha", "mid", "zeta"]
    html = text(client.get("/links?q=course"))
    assert listed_codes(html) == ["mid", "alpha"]
    assert "2 links matching “course”" in unescape(html)
    assert 'value="course"' in html  # the search box keeps the query
    assert listed_codes(text(client.get("/links?q=academy"))) == ["alpha"]
    html = unescape(text(client.get("/links?q=nothing")))
    assert "No active links match “nothing”." in html
    assert "Clear the search" in html
    assert listed_codes(text(client.get("/links?sort=bogus&page=zero"))) == ["mid", "alpha", "zeta"]


def test_list_pagination(app, me):
    client, user_id = me
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    for day in range(23):
        with time_machine.travel(start + timedelta(days=day), tick=False):
            create_links(app, user_id, {"short_code": f"link-{day:02d}"})
    first = text(client.get("/links"))
    assert len(listed_codes(first)) == 20
    assert listed_codes(first)[0] == "link-22"
    assert "Page 1 of 2" in first
    assert 'rel="next" href="/links?range=30d&amp;status=active&amp;sort=newest&amp;page=2"' in first
    assert 'rel="prev"' not in first
    second = text(client.get("/links?page=2"))
    assert listed_codes(second) == ["link-02", "link-01", "link-00"]
    assert 'rel="prev" href="/links?range=30d&amp;status=active&amp;sort=newest&amp;page=1"' in second
    beyond = text(client.get("/links?page=7"))
    assert "There is no page 7." in beyond


# ---- edit, archive, restore --------------------------------------------------------------------------


def test_edit_shows_defaults_as_placeholders_and_they_follow_the_campaign(app, me):
    client, user_id = me
    (link_id,) = create_links(app, user_id, {"campaign": "Spring", "utm_source": "yt-desc"})
    page = f"/links/{link_id}/edit"
    html = text(client.get(page))
    assert 'value="Spring"' in input_tag(html, "campaign")
    assert 'value="yt-desc"' in input_tag(html, "utm_source")  # typed: shown as a value
    assert 'value=""' in input_tag(html, "utm_campaign")  # default: left blank to follow
    assert 'placeholder="spring"' in input_tag(html, "utm_campaign")
    assert "Changing the code breaks the link already in your video descriptions." in html
    assert "Leave empty for a random" not in html  # a saved link keeps a code

    form = {
        "video_url": f"https://www.youtube.com/watch?v={VIDEO}",
        "destination_url": "https://shop.example.com/offer",
        "campaign": "Summer Sale",
        "short_code": re.search(r'name="short_code"[^>]*value="([^"]+)"', html).group(1),
        "utm_source": "yt-desc",
        "attribution_window_days": "30",
    }
    response = form_post(client, page, form)
    assert response.status_code == 302
    html = text(client.get(response.location))
    assert "Your changes are saved." in html
    assert "utm_source=yt-desc&utm_medium=video&utm_campaign=summer-sale" in final_destination(html)


def test_edit_errors_leave_the_link_unchanged(app, me):
    client, user_id = me
    (link_id,) = create_links(app, user_id, {"short_code": "keep-me"})
    response = form_post(
        client,
        f"/links/{link_id}/edit",
        {"video_url": VIDEO, "destination_url": "data:text/html,hi", "short_code": ""},
    )
    html = text(response)
    assert response.status_code == 422
    assert "data: URLs are not allowed" in field_error(html, "destination_url")
    assert field_error(html, "short_code") == "A link needs a short code: keep the current one or choose another."
    (link,) = stored_links(app)
    assert (link.short_code, link.destination_url) == ("keep-me", "https://shop.example.com/offer")


def test_archive_and_restore_with_csrf(app, me):
    client, user_id = me
    (link_id,) = create_links(app, user_id, {"short_code": "seasonal"})
    detail = f"/links/{link_id}"

    response = form_post(client, detail, {"confirm": "yes"}, action=f"{detail}/archive")
    assert response.status_code == 302
    html = unescape(text(client.get(detail)))
    assert "/seasonal is archived: it now answers “gone” (410)." in html
    assert '<span class="badge badge-archived">archived</span>' in html
    assert ">Restore</button>" in html
    assert listed_codes(text(client.get("/links"))) == []
    assert "All your links are archived." in unescape(text(client.get("/links")))
    assert listed_codes(text(client.get("/links?status=archived"))) == ["seasonal"]

    response = form_post(client, detail, {}, action=f"{detail}/restore")
    assert response.status_code == 302
    html = text(client.get(detail))
    assert "/seasonal is restored and redirects again." in html
    assert listed_codes(text(client.get("/links"))) == ["seasonal"]


def test_archive_without_csrf_token_is_refused(app, me):
    client, user_id = me
    (link_id,) = create_links(app, user_id, {})
    assert client.post(f"/links/{link_id}/archive").status_code == 400
    (link,) = stored_links(app)
    assert link.archived_at is None


def test_an_expired_link_says_so(app, me):
    client, user_id = me
    expiry = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(second=0, microsecond=0)
    (link_id,) = create_links(app, user_id, {"expires_at": expiry})
    with time_machine.travel(expiry + timedelta(minutes=1), tick=False):  # the session cookie is still valid
        html = text(client.get(f"/links/{link_id}"))
        assert f"This link expired on {expiry:%Y-%m-%d %H:%M} UTC" in html
        assert '<span class="badge badge-expired">expired</span>' in text(client.get("/links"))


# ---- one creator cannot reach another's links ---------------------------------------------------------


def test_another_creators_link_is_404_everywhere(app, me):
    client, _ = me
    owner_client, owner_id = sign_up(app)
    (link_id,) = create_links(app, owner_id, {"short_code": "private"})
    base = f"/links/{link_id}"
    for path in (base, f"{base}/edit", f"{base}/qr.svg", f"{base}/qr.png"):
        assert client.get(path).status_code == 404, path
    token = csrf_token_from(text(client.get("/links/new")))
    for action in ("archive", "restore", "edit"):
        response = client.post(
            f"{base}/{action}", data={"csrf_token": token, "video_url": VIDEO, "destination_url": LANDING}
        )
        assert response.status_code == 404, action
    assert "private" not in text(client.get("/links?status=all"))
    (link,) = stored_links(app)
    assert (link.archived_at, link.destination_url) == (None, "https://shop.example.com/offer")
    assert owner_client.get(base).status_code == 200


def test_a_maximum_browser_revenue_from_the_form_is_shown_on_the_link_page(app, me):
    client, _ = me
    response = form_post(
        client, "/links/new", {"video_url": VIDEO, "destination_url": LANDING, "max_browser_revenue": "1500"}
    )
    assert response.status_code == 302
    (link,) = stored_links(app)
    assert link.max_browser_revenue == Decimal("1500.00")
    html = text(client.get(response.location))
    assert "Maximum revenue from a browser" in html and "1,500.00" in html
    edit = text(client.get(response.location + "/edit"))
    assert 'value="1500.00"' in input_tag(edit, "max_browser_revenue")


def test_a_maximum_browser_revenue_that_is_not_an_amount_is_explained_next_to_the_field(app, me):
    client, _ = me
    response = form_post(
        client, "/links/new", {"video_url": VIDEO, "destination_url": LANDING, "max_browser_revenue": "lots"}
    )
    assert response.status_code == 422
    assert "Enter an amount like 500" in field_error(text(response), "max_browser_revenue")
    assert stored_links(app) == []
