"""Password reset by email through a real local SMTP server, and by the command line when no mail
is configured (issue 13, item 6)."""

import hashlib
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import select

from linktrack.auth import service as accounts
from linktrack.extensions import db
from linktrack.models import PasswordResetToken
from tests.support.forms import form_post
from tests.support.pages import field_error, flashes, visible_text

NEW_PASSWORD = "a brand new password"
SENT = "If an account uses that address, we have sent it a link to choose a new password."


@pytest.fixture
def mail_app(make_app, smtp_server):
    host, port, mailbox = smtp_server

    def build(**overrides):
        application = make_app(
            MAIL_SERVER=host, MAIL_PORT=port, MAIL_DEFAULT_SENDER="linktrack <me@example.com>", **overrides
        )
        application.mailbox = mailbox
        return application

    return build


def reset_link(message) -> str:
    match = re.search(r"https?://\S+/reset-password/\S+", message.get_content())
    assert match, message.get_content()
    return match.group(0)


def ask_for_reset(client, email, **kwargs):
    return form_post(client, "/forgot-password", {"email": email}, **kwargs)


def test_the_login_page_offers_a_reset(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<a href="/forgot-password">Forgot password?</a>' in html


def test_the_emailed_link_sets_a_new_password_once_and_ends_every_session(mail_app, creator):
    app = mail_app()
    _, email, password = creator()
    laptop = app.test_client()
    assert form_post(laptop, "/login", {"email": email, "password": password, "remember": "y"}).status_code == 302
    remember = laptop.get_cookie("remember_token").value

    asked = ask_for_reset(app.test_client(), email)
    assert asked.status_code == 200
    assert SENT in visible_text(asked.get_data(as_text=True))

    message = app.mailbox.only_message_to(email)
    assert message["Subject"] == "Reset your linktrack password"
    assert message["From"] == "linktrack <me@example.com>"
    link = reset_link(message)
    path = urlsplit(link).path
    token = path.rsplit("/", 1)[1]
    with app.app_context():  # only the token's hash is stored
        stored = db.session.scalars(select(PasswordResetToken.token_hash)).all()
        assert stored == [hashlib.sha256(token.encode()).hexdigest()]

    browser = app.test_client()
    form = browser.get(path)
    assert form.status_code == 200
    assert '<label for="new_password">New password</label>' in form.get_data(as_text=True)

    too_short = form_post(browser, path, {"new_password": "short", "confirm": "short"})
    assert too_short.status_code == 422
    assert field_error(too_short.get_data(as_text=True), "new_password") == "Use between 8 and 128 characters."

    done = form_post(browser, path, {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert done.headers["Location"] == "/login"
    assert "Your password has been reset" in " ".join(flashes(browser.get("/login").get_data(as_text=True)))

    assert laptop.get("/api/me").status_code == 401
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert thief.get("/api/me").status_code == 401
    assert form_post(app.test_client(), "/login", {"email": email, "password": password}).status_code == 422
    assert form_post(app.test_client(), "/login", {"email": email, "password": NEW_PASSWORD}).status_code == 302

    again = app.test_client().get(path)
    assert again.status_code == 404
    assert "This reset link has expired or has already been used." in visible_text(again.get_data(as_text=True))


def test_an_unknown_address_gets_the_same_answer_and_no_mail(mail_app, creator):
    app = mail_app()
    _, email, _ = creator()

    known = ask_for_reset(app.test_client(), email)
    unknown = ask_for_reset(app.test_client(), "nobody-here@example.com")

    assert known.status_code == unknown.status_code == 200
    assert visible_text(known.get_data(as_text=True)) == visible_text(unknown.get_data(as_text=True))
    assert [message["To"] for message in app.mailbox.messages] == [email]


def test_the_link_expires_after_60_minutes(mail_app, creator):
    app = mail_app()
    _, email, _ = creator()
    start = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False):
        ask_for_reset(app.test_client(), email)
    path = urlsplit(reset_link(app.mailbox.only_message_to(email))).path

    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        assert app.test_client().get(path).status_code == 200
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        expired = app.test_client().get(path)
        assert expired.status_code == 404
        refused = app.test_client().post(path, data={"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        assert refused.status_code in (400, 404)


def test_a_second_link_dies_once_the_first_one_is_used(mail_app, creator):
    app = mail_app()
    _, email, _ = creator()
    ask_for_reset(app.test_client(), email)
    ask_for_reset(app.test_client(), email)
    first, second = (urlsplit(reset_link(message)).path for message in app.mailbox.messages)

    browser = app.test_client()
    assert form_post(browser, first, {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302

    assert app.test_client().get(second).status_code == 404


def test_an_invalid_address_is_said_next_to_the_field(mail_app):
    response = ask_for_reset(mail_app().test_client(), "not an address")

    assert response.status_code == 422
    assert field_error(response.get_data(as_text=True), "email") == "Enter a valid email address, like you@example.com."


def test_requests_are_limited_per_email_from_any_address(mail_app, creator, redis_client, redis_url):
    app = mail_app(
        RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url, PASSWORD_RESET_RATE_LIMIT_PER_EMAIL="2 per hour"
    )
    _, email, _ = creator()

    answers = [
        ask_for_reset(app.test_client(), email.upper(), environ_base={"REMOTE_ADDR": f"203.0.113.{n}"}).status_code
        for n in range(1, 4)
    ]
    other = ask_for_reset(app.test_client(), "someone-else@example.com", environ_base={"REMOTE_ADDR": "203.0.113.9"})

    assert answers == [200, 200, 429]
    assert other.status_code == 200
    assert len([message for message in app.mailbox.messages if message["To"] == email]) == 2


def test_requests_are_limited_per_ip_whatever_the_email(mail_app, redis_client, redis_url):
    app = mail_app(
        RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url, PASSWORD_RESET_RATE_LIMIT_PER_IP="3 per hour"
    )
    client = app.test_client()

    answers = [ask_for_reset(client, f"person{n}@example.com").status_code for n in range(4)]

    assert answers == [200, 200, 200, 429]
    assert "Too many" in visible_text(ask_for_reset(client, "x@example.com").get_data(as_text=True))


def test_an_unreachable_mail_server_still_gets_the_same_answer(make_app, creator, caplog):
    from tests.support.mail import free_port

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT_SECONDS=2)
    _, email, _ = creator()

    response = ask_for_reset(app.test_client(), email)

    assert response.status_code == 200
    assert SENT in visible_text(response.get_data(as_text=True))
    assert "not sent" in caplog.text
    assert email not in caplog.text


def test_without_mail_the_page_explains_the_command_line_reset(client):
    html = client.get("/forgot-password").get_data(as_text=True)

    assert "flask users set-password you@example.com" in visible_text(html)
    assert 'name="email"' not in html


# ---- flask users set-password -----------------------------------------------------------------


def test_set_password_prompts_twice_never_echoes_and_ends_every_session(app, creator):
    _, email, password = creator()
    laptop = app.test_client()
    assert form_post(laptop, "/login", {"email": email, "password": password}).status_code == 302

    result = app.test_cli_runner().invoke(
        args=["users", "set-password", email], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert "Repeat for confirmation" in result.output
    assert laptop.get("/api/me").status_code == 401
    assert form_post(app.test_client(), "/login", {"email": email, "password": NEW_PASSWORD}).status_code == 302


def test_set_password_reads_stdin_when_asked(app, creator):
    _, email, _ = creator()

    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "--password-stdin", email], input=f"{NEW_PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert form_post(app.test_client(), "/login", {"email": email, "password": NEW_PASSWORD}).status_code == 302


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["--password-stdin"], "short\n", "use between 8 and 128 characters"),
        ([], "one password\nanother one\n", "do not match"),
    ],
)
def test_set_password_refuses_a_bad_password(app, creator, args, stdin, says):
    _, email, password = creator()

    result = app.test_cli_runner().invoke(args=["users", "set-password", *args, email], input=stdin)

    assert result.exit_code != 0
    assert says in result.output.lower()
    assert form_post(app.test_client(), "/login", {"email": email, "password": password}).status_code == 302


def test_set_password_for_an_unknown_email_says_so(app):
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "--password-stdin", "nobody@example.com"], input="whatever1\n"
    )

    assert result.exit_code == 1
    assert "no creator with the email nobody@example.com" in result.output


def test_the_mail_settings_come_from_the_environment():
    from linktrack.config import Config

    settings = Config.from_environ(
        {
            "MAIL_SERVER": "smtp.example.com",
            "MAIL_PORT": "587",
            "MAIL_USE_TLS": "1",
            "MAIL_USERNAME": "linktrack",
            "MAIL_PASSWORD": "smtp secret",
            "MAIL_DEFAULT_SENDER": "linktrack <hello@example.com>",
        }
    )

    assert settings["MAIL_SERVER"] == "smtp.example.com"
    assert settings["MAIL_PORT"] == 587
    assert settings["MAIL_USE_TLS"] is True
    assert settings["MAIL_USERNAME"] == "linktrack"
    assert settings["MAIL_PASSWORD"] == "smtp secret"
    assert settings["MAIL_DEFAULT_SENDER"] == "linktrack <hello@example.com>"


@pytest.mark.parametrize("token", ["made-up", "x" * 5000, "ключ", "%00", "a.b", "' OR 1=1 --"])
def test_a_made_up_reset_link_says_so_and_changes_nothing(client, creator, token):
    """The reset link is public: whatever stands in place of its token, GET and POST answer the
    same 404 page, with no form, and the password stays as it was."""
    _, email, password = creator()
    for answer in (
        client.get(f"/reset-password/{token}"),
        form_post(
            client,
            "/login",  # a page with a CSRF token: a made-up link's page has no form
            {"new_password": "a-new-password", "confirm": "a-new-password"},
            action=f"/reset-password/{token}",
        ),
    ):
        text = visible_text(answer.get_data(as_text=True))
        assert answer.status_code == 404, token
        assert "This reset link has expired or has already been used." in text
        assert "Save new password" not in text
    with client.application.app_context():
        assert accounts.authenticate(email, password) is not None
