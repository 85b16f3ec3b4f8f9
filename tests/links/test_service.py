"""The links service: the rules shared by the link form and the REST API, against a real database."""

import itertools
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from linktrack.extensions import db
from linktrack.links import service
from linktrack.models import CampaignLink

VIDEO = "dQw4w9WgXcQ"
OTHER_VIDEO = "9bZkp7q19f0"
LANDING = "https://shop.example.com/offer"


@pytest.fixture
def ctx(app):
    """A request context on http://localhost/, as the views and the API run the service."""
    with app.test_request_context("/"):
        yield
        db.session.remove()


@pytest.fixture
def owner(app, creator):
    user_id, _, _ = creator()
    return user_id


def make(owner_id, **values):
    values.setdefault("video_url", VIDEO)
    values.setdefault("destination_url", LANDING)
    return service.create_link(owner_id, values)


def refusal(owner_id, **values) -> service.FieldProblem:
    """The first problem create_link reports for these values."""
    with pytest.raises(service.LinkInvalid) as refused:
        make(owner_id, **values)
    return refused.value.first


def codes(*values):
    """A generator handing out the given short codes in order, so a test can force a clash."""
    return iter(values).__next__


# ---- destination -------------------------------------------------------------------------------------


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
    with pytest.raises(service.LinkInvalid) as refused:
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


# ---- short codes ---------------------------------------------------------------------------------------


def test_generated_codes_are_random_url_safe_and_at_least_seven_characters():
    drawn = [service.generate_short_code() for _ in range(200)]
    assert len(set(drawn)) == 200
    assert all(len(code) >= 7 and code.isascii() and code.isalnum() for code in drawn)


def test_a_generated_code_that_clashes_is_drawn_again(ctx, owner):
    make(owner, short_code="Clash12")
    link = service.create_link(
        owner, {"video_url": VIDEO, "destination_url": LANDING}, code_generator=codes("Clash12", "Fresh34")
    )
    assert link.short_code == "Fresh34"
    assert db.session.query(CampaignLink).count() == 2


def test_a_generated_code_that_is_a_reserved_word_is_drawn_again(ctx, owner):
    link = service.create_link(
        owner, {"video_url": VIDEO, "destination_url": LANDING}, code_generator=codes("reports", "Fresh34")
    )
    assert link.short_code == "Fresh34"


def test_generation_gives_up_loudly_instead_of_looping_forever(ctx, owner):
    make(owner, short_code="Clash12")
    with pytest.raises(service.ShortCodeUnavailable):
        service.create_link(
            owner, {"video_url": VIDEO, "destination_url": LANDING}, code_generator=itertools.repeat("Clash12").__next__
        )
    assert db.session.query(CampaignLink).count() == 1


def test_custom_alias_is_used_as_typed(ctx, owner):
    assert make(owner, short_code="  Spring-Sale_2025 ").short_code == "Spring-Sale_2025"


def test_two_creators_racing_for_one_code_in_different_cases_store_one_link(ctx, owner, creator, monkeypatch):
    """The read-before-write check misses a code stored a moment later; the database decides."""
    other, _, _ = creator()
    make(other, short_code="Promo")
    monkeypatch.setattr(service, "short_code_taken", lambda code, exclude_link_id=None: False)  # both checked first
    problem = refusal(owner, short_code="promo")
    assert (problem.field, problem.code) == ("short_code", "short_code_taken")
    assert [link.short_code for link in db.session.query(CampaignLink)] == ["Promo"]


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
        assert "partners" not in service.RESERVED_WORDS
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
    with pytest.raises(service.LinkInvalid) as refused:
        service.update_link(second, {"short_code": "FIRST"})
    assert refused.value.first.code == "short_code_taken"
    service.update_link(second, {"short_code": "second", "campaign": "Kept"})
    assert (second.short_code, second.campaign) == ("second", "Kept")
    service.update_link(second, {"short_code": "SECOND"})  # its own code in another case is still its own
    assert second.short_code == "SECOND"


# ---- UTM defaults and the final destination -----------------------------------------------------------


def test_youtube_defaults_fill_the_utm_parameters(ctx, owner):
    link = make(owner, campaign="Spring Launch 2025!", video_url=f"https://youtu.be/{VIDEO}")
    assert (link.utm_source, link.utm_medium, link.utm_campaign, link.utm_content, link.utm_term) == (
        "youtube",
        "video",
        "spring-launch-2025",
        VIDEO,
        None,
    )
    assert service.final_destination_url(link) == (
        f"{LANDING}?utm_source=youtube&utm_medium=video&utm_campaign=spring-launch-2025&utm_content={VIDEO}"
    )


def test_preview_shows_the_final_destination_without_saving(ctx, owner):
    preview = service.preview_link(
        {
            "video_url": VIDEO,
            "destination_url": "https://shop.example.com/p?utm_source=newsletter&ref=yt#buy",
            "campaign": "Launch",
            "utm_medium": "  description ",
            "utm_content": "",
            "utm_term": "presets",
        }
    )
    assert preview.problems == []
    # The landing page's own utm_source wins; typed values win over defaults; blank means default.
    assert preview.final_destination_url == (
        "https://shop.example.com/p?utm_source=newsletter&ref=yt"
        f"&utm_medium=description&utm_campaign=launch&utm_content={VIDEO}&utm_term=presets#buy"
    )
    assert db.session.query(CampaignLink).count() == 0


def test_preview_still_shows_the_destination_when_another_field_is_wrong(ctx, owner):
    make(owner, short_code="taken")
    preview = service.preview_link({"video_url": "nope", "destination_url": LANDING, "short_code": "taken"})
    assert [problem.field for problem in preview.problems] == ["video_url", "short_code"]
    assert preview.final_destination_url == f"{LANDING}?utm_source=youtube&utm_medium=video"


def test_without_a_campaign_there_is_no_utm_campaign(ctx, owner):
    link = make(owner)
    assert link.utm_campaign is None
    assert "utm_campaign" not in service.final_destination_url(link)


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
    assert service.slugify(name) == slug


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


# ---- attribution window, allowed origins, expiry --------------------------------------------------------


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
        with pytest.raises(service.LinkInvalid):
            service.update_link(link, {"expires_at": expiry + timedelta(days=1)})  # still in the past
        service.update_link(link, {"expires_at": None})
        assert service.link_status(link) == "active"


# ---- archive, restore, ownership ------------------------------------------------------------------------


def test_archive_and_restore(ctx, owner):
    link = make(owner)
    service.archive_link(link)
    assert link.archived_at is not None and service.link_status(link) == "archived"
    archived_at = link.archived_at
    service.archive_link(link)
    assert link.archived_at == archived_at  # archiving twice keeps the first date
    service.restore_link(link)
    assert link.archived_at is None and service.link_status(link) == "active"
    service.update_link(link, {"archived": True})
    assert service.link_status(link) == "archived"
    service.update_link(link, {"archived": False})
    assert service.link_status(link) == "active"


def test_get_link_only_finds_the_owners_links(ctx, owner, creator):
    other, _, _ = creator()
    link = make(owner)
    assert service.get_link(owner, link.id) is link
    assert service.get_link(owner, str(link.id)) is link
    assert service.get_link(other, link.id) is None
    assert service.get_link(owner, "not-a-uuid") is None
    assert service.get_link(owner, uuid.uuid4()) is None


# ---- list -----------------------------------------------------------------------------------------------


def _codes(page: service.LinkPage) -> list[str]:
    return [row.link.short_code for row in page.rows]


@pytest.fixture
def catalogue(ctx, owner, creator):
    """Four links of one creator at known times, plus a stranger's link that must never show."""
    start = datetime(2030, 1, 1, tzinfo=timezone.utc)
    specs = [
        ("alpha", "Zebra course", VIDEO, "https://academy.example.com/zebra"),
        ("bravo", "apple presets", OTHER_VIDEO, "https://shop.example.com/presets"),
        ("charlie", None, "kJQP7kiw5Fk", "https://news.example.com/join?src=100%25"),
        ("delta", "Mango", VIDEO, "https://shop.example.com/mango"),
    ]
    links = {}
    for offset, (code, campaign, video, destination) in enumerate(specs):
        with time_machine.travel(start + timedelta(days=offset), tick=False):
            links[code] = make(owner, short_code=code, campaign=campaign, video_url=video, destination_url=destination)
    stranger, _, _ = creator()
    make(stranger, short_code="stranger", campaign="Zebra course")
    return links


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("", ["delta", "charlie", "bravo", "alpha"]),
        ("ALP", ["alpha"]),  # short code, any case
        ("zebra", ["alpha"]),  # campaign
        (OTHER_VIDEO, ["bravo"]),  # video id
        ("shop.example.com", ["delta", "bravo"]),  # destination
        ("100%", ["charlie"]),  # % is a character, not a wildcard
        ("_", []),
        ("nothing-like-this", []),
    ],
)
def test_search_covers_code_campaign_video_and_destination(catalogue, owner, search, expected):
    assert _codes(service.list_links(owner, service.ListQuery(search=search))) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["delta", "charlie", "bravo", "alpha"]),
        ("oldest", ["alpha", "bravo", "charlie", "delta"]),
        ("campaign", ["bravo", "delta", "alpha", "charlie"]),  # case-insensitive, links without one last
        ("short_code", ["alpha", "bravo", "charlie", "delta"]),
        ("clicks", ["bravo", "charlie", "delta", "alpha"]),
    ],
)
def test_sorting(catalogue, owner, make_click, sort, expected):
    for code, people in (("bravo", 3), ("charlie", 1)):
        for _ in range(people):
            make_click(str(catalogue[code].id))
    for _ in range(5):
        make_click(str(catalogue["alpha"].id), is_bot=True)  # bots are never counted
    page = service.list_links(owner, service.ListQuery(sort=sort))
    assert _codes(page) == expected
    assert {row.link.short_code: row.clicks for row in page.rows}["alpha"] == 0


def test_pagination(catalogue, owner):
    first = service.list_links(owner, service.ListQuery(per_page=3))
    assert (_codes(first), first.total, first.pages, first.has_prev, first.has_next) == (
        ["delta", "charlie", "bravo"],
        4,
        2,
        False,
        True,
    )
    second = service.list_links(owner, service.ListQuery(per_page=3, page=2))
    assert (_codes(second), second.has_prev, second.has_next) == (["alpha"], True, False)
    assert _codes(service.list_links(owner, service.ListQuery(per_page=3, page=9))) == []


def test_archived_links_are_listed_apart(catalogue, owner):
    service.archive_link(catalogue["bravo"])
    assert _codes(service.list_links(owner)) == ["delta", "charlie", "alpha"]
    assert _codes(service.list_links(owner, service.ListQuery(status="archived"))) == ["bravo"]
    assert len(service.list_links(owner, service.ListQuery(status="all")).rows) == 4


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"sort": "random"}, "sort"),
        ({"status": "deleted"}, "status"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "-1"}, "per_page"),
        ({"page": "9" * 30}, "page"),
        ({"page": "²"}, "page"),
    ],
)
def test_list_parameters_are_checked(args, field):
    with pytest.raises(service.LinkInvalid) as refused:
        service.parse_list_query(args)
    assert refused.value.first.field == field


def test_too_many_origins_are_refused(ctx, owner):
    many = [f"https://shop{index}.example.com" for index in range(21)]
    assert refusal(owner, allowed_origins=many).code == "too_many_origins"
    assert refusal(owner, allowed_origins=["https://a.example.com"] * 500).code == "too_many_origins"
    assert len(make(owner, allowed_origins=many[:20]).allowed_origins) == 20


def test_control_characters_never_reach_the_database(ctx, owner):
    assert refusal(owner, campaign="Spring\x00Sale").field == "campaign"
    assert refusal(owner, utm_term="a\x00b").field == "utm_term"
    assert refusal(owner, allowed_origins=["https://a.example\x00.com"]).field == "allowed_origins"
    query = service.parse_list_query({"q": "spring\x00"})
    assert query.search == "spring"
    assert service.list_links(owner, query).rows == []


def test_list_parameters_have_defaults():
    assert service.parse_list_query({}) == service.ListQuery()
    assert service.parse_list_query({"q": "  launch ", "page": "2", "per_page": "50", "sort": "clicks"}) == (
        service.ListQuery(search="launch", page=2, per_page=50, sort="clicks")
    )
