"""Ranges read whole months from the monthly rollups and the edges day by day: every report figure
over a range that crosses month boundaries equals the same sums over the daily rows (and the raw
clicks), whatever the range's edges."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from linktrack.counting.recount import recount_daily_stats
from linktrack.extensions import db
from linktrack.links import service
from linktrack.models import ClickEvent, LinkDailyRevenue, LinkDailyStats
from linktrack.reports import queries
from linktrack.reports.api import funnel_json, types_json
from linktrack.reports.figures import Figures
from linktrack.reports.queries import COUNTER_NAMES, dashboard_summary, link_figures, split_range
from linktrack.reports.ranges import DateRange
from linktrack.reports.tables import TABLES, TableQuery, table_rows, table_totals
from tests.support.reports import add_click, add_conversion, add_link

FIRST_DAY, LAST_DAY = date(2028, 1, 20), date(2028, 4, 12)  # 2028 is a leap year
RANGES = [
    (date(2028, 1, 20), date(2028, 4, 12)),  # partial, two whole months, partial
    (date(2028, 2, 1), date(2028, 2, 29)),  # exactly one whole (leap) February
    (date(2028, 2, 1), date(2028, 3, 31)),  # two whole months, no days
    (date(2028, 1, 31), date(2028, 3, 1)),  # one day at each edge of a whole month
    (date(2028, 2, 10), date(2028, 2, 20)),  # inside one month
    (date(2028, 1, 25), date(2028, 2, 2)),  # across one boundary, no whole month
    (date(2028, 1, 15), date(2028, 2, 29)),  # partial then whole, ending on a month's last day
    (date(2028, 2, 1), date(2028, 3, 5)),  # whole then partial, starting on the 1st
    (date(2027, 11, 3), date(2028, 6, 30)),  # whole months with no data around the data
    (date(2028, 4, 12), date(2028, 4, 12)),  # one day
]


@pytest.fixture
def history(app, creator):
    """Alice's three links and Bob's one, with clicks and conversions on most days of ~3 months."""
    alice, bob = creator()[0], creator()[0]
    rng = random.Random(5)
    with app.app_context():
        links = [
            add_link(alice, "mon01", "dQw4w9WgXcQ", "spring"),
            add_link(alice, "mon02", "9bZkp7q19f0", "spring"),
            add_link(alice, "mon03", "dQw4w9WgXcQ", None),
            add_link(bob, "mon04", "dQw4w9WgXcQ", "spring"),
        ]
        day = FIRST_DAY
        while day <= LAST_DAY:
            for link in links:
                for _ in range(rng.randrange(4)):
                    when = f"{day} {rng.randrange(24):02}:{rng.randrange(60):02}:{rng.randrange(60):02}"
                    tracking = add_click(link, when, bot=rng.random() < 0.1, unique=rng.random() < 0.8)
                    later = day + timedelta(days=rng.randrange(3))
                    if later > LAST_DAY:
                        continue
                    for event_type, revenue in (("newsletter_signup", None), ("purchase", "19.99")):
                        if rng.random() < 0.4:
                            add_conversion(link, tracking, event_type, f"{later} 23:59:59", revenue)
                            if rng.random() < 0.3:  # again the next day: one visitor, two conversions
                                add_conversion(link, tracking, event_type, f"{later + timedelta(days=1)} 00:00", "5")
            day += timedelta(days=1)
        db.session.commit()
        recount_daily_stats()
        return alice, [link.id for link in links]


def from_days(start: date, end: date, **owner) -> Figures:
    """The same figures summed straight from the daily rows (and the revenue per currency from
    LinkDailyRevenue's), of the rows whose `owner` columns (user_id or campaign_link_id) match."""
    S, R = LinkDailyStats, LinkDailyRevenue
    row = db.session.execute(
        select(*[func.coalesce(func.sum(getattr(S, name)), 0).label(name) for name in COUNTER_NAMES]).where(
            S.day >= start, S.day <= end, *[getattr(S, name) == value for name, value in owner.items()]
        )
    ).one()
    money: dict = {}
    for currency, event_type, amount in db.session.execute(
        select(R.currency, R.event_type, func.sum(R.revenue))
        .where(R.day >= start, R.day <= end, *[getattr(R, name) == value for name, value in owner.items()])
        .group_by(R.currency, R.event_type)
    ):
        money.setdefault(currency, {})[event_type] = Decimal(str(amount)).quantize(Decimal("0.01"))
    return Figures.from_row(row._mapping, money)


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_split_range_covers_every_day_once(start, end):
    days, months = split_range(start, end)
    covered = [first + timedelta(days=n) for first, last in days for n in range((last - first).days + 1)]
    if months:
        month = months[0]
        while month <= months[1]:
            assert month.day == 1
            next_month = (month + timedelta(days=32)).replace(day=1)
            covered += [month + timedelta(days=n) for n in range((next_month - month).days)]
            month = next_month
    assert sorted(covered) == [start + timedelta(days=n) for n in range((end - start).days + 1)]
    assert len(days) <= 2


def test_every_start_and_end_over_a_year_splits_into_every_day_once():
    first = date(2027, 12, 25)
    for start in (first + timedelta(days=n) for n in range(0, 70, 3)):
        for end in (start + timedelta(days=n) for n in range(0, 400, 11)):
            test_split_range_covers_every_day_once(start, end)


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_reports_over_month_boundaries_equal_the_daily_rows(app, history, start, end):
    alice, link_ids = history
    date_range = DateRange(start, end)
    with app.app_context():
        S = LinkDailyStats
        expected_total = from_days(start, end, user_id=alice)
        for link_id in link_ids:
            link = db.session.get(queries.CampaignLink, link_id)
            expected = from_days(start, end, campaign_link_id=link_id)
            assert link_figures(link, date_range) == expected
            raw_clicks = db.session.scalar(
                select(func.count()).where(
                    ClickEvent.campaign_link_id == link_id,
                    ~ClickEvent.is_bot,
                    ClickEvent.clicked_at >= date_range.start_at,
                    ClickEvent.clicked_at < date_range.end_before,
                )
            )
            assert expected.clicks == raw_clicks
            funnel = funnel_json(link, date_range)
            assert [stage["count"] for stage in funnel["stages"]] == [stage.count for stage in expected.funnel()]
            types = types_json(link, date_range)
            assert [(t["count"]) for t in types["types"]] == list(expected.counts.values())
            if link.user_id == alice:
                assert queries.link_report(link, date_range).totals == expected

        dashboard = dashboard_summary(alice, date_range)
        assert dashboard.totals == expected_total
        series = dashboard.series  # drawn from the creator's days
        assert sum(point.clicks for point in series) == expected_total.clicks
        assert sum(point.conversions for point in series) == expected_total.conversions
        assert sum((point.revenue.get("USD", 0) for point in series), Decimal("0")) == expected_total.revenue_in("USD")
        for point in series:
            in_bucket = from_days(point.start, point.end, user_id=alice)
            assert (point.clicks, point.conversions, point.revenue) == (
                in_bucket.clicks,
                in_bucket.conversions,
                in_bucket.revenue_by_currency,
            )
        active = [
            link_id
            for link_id in link_ids[:3]
            if db.session.scalar(select(S.day).where(S.campaign_link_id == link_id, S.day.between(start, end)).limit(1))
        ]
        assert {row.key: row.figures for row in dashboard.top_links} == {
            str(link_id): from_days(start, end, campaign_link_id=link_id) for link_id in active
        }

        for spec in TABLES.values():
            for group in ("link", "video", "campaign"):
                rows = list(table_rows(alice, spec, TableQuery(date_range, group=group, sort=spec.default_sort)))
                assert sum((row.figures for row in rows), Figures()) == expected_total
                if group == "link":
                    assert {row.key: row.figures for row in rows} == {
                        str(link_id): from_days(start, end, campaign_link_id=link_id) for link_id in active
                    }
            filtered = TableQuery(date_range, video="dQw4w9WgXcQ", campaign="spring")
            assert table_totals(alice, filtered) == from_days(start, end, campaign_link_id=link_ids[0])


def test_the_links_list_counts_lifetime_clicks_from_the_monthly_rows(app, history):
    _, link_ids = history
    with app.app_context():
        for link_id in link_ids:
            people = db.session.scalar(
                select(func.count()).where(ClickEvent.campaign_link_id == link_id, ~ClickEvent.is_bot)
            )
            assert service.all_time_clicks(link_id) == people > 0


def test_the_migrations_fill_the_monthly_and_creator_rows_from_the_daily_ones(make_app, tmp_path):
    """Upgrading a database that already has daily rows: reports read the same figures right away."""
    from flask_migrate import downgrade, upgrade

    from linktrack.auth.service import register_user
    from linktrack.models import LinkMonthlyStats, UserDailyStats

    fresh = make_app(SQLALCHEMY_DATABASE_URI="sqlite:///" + str(tmp_path / "months.db"))
    with fresh.app_context():
        upgrade()
        user = register_user("months@example.com", "correct horse battery")
        link = add_link(user.id, "mig01", "dQw4w9WgXcQ", None)
        for day, clicks, revenue in [
            (date(2028, 1, 31), 3, "1.50"),
            (date(2028, 2, 1), 4, "2.25"),
            (date(2028, 2, 29), 5, "0"),
        ]:
            db.session.add(
                LinkDailyStats(
                    campaign_link_id=link.id,
                    day=day,
                    user_id=user.id,
                    clicks=clicks,
                    purchase_count=1,
                    purchase_revenue=revenue,
                )
            )
        db.session.commit()
        db.session.remove()
        downgrade(revision="0006_link_daily_breakdowns")
        upgrade()
        months = {
            row.month: (row.user_id, row.clicks, row.purchase_count, row.purchase_revenue)
            for row in db.session.scalars(select(LinkMonthlyStats))
        }
        assert months == {
            date(2028, 1, 1): (user.id, 3, 1, Decimal("1.50")),
            date(2028, 2, 1): (user.id, 9, 2, Decimal("2.25")),
        }
        creator_days = {
            row.day: (row.clicks, row.purchase_revenue) for row in db.session.scalars(select(UserDailyStats))
        }
        assert creator_days == {
            date(2028, 1, 31): (3, Decimal("1.50")),
            date(2028, 2, 1): (4, Decimal("2.25")),
            date(2028, 2, 29): (5, Decimal("0")),
        }
        db.session.remove()
        db.engine.dispose()
