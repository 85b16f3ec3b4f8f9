"""`flask users create|api-key` and `flask demo`, run through Flask's CLI runner on the test database."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from linktrack.extensions import db
from linktrack.models import ApiKey, CampaignLink, ClickEvent, ConversionEvent, User
from tests.support.forms import form_post
from tests.support.pages import visible_text

PASSWORD = "a long cli password"


@pytest.fixture
def flask_cli(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=list(args))

    return run


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def can_log_in(app, email, password) -> bool:
    return form_post(app.test_client(), "/login", {"email": email, "password": password}).status_code == 302


# ---- users create -----------------------------------------------------------------------------


def test_users_create_makes_an_account_that_can_log_in(app, flask_cli):
    result = flask_cli("users", "create", "CLI.Creator@Example.com", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Created creator cli.creator@example.com" in result.output
    assert PASSWORD not in result.output
    assert can_log_in(app, "cli.creator@example.com", PASSWORD)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "EMAIL"),
        ("creator@localhost", PASSWORD, "EMAIL"),
        ("creator@example.com", "short", "use between 8 and 128 characters"),
        ("creator@example.com", "x" * 129, "use between 8 and 128 characters"),
    ],
    ids=["malformed-email", "no-domain", "short-password", "long-password"],
)
def test_users_create_refuses_bad_input(app, flask_cli, email, password, message):
    result = flask_cli("users", "create", email, "--password", password)
    assert result.exit_code != 0
    assert "Error: Invalid value" in result.output
    assert message in result.output
    assert count(app, User) == 0


def test_users_create_refuses_a_registered_email(app, flask_cli, creator):
    _, _, original_password = creator("taken@example.com")
    result = flask_cli("users", "create", "Taken@Example.com", "--password", PASSWORD)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert count(app, User) == 1
    assert can_log_in(app, "taken@example.com", original_password)
    assert not can_log_in(app, "taken@example.com", PASSWORD)


# ---- users api-key ----------------------------------------------------------------------------


def test_users_api_key_prints_a_working_key_as_the_last_line(app, flask_cli, creator):
    user_id, email, _ = creator("keys@example.com")
    result = flask_cli("users", "api-key", "KEYS@example.com", "--name", "Stripe webhook")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("lt_")

    response = app.test_client().get("/api/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.get_json()["email"] == email
    with app.app_context():
        assert db.session.scalar(select(ApiKey.name).where(ApiKey.user_id == user_id)) == "Stripe webhook"


def test_users_api_key_refuses_an_unknown_email(app, flask_cli):
    result = flask_cli("users", "api-key", "nobody@example.com")
    assert result.exit_code == 1
    assert "no creator with the email nobody@example.com" in result.output
    assert count(app, ApiKey) == 0


# ---- demo -------------------------------------------------------------------------------------

LOADED = re.compile(r"Loaded (\d+) links, ([\d,]+) clicks and ([\d,]+) conversions\.")
CREDENTIALS = re.compile(r"Log in as (\S+) with the password (\S+)\.")


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_demo_fills_an_empty_database_and_its_creator_sees_real_numbers(app, flask_cli):
    result = flask_cli("demo")
    assert result.exit_code == 0, result.output
    links, clicks, conversions = (number(n) for n in LOADED.search(result.output).groups())
    email, password = CREDENTIALS.search(result.output).groups()

    assert links == count(app, CampaignLink) >= 3
    assert clicks == count(app, ClickEvent) > 1000
    assert conversions == count(app, ConversionEvent) > 50
    with app.app_context():
        first, last = db.session.execute(select(func.min(ClickEvent.clicked_at), func.max(ClickEvent.clicked_at))).one()
        assert last - first > timedelta(days=55), "clicks are spread over 60 days"
        revenue = db.session.scalar(select(func.sum(ConversionEvent.revenue_amount)))
        assert revenue > 0
        # Every demo conversion is one linktrack would have accepted: within 30 days of its click.
        pairs = db.session.execute(
            select(ClickEvent.clicked_at, ConversionEvent.converted_at).join(
                ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id
            )
        ).all()
        assert len(pairs) == conversions
        assert all(timedelta(0) < converted - clicked <= timedelta(days=31) for clicked, converted in pairs)

    browser = app.test_client()
    assert form_post(browser, "/login", {"email": email, "password": password}).status_code == 302
    html = browser.get("/dashboard").get_data(as_text=True)
    stats = visible_text(html[html.index('class="stats"') :])
    dashboard_clicks = number(stats.split("Clicks", 1)[1].split()[0])
    dashboard_revenue = stats.split("Revenue", 1)[1].split()[0]
    assert 0 < dashboard_clicks < clicks, "the dashboard shows the last 30 of 60 days"
    assert dashboard_revenue.startswith("$")
    assert number(dashboard_revenue[1:].split(".")[0]) > 0
    assert "spring-course-launch" in visible_text(html)


def test_demo_runs_once(app, flask_cli):
    assert flask_cli("demo").exit_code == 0
    before = [count(app, model) for model in (User, CampaignLink, ClickEvent, ConversionEvent)]

    again = flask_cli("demo")
    assert again.exit_code == 0
    assert "already has accounts: demo data not loaded" in again.output
    assert [count(app, model) for model in (User, CampaignLink, ClickEvent, ConversionEvent)] == before


def test_demo_never_mixes_into_a_database_in_use(app, flask_cli, creator):
    creator("real.creator@example.com")
    result = flask_cli("demo")
    assert result.exit_code == 0
    assert "demo data not loaded" in result.output
    assert count(app, CampaignLink) == 0
    assert count(app, User) == 1
