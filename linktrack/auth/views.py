"""Register, log in, log out (here or everywhere), password reset, settings (password and API keys),
and GET /api/me."""

import hashlib

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_login.config import COOKIE_NAME as REMEMBER_COOKIE_NAME

from ..extensions import limiter
from ..forwarding import destinations as forwarding
from ..mail import mail_is_configured
from ..tracking import sightings
from ..web.api import api_blueprint
from ..web.confirm import ask_first, confirmed
from ..web.ownership import owned_or_404
from . import service
from .forms import (
    ApiKeyForm,
    ChangePasswordForm,
    ConversionRetentionForm,
    ForgotPasswordForm,
    LoginForm,
    MainCurrencyForm,
    RegisterForm,
    ResetPasswordForm,
    TimeZoneForm,
)

bp = Blueprint("auth", __name__)
api = api_blueprint("auth_api", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _register_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


def _reset_limit_per_ip() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT_PER_IP"]


def _reset_limit_per_email() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT_PER_EMAIL"]


def _reset_email_key() -> str:
    """Reset emails are counted per address asked for (hashed: no raw address in the limiter's store)."""
    email = service.normalise_email(request.form.get("email", ""))
    return "reset-email:" + hashlib.sha256(email.encode()).hexdigest()


def _stay_signed_in_after_session_change() -> None:
    """This browser started the change, so it gets a session (and remember-me cookie, if it had one)
    with the new version while every other one ends."""
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", REMEMBER_COOKIE_NAME) in request.cookies
    login_user(current_user._get_current_object(), remember=remembered)


def _safe_next(default: str) -> str:
    """Only same-site paths are followed after login; anything else would be an open redirect.

    Browsers drop tabs and newlines inside a URL and read a backslash as a slash, so a tab, newline
    or backslash after the first slash turns the target into `//evil.com`: such targets are not
    followed either (a newline would also break the Location header).
    """
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(char.isspace() or not char.isprintable() for char in target):
        return default
    return target


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("reports.dashboard"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = service.register_user(form.email.data, form.password.data, form.registered_time_zone())
        except service.EmailTaken:
            form.email.errors.append("An account with this email already exists. Log in instead?")
        else:
            login_user(user)
            flash("Welcome to linktrack! Create your first campaign link to start tracking.", "success")
            return redirect(url_for("reports.dashboard"))
    return render_template("auth/register.html", form=form), 200 if not form.errors else 422


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(url_for("reports.dashboard")))
    form = LoginForm()
    if form.validate_on_submit():
        user = service.authenticate(form.email.data, form.password.data)
        if user is None:
            form.password.errors.append("That email and password do not match an account.")
        else:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(url_for("reports.dashboard")))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 422


@bp.route("/logout", methods=["POST"])
def logout():
    """Ends every session of the account, not only this browser's cookie: a copy of the cookie (a
    shared computer, a stolen cookie) must not outlive the logout. CSRFProtect has checked the token."""
    if current_user.is_authenticated:
        service.end_every_session(current_user)
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(_reset_limit_per_ip, methods=["POST"])
@limiter.limit(_reset_limit_per_email, methods=["POST"], key_func=_reset_email_key)
def forgot_password():
    """The same answer whether or not an account has the address: the page never tells who signed up."""
    if not mail_is_configured():
        return render_template("auth/forgot_password.html", form=None, sent=False)
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        service.start_password_reset(form.email.data)
        return render_template("auth/forgot_password.html", form=form, sent=True)
    return render_template("auth/forgot_password.html", form=form, sent=False), 200 if not form.errors else 422


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@limiter.limit(_reset_limit_per_ip, methods=["POST"])
def reset_password(token: str):
    if service.valid_reset_token(token) is None:
        return render_template("auth/reset_password.html", form=None), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        if service.reset_password(token, form.new_password.data) is not None:
            logout_user()  # whoever was signed in here, the reset ended their session too
            flash("Your password has been reset and every session signed out. Log in with the new password.", "success")
            return redirect(url_for("auth.login"))
        return render_template("auth/reset_password.html", form=None), 404
    return render_template("auth/reset_password.html", form=form), 200 if not form.errors else 422


@bp.get("/logout")
def logout_by_get():
    """A link or prefetch must not end a session: 405, said here because GET /<short_code> would say 404."""
    abort(405, valid_methods=["POST"])


NEW_KEY_SESSION = "new_api_key"


@bp.route("/settings", methods=["GET"])
@login_required
def settings():
    """The page; right after a key was created, that key once (taken out of the session as it is shown)."""
    return _render_settings(new_key=service.unseal_new_key(session.pop(NEW_KEY_SESSION, None)))


def _render_settings(
    password_form=None,
    key_form=None,
    new_key=None,
    retention_form=None,
    time_zone_form=None,
    currency_form=None,
    status=200,
):
    return (
        render_template(
            "auth/settings.html",
            time_zone_form=time_zone_form or TimeZoneForm(formdata=None, time_zone=current_user.time_zone),
            password_form=password_form or ChangePasswordForm(formdata=None),
            retention_form=retention_form
            or ConversionRetentionForm(formdata=None, retention_days=current_user.conversion_retention_days),
            key_form=key_form or ApiKeyForm(formdata=None),
            currency_form=currency_form or MainCurrencyForm(formdata=None, main_currency=current_user.main_currency),
            api_keys=service.list_api_keys(current_user),
            paused_destinations=forwarding.paused_count(current_user.id),
            new_key=new_key,
            sightings=sightings.latest_sighting(current_user.id),
        ),
        status,
    )


@bp.route("/settings/password", methods=["POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if service.verify_password(current_user, form.current_password.data):
            service.change_password(current_user, form.new_password.data)
            _stay_signed_in_after_session_change()
            flash("Your password has been changed. Every other session has been signed out.", "success")
            return redirect(url_for("auth.settings"))
        form.current_password.errors.append("That is not your current password.")
    return _render_settings(password_form=form, status=422)


@bp.route("/settings/log-out-everywhere", methods=["POST"])
@login_required
def log_out_everywhere():
    """Every other browser and remember-me cookie is signed out; this one stays signed in."""
    if not confirmed():
        return ask_first(
            "Log out everywhere else?",
            "Every other browser and every “Keep me signed in” on other devices is signed out. "
            "This browser stays signed in; API keys keep working.",
            "Log out everywhere",
            url_for("auth.settings"),
        )
    service.end_every_session(current_user)
    _stay_signed_in_after_session_change()
    flash("Every other session of your account has been signed out.", "success")
    return redirect(url_for("auth.settings"))


@bp.route("/settings/api-keys", methods=["POST"])
@login_required
def create_api_key():
    form = ApiKeyForm()
    if form.validate_on_submit():
        api_key, key = service.create_api_key(current_user, form.name.data)
        flash(f"API key “{api_key.name}” created. Copy it now: it will not be shown again.", "success")
        # Post-redirect-get: a refresh of the page showing the key must not post the form again.
        session[NEW_KEY_SESSION] = service.seal_new_key(key)
        return redirect(url_for("auth.settings", _anchor="new-api-key"), 303)
    return _render_settings(key_form=form, status=422)


@bp.route("/settings/api-keys/<int:key_id>/revoke", methods=["POST"])
@login_required
def revoke_api_key(key_id: int):
    """Another creator's key is a 404, exactly like a key that does not exist."""
    if not confirmed():
        api_key = owned_or_404(service.get_api_key(current_user, key_id), "API key")
        return ask_first(
            f"Revoke the API key “{api_key.name}”?",
            "Every call using it is refused from then on, including the payment webhooks or scripts that "
            "send conversions with it. This cannot be undone: a new key would have to be put in their place.",
            "Revoke key",
            url_for("auth.settings"),
        )
    if not service.revoke_api_key(current_user, key_id):
        abort(404)
    flash("The API key has been revoked. Calls using it are refused from now on.", "info")
    return redirect(url_for("auth.settings"))


@bp.route("/settings/currency", methods=["POST"])
@login_required
def change_main_currency():
    form = MainCurrencyForm()
    if form.validate_on_submit():
        service.set_main_currency(current_user, form.main_currency.data)
        flash(f"Your main currency is now {form.main_currency.data}.", "success")
        return redirect(url_for("auth.settings"))
    return _render_settings(currency_form=form, status=422)


@bp.route("/settings/retention", methods=["POST"])
@login_required
def change_conversion_retention():
    form = ConversionRetentionForm()
    if form.validate_on_submit():
        service.set_conversion_retention(current_user, form.retention_days.data)
        if form.retention_days.data is None:
            flash("Conversions are kept for good.", "success")
        else:
            flash(
                f"Conversions older than {form.retention_days.data} days will be removed by the nightly cleanup.",
                "success",
            )
        return redirect(url_for("auth.settings"))
    return _render_settings(retention_form=form, status=422)


@bp.route("/settings/time-zone", methods=["POST"])
@login_required
def change_time_zone():
    form = TimeZoneForm()
    if form.validate_on_submit():
        if service.set_time_zone(current_user, form.time_zone.data):
            flash(
                f"Your reports now count days in {form.time_zone.data}. Days already counted are being recounted.",
                "success",
            )
        return redirect(url_for("auth.settings"))
    return _render_settings(time_zone_form=form, status=422)


@api.get("/me")
@login_required
def me():
    """Who the caller is: handy to check that an API key works."""
    return {
        "id": current_user.id,
        "email": current_user.email,
        "created_at": current_user.created_at.isoformat(),
        "time_zone": current_user.time_zone,
    }
