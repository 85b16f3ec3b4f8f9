"""Money per currency: a creator who sells in USD, EUR and JPY reads three totals, main currency
first, never one sum; each currency in its own minor units; the counts the consumer keeps per
currency equal a recount; the main currency is a setting whose bad input is answered next to it."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from linktrack.extensions import db
from linktrack.models import LinkDailyRevenue, User
from linktrack.web.formatting import money, price, prices_text
from tests.support.counting import DAY_ONE, ORIGIN, convert, recounted, snapshot, visit
from tests.support.forms import form_post
from tests.support.pages import field_error
from tests.support.redirect import create_link
from tests.support.reports import table, text_of

THREE = "$49.99 €20.00 ¥1,200"  # the three totals, main currency (USD) first, by code after it
AFTER_DAY_ONE = DAY_ONE + timedelta(days=2)
RANGE = "from=2026-05-01&to=2026-05-31"


@pytest.fixture
def seller(app, client, creator):
    """A creator with a USD, a EUR and a JPY sale on one link and a JPY one on another, logged in."""
    user_id, email, password = creator()
    link = create_link(app, user_id, allowed_origins=[ORIGIN])
    other = create_link(app, user_id, allowed_origins=[ORIGIN], campaign="japan")
    with time_machine.travel(DAY_ONE, tick=False):
        buyers = [visit(client, link["short_code"], ip=f"203.0.113.{n}") for n in range(3)]
        japanese = visit(client, other["short_code"], ip="198.51.100.9")
    with time_machine.travel(AFTER_DAY_ONE, tick=False):
        convert(client, link["id"], buyers[0], "purchase", "49.99", currency="USD")
        convert(client, link["id"], buyers[1], "course_enrollment", "20", currency="eur")
        convert(client, link["id"], buyers[2], "purchase", 700, currency="JPY")
        convert(client, other["id"], japanese, "purchase", "500", currency="JPY")
    assert form_post(client, "/login", {"email": email, "password": password}).status_code == 302
    return user_id, link, other


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def _set_main_currency(client, currency: str):
    return form_post(client, "/settings", {"main_currency": currency}, action="/settings/currency")


def test_three_currencies_are_three_totals_main_first_never_a_sum(client, seller):
    _, link, _ = seller
    pages = [f"/dashboard?{RANGE}", f"/reports/revenue?{RANGE}", f"/links/{link['id']}/report?{RANGE}"]
    for path in pages[:2]:
        html = _page(client, path)
        assert text_of(html, "total-revenue") == THREE
        assert "1,269.99" not in html and "1269.99" not in html  # no sum across currencies anywhere
    report = _page(client, pages[2])
    assert text_of(report, "total-revenue") == "$49.99 €20.00 ¥700"
    assert table(report, "revenue-by-type")[1:] == [
        ["Newsletter signups", "0", "$0.00", "0.0%"],
        ["Course enrollments", "1", "€20.00", "0.0%"],  # a share of USD: none of it is
        ["Purchases", "2", "$49.99 ¥700", "100.0%"],
        ["Total", "3", "$49.99 €20.00 ¥700", ""],
    ]

    assert _set_main_currency(client, "JPY").status_code == 302
    assert text_of(_page(client, pages[0]), "total-revenue") == "¥1,200 €20.00 $49.99"
    dashboard = _page(client, pages[0])
    assert "ranked by revenue in your main currency, JPY" in dashboard
    assert table(dashboard, "top-link")[1][2] == "¥700 €20.00 $49.99"  # the link with the most yen first


def test_sorting_by_revenue_compares_the_main_currency(client, seller):
    _, link, other = seller
    rows = table(_page(client, f"/reports/revenue?{RANGE}&group=link&sort=revenue"), "report-table")[1:]
    assert [row[0] for row in rows] == [f"/{link['short_code']}", f"/{other['short_code']}"]  # $49.99 before $0
    _set_main_currency(client, "JPY")
    rows = table(_page(client, f"/reports/revenue?{RANGE}&group=link&sort=revenue"), "report-table")[1:]
    assert [row[0] for row in rows] == [f"/{link['short_code']}", f"/{other['short_code']}"]  # ¥700 before ¥500
    rows = table(_page(client, f"/reports/revenue?{RANGE}&group=link&sort=revenue&dir=asc"), "report-table")[1:]
    assert [row[0] for row in rows] == [f"/{other['short_code']}", f"/{link['short_code']}"]
    assert rows[0][-2:] == ["¥500", "¥500"]  # total and per click (one click), no decimals


def test_the_csv_has_a_column_per_currency_in_its_minor_units(client, seller):
    _, link, other = seller
    _set_main_currency(client, "EUR")
    body = client.get(f"/reports/revenue.csv?{RANGE}&group=campaign&sort=name").get_data(as_text=True)
    header, *records = [line.split(",") for line in body.strip().split("\r\n")]
    assert header[header.index("revenue_EUR") :] == [
        "revenue_EUR",
        "revenue_JPY",
        "revenue_USD",
        "revenue_per_click_EUR",
        "revenue_per_click_JPY",
        "revenue_per_click_USD",
    ]
    assert header[3:6] == ["purchase_revenue_EUR", "purchase_revenue_JPY", "purchase_revenue_USD"]
    by_name = {record[0]: dict(zip(header, record, strict=True)) for record in records}
    assert by_name["spring-launch"]["revenue_EUR"] == "20.00"
    assert by_name["spring-launch"]["revenue_JPY"] == "700"
    assert by_name["spring-launch"]["revenue_USD"] == "49.99"
    assert by_name["japan"]["purchase_revenue_JPY"] == "500"
    assert by_name["japan"]["revenue_USD"] == "0.00"


def test_the_api_answers_each_currency_apart_and_no_single_total(client, seller):
    _, link, other = seller
    funnel = client.get(f"/api/conversions/funnel/{link['id']}?{RANGE}").get_json()
    assert funnel["revenue_by_currency"] == {"EUR": "20.00", "JPY": "700", "USD": "49.99"}
    assert funnel["total_revenue"] is None  # several currencies: no sum
    assert funnel["main_currency"] == "USD"
    types = client.get(f"/api/conversions/types/{link['id']}?{RANGE}").get_json()
    purchases = next(t for t in types["types"] if t["event_type"] == "purchase")
    assert (purchases["revenue"], purchases["revenue_by_currency"]) == (None, {"JPY": "700", "USD": "49.99"})
    enrollments = next(t for t in types["types"] if t["event_type"] == "course_enrollment")
    assert (enrollments["revenue"], enrollments["revenue_by_currency"]) == ("20.00", {"EUR": "20.00"})
    single = client.get(f"/api/conversions/funnel/{other['id']}?{RANGE}").get_json()
    assert (single["total_revenue"], single["revenue_by_currency"]) == ("500.00", {"JPY": "500"})


def test_the_counts_per_currency_equal_a_recount(app, seller):
    user_id, link, other = seller
    live = snapshot(app)
    day = AFTER_DAY_ONE.date()
    assert live["revenue"] == {
        (str(link["id"]), day, "purchase", "USD"): (user_id, 1, Decimal("49.99")),
        (str(link["id"]), day, "course_enrollment", "EUR"): (user_id, 1, Decimal("20.00")),
        (str(link["id"]), day, "purchase", "JPY"): (user_id, 1, Decimal("700.00")),
        (str(other["id"]), day, "purchase", "JPY"): (user_id, 1, Decimal("500.00")),
    }
    assert recounted(app) == live
    with app.app_context():  # a recount puts back what was lost, exactly
        db.session.query(LinkDailyRevenue).filter_by(currency="JPY").delete()
        db.session.query(LinkDailyRevenue).filter_by(currency="USD").update({"revenue": Decimal("1.00")})
        db.session.commit()
    assert recounted(app) == live


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("XYZ", "Choose a currency from the list"),
        ("usd ", "Choose a currency from the list"),
        ("", "Choose a currency."),
    ],
)
def test_a_main_currency_not_on_the_list_is_refused_next_to_the_field(app, client, seller, sent, message):
    user_id, _, _ = seller
    response = _set_main_currency(client, sent)
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), "main_currency")
    with app.app_context():
        assert db.session.get(User, user_id).main_currency == "USD"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"revenue_amount": "1200.50", "currency": "JPY"}, "invalid_revenue_precision"),
        ({"revenue_amount": "10.5", "currency": "krw"}, "invalid_revenue_precision"),
        ({"revenue_amount": "10", "currency": "XYZ"}, "invalid_currency"),
        ({"revenue_amount": "10", "currency": "ısk"}, "invalid_currency"),
    ],
)
def test_a_conversion_names_a_listed_currency_and_its_minor_units(app, client, creator, body, code):
    link = create_link(app, creator()[0], allowed_origins=[ORIGIN])
    tracking = visit(client, link["short_code"])
    sent = {"tracking_id": tracking, "campaign_link_id": str(link["id"]), "event_type": "purchase", **body}
    response = client.post("/api/conversions", json=sent, headers={"Origin": ORIGIN})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_each_currency_is_written_in_its_minor_units():
    assert price(Decimal("1200"), "JPY") == "¥1,200"
    assert price(Decimal("15000"), "KRW") == "₩15,000"
    assert price(Decimal("1234.5"), "USD") == "$1,234.50"
    assert price(Decimal("12"), "CHF") == "CHF 12.00"
    assert price(Decimal("1.5"), "BHD") == "BHD 1.500"
    assert price(Decimal("-5"), "EUR") == "-€5.00"
    assert (money(Decimal("1200"), "JPY"), money(Decimal("3"))) == ("1200", "3.00")
    assert prices_text({"JPY": Decimal(1200), "EUR": Decimal(20), "USD": Decimal("49.99")}, "EUR") == (
        "€20.00 · ¥1,200 · $49.99"  # the main currency, then by code
    )
    assert prices_text({}, "JPY") == "¥0"
