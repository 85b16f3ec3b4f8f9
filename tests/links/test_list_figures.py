"""The links list's clicks, conversions and revenue in the selected range: on the page (labelled,
sortable by its headers, a copy link per row) and in GET /api/links (sort=revenue|conversions|clicks
with dir, across pages)."""

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
import time_machine

from tests.support.counting import convert, visit
from tests.support.forms import form_post
from tests.support.pages import visible_text
from tests.support.redirect import create_link
from tests.support.reports import table

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=timezone.utc)
LONG_AGO = NOW - timedelta(days=60)  # outside the last 30 days


@pytest.fixture
def catalogue(app, creator):
    """alpha: 3 clicks, 1 purchase of $10 today; bravo: 1 click, 2 purchases ($50) today;
    charlie: 5 clicks and a signup 60 days ago. Returns (a signed-in client, an API key header)."""
    with time_machine.travel(NOW - timedelta(days=90), tick=False):
        user_id, email, password = creator()
        links = {code: create_link(app, user_id, short_code=code) for code in ("alpha", "bravo", "charlie")}
    viewer = app.test_client()
    with time_machine.travel(LONG_AGO, tick=False):
        old = [visit(viewer, "charlie", ip=f"198.51.100.{n}") for n in range(5)]
        convert(viewer, links["charlie"]["id"], old[0], "newsletter_signup")
    with time_machine.travel(NOW, tick=False):
        alpha = [visit(viewer, "alpha", ip=f"203.0.113.{n}") for n in range(3)]
        convert(viewer, links["alpha"]["id"], alpha[0], "purchase", "10.00")
        bravo = visit(viewer, "bravo", ip="192.0.2.1")
        convert(viewer, links["bravo"]["id"], bravo, "purchase", "30.00", event_id="order-1")
        convert(viewer, links["bravo"]["id"], bravo, "purchase", "20.00", event_id="order-2")
        owner = app.test_client()
        assert form_post(owner, "/login", {"email": email, "password": password}).status_code == 302
    return owner, links


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def rows(html: str) -> list[list[str]]:
    return [row[:1] + row[4:7] for row in table(html, "links-table")[1:]]


def page(client, query="", status=200) -> str:
    response = client.get(f"/links{query}")
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def test_the_list_shows_the_ranges_clicks_conversions_and_revenue_labelled(catalogue, at_now):
    owner, _ = catalogue
    html = page(owner)
    assert table(html, "links-table")[0][4:7] == [
        "Clicks in Last 30 days, 21 Apr – 20 May 2026",
        "Conversions in Last 30 days, 21 Apr – 20 May 2026",
        "Revenue in Last 30 days, 21 Apr – 20 May 2026",
    ]
    assert "clicks, conversions and revenue in Last 30 days, 21 Apr – 20 May 2026" in visible_text(html)
    assert sorted(rows(html)) == [
        ["/alpha", "3", "1", "$10.00"],
        ["/bravo", "1", "2", "$50.00"],
        ["/charlie", "0", "0", "$0.00"],
    ]
    everything = page(owner, "?range=all")
    assert sorted(rows(everything)) == [
        ["/alpha", "3", "1", "$10.00"],
        ["/bravo", "1", "2", "$50.00"],
        ["/charlie", "5", "1", "$0.00"],
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?sort=revenue", ["/bravo", "/alpha", "/charlie"]),
        ("?sort=revenue&dir=asc", ["/charlie", "/alpha", "/bravo"]),
        ("?sort=conversions", ["/bravo", "/alpha", "/charlie"]),
        ("?sort=clicks", ["/alpha", "/bravo", "/charlie"]),
        ("?sort=clicks&dir=asc", ["/charlie", "/bravo", "/alpha"]),
        ("?sort=clicks&range=all", ["/charlie", "/alpha", "/bravo"]),
        ("?sort=short_code&dir=desc", ["/charlie", "/bravo", "/alpha"]),
    ],
)
def test_the_list_sorts_by_the_ranges_figures(catalogue, at_now, query, expected):
    owner, _ = catalogue
    assert [row[0] for row in rows(page(owner, query))] == expected


def header_links(html: str) -> dict[str, str]:
    """{column label: the address its header links to}."""
    found = re.findall(r'<th scope="col"[^>]*><a href="([^"]+)">([^<]+)', html)
    return {label.strip(): unescape(href) for href, label in found}


def test_a_header_sorts_by_its_column_and_a_second_click_turns_it_around(catalogue, at_now):
    owner, _ = catalogue
    links = header_links(page(owner))
    assert links["Revenue"] == "/links?range=30d&status=active&sort=revenue"
    assert links["Clicks"] == "/links?range=30d&status=active&sort=clicks"
    assert links["Created"] == "/links?range=30d&status=active&sort=newest&dir=asc"  # the current sort, turned
    html = page(owner, "?range=30d&sort=revenue")
    assert re.findall(r'<th scope="col" class="num" aria-sort="(\w+)"><a href="[^"]+">(\w+)', html) == [
        ("descending", "Revenue")
    ]
    assert header_links(html)["Revenue"] == "/links?range=30d&status=active&sort=revenue&dir=asc"
    assert header_links(page(owner, "?sort=revenue&dir=asc&per_page=1&page=2"))["Revenue"] == (
        "/links?range=30d&status=active&sort=revenue&dir=desc&per_page=1"  # back to the first page
    )


def test_sorting_applies_across_pages(catalogue, at_now):
    owner, _ = catalogue
    pages = [rows(page(owner, f"?sort=revenue&per_page=1&page={n}"))[0][0] for n in (1, 2, 3)]
    assert pages == ["/bravo", "/alpha", "/charlie"]


def test_each_row_copies_its_short_url_and_without_javascript_links_to_it(app, catalogue, at_now):
    owner, links = catalogue
    html = page(owner)
    copies = re.findall(
        r'<a class="btn btn-small" href="([^"]+)" data-copy-text="([^"]+)" aria-label="([^"]+)">Copy</a>', html
    )
    assert sorted(text for _, text, _ in copies) == [f"http://localhost/{code}" for code in sorted(links)]
    href, _, label = next(copy for copy in copies if copy[1] == "http://localhost/alpha")
    assert href == f"/links/{links['alpha']['id']}#short-url"  # without JavaScript: the page with the copyable field
    assert label == "Copy the short link /alpha"
    assert '<script src="/static/js/app.js" defer></script>' in html
    assert "<script>" not in html and " onclick=" not in html  # the CSP allows no inline script


def test_a_bad_range_on_the_page_is_explained_next_to_its_field(catalogue, at_now):
    owner, _ = catalogue
    html = page(owner, "?from=2026-02-30", status=400)
    assert 'id="from-error"' in html and "is not a date on the calendar" in html
    assert len(rows(html)) == 3  # the default range's figures are still shown


def test_the_api_lists_the_ranges_figures_sorted_across_pages(catalogue, at_now, api_key_for):
    owner, links = catalogue
    first = owner.get("/api/links?sort=revenue&per_page=2").get_json()
    assert [(item["short_code"], item["clicks"], item["conversions"], item["revenue"]) for item in first["items"]] == [
        ("bravo", 1, 2, "50.00"),
        ("alpha", 3, 1, "10.00"),
    ]
    assert first["range"] == {"from": "2026-04-21", "to": "2026-05-20", "label": "Last 30 days"}
    assert first["sort"] == {"sort": "revenue", "dir": "desc"}
    second = owner.get("/api/links?sort=revenue&per_page=2&page=2").get_json()
    assert [item["short_code"] for item in second["items"]] == ["charlie"]
    ascending = owner.get("/api/links?sort=conversions&dir=asc&from=2026-01-01&to=2026-05-20").get_json()
    found = [(item["short_code"], item["conversions"]) for item in ascending["items"]]
    assert sorted(found[:2]) == [("alpha", 1), ("charlie", 1)] and found[2] == ("bravo", 2)  # a tie: by id
    assert ascending["range"]["label"] == "Custom range"


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("sort=profit", "invalid_parameter", "sort"),
        ("sort=revenue&dir=up", "invalid_parameter", "dir"),
        ("from=2026-13-01", "invalid_date", "from"),
        ("from=2026-05-20&to=2026-05-01", "invalid_range", "to"),
        ("range=forever", "invalid_range", "range"),
    ],
)
def test_bad_list_parameters_answer_the_json_error(catalogue, at_now, query, code, field):
    owner, _ = catalogue
    response = owner.get(f"/api/links?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
