"""Creator accounts: register, log in, log out and change password, with every invalid input."""

from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from linktrack.extensions import db
from linktrack.models import User
from tests.support.forms import form_post
from tests.support.pages import field_error, field_value, flashes, visible_text

PASSWORD = "correct horse battery"


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def signed_in_as(client) -> str | None:
    """The email the navigation shows, or None when the dashboard sends the visitor to log in."""
    response = client.get("/dashboard")
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return None
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    start = html.index('class="nav-email"')
    return html[html.index(">", start) + 1 : html.index("</span>", start)]


def log_in(client, email, password, page="/login"):
    return form_post(client, page, {"email": email, "password": password})


# ---- register ---------------------------------------------------------------------------------


def test_register_page_has_an_accessible_form(client):
    html = client.get("/register").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert '<label for="confirm">Confirm password</label>' in html
    assert 'aria-describedby="password-hint"' in html
    assert "At least 8 characters." in html
    assert field_error(html, "email") is None


def test_register_signs_the_creator_in_and_lands_on_the_dashboard(app, client):
    response = form_post(
        client, "/register", {"email": "  New.Creator@Example.COM ", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"

    dashboard = client.get("/dashboard")
    html = dashboard.get_data(as_text=True)
    assert dashboard.status_code == 200
    assert "Welcome to linktrack!" in " ".join(flashes(html))
    assert signed_in_as(client) == "new.creator@example.com"

    with app.app_context():
        user = User.by_email("new.creator@example.com")
        assert user.email == "new.creator@example.com"
        assert PASSWORD not in user.password_hash
        assert user.password_hash.startswith("pbkdf2:sha256")


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"email": "", "password": "", "confirm": ""},
            {
                "email": "Enter your email address.",
                "password": "Choose a password.",
                "confirm": "Type the password again.",
            },
        ),
        (
            {"email": "   ", "password": PASSWORD, "confirm": PASSWORD},
            {"email": "Enter your email address."},
        ),
        (
            {"email": "not-an-email", "password": PASSWORD, "confirm": PASSWORD},
            {"email": "Enter a valid email address, like you@example.com."},
        ),
        (
            {"email": "creator@localhost", "password": PASSWORD, "confirm": PASSWORD},
            {"email": "Enter a valid email address, like you@example.com."},
        ),
        (
            {"email": "creator@example.com", "password": "short", "confirm": "short"},
            {"password": "Use between 8 and 128 characters."},
        ),
        (
            {"email": "creator@example.com", "password": "x" * 129, "confirm": "x" * 129},
            {"password": "Use between 8 and 128 characters."},
        ),
        (
            {"email": "creator@example.com", "password": PASSWORD, "confirm": PASSWORD + "!"},
            {"confirm": "The passwords do not match."},
        ),
        (
            {"email": "creator@example.com", "password": PASSWORD, "confirm": ""},
            {"confirm": "Type the password again."},
        ),
    ],
    ids=["all-empty", "blank-email", "malformed", "no-domain", "short", "too-long", "mismatch", "no-confirm"],
)
def test_register_explains_every_invalid_field_next_to_it(app, client, data, errors):
    response = form_post(client, "/register", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Please correct the" in html
    for field in ("email", "password", "confirm"):
        assert field_error(html, field) == errors.get(field), field
    assert user_count(app) == 0
    assert signed_in_as(client) is None


def test_register_keeps_the_typed_email_but_never_echoes_a_password(client):
    html = form_post(
        client, "/register", {"email": "creator@example.com", "password": "sekret-pw-1", "confirm": "other-pw-2"}
    ).get_data(as_text=True)
    assert field_value(html, "email") == "creator@example.com"
    assert "sekret-pw-1" not in html
    assert "other-pw-2" not in html


@pytest.mark.parametrize("second_email", ["taken@example.com", "Taken@Example.COM", "  taken@example.com  "])
def test_register_refuses_a_registered_email_whatever_its_case_or_spacing(app, client, creator, second_email):
    creator("taken@example.com")
    response = form_post(client, "/register", {"email": second_email, "password": PASSWORD, "confirm": PASSWORD})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error(html, "email") == "An account with this email already exists. Log in instead?"
    assert user_count(app) == 1
    assert signed_in_as(client) is None


def test_register_while_signed_in_goes_to_the_dashboard(client, register):
    register()
    response = client.get("/register")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


# ---- log in -----------------------------------------------------------------------------------


def test_login_with_the_right_password_lands_on_the_dashboard(client, creator):
    _, email, password = creator("login@example.com")
    response = log_in(client, email, password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert signed_in_as(client) == "login@example.com"


def test_login_ignores_case_and_surrounding_spaces_in_the_email(client, creator):
    _, _, password = creator("login@example.com")
    assert log_in(client, "  LOGIN@Example.com ", password).status_code == 302
    assert signed_in_as(client) == "login@example.com"


@pytest.mark.parametrize(
    ("email", "password", "errors"),
    [
        ("", "", {"email": "Enter your email address.", "password": "Enter your password."}),
        ("login@example.com", "", {"password": "Enter your password."}),
        ("login-at-example.com", PASSWORD, {"email": "Enter a valid email address."}),
        ("login@example.com", "wrong password", {"password": "That email and password do not match an account."}),
        ("nobody@example.com", PASSWORD, {"password": "That email and password do not match an account."}),
    ],
    ids=["empty", "no-password", "malformed-email", "wrong-password", "unknown-email"],
)
def test_login_refusals_say_why_next_to_the_field(client, creator, email, password, errors):
    creator("login@example.com", PASSWORD)
    response = log_in(client, email, password)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("email", "password"):
        assert field_error(html, field) == errors.get(field), field
    assert not field_value(html, "password")
    assert signed_in_as(client) is None


def test_wrong_password_and_unknown_email_look_the_same(client, creator):
    """No account enumeration: the page for an unknown address equals the one for a wrong password."""
    creator("known@example.com")
    wrong = log_in(client, "known@example.com", "not the password").get_data(as_text=True)
    unknown = log_in(client, "unknown@example.com", "not the password").get_data(as_text=True)
    assert field_error(wrong, "password") == field_error(unknown, "password")
    assert visible_text(wrong).replace("known@", "X@") == visible_text(unknown).replace("unknown@", "X@")


@pytest.mark.parametrize("target", ["/settings", "/dashboard?days=7"])
def test_login_follows_next_to_a_page_of_the_site(client, creator, target):
    _, email, password = creator()
    response = log_in(client, email, password, page=f"/login?next={quote(target)}")
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "//evil.com/dashboard",
        "https://evil.com",
        "https://evil.com/login",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "/\n/evil.com",
        "/\r\n/evil.com",
        " //evil.com",
        "javascript:alert(1)",
        "evil.com",
        "",
    ],
)
def test_login_ignores_next_pointing_off_site(client, creator, target):
    _, email, password = creator()
    response = log_in(client, email, password, page=f"/login?next={quote(target, safe='')}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_anonymous_visitor_is_sent_to_login_and_back_to_the_page_asked_for(client, creator):
    _, email, password = creator()
    response = client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/settings"
    back = log_in(client, email, password, page=response.headers["Location"])
    assert back.headers["Location"] == "/settings"
    assert client.get("/settings").status_code == 200


def test_login_page_while_signed_in_goes_to_the_dashboard(client, register):
    register()
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_keep_me_signed_in_sets_a_remember_cookie(client, creator):
    _, email, password = creator()
    form_post(client, "/login", {"email": email, "password": password, "remember": "y"})
    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    assert cookie.http_only


def test_without_keep_me_signed_in_there_is_no_remember_cookie(client, creator):
    _, email, password = creator()
    log_in(client, email, password)
    assert client.get_cookie("remember_token") is None


# ---- log out ----------------------------------------------------------------------------------


def test_logout_ends_the_session(client, register):
    register()
    response = form_post(client, "/dashboard", {}, action="/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    login_page = client.get("/login").get_data(as_text=True)
    assert "You have been logged out." in flashes(login_page)
    assert signed_in_as(client) is None


def test_logout_by_get_is_not_allowed(client, register):
    register()
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "GET" not in response.headers["Allow"]
    assert "linktrack" in visible_text(response.get_data(as_text=True))
    assert signed_in_as(client) is not None


def test_the_logout_button_is_a_form_with_a_csrf_token(client, register):
    register()
    html = client.get("/dashboard").get_data(as_text=True)
    assert '<form method="post" action="/logout">' in html
    assert html.index('name="csrf_token"') > html.index('action="/logout"')


# ---- change password --------------------------------------------------------------------------


def change_password(client, current, new, confirm=None):
    data = {"current_password": current, "new_password": new, "confirm": new if confirm is None else confirm}
    return form_post(client, "/settings", data, action="/settings/password")


def test_change_password_replaces_the_old_one(client, creator):
    _, email, password = creator()
    log_in(client, email, password)
    response = change_password(client, password, "a brand new password")
    assert response.status_code == 302
    assert response.headers["Location"] == "/settings"
    assert "Your password has been changed." in " ".join(flashes(client.get("/settings").get_data(as_text=True)))

    form_post(client, "/dashboard", {}, action="/logout")
    assert log_in(client, email, password).status_code == 422
    assert log_in(client, email, "a brand new password").status_code == 302
    assert signed_in_as(client) == email


@pytest.mark.parametrize(
    ("current", "new", "confirm", "errors"),
    [
        (
            "",
            "",
            "",
            {
                "current_password": "Enter your current password.",
                "new_password": "Choose a password.",
                "confirm": "Type the new password again.",
            },
        ),
        ("not my password", "a brand new password", None, {"current_password": "That is not your current password."}),
        (PASSWORD, "short", None, {"new_password": "Use between 8 and 128 characters."}),
        (PASSWORD, "a brand new password", "a brand new passw0rd", {"confirm": "The passwords do not match."}),
    ],
    ids=["empty", "wrong-current", "short", "mismatch"],
)
def test_change_password_refusals_leave_the_password_unchanged(client, creator, current, new, confirm, errors):
    _, email, password = creator(password=PASSWORD)
    log_in(client, email, password)
    response = change_password(client, current, new, confirm)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("current_password", "new_password", "confirm"):
        assert field_error(html, field) == errors.get(field), field

    form_post(client, "/dashboard", {}, action="/logout")
    assert log_in(client, email, PASSWORD).status_code == 302


def test_change_password_needs_a_signed_in_creator(client):
    data = {"current_password": PASSWORD, "new_password": "x" * 10, "confirm": "x" * 10}
    response = form_post(client, "/login", data, action="/settings/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
