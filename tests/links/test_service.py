"""The links service against a real database: create with its short-code retry, preview, archive, the list."""

import itertools
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from linktrack.extensions import db
from linktrack.links import service, validation
from linktrack.links.validation import LinkInvalid
from linktrack.models import CampaignLink
from tests.support.links import LANDING, OTHER_VIDEO, VIDEO, make, refusal


def codes(*values):
    """A generator handing out the given short codes in order, so a test can force a clash."""
    return iter(values).__next__


# ---- generated short codes and the unique index --------------------------------------------------


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


def test_two_creators_racing_for_one_code_in_different_cases_store_one_link(ctx, owner, creator, monkeypatch):
    """The read-before-write check misses a code stored a moment later; the database decides."""
    other, _, _ = creator()
    make(other, short_code="Promo")
    monkeypatch.setattr(validation, "short_code_taken", lambda code, exclude_link_id=None: False)  # both checked first
    problem = refusal(owner, short_code="promo")
    assert (problem.field, problem.code) == ("short_code", "short_code_taken")
    assert [link.short_code for link in db.session.query(CampaignLink)] == ["Promo"]


# ---- preview -------------------------------------------------------------------------------------


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


# ---- archive, restore, ownership -----------------------------------------------------------------


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


# ---- list ----------------------------------------------------------------------------------------


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
    with pytest.raises(LinkInvalid) as refused:
        service.parse_list_query(args)
    assert refused.value.first.field == field


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
