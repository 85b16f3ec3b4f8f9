"""The funnel and revenue tables with a catalogue of 60 links: pages, sorting across them, whole totals and CSV."""

import csv
import io

import pytest
import time_machine

from linktrack.counting.recount import recount_daily_stats
from linktrack.extensions import db
from tests.support.forms import form_post
from tests.support.pages import visible_text
from tests.support.reports import NOW, VIDEO_ONE, add_click, add_conversion, add_link, table, text_of

LINKS = 60


@pytest.fixture
def catalogue(app, creator):
    """Link n (1..60) has 1 + n % 4 clicks and one purchase of n dollars, so revenue ranks them 60..1."""
    user_id, email, password = creator("catalogue@example.com")
    with time_machine.travel(NOW, tick=False):
        with app.app_context():
            for n in range(1, LINKS + 1):
                link = add_link(user_id, f"cat{n:03d}", VIDEO_ONE, f"campaign-{n:03d}")
                clicks = [add_click(link, "2026-03-20 10:00") for _ in range(1 + n % 4)]
                add_conversion(link, clicks[0], "purchase", "2026-03-20 11:00", f"{n}.00")
            db.session.commit()
            recount_daily_stats()
        client = app.test_client()
        assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302
        yield client


def get(client, path, status=200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def short_codes(html: str) -> list[str]:
    return [row[0] for row in table(html, "report-table")[1:]]


def test_a_page_shows_50_rows_and_page_2_the_rest_in_the_same_order(catalogue):
    first = get(catalogue, "/reports/revenue?group=link")
    second = get(catalogue, "/reports/revenue?group=link&page=2")

    assert short_codes(first) == [f"/cat{n:03d}" for n in range(60, 10, -1)]
    assert short_codes(second) == [f"/cat{n:03d}" for n in range(10, 0, -1)]
    assert "Rows 51–60 of 60" in visible_text(second)
    assert (
        'rel="prev" href="/reports/revenue?range=30d&amp;group=link&amp;sort=revenue&amp;dir=desc&amp;page=1"' in second
    )
    assert 'rel="next"' in first and 'rel="next"' not in second


def test_sorting_runs_across_pages_and_a_sort_starts_again_from_page_1(catalogue):
    html = get(catalogue, "/reports/revenue?group=link&sort=revenue&dir=asc&per_page=25&page=2")

    assert short_codes(html) == [f"/cat{n:03d}" for n in range(26, 51)]
    assert "Rows 26–50 of 60" in visible_text(html)
    # A heading re-sorts the whole table, from its first page, keeping the page size.
    assert 'href="/reports/revenue?range=30d&amp;group=link&amp;sort=revenue&amp;dir=desc&amp;per_page=25"' in html


def test_the_funnel_pages_by_clicks_with_ties_broken_by_name(catalogue):
    rows = [
        row
        for page in (1, 2)
        for row in table(get(catalogue, f"/reports/funnel?group=link&sort=clicks&page={page}"), "report-table")[1:]
    ]

    assert len(rows) == LINKS
    assert [(int(row[3]), row[0]) for row in rows] == sorted(
        ((1 + n % 4, f"/cat{n:03d}") for n in range(1, LINKS + 1)), key=lambda r: (-r[0], r[1])
    )


def test_the_totals_cover_every_page(catalogue):
    first = get(catalogue, "/reports/revenue?group=link")
    second = get(catalogue, "/reports/revenue?group=link&page=2")

    assert text_of(first, "row-count").startswith("Rows 1–50 of 60")
    whole = f"${sum(range(1, LINKS + 1)):,}.00"  # $1,830.00
    for html in (first, second):
        assert whole in visible_text(html)
        assert f"{LINKS} conversions" in visible_text(html)
    # The chart shows the table's first rows (its top earners), whatever the page.
    assert "first 10 rows" in second and "$60.00" in second


def test_the_csv_has_every_row_whatever_the_page(catalogue):
    html = get(catalogue, "/reports/funnel?group=link&page=2&per_page=20")
    response = catalogue.get("/reports/funnel.csv?group=link&page=2&per_page=20")

    assert 'href="/reports/funnel.csv?range=30d&amp;group=link&amp;sort=clicks&amp;dir=desc"' in html
    records = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(records) == 1 + LINKS
    assert {record[0] for record in records[1:]} == {f"/cat{n:03d}" for n in range(1, LINKS + 1)}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page is a whole number from 1 to 100000."),
        ("page=two", "page is a whole number from 1 to 100000."),
        ("page=-1", "page is a whole number from 1 to 100000."),
        ("per_page=1000", "per_page is a whole number from 1 to 200."),
        ("page=3", "page 3 is past the last page: there are 2."),
    ],
)
def test_a_bad_page_number_is_explained_and_the_first_page_shown(catalogue, query, message):
    html = get(catalogue, f"/reports/revenue?group=link&{query}", status=400)

    assert f"That page cannot be shown: {message} Showing the first page instead." in visible_text(html)
    assert short_codes(html)[:2] == ["/cat060", "/cat059"]
