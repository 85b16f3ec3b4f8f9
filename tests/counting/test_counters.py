"""The writers' counts (click batches, conversion batches) equal a recount from the raw events,
whichever way events arrive."""

import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import time_machine

from linktrack.extensions import db
from linktrack.models import CampaignLink
from linktrack.redirect.clicks import click_row, click_writer
from tests.support.counting import BOT, DAY_ONE, assert_rollups_and_recount_agree, convert, snapshot, visit
from tests.support.redirect import CHROME_WINDOWS, FIREFOX_LINUX, SAFARI_IPHONE, create_link


def test_clicks_and_conversions_through_the_real_paths_match_a_recount(app, client, owner):
    link = create_link(app, owner)
    other = create_link(app, owner, campaign="other")
    with time_machine.travel(DAY_ONE, tick=False):
        alice = visit(client, link["short_code"])
        visit(client, link["short_code"])  # Alice again within the hour: counted, not unique
        bob = visit(client, link["short_code"], user_agent=SAFARI_IPHONE, ip="198.51.100.4")
        visit(client, link["short_code"], user_agent=BOT)
        visit(client, link["short_code"], method="HEAD")  # redirected, never stored
        carol = visit(client, other["short_code"], user_agent=FIREFOX_LINUX)
    with time_machine.travel(DAY_ONE + timedelta(seconds=1), tick=False):  # the next UTC day
        dave = visit(client, link["short_code"], user_agent=FIREFOX_LINUX, ip="192.0.2.9")
        convert(client, link["id"], alice, "newsletter_signup")
    with time_machine.travel(DAY_ONE + timedelta(days=3), tick=False):
        convert(client, link["id"], alice, "purchase", "49.99", event_id="order-1")
        convert(client, link["id"], alice, "purchase", "49.99", event_id="order-1")  # replay: counts nothing
        convert(client, link["id"], alice, "purchase", "10.01", event_id="order-2")  # second purchase, same visitor
        convert(client, link["id"], bob, "course_enrollment", 199)
        convert(client, other["id"], carol, "newsletter_signup", 5)
        convert(client, link["id"], dave, "newsletter_signup")

    live = snapshot(app)
    link_id = str(link["id"])
    first_day, second_day, fourth_day = date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 7)
    day_one = live["stats"][(link_id, first_day)]
    assert (day_one["user_id"], day_one["clicks"], day_one["unique_clicks"], day_one["bot_clicks"]) == (owner, 3, 2, 1)
    assert live["stats"][(link_id, second_day)]["clicks"] == 1
    assert live["stats"][(link_id, second_day)]["newsletter_signup_count"] == 1
    day_four = live["stats"][(link_id, fourth_day)]
    assert (day_four["purchase_count"], day_four["purchase_visitors"], day_four["purchase_revenue"]) == (
        2,
        1,
        Decimal("60.00"),
    )
    assert (day_four["course_enrollment_count"], day_four["course_enrollment_revenue"]) == (1, Decimal("199.00"))
    assert (day_four["newsletter_signup_count"], day_four["newsletter_signup_visitors"]) == (1, 1)
    assert live["lags"][(link_id, second_day, 0)] == 1  # Alice signed up a second after her click
    assert live["lags"][(link_id, fourth_day, 3)] == 3  # her two purchases and Bob's enrollment
    assert live["lags"][(link_id, fourth_day, 2)] == 1  # Dave converted 2 days 23:59:59 after his click
    assert_rollups_and_recount_agree(app, live)


def test_a_batch_written_by_the_click_writer_matches_a_recount(app, owner):
    link = create_link(app, owner)
    eleven_pm = DAY_ONE.replace(hour=23, minute=0, second=0)
    with app.app_context():
        link_id = link["id"]
        rows = [
            click_row(link_id, uuid.uuid4(), ip, agent, None, eleven_pm + timedelta(minutes=minutes))
            for ip, agent, minutes in [
                ("203.0.113.1", CHROME_WINDOWS, 0),
                ("203.0.113.1", CHROME_WINDOWS, 10),  # a repeat inside the same batch
                ("203.0.113.2", SAFARI_IPHONE, 70),  # after midnight UTC
                ("203.0.113.3", BOT, 80),
            ]
        ]
        click_writer().write(rows)  # stored, then counted (in tests, at once)
    live = snapshot(app)
    assert live["stats"][(str(link_id), date(2026, 5, 4))]["clicks"] == 2
    assert live["stats"][(str(link_id), date(2026, 5, 4))]["unique_clicks"] == 1
    after_midnight = live["stats"][(str(link_id), date(2026, 5, 5))]
    assert (after_midnight["clicks"], after_midnight["unique_clicks"], after_midnight["bot_clicks"]) == (1, 1, 1)
    assert_rollups_and_recount_agree(app, live)


def test_demo_data_arrives_with_its_aggregates(app):
    from linktrack.demo import load_demo_data

    with app.app_context():
        counts = load_demo_data(now=DAY_ONE)
    live = snapshot(app)
    assert sum(row["clicks"] + row["bot_clicks"] for row in live["stats"].values()) == counts["clicks"]
    assert sum(live["lags"].values()) == counts["conversions"]
    assert_rollups_and_recount_agree(app, live)


def test_click_breakdowns_count_people_by_referrer_site_device_browser_and_os(app, client, owner):
    link = create_link(app, owner)
    code = link["short_code"]
    with time_machine.travel(DAY_ONE, tick=False):
        visit(client, code, referrer="https://www.youtube.com/watch?v=dQw4w9WgXcQ&private=1")
        visit(client, code, referrer="https://WWW.YouTube.com/", ip="198.51.100.1")
        visit(client, code, user_agent=SAFARI_IPHONE, referrer="https://t.co/abc", ip="198.51.100.2")
        visit(client, code, user_agent=FIREFOX_LINUX, referrer="not a url", ip="198.51.100.3")
        visit(client, code, user_agent=FIREFOX_LINUX, ip="198.51.100.4")
        visit(client, code, user_agent=BOT, referrer="https://bots.example/")  # never in a breakdown
    with time_machine.travel(DAY_ONE + timedelta(seconds=1), tick=False):
        visit(client, code, referrer="https://m.youtube.com/", ip="198.51.100.5")

    live = snapshot(app)
    link_id, day, next_day = str(link["id"]), date(2026, 5, 4), date(2026, 5, 5)
    counts = {key[1:]: clicks for key, (_, clicks) in live["breakdowns"].items() if key[0] == link_id}
    by_dimension = {}
    for (when, dimension, value), clicks in counts.items():
        by_dimension.setdefault((when, dimension), {})[value] = clicks
    assert by_dimension[(day, "referrer")] == {"www.youtube.com": 2, "t.co": 1, "": 2}
    assert by_dimension[(next_day, "referrer")] == {"m.youtube.com": 1}
    assert sum(by_dimension[(day, "device")].values()) == live["stats"][(link_id, day)]["clicks"] == 5
    for dimension in ("device", "browser", "os"):
        assert sum(by_dimension[(day, dimension)].values()) == 5
        assert sum(by_dimension[(next_day, dimension)].values()) == 1
    assert not any("private" in value or "watch" in value for (_, _, value) in counts)
    assert_rollups_and_recount_agree(app, live)

    # The link page shows sites without "www." (YouTube's two spellings fold into one line).
    from linktrack.reports.queries import NO_REFERRER, link_report
    from linktrack.reports.ranges import DateRange

    with app.app_context():
        report = link_report(db.session.get(CampaignLink, link["id"]), DateRange(day, next_day))
    assert [(share.name, share.count) for share in report.referrers] == [
        (NO_REFERRER, 2),  # ties by name
        ("youtube.com", 2),
        ("m.youtube.com", 1),
        ("t.co", 1),
    ]
    assert sum(share.count for share in report.devices) == sum(share.count for share in report.browsers) == 6


def test_monthly_rows_are_the_sums_of_the_daily_rows_across_a_month_boundary(app, client, owner):
    link = create_link(app, owner)
    other = create_link(app, owner, campaign="other")
    last_second_of_april = datetime(2026, 4, 30, 23, 59, 59, tzinfo=timezone.utc)
    with time_machine.travel(last_second_of_april - timedelta(days=1), tick=False):
        early = visit(client, link["short_code"], ip="198.51.100.20")
    with time_machine.travel(last_second_of_april, tick=False):
        alice = visit(client, link["short_code"])
        visit(client, link["short_code"], user_agent=BOT)
        carol = visit(client, other["short_code"], user_agent=SAFARI_IPHONE)
        convert(client, link["id"], early, "purchase", "19.99", event_id="april")
    with time_machine.travel(last_second_of_april + timedelta(seconds=1), tick=False):  # 1 May
        visit(client, link["short_code"], user_agent=FIREFOX_LINUX, ip="192.0.2.9")
        convert(client, link["id"], alice, "newsletter_signup")
        convert(client, link["id"], early, "purchase", "5.01", event_id="may")  # not her first purchase
        convert(client, other["id"], carol, "course_enrollment", 100)
    with time_machine.travel(datetime(2026, 5, 29, 12, tzinfo=timezone.utc), tick=False):
        convert(client, link["id"], alice, "purchase", "30")

    live = snapshot(app)
    link_id = str(link["id"])
    april, may = date(2026, 4, 1), date(2026, 5, 1)
    assert (live["months"][(link_id, april)]["clicks"], live["months"][(link_id, april)]["bot_clicks"]) == (2, 1)
    assert live["months"][(link_id, april)]["purchase_revenue"] == Decimal("19.99")
    may_row = live["months"][(link_id, may)]
    assert (may_row["clicks"], may_row["purchase_count"], may_row["purchase_visitors"]) == (1, 2, 1)
    assert may_row["purchase_revenue"] == Decimal("35.01")
    assert_rollups_and_recount_agree(app, live)
