"""The rules a link's values must meet (links/validation.py), through the service's doors: create and update."""

from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from linktrack.extensions import db
from linktrack.links import service, validation
from linktrack.links.urls import final_destination_url
from tests.support.links import LANDING, OTHER_VIDEO, VIDEO, make, refusal

# ---- destination ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/offer?ref=yt&x=1#pricing",
        "http://example.com",
        "https://example.com:8443/landing",
        "https://例え.jp/ページ",
        "http://[2001:db8::1]/landing",
        "HTTPS://Shop.Example.com/Offer",
    ],
)
def test_absolute_http_destinations_are_stored_as_given(ctx, owner, url):
    assert make(owner, destination_url=url).destination_url == url


def test_destination_is_trimmed(ctx, owner):
    assert make(owner, destination_url="  https://example.com/a  ").destination_url == "https://example.com/a"


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("", "required", "Enter the landing page URL"),
        (None, "required", "Enter the landing page URL"),
        ("javascript:alert(1)", "unsafe_scheme", "javascript: URLs are not allowed"),
        ("JavaScript:alert(document.cookie)", "unsafe_scheme", "javascript: URLs are not allowed"),
        ("data:text/html,<script>alert(1)</script>", "unsafe_scheme", "data: URLs are not allowed"),
        ("vbscript:msgbox(1)", "unsafe_scheme", "not allowed"),
        ("/relative/path", "not_absolute", "starting with https://"),
        ("example.com/offer", "not_absolute", "starting with https://"),
        ("mailto:me@example.com", "not_absolute", "starting with https://"),
        ("ftp://example.com/file", "unsupported_scheme", "Only http:// and https://"),
        ("https://user:secret@example.com/offer", "credentials_in_url", "user name and password"),
        ("https://user@example.com/offer", "credentials_in_url", "user name and password"),
        ("https:///offer", "missing_host", "Add the site's domain"),
        ("https://", "missing_host", "Add the site's domain"),
        ("https://example .com/offer", "invalid_url", "spaces"),
        ("https://example.com/\x00offer", "invalid_url", "control characters"),
        ("https://example.com:99999/", "invalid_url", "not a valid URL"),
        ("https://exa<mple>.com/", "invalid_host", "domain name"),
        ("https://example.com/" + "a" * 2048, "too_long", "under 2,048 characters"),
        ("http://localhost/abc1234", "destination_is_short_link", "not at a linktrack address"),
    ],
)
def test_unsafe_or_unusable_destinations_are_refused(ctx, owner, url, code, message):
    problem = refusal(owner, destination_url=url)
    assert (problem.field, problem.code) == ("destination_url", code)
    assert message in problem.message


def test_a_destination_of_the_configured_base_url_is_refused(app, make_app, owner):
    with make_app(LINKTRACK_BASE_URL="https://lt.example").test_request_context("/"):
        assert refusal(owner, destination_url="https://lt.example/promo").code == "destination_is_short_link"
        assert make(owner, destination_url="http://localhost/landing").destination_url == "http://localhost/landing"
        db.session.remove()


def test_every_problem_is_reported_at_once_with_its_field(ctx, owner):
    with pytest.raises(validation.LinkInvalid) as refused:
        make(owner, video_url="https://vimeo.com/123", destination_url="javascript:x", attribution_window_days=0)
    assert [problem.field for problem in refused.value.problems] == [
        "video_url",
        "destination_url",
        "attribution_window_days",
    ]


def test_video_references_are_stored_as_id_and_canonical_url(ctx, owner):
    link = make(owner, video_url=f"https://youtube.com/shorts/{VIDEO}?si=abc")
    assert link.video_id == VIDEO
    assert link.video_url == f"https://www.youtube.com/watch?v={VIDEO}"
    problem = refusal(owner, video_url="https://www.youtube.com/@SomeCreator")
    assert (problem.field, problem.code) == ("video_url", "invalid_video")
    assert "channel" in problem.message


# ---- custom short codes --------------------------------------------------------------------------


def test_custom_alias_is_used_as_typed(ctx, owner):
    assert make(owner, short_code="  Spring-Sale_2025 ").short_code == "Spring-Sale_2025"


@pytest.mark.parametrize("taken", ["promo", "PROMO", "Promo"])
def test_custom_alias_is_unique_ignoring_case_across_creators(ctx, owner, creator, taken):
    other, _, _ = creator()
    make(other, short_code="promo")
    problem = refusal(owner, short_code=taken)
    assert (problem.field, problem.code) == ("short_code", "short_code_taken")
    assert f"“{taken}” is already in use" in problem.message


@pytest.mark.parametrize(
    "word", ["api", "API", "links", "Links", "login", "logout", "register", "settings", "dashboard", "static"]
)
def test_app_routes_are_reserved(ctx, owner, word):
    problem = refusal(owner, short_code=word)
    assert (problem.field, problem.code) == ("short_code", "short_code_reserved")
    assert "reserved" in problem.message


@pytest.mark.parametrize("word", ["reports", "funnel", "revenue", "health", "admin", "pricing", "www"])
def test_words_kept_for_future_pages_are_reserved(ctx, owner, word):
    assert refusal(owner, short_code=word).code == "short_code_reserved"


def test_reserved_words_follow_the_routes_the_app_has(app, owner):
    app.add_url_rule("/partners", "partners", lambda: "partners")
    with app.test_request_context("/"):
        assert "partners" not in validation.RESERVED_WORDS
        assert refusal(owner, short_code="Partners").code == "short_code_reserved"
        db.session.remove()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ab", "3 to 64 characters"),
        ("a" * 65, "3 to 64 characters"),
        ("my code", "letters, digits, '-' and '_'"),
        ("a.b.c", "letters, digits, '-' and '_'"),
        ("über", "letters, digits, '-' and '_'"),
        ("x/y", "letters, digits, '-' and '_'"),
    ],
)
def test_custom_alias_shape(ctx, owner, code, message):
    problem = refusal(owner, short_code=code)
    assert (problem.field, problem.code) == ("short_code", "invalid_short_code")
    assert message in problem.message


def test_changing_a_code_to_one_that_is_taken_is_refused_but_keeping_it_is_fine(ctx, owner):
    make(owner, short_code="first")
    second = make(owner, short_code="second")
    with pytest.raises(validation.LinkInvalid) as refused:
        service.update_link(second, {"short_code": "FIRST"})
    assert refused.value.first.code == "short_code_taken"
    service.update_link(second, {"short_code": "second", "campaign": "Kept"})
    assert (second.short_code, second.campaign) == ("second", "Kept")
    service.update_link(second, {"short_code": "SECOND"})  # its own code in another case is still its own
    assert second.short_code == "SECOND"


# ---- UTM defaults and the final destination ------------------------------------------------------


def test_youtube_defaults_fill_the_utm_parameters(ctx, owner):
    link = make(owner, campaign="Spring Launch 2025!", video_url=f"https://youtu.be/{VIDEO}")
    assert (link.utm_source, link.utm_medium, link.utm_campaign, link.utm_content, link.utm_term) == (
        "youtube",
        "video",
        "spring-launch-2025",
        VIDEO,
        None,
    )
    assert final_destination_url(link) == (
        f"{LANDING}?utm_source=youtube&utm_medium=video&utm_campaign=spring-launch-2025&utm_content={VIDEO}"
    )


def test_without_a_campaign_there_is_no_utm_campaign(ctx, owner):
    link = make(owner)
    assert link.utm_campaign is None
    assert "utm_campaign" not in final_destination_url(link)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Spring Launch 2025!", "spring-launch-2025"),
        ("Café  Olé", "cafe-ole"),
        ("__hello__world__", "hello-world"),
        ("春のセール", "春のセール"),
        ("!!!", None),
        ("x" * 150, "x" * 100),
    ],
)
def test_campaign_names_become_utm_slugs(name, slug):
    assert validation.slugify(name) == slug


def test_defaults_follow_the_campaign_and_video_but_typed_values_stay(ctx, owner):
    following = make(owner, campaign="Spring")
    typed = make(owner, campaign="Spring", utm_campaign="my-own", utm_source="yt-desc")
    for link in (following, typed):
        service.update_link(link, {"campaign": "Summer Sale", "video_url": OTHER_VIDEO})
    assert (following.utm_campaign, following.utm_content) == ("summer-sale", OTHER_VIDEO)
    assert (typed.utm_campaign, typed.utm_source, typed.utm_content) == ("my-own", "yt-desc", OTHER_VIDEO)
    service.update_link(typed, {"utm_campaign": None, "utm_source": ""})  # cleared: back to the defaults
    assert (typed.utm_campaign, typed.utm_source) == ("summer-sale", "youtube")


def test_utm_values_are_bounded(ctx, owner):
    problem = refusal(owner, utm_source="x" * 101)
    assert (problem.field, problem.code) == ("utm_source", "too_long")
    assert refusal(owner, campaign="c" * 101).field == "campaign"


# ---- attribution window, allowed origins, expiry -------------------------------------------------


def test_attribution_window_defaults_to_the_configured_days(app, make_app, owner):
    with make_app(ATTRIBUTION_WINDOW_DAYS=14).test_request_context("/"):
        assert make(owner).attribution_window_days == 14
        db.session.remove()


@pytest.mark.parametrize("days", [1, 30, 365])
def test_attribution_window_within_a_year_is_accepted(ctx, owner, days):
    assert make(owner, attribution_window_days=days).attribution_window_days == days


@pytest.mark.parametrize("days", [0, -5, 366, True, "30"])
def test_attribution_window_outside_one_to_365_days_is_refused(ctx, owner, days):
    problem = refusal(owner, attribution_window_days=days)
    assert (problem.field, problem.code) == ("attribution_window_days", "invalid_window")


def test_allowed_origins_default_to_the_destination_origin(ctx, owner):
    assert make(owner, destination_url="https://Shop.Example.com:443/p?x=1").allowed_origins == [
        "https://shop.example.com"
    ]
    assert make(owner, destination_url="http://localhost:3000/landing").allowed_origins == ["http://localhost:3000"]
    assert make(owner, allowed_origins=[]).allowed_origins == ["https://shop.example.com"]


def test_allowed_origins_are_normalised_and_deduplicated(ctx, owner):
    link = make(
        owner,
        allowed_origins=["https://shop.example.com/", "HTTPS://SHOP.example.com", "https://checkout.example.com:8443"],
    )
    assert link.allowed_origins == ["https://shop.example.com", "https://checkout.example.com:8443"]


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("https://shop.example.com/checkout", "has a path"),
        ("https://shop.example.com?x=1", "has a path"),
        ("shop.example.com", "is not an origin"),
        ("ftp://shop.example.com", "is not an origin"),
        ("https://user:pw@shop.example.com", "is not an origin"),
        ("", "is not an origin"),
    ],
)
def test_allowed_origins_must_be_scheme_and_host_only(ctx, owner, origin, message):
    problem = refusal(owner, allowed_origins=[origin])
    assert (problem.field, problem.code) == ("allowed_origins", "invalid_origin")
    assert message in problem.message


def test_too_many_origins_are_refused(ctx, owner):
    many = [f"https://shop{index}.example.com" for index in range(21)]
    assert refusal(owner, allowed_origins=many).code == "too_many_origins"
    assert refusal(owner, allowed_origins=["https://a.example.com"] * 500).code == "too_many_origins"
    assert len(make(owner, allowed_origins=many[:20]).allowed_origins) == 20


def test_default_origins_follow_the_destination_and_typed_origins_stay(ctx, owner):
    following = make(owner)
    typed = make(owner, allowed_origins=["https://checkout.example.com"])
    for link in (following, typed):
        service.update_link(link, {"destination_url": "https://new.example.org/landing"})
    assert following.allowed_origins == ["https://new.example.org"]
    assert typed.allowed_origins == ["https://checkout.example.com"]


def test_expiry_is_optional_and_must_be_in_the_future(ctx, owner):
    assert make(owner).expires_at is None
    soon = datetime.now(timezone.utc) + timedelta(days=7)
    assert make(owner, expires_at=soon).expires_at == soon
    problem = refusal(owner, expires_at=datetime.now(timezone.utc) - timedelta(minutes=1))
    assert (problem.field, problem.code) == ("expires_at", "expiry_in_past")
    assert refusal(owner, expires_at=datetime(2099, 1, 1)).code == "invalid_expiry"  # naive: zone unknown


def test_an_expired_link_can_be_edited_without_moving_its_expiry(ctx, owner):
    expiry = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    with time_machine.travel(datetime(2029, 12, 1, tzinfo=timezone.utc), tick=False):
        link = make(owner, expires_at=expiry)
    with time_machine.travel(datetime(2030, 2, 1, tzinfo=timezone.utc), tick=False):
        assert service.link_status(link) == "expired"
        service.update_link(link, {"campaign": "Renamed", "expires_at": expiry})
        assert (link.campaign, link.expires_at) == ("Renamed", expiry)
        with pytest.raises(validation.LinkInvalid):
            service.update_link(link, {"expires_at": expiry + timedelta(days=1)})  # still in the past
        service.update_link(link, {"expires_at": None})
        assert service.link_status(link) == "active"
