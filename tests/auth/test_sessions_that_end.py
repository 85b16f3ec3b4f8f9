"""Logout, a password change and "Log out everywhere" end every session and remember-me cookie of
the account (issue 13, item 6): a copied `session` or `remember_token` cookie answers 401 after."""

from linktrack.extensions import db
from linktrack.models import User
from tests.support.forms import form_post
from tests.support.pages import flashes

NEW_PASSWORD = "a brand new password"


def signed_in_browser(app, email, password):
    browser = app.test_client()
    response = form_post(browser, "/login", {"email": email, "password": password, "remember": "y"})
    assert response.status_code == 302
    return browser


def copied_cookie(app, browser, name):
    """A new browser holding only this one cookie of `browser` (what a thief would replay)."""
    cookie = browser.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    thief = app.test_client()
    thief.set_cookie(name, cookie.value)
    return thief


def me_status(client) -> int:
    return client.get("/api/me").status_code


def test_a_copied_session_and_remember_cookie_each_sign_in_until_logout_then_get_401(app, creator):
    _, email, password = creator()
    browser = signed_in_browser(app, email, password)
    session_copy = copied_cookie(app, browser, "session")
    remember_copy = copied_cookie(app, browser, "remember_token")
    assert me_status(session_copy) == 200
    assert me_status(remember_copy) == 200

    assert form_post(browser, "/dashboard", {}, action="/logout").status_code == 302

    assert me_status(browser) == 401
    assert me_status(session_copy) == 401
    assert me_status(remember_copy) == 401
    assert session_copy.get("/settings").headers["Location"].startswith("/login")


def test_a_password_change_in_another_browser_ends_both_cookies_and_keeps_the_changer_signed_in(app, creator):
    _, email, password = creator()
    laptop = signed_in_browser(app, email, password)
    session_copy = copied_cookie(app, laptop, "session")
    remember_copy = copied_cookie(app, laptop, "remember_token")
    phone = signed_in_browser(app, email, password)

    changed = form_post(
        phone,
        "/settings",
        {"current_password": password, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        action="/settings/password",
    )

    assert changed.status_code == 302
    assert me_status(laptop) == 401
    assert me_status(session_copy) == 401
    assert me_status(remember_copy) == 401
    assert me_status(phone) == 200
    assert me_status(copied_cookie(app, phone, "remember_token")) == 200  # the changer's own, renewed


def test_log_out_everywhere_ends_another_browsers_session_and_remember_cookie(app, creator):
    _, email, password = creator()
    laptop = signed_in_browser(app, email, password)
    remember_copy = copied_cookie(app, laptop, "remember_token")
    phone = signed_in_browser(app, email, password)
    settings = phone.get("/settings").get_data(as_text=True)
    assert "Log out everywhere" in settings

    response = form_post(phone, "/settings", {"confirm": "yes"}, action="/settings/log-out-everywhere")

    assert response.status_code == 302
    assert "Every other session of your account has been signed out." in flashes(
        phone.get("/settings").get_data(as_text=True)
    )
    assert me_status(laptop) == 401
    assert me_status(remember_copy) == 401
    assert laptop.get("/settings").headers["Location"].startswith("/login")
    assert me_status(phone) == 200


def test_log_out_everywhere_needs_the_csrf_token(app, creator):
    _, email, password = creator()
    laptop = signed_in_browser(app, email, password)
    phone = signed_in_browser(app, email, password)

    refused = phone.post("/settings/log-out-everywhere", data={})

    assert refused.status_code == 400
    assert me_status(laptop) == 200


def test_a_session_made_before_the_version_existed_signs_no_one_in(app, creator):
    """Cookies from before the migration held the bare user id: they end once, harmlessly."""
    user_id, _, _ = creator()
    with app.app_context():
        assert db.session.get(User, user_id).get_id() == f"{user_id}:1"
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True

    assert me_status(browser) == 401
