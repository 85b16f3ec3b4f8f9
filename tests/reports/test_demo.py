"""Reports on the demo data and on events that arrived through the real paths (no recount by hand)."""

from datetime import datetime, timedelta, timezone

import time_machine
from sqlalchemy import distinct, func, select

from linktrack.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo_data
from linktrack.extensions import db
from linktrack.models import EVENT_TYPES, CampaignLink, ClickEvent, ConversionEvent
from tests.support.counting import BOT, convert, visit
from tests.support.forms import form_post
from tests.support.pages import visible_text
from tests.support.redirect import SAFARI_IPHONE, create_link
from tests.support.reports import table, text_of


def log_in(client, email, password):
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302
    return client


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_every_report_page_renders_the_demo_data_and_agrees_with_the_raw_events(app):
    with app.app_context():
        load_demo_data()
        link_ids = list(db.session.scalars(select(CampaignLink.id)))
    client = log_in(app.test_client(), DEMO_EMAIL, DEMO_PASSWORD)

    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "spring-course-launch" in visible_text(dashboard)
    funnel = client.get("/reports/funnel?group=link").get_data(as_text=True)
    rows = table(funnel, "report-table")[1:]
    assert len(rows) == len(link_ids)
    assert number(text_of(dashboard, "total-clicks")) == sum(number(row[3]) for row in rows)

    for path in ("/reports/revenue", "/reports/revenue?group=campaign", "/dashboard?range=all", "/dashboard?range=7d"):
        assert client.get(path).status_code == 200, path
    for name in ("funnel", "revenue"):
        body = client.get(f"/reports/{name}.csv?group=link").get_data(as_text=True)
        assert len(body.splitlines()) == 1 + len(link_ids)

    for link_id in link_ids:
        assert client.get(f"/links/{link_id}/report").status_code == 200
        assert client.get(f"/links/{link_id}/report?range=all").status_code == 200
        stages = client.get(f"/api/conversions/funnel/{link_id}?range=all").get_json()["stages"]
        with app.app_context():
            clicks = db.session.scalar(
                select(func.count()).where(ClickEvent.campaign_link_id == link_id, ~ClickEvent.is_bot)
            )
            visitors = [
                db.session.scalar(
                    select(func.count(distinct(ConversionEvent.tracking_id))).where(
                        ConversionEvent.campaign_link_id == link_id, ConversionEvent.event_type == event_type
                    )
                )
                for event_type in EVENT_TYPES
            ]
        assert [stage["count"] for stage in stages] == [clicks, *visitors]


DAY = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)


def test_clicks_and_conversions_through_the_real_paths_show_up_at_once(app, client, creator):
    user_id, email, password = creator()
    link = create_link(app, user_id)
    with time_machine.travel(DAY, tick=False) as traveller:
        alice = visit(client, link["short_code"])
        visit(client, link["short_code"])  # Alice again within the hour: counted, not unique
        bob = visit(client, link["short_code"], user_agent=SAFARI_IPHONE, ip="198.51.100.4")
        visit(client, link["short_code"], user_agent=BOT)
        visit(client, link["short_code"], method="HEAD")  # redirected, never stored
        convert(client, link["id"], alice, "newsletter_signup")
        traveller.shift(timedelta(days=1))
        convert(client, link["id"], bob, "purchase", revenue="20.00")
        traveller.shift(timedelta(days=2))
        convert(client, link["id"], alice, "purchase", revenue="49.99", event_id="order-1")
        convert(client, link["id"], alice, "purchase", revenue="49.99", event_id="order-1")  # a replay: once

        owner = log_in(app.test_client(), email, password)
        funnel = owner.get(f"/api/conversions/funnel/{link['id']}").get_json()
        assert funnel["stages"] == [
            {"stage": "clicks", "count": 3},
            {"stage": "newsletter_signup", "count": 1, "rate": 0.3333},
            {"stage": "course_enrollment", "count": 0, "rate": 0.0},
            {"stage": "purchase", "count": 2, "rate": None},
        ]
        assert funnel["total_revenue"] == "69.99"
        types = owner.get(f"/api/conversions/types/{link['id']}").get_json()["types"]
        assert [(t["event_type"], t["count"], t["revenue"]) for t in types] == [
            ("newsletter_signup", 1, "0.00"),
            ("course_enrollment", 0, "0.00"),
            ("purchase", 2, "69.99"),
        ]

        report = owner.get(f"/links/{link['id']}/report").get_data(as_text=True)
        assert text_of(report, "total-clicks") == "3"
        assert "2 unique" in visible_text(report)
        assert text_of(report, "bot-share") == "25.0%"
        assert "Average 1.3 days, median 1 day over 3 conversions." in visible_text(report)
        dashboard = owner.get("/dashboard?range=7d").get_data(as_text=True)
        assert text_of(dashboard, "total-revenue") == "$69.99"
