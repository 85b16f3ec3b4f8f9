"""The dashboard, a link's report, and the funnel and revenue tables, read the way a creator reads them."""

import re

import pytest
import time_machine

from tests.support.forms import form_post
from tests.support.pages import elements, field_error, visible_text
from tests.support.reports import NOW, VIDEO_ONE, VIDEO_TWO, build_shop, table, text_of


@pytest.fixture
def shop(app, creator):
    with time_machine.travel(NOW, tick=False):
        yield build_shop(app, creator)


def log_in(client, email, password):
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302
    return client


@pytest.fixture
def alice(app, shop):
    return log_in(app.test_client(), shop.alice_email, shop.password)


def page(client, path, status=200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def svg_label(html: str, chart_id: str) -> str:
    chart = elements(html).by_id[chart_id]
    assert chart["tag"] == "svg" and chart["role"] == "img"
    return chart["aria-label"]


# ---- the dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_shows_the_hand_computed_totals(alice):
    html = page(alice, "/dashboard")

    assert "Last 30 days · 2 Mar – 31 Mar 2026 (UTC)" in visible_text(html)
    assert text_of(html, "total-clicks") == "6"  # bots and the clicks before 2 Mar left out
    assert "5 unique · 2 bots filtered out" in visible_text(html)
    assert text_of(html, "total-conversions") == "9"
    assert "150.0% conversion rate" in visible_text(html)
    assert text_of(html, "total-revenue") == "$378.99"
    assert "$63.17 per click" in visible_text(html)
    # Days to convert: 0, 0, 0, 0, 1, 3, 5, 10 and 30.
    assert text_of(html, "days-to-convert") == "5.4"
    assert "average · median 1" in visible_text(html)
    assert table(html, "conversions-by-type")[1:] == [
        ["Newsletter signups", "4", "3", "$0.00"],
        ["Course enrollments", "1", "1", "$199.00"],
        ["Purchases", "4", "3", "$179.99"],
    ]


def test_the_dashboard_ranks_links_videos_and_campaigns_by_revenue(alice):
    html = page(alice, "/dashboard")

    assert table(html, "top-link") == [
        ["Link", "Clicks", "Revenue"],
        ["/alpha01", "4", "$368.99"],
        ["/bravo02", "1", "$10.00"],
        ["/charl03", "1", "$0.00"],
    ]
    assert table(html, "top-video")[1:] == [[VIDEO_ONE, "5", "$368.99"], [VIDEO_TWO, "1", "$10.00"]]
    assert table(html, "top-campaign")[1:] == [["spring-launch", "5", "$378.99"], ["(no campaign)", "1", "$0.00"]]


def test_the_daily_chart_is_labelled_and_its_numbers_are_a_table(alice):
    html = page(alice, "/dashboard")

    assert svg_label(html, "dashboard-clicks") == (
        "Clicks per day, 2 Mar 2026 to 31 Mar 2026: 6 in total, highest 2 on 10 Mar 2026."
    )
    assert svg_label(html, "dashboard-conversions").startswith("Conversions per day, 2 Mar 2026 to 31 Mar 2026: 9")
    assert svg_label(html, "dashboard-revenue") == (
        "Revenue per day, 2 Mar 2026 to 31 Mar 2026: $378.99 in total, highest $199.00 on 11 Mar 2026."
    )
    assert "<summary>Show as table</summary>" in html
    days = table(html, "dashboard-table")
    assert days[0] == ["Day", "Clicks", "Conversions", "Revenue"]
    assert len(days) == 1 + 30, "every day of the range, zero-filled"
    assert days[1] == ["2 Mar 2026", "0", "1", "$10.00"]
    assert days[2] == ["3 Mar 2026", "0", "0", "$0.00"]
    assert days[9] == ["10 Mar 2026", "2", "2", "$0.00"]
    assert days[-1] == ["31 Mar 2026", "1", "1", "$0.00"]


def y_axis(html: str, chart_id: str) -> list[str]:
    """The figures written along a time chart's y axis, bottom to top."""
    svg = re.search(rf'<svg[^>]* id="{chart_id}".*?</svg>', html, re.S).group(0)
    return re.findall(r'<text class="chart-axis" x="\d+" y="[\d.]+" text-anchor="end">([^<]*)</text>', svg)[:3]


@pytest.mark.parametrize(
    ("query", "clicks", "revenue"),
    [
        ("from=2026-03-01&to=2026-03-01", ["0", "1", "2"], ["$0.00", "$0.50", "$1.00"]),  # one click, no revenue
        ("from=2026-03-10&to=2026-03-10", ["0", "1", "2"], ["$0.00", "$0.50", "$1.00"]),  # two clicks
        ("range=all", ["0", "1", "2"], ["$0.00", "$100.00", "$200.00"]),
    ],
)
def test_a_count_axis_reads_whole_numbers(alice, query, clicks, revenue):
    """A chart whose top is 1 would put its middle line at 0.5, which a count shows as "0"."""
    html = page(alice, f"/dashboard?{query}")
    assert y_axis(html, "dashboard-clicks") == clicks
    assert y_axis(html, "dashboard-revenue") == revenue


@pytest.mark.parametrize(
    ("query", "clicks", "revenue"),
    [
        # /bravo02's click at 23:59:59 UTC on 1 Mar, and its purchase at 00:00:00 UTC on 2 Mar.
        ("from=2026-03-01&to=2026-03-01", "1", "$0.00"),
        ("from=2026-03-02&to=2026-03-02", "0", "$10.00"),
        ("from=2026-02-19&to=2026-03-01", "2", "$0.00"),
    ],
)
def test_a_custom_range_counts_whole_utc_days(alice, query, clicks, revenue):
    html = page(alice, f"/dashboard?{query}")

    assert "Custom range" in visible_text(html)
    assert text_of(html, "total-clicks") == clicks
    assert text_of(html, "total-revenue") == revenue


def test_presets_change_the_range_and_mark_the_current_one(alice):
    html = page(alice, "/dashboard?range=7d")
    assert "Last 7 days · 25 Mar – 31 Mar 2026 (UTC)" in visible_text(html)
    assert text_of(html, "total-clicks") == "1"
    assert 'href="/dashboard?range=7d" aria-current="true"' in html

    html = page(alice, "/dashboard?range=month")
    assert "This month · 1 Mar – 31 Mar 2026" in visible_text(html)
    assert text_of(html, "total-clicks") == "7"

    html = page(alice, "/dashboard?range=all")
    assert "All time · 19 Feb – 31 Mar 2026" in visible_text(html)
    assert text_of(html, "total-clicks") == "8"
    assert text_of(html, "total-revenue") == "$378.99"


def test_a_bad_date_is_explained_next_to_its_field_and_the_default_range_is_shown(alice):
    html = page(alice, "/dashboard?from=2026-02-30&to=2026-03-05", status=400)

    assert field_error(html, "from") == "2026-02-30 is not a date on the calendar."
    assert field_error(html, "to") is None
    assert "Showing the last 30 days instead." in visible_text(html)
    assert text_of(html, "total-clicks") == "6"

    html = page(alice, "/dashboard?from=2026-03-10&to=2026-03-01", status=400)
    assert field_error(html, "to") == "The end date must be on or after the start date."

    html = page(alice, "/dashboard?range=forever", status=400)
    assert "Unknown date range." in visible_text(html)


# ---- one link's report -------------------------------------------------------------------------------


def test_the_link_report_shows_the_funnel_with_step_and_overall_rates(alice, shop):
    html = page(alice, f"/links/{shop.alpha}/report")

    assert "Report for /alpha01" in visible_text(html)
    assert table(html, "link-funnel-table") == [
        ["Stage", "Visitors", "Rate from the step before", "Rate from clicks"],
        ["Clicks", "4", "", ""],
        ["Newsletter signups", "2", "50.0%", "50.0%"],
        ["Course enrollments", "1", "50.0%", "25.0%"],
        ["Purchases", "2", "200.0%", "50.0%"],
    ]
    assert svg_label(html, "link-funnel") == (
        "Funnel: Clicks 4; Newsletter signups 2 (50.0%); Course enrollments 1 (50.0%); Purchases 2 (200.0%)."
    )
    assert table(html, "revenue-by-type")[1:] == [
        ["Newsletter signups", "3", "$0.00", "0.0%"],
        ["Course enrollments", "1", "$199.00", "53.9%"],
        ["Purchases", "3", "$169.99", "46.1%"],
        ["Total", "7", "$368.99", ""],
    ]


def test_the_link_report_shows_bots_filtered_out_referrers_and_devices(alice, shop):
    html = page(alice, f"/links/{shop.alpha}/report")

    assert text_of(html, "bot-share") == "33.3%"
    assert "2 of 6 requests filtered out" in visible_text(html)
    assert table(html, "referrers")[1:] == [
        ["youtube.com", "2", "50.0%"],
        ["No referrer (direct, app or removed)", "1", "25.0%"],
        ["m.youtube.com", "1", "25.0%"],
    ]
    assert "bots.example.net" not in html, "a bot's referrer is not a referrer"
    assert table(html, "devices")[1:] == [["desktop", "3", "75.0%"], ["mobile", "1", "25.0%"]]
    assert table(html, "browsers")[1:] == [["Chrome", "3", "75.0%"], ["Safari", "1", "25.0%"]]


def test_the_link_report_shows_days_to_convert_across_the_window(alice, shop):
    html = page(alice, f"/links/{shop.alpha}/report")

    assert "Average 7.0 days, median 3 days over 7 conversions." in visible_text(html)
    lags = table(html, "link-lag-table")
    assert lags[0] == ["Days after the click", "Conversions", "Share", "Cumulative"]
    assert len(lags) == 1 + 31, "every day of the 30-day window, from 0 to 30"
    assert lags[1] == ["0", "2", "28.6%", "28.6%"]
    assert lags[4] == ["3", "1", "14.3%", "57.1%"]
    assert lags[-1] == ["30", "1", "14.3%", "100.0%"]
    assert svg_label(html, "link-lag").startswith("Conversions by days after the click, 0 days to 30 days: 7 in total")


def test_the_link_report_lists_recent_conversions_newest_first(alice, shop):
    html = page(alice, f"/links/{shop.alpha}/report")

    assert table(html, "recent-conversions") == [
        ["When", "Type", "Revenue", "Days after the click", "Reported by"],
        ["2026-03-22 23:00 UTC", "Purchase", "$100.00", "30", "your server"],
        ["2026-03-20 09:00 UTC", "Purchase", "$20.00", "10", "landing page"],
        ["2026-03-15 10:30 UTC", "Newsletter signup", "–", "5", "landing page"],
        ["2026-03-13 09:00 UTC", "Purchase", "$49.99", "3", "landing page"],
        ["2026-03-11 09:00 UTC", "Course enrollment", "$199.00", "1", "landing page"],
        ["2026-03-10 10:30 UTC", "Newsletter signup", "–", "0", "landing page"],
        ["2026-03-10 09:05 UTC", "Newsletter signup", "–", "0", "landing page"],
    ]


def test_the_link_report_tells_landing_page_revenue_from_the_creators_server(alice, shop):
    """Issue 13: a browser's conversion can be forged, the server's cannot: shown apart."""
    html = page(alice, f"/links/{shop.alpha}/report")

    assert table(html, "revenue-by-source") == [
        ["Reported by", "Conversions", "Revenue"],
        ["Landing page (browser)", "6", "$268.99"],
        ["Your server (API key)", "1", "$100.00"],
    ]
    early = page(alice, f"/links/{shop.alpha}/report?from=2026-03-02&to=2026-03-12")
    assert table(early, "revenue-by-source")[1:] == [
        ["Landing page (browser)", "3", "$199.00"],
        ["Your server (API key)", "0", "$0.00"],
    ]


def test_the_link_report_follows_the_range(alice, shop):
    html = page(alice, f"/links/{shop.alpha}/report?from=2026-03-10&to=2026-03-10")

    assert text_of(html, "total-clicks") == "2"
    assert table(html, "link-funnel-table")[2] == ["Newsletter signups", "2", "100.0%", "100.0%"]
    assert len(table(html, "recent-conversions")) == 1 + 2
    assert table(html, "link-table")[1:] == [["10 Mar 2026", "2", "2", "$0.00"]]


def test_the_link_detail_page_keeps_its_content_and_leads_to_the_report(alice, shop):
    html = page(alice, f"/links/{shop.alpha}")

    assert "Short link" in visible_text(html) and "QR code" in visible_text(html)
    assert "Last 30 days Full report Clicks 4 (3 unique) Conversions 7 Revenue $368.99" in visible_text(html)
    assert f'href="/links/{shop.alpha}/report"' in html


def test_a_link_without_clicks_says_what_to_do_next(alice, shop):
    html = page(alice, f"/links/{shop.delta}/report")

    text = visible_text(html)
    assert "No clicks on this link in this range" in text
    assert "/delta04 into the description of the video" in text
    assert "add the CampaignTracker script to that page" in text
    assert "&lt;script src=&#34;http://localhost/api/conversions/script&#34;&gt;&lt;/script&gt;" in html
    assert 'href="/links/new"' in html


# ---- funnel and revenue tables -----------------------------------------------------------------------

FUNNEL_HEADER = [
    "Clicks",
    "Signups",
    "Signup rate",
    "Enrollments",
    "Enrollment rate",
    "Purchases",
    "Purchase rate",
    "Overall rate",
]


def test_the_funnel_page_groups_by_video_by_default(alice):
    html = page(alice, "/reports/funnel")

    rows = table(html, "report-table")
    assert rows[0] == ["Video", "Clicks ▼", *FUNNEL_HEADER[1:]]
    assert rows[1:] == [
        [VIDEO_ONE, "5", "2", "40.0%", "1", "50.0%", "2", "200.0%", "40.0%"],
        [VIDEO_TWO, "1", "1", "100.0%", "0", "0.0%", "1", "–", "100.0%"],
    ]
    assert 'aria-sort="descending"' in html
    assert "bobsecr" not in html and "999" not in visible_text(html), "Bob's link shares the video, not the rows"


def test_the_funnel_page_groups_by_campaign_or_link(alice):
    rows = table(page(alice, "/reports/funnel?group=campaign"), "report-table")
    assert rows[1:] == [
        ["spring-launch", "5", "3", "60.0%", "1", "33.3%", "3", "300.0%", "60.0%"],
        ["(no campaign)", "1", "0", "0.0%", "0", "–", "0", "–", "0.0%"],
    ]

    rows = table(page(alice, "/reports/funnel?group=link"), "report-table")
    assert rows[0][:3] == ["Link", "Video", "Campaign"]
    assert [row[:4] for row in rows[1:]] == [
        ["/alpha01", VIDEO_ONE, "spring-launch", "4"],
        ["/bravo02", VIDEO_TWO, "spring-launch", "1"],
        ["/charl03", VIDEO_ONE, "(no campaign)", "1"],
    ]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("sort=name&dir=asc", ["/alpha01", "/bravo02", "/charl03"]),
        ("sort=name&dir=desc", ["/charl03", "/bravo02", "/alpha01"]),
        ("sort=clicks&dir=asc", ["/bravo02", "/charl03", "/alpha01"]),
        ("sort=signup_rate&dir=desc", ["/bravo02", "/alpha01", "/charl03"]),
        # An empty previous stage has no rate: last whichever way the column is sorted.
        ("sort=purchase_rate&dir=desc", ["/alpha01", "/bravo02", "/charl03"]),
        ("sort=purchase_rate&dir=asc", ["/alpha01", "/bravo02", "/charl03"]),
        ("sort=unknown&dir=sideways", ["/alpha01", "/bravo02", "/charl03"]),
    ],
)
def test_the_funnel_table_sorts_by_any_column(alice, sort, expected):
    rows = table(page(alice, f"/reports/funnel?group=link&{sort}"), "report-table")
    assert [row[0].removesuffix(" archived") for row in rows[1:]] == expected


def test_a_column_heading_sorts_and_a_second_click_reverses(alice):
    html = page(alice, "/reports/funnel?group=link")
    assert 'href="/reports/funnel?range=30d&amp;group=link&amp;sort=clicks&amp;dir=asc"' in html
    assert 'href="/reports/funnel?range=30d&amp;group=link&amp;sort=purchases&amp;dir=desc"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"video={VIDEO_TWO}", ["/bravo02"]),
        (f"video={VIDEO_ONE}", ["/alpha01", "/charl03"]),
        ("campaign=spring-launch", ["/alpha01", "/bravo02"]),
        ("campaign=%28no+campaign%29", ["/charl03"]),
        (f"campaign=spring-launch&video={VIDEO_ONE}", ["/alpha01"]),
    ],
)
def test_the_tables_filter_by_video_and_campaign(alice, query, expected):
    for name in ("funnel", "revenue"):
        rows = table(page(alice, f"/reports/{name}?group=link&{query}"), "report-table")
        assert [row[0] for row in rows[1:]] == expected


def test_the_revenue_page_shows_revenue_by_type_and_per_click(alice):
    html = page(alice, "/reports/revenue")

    rows = table(html, "report-table")
    assert rows[0] == [
        "Video",
        "Clicks",
        "Purchases",
        "Purchase revenue",
        "Enrollments",
        "Enrollment revenue",
        "Signup revenue",
        "Total revenue ▼",
        "Revenue per click",
    ]
    assert rows[1:] == [
        [VIDEO_ONE, "5", "3", "$169.99", "1", "$199.00", "$0.00", "$368.99", "$73.80"],
        [VIDEO_TWO, "1", "1", "$10.00", "0", "$0.00", "$0.00", "$10.00", "$10.00"],
    ]
    assert svg_label(html, "revenue-bars") == f"Total revenue by video: {VIDEO_ONE} $368.99; {VIDEO_TWO} $10.00."


def test_a_filter_that_matches_nothing_offers_to_clear_it(alice):
    html = page(alice, "/reports/revenue?video=zzzzzzzzzzz")
    assert "No clicks or conversions match" in visible_text(html)
    assert "clear the filters" in visible_text(html)


# ---- CSV export ----------------------------------------------------------------------------------------


def test_the_funnel_csv_is_exactly_the_table(alice):
    response = alice.get("/reports/funnel.csv?group=link")

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="linktrack-funnel-by-link-2026-03-02-to-2026-03-31.csv"'
    )
    assert response.get_data(as_text=True) == (
        "link,video,campaign,clicks,newsletter_signups,signup_rate,course_enrollments,enrollment_rate,"
        "purchases,purchase_rate,overall_rate\r\n"
        f"/alpha01,{VIDEO_ONE},spring-launch,4,2,0.5000,1,0.5000,2,2.0000,0.5000\r\n"
        f"/bravo02,{VIDEO_TWO},spring-launch,1,1,1.0000,0,0.0000,1,,1.0000\r\n"
        f"/charl03,{VIDEO_ONE},(no campaign),1,0,0.0000,0,,0,,0.0000\r\n"
    )


def test_the_revenue_csv_follows_the_pages_grouping_filters_sort_and_range(alice):
    body = alice.get("/reports/revenue.csv").get_data(as_text=True)
    assert body == (
        "video,clicks,purchases,purchase_revenue_USD,course_enrollments,course_enrollment_revenue_USD,"
        "newsletter_signup_revenue_USD,revenue_USD,revenue_per_click_USD\r\n"
        f"{VIDEO_ONE},5,3,169.99,1,199.00,0.00,368.99,73.80\r\n"
        f"{VIDEO_TWO},1,1,10.00,0,0.00,0.00,10.00,10.00\r\n"
    )

    body = alice.get("/reports/revenue.csv?group=campaign&sort=clicks&dir=asc&from=2026-03-02&to=2026-03-09")
    assert body.get_data(as_text=True) == (
        "campaign,clicks,purchases,purchase_revenue_USD,course_enrollments,course_enrollment_revenue_USD,"
        "newsletter_signup_revenue_USD,revenue_USD,revenue_per_click_USD\r\n"
        "spring-launch,0,1,10.00,0,0.00,0.00,10.00,\r\n"
    )


def test_the_page_links_to_the_csv_of_what_it_shows(alice):
    html = page(alice, f"/reports/funnel?group=link&video={VIDEO_ONE}&sort=name&dir=desc&range=90d")
    assert (
        f'href="/reports/funnel.csv?range=90d&amp;group=link&amp;video={VIDEO_ONE}&amp;sort=name&amp;dir=desc"' in html
    )
    csv_rows = alice.get(f"/reports/funnel.csv?range=90d&group=link&video={VIDEO_ONE}&sort=name&dir=desc")
    lines = csv_rows.get_data(as_text=True).splitlines()
    assert [line.split(",")[0] for line in lines] == ["link", "/charl03", "/alpha01"]


def test_a_csv_never_hands_a_spreadsheet_a_formula(app, alice, shop):
    from linktrack.counting.recount import recount_daily_stats
    from linktrack.extensions import db
    from tests.support.reports import add_click, add_link

    with app.app_context(), time_machine.travel(NOW, tick=False):
        link = add_link(shop.alice_id, "evil001", VIDEO_TWO, '=HYPERLINK("https://evil.example")')
        add_click(link, "2026-03-30 10:00")
        db.session.commit()
        recount_daily_stats([link.id])
    with time_machine.travel(NOW, tick=False):
        body = alice.get("/reports/funnel.csv?group=campaign").get_data(as_text=True)
    assert '"\'=HYPERLINK(""https://evil.example"")",1,' in body


def test_a_bad_range_gives_no_csv(alice):
    response = alice.get("/reports/funnel.csv?from=2026-13-01")
    assert response.status_code == 400


# ---- navigation, empty accounts, other creators, anonymous visitors ----------------------------------------


def test_the_navigation_leads_to_funnel_and_revenue(alice):
    html = page(alice, "/reports/funnel")
    assert '<a href="/reports/funnel" aria-current="page">Funnel</a>' in html
    assert '<a href="/reports/revenue" >Revenue</a>' in html or '<a href="/reports/revenue">Revenue</a>' in html


def test_a_new_creator_is_told_to_make_a_first_link_on_every_report_page(app, creator):
    _, email, password = creator()
    client = log_in(app.test_client(), email, password)

    dashboard = page(client, "/dashboard")
    assert "Start by linking a video" in visible_text(dashboard)
    for path in ("/reports/funnel", "/reports/revenue"):
        html = page(client, path)
        assert "Nothing to report yet" in visible_text(html)
        assert 'href="/links/new"' in html
    assert client.get("/reports/funnel.csv").get_data(as_text=True).startswith("video,clicks,")


def test_a_creator_whose_links_had_no_clicks_in_the_range_is_told_what_next(app, creator, make_link):
    user_id, email, password = creator()
    make_link(user_id)
    client = log_in(app.test_client(), email, password)

    html = page(client, "/dashboard")
    assert "No clicks in this range yet" in visible_text(html)
    assert 'href="/links/new"' in html
    assert "No clicks or conversions match" in visible_text(page(client, "/reports/funnel"))


def test_another_creators_link_report_is_a_404(alice, shop):
    for path in (
        f"/links/{shop.bob_link}/report",
        f"/links/{shop.bob_link}/report?range=all",
        "/links/not-a-uuid/report",
        "/links/00000000-0000-0000-0000-000000000000/report",
    ):
        response = alice.get(path)
        assert response.status_code == 404
        assert "bobsecr" not in response.get_data(as_text=True)


def test_filters_never_reach_another_creators_rows(app, shop):
    bob = log_in(app.test_client(), shop.bob_email, shop.password)
    for path in ("/reports/funnel?group=link", "/reports/revenue?group=link", "/reports/revenue.csv?group=link"):
        body = bob.get(path).get_data(as_text=True)
        assert "bobsecr" in body
        assert "alpha01" not in body and "bravo02" not in body and "368.99" not in body


@pytest.mark.parametrize(
    "path",
    ["/dashboard", "/reports/funnel", "/reports/revenue", "/reports/funnel.csv", "/reports/revenue.csv?group=link"],
)
def test_anonymous_visitors_are_sent_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_an_anonymous_link_report_is_sent_to_log_in(client, shop):
    response = client.get(f"/links/{shop.alpha}/report")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_long_range_is_charted_by_week_from_its_first_day(alice):
    html = page(alice, "/dashboard?from=2025-01-01&to=2026-03-31")

    weeks = table(html, "dashboard-table")
    assert weeks[0] == ["Week", "Clicks", "Conversions", "Revenue"]
    assert weeks[1] == ["1 Jan – 5 Jan 2025", "0", "0", "$0.00"]  # 1 Jan 2025 is a Wednesday
    assert ["9 Mar – 15 Mar 2026", "4", "5", "$248.99"] in weeks
    assert weeks[-1] == ["30 Mar – 31 Mar 2026", "1", "1", "$0.00"]
    assert svg_label(html, "dashboard-clicks").startswith("Clicks per week, 1 Jan – 5 Jan 2025 to 30 Mar – 31 Mar")


def test_a_range_of_years_is_charted_by_month(alice):
    html = page(alice, "/dashboard?from=2020-01-01&to=2026-03-31")

    months = table(html, "dashboard-table")
    assert months[0][0] == "Month"
    assert len(months) == 1 + 75
    assert months[-2] == ["1 Feb – 28 Feb 2026", "1", "0", "$0.00"]
    assert months[-1] == ["1 Mar – 31 Mar 2026", "7", "9", "$378.99"]
