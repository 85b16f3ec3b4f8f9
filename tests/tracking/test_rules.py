"""The conversion rules (linktrack/tracking/rules.py), stated as properties (Hypothesis).

Revenue keeps its two-decimal rule and never crashes; the attribution window is
`floor(days since click) <= window`, monotone, with its boundary exactly at window_expires_at; and
the SQL forms of the window (rules.days_since_click_sql, the PostgreSQL one-statement path
store.record_if_allowed) give the same answers as the Python rule at every day's edge.
"""

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st

from linktrack.errors import ApiError
from linktrack.extensions import db
from linktrack.links import validation as links
from linktrack.models import UTCDateTime
from linktrack.tracking import rules, service
from linktrack.tracking.rules import REVENUE_MAX, days_since_click, parse_revenue, window_expires_at, within_window
from linktrack.tracking.service import validate_conversion
from tests.support.conversions import ORIGIN
from tests.support.properties import PROPERTIES, WITH_APP

# ---- revenue ----------------------------------------------------------------------------------------

cents = st.integers(-int(REVENUE_MAX * 100), int(REVENUE_MAX * 100))


def _as_text(amount_in_cents: int) -> str:
    sign = "-" if amount_in_cents < 0 else ""
    whole, cent = divmod(abs(amount_in_cents), 100)
    return f"{sign}{whole}.{cent:02d}"


@PROPERTIES
@given(cents, st.sampled_from(["{}", "{}0", "{}000"]))
def test_amounts_with_at_most_two_decimals_are_kept_exactly(amount_in_cents, layout):
    text = layout.format(_as_text(amount_in_cents))
    assert parse_revenue(text) == Decimal(amount_in_cents) / 100


@PROPERTIES
@given(st.text(max_size=14))
def test_only_plain_ascii_decimal_text_is_an_amount(text):
    """Issue 13 item 11: Decimal() also reads "١٢", "5_000", "1e3" and " 12"; revenue does not."""
    try:
        amount = parse_revenue(text)
    except ApiError as refused:
        assert refused.field == "revenue_amount"
    else:
        assert text == "" or re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text, re.ASCII), text
        assert amount is None or amount == Decimal(text)


@PROPERTIES
@given(st.integers(-int(REVENUE_MAX), int(REVENUE_MAX)))
def test_whole_numbers_are_amounts(number):
    assert parse_revenue(number) == Decimal(number)


@PROPERTIES
@given(cents, st.integers(1, 9), st.integers(1, 6))
def test_a_third_decimal_is_refused_never_rounded(amount_in_cents, last_digit, extra_places):
    text = _as_text(amount_in_cents) + "0" * (extra_places - 1) + str(last_digit)
    with pytest.raises(ApiError) as refused:
        parse_revenue(text)
    assert (refused.value.status, refused.value.code) == (400, "invalid_revenue_precision")


revenue_inputs = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=40),
    st.from_regex(r"\A-?[0-9]{1,40}(\.[0-9]{0,6})?(e[+-]?[0-9]{1,4})?\Z"),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@PROPERTIES
@given(revenue_inputs)
def test_any_revenue_value_is_an_amount_in_cents_or_a_4xx_naming_the_field(value):
    try:
        amount = parse_revenue(value)
    except ApiError as refusal:
        assert refusal.status in (400, 422)
        assert refusal.field == "revenue_amount"
        return
    if amount is not None:
        assert amount == amount.quantize(Decimal("0.01"))
        assert abs(amount) <= REVENUE_MAX


def _conversion(**fields) -> dict:
    return {
        "tracking_id": "5d0c8a9e-7f3b-4e21-8c6d-2a1b3c4d5e01",
        "campaign_link_id": "0b6f1f9e-2d7c-4c55-9a8e-1f0c3a2b4d01",
        "event_type": "newsletter_signup",
        **fields,
    }


@PROPERTIES
@given(st.text(max_size=6) | st.sampled_from(["usd", "EUR", "USD\n", "eur\n", " GBP"]))
def test_an_accepted_currency_is_three_capital_letters(currency):
    try:
        accepted = validate_conversion(_conversion(currency=currency))
    except ApiError as refusal:
        assert (refusal.status, refusal.field) == (400, "currency")
        return
    assert re.fullmatch(r"[A-Z]{3}", accepted.currency)  # the column holds three characters


@PROPERTIES
@given(st.text(max_size=110) | st.sampled_from(["order-1", "order-1\n", "x" * 100 + "\n"]))
def test_an_accepted_event_id_is_one_to_a_hundred_safe_characters(event_id):
    try:
        accepted = validate_conversion(_conversion(event_id=event_id))
    except ApiError as refusal:
        assert (refusal.status, refusal.field) == (400, "event_id")
        return
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,100}", accepted.event_id)  # the column holds 100


# ---- the attribution window -------------------------------------------------------------------------

DAY = timedelta(days=1)
click_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(timezone.utc)
)
# Clicks up to ten years before `now` (and a little after it: clock skew between app servers).
elapsed = st.timedeltas(min_value=-DAY, max_value=timedelta(days=3660))
windows = st.integers(links.MIN_WINDOW_DAYS, links.MAX_WINDOW_DAYS)


@PROPERTIES
@given(click_times, elapsed)
def test_days_since_click_is_the_floor_of_elapsed_days(clicked_at, delta):
    assert days_since_click(clicked_at, clicked_at + delta) == delta // DAY


@PROPERTIES
@given(click_times, windows, elapsed, elapsed)
def test_the_window_only_closes_as_time_passes(clicked_at, window, delta_a, delta_b):
    earlier, later = sorted((delta_a, delta_b))
    if within_window(clicked_at, window, clicked_at + later):
        assert within_window(clicked_at, window, clicked_at + earlier)


@PROPERTIES
@given(click_times, windows, st.integers(0, 365), elapsed)
def test_a_longer_window_accepts_whatever_a_shorter_one_does(clicked_at, window, more, delta):
    if within_window(clicked_at, window, clicked_at + delta):
        assert within_window(clicked_at, window + more, clicked_at + delta)


@PROPERTIES
@given(click_times, windows)
def test_the_window_closes_exactly_at_window_expires_at(clicked_at, window):
    closes = window_expires_at(clicked_at, window)
    assert within_window(clicked_at, window, closes - timedelta(microseconds=1))
    assert not within_window(clicked_at, window, closes)
    assert days_since_click(clicked_at, closes - timedelta(microseconds=1)) == window  # 30 days 23:59:59.999999


# ---- the same window in SQL -------------------------------------------------------------------------

# A window's edges: the start of each day after the click (k days later), one second either side.
edges = st.tuples(st.integers(1, 365), st.integers(0, 366), st.sampled_from([-1, 0, 1]))
SQL_EXAMPLES = settings(WITH_APP, max_examples=150)


def _edge(clicked_at: datetime, window: int, day: int, second: int) -> datetime:
    """`day` whole days after the click, moved by `second` seconds: the instants where answers flip."""
    return clicked_at + timedelta(days=min(day, window + 1), seconds=second)


@SQL_EXAMPLES
@given(click_times, edges)
def test_the_sql_window_gives_the_python_answer_at_every_days_edge(app, clicked_at, edge):
    """rules.days_since_click_sql / within_window_sql (counters, cleanup, the fast path) on this
    run's database, against the Python rule, at each day boundary of windows of 1 to 365 days."""
    window, day, second = edge
    now = _edge(clicked_at, window, day, second)
    with app.app_context():
        name = db.engine.dialect.name
        clicked, later = sqlalchemy.literal(clicked_at, UTCDateTime()), sqlalchemy.literal(now, UTCDateTime())
        days, within = db.session.execute(
            sqlalchemy.select(
                rules.days_since_click_sql(clicked, later, name),
                rules.within_window_sql(clicked, window, later, name, rules.day_length_sql()),
            )
        ).one()
    assert days == days_since_click(clicked_at, now)
    assert bool(within) == within_window(clicked_at, window, now)


@pytest.mark.postgresql
@SQL_EXAMPLES
@given(edges, st.integers(0, 86_399))
def test_the_postgresql_statement_stores_exactly_what_the_python_rules_accept(
    app, creator, make_link, make_click, edge, time_of_day
):
    """The landing page's one-statement path (store.record_if_allowed on psycopg) decides in SQL; the
    Python rules decide for every other path. At each edge both must answer the same: stored (201)
    inside the window, `attribution_window_expired` outside it."""
    from linktrack.tracking.store import psycopg_store

    window, day, second = edge
    clicked_at = datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(seconds=time_of_day)
    now = _edge(clicked_at, window, day, second)
    user_id = _the_creator(app, creator)
    link_id = make_link(user_id, attribution_window_days=window)
    tracking_id = make_click(link_id, clicked_at=clicked_at)
    body = {"tracking_id": tracking_id, "campaign_link_id": link_id, "event_type": "newsletter_signup"}
    with app.app_context(), psycopg_store() as store:
        try:
            recorded = service.record_conversion(body, source="browser", origin=ORIGIN, now=now, store=store)
        except ApiError as refusal:
            assert refusal.code == "attribution_window_expired"
            stored = False
        else:
            assert recorded.created
            stored = True
    assert stored == within_window(clicked_at, window, now), (window, day, second)


def _the_creator(app, creator) -> int:
    """One creator for all of a test's examples (the app fixture lives across them)."""
    if "rules_test_creator" not in app.extensions:
        app.extensions["rules_test_creator"] = creator()[0]
    return app.extensions["rules_test_creator"]


@pytest.mark.postgresql
def test_the_postgresql_statement_applies_the_browser_cap_and_the_replay_rules(app, creator, make_link, make_click):
    """The same answers as the Python rules from the one-statement path itself (the fast path would
    quietly hand a failing statement on to Flask, so the API tests alone could not tell)."""
    from linktrack.tracking.store import psycopg_store

    clicked_at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    link_id = make_link(creator()[0], max_browser_revenue=Decimal("100.00"))
    tracking_id = make_click(link_id, clicked_at=clicked_at)

    def record(**fields):
        body = {"tracking_id": tracking_id, "campaign_link_id": link_id, **fields}
        with app.app_context(), psycopg_store() as store:
            return service.record_conversion(
                body, source="browser", origin=ORIGIN, now=clicked_at + timedelta(hours=1), store=store
            )

    assert record(event_type="purchase", revenue_amount="100.00", event_id="a").created
    assert record(event_type="newsletter_signup").created
    assert not record(event_type="purchase", revenue_amount="100", event_id="a").created
    for fields, code in [
        ({"event_type": "purchase", "revenue_amount": "100.01"}, "revenue_above_link_maximum"),
        ({"event_type": "purchase", "revenue_amount": "99.00", "event_id": "a"}, "idempotency_conflict"),
    ]:
        with pytest.raises(ApiError) as refused:
            record(**fields)
        assert refused.value.code == code
