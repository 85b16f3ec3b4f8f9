"""Creator accounts and API keys: registration, passwords, sessions that end, resets and Bearer keys."""

import base64
import hashlib
import logging
import secrets
from datetime import timedelta

from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, current_app, g, redirect, request, url_for
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..counting.consumer import hold_counting
from ..counting.days import DEFAULT_TIME_ZONE
from ..errors import ApiError, wants_json
from ..extensions import db, login_manager
from ..links.urls import public_base_url
from ..mail import MailNotSent, send_email
from ..models import ApiKey, PasswordResetToken, User, utcnow
from ..queue import enqueue

log = logging.getLogger(__name__)

API_KEY_PREFIX = "lt_"
API_KEY_SHOWN_PREFIX_LENGTH = 11  # "lt_" + 8 characters: enough to tell keys apart in a list
LAST_USED_RESOLUTION = timedelta(minutes=1)  # avoid a write on every API call

# A hash to compare against when the email is unknown, so both paths cost the same time.
_DUMMY_HASH_BY_METHOD: dict[str, str] = {}


class EmailTaken(Exception):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def register_user(email: str, password: str, time_zone: str = DEFAULT_TIME_ZONE) -> User:
    """Create a creator account. Raises EmailTaken when the address is already registered.
    `time_zone` (a known IANA name, auth/forms.py) is the one their days are counted in from the start."""
    user = User(
        email=normalise_email(email),
        password_hash=_hash_password(password),
        time_zone=time_zone,
        counted_time_zone=time_zone,
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise EmailTaken(email) from exc
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None. Unknown emails cost as much as wrong passwords."""
    user = User.by_email(email)
    if user is None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        dummy = _DUMMY_HASH_BY_METHOD.setdefault(method, generate_password_hash("x", method=method))
        check_password_hash(dummy, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def change_password(user: User, new_password: str) -> None:
    """A new password ends every session and remember-me cookie of the account (someone who knew
    the old one may still hold one); the caller signs the current browser in again if it should stay."""
    user.password_hash = _hash_password(new_password)
    _raise_session_version(user)
    db.session.commit()


def end_every_session(user: User) -> None:
    """Logout, "log out everywhere": every session and remember-me cookie of user stops working."""
    _raise_session_version(user)
    db.session.commit()


def _raise_session_version(user: User) -> None:
    # In SQL, so two requests ending sessions at once both count (either way every old cookie dies).
    user.session_version = User.session_version + 1
    db.session.flush()
    db.session.refresh(user, ["session_version"])


# ---- password reset by email --------------------------------------------------------------------


def start_password_reset(email: str) -> None:
    """Email a single-use reset link when an account has this address, and nothing otherwise: the
    caller answers the same either way. Only the token's hash is stored; a failed send is logged
    without the address."""
    user = User.by_email(email)
    if user is None:
        return
    token = secrets.token_urlsafe(32)
    minutes = current_app.config["PASSWORD_RESET_VALID_MINUTES"]
    db.session.add(
        PasswordResetToken(user_id=user.id, token_hash=_sha256(token), expires_at=utcnow() + timedelta(minutes=minutes))
    )
    db.session.commit()
    link = public_base_url().rstrip("/") + url_for("auth.reset_password", token=token)
    body = (
        "Someone (hopefully you) asked to reset the password of your linktrack account.\n\n"
        f"Choose a new password here within {minutes} minutes:\n{link}\n\n"
        "The link works once. Resetting signs you out everywhere. If you did not ask for this, "
        "ignore this email: your password stays as it is.\n"
    )
    try:
        send_email(user.email, "Reset your linktrack password", body)
    except MailNotSent as exc:
        log.warning("password reset email for user %s not sent: %s", user.id, exc)


def valid_reset_token(token: str) -> PasswordResetToken | None:
    """The unused, unexpired reset token, or None (unknown, used and expired look the same)."""
    if not token or len(token) > 200:
        return None
    reset = db.session.scalar(select(PasswordResetToken).where(PasswordResetToken.token_hash == _sha256(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return None
    return reset


def reset_password(token: str, new_password: str) -> User | None:
    """Set a new password with a reset token and end every session. None when the token is not
    (or no longer) valid; of two requests racing with one token, exactly one wins."""
    reset = valid_reset_token(token)
    if reset is None:
        return None
    now = utcnow()
    claimed = db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == reset.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    # Every other link sent to this account dies too: the password they were meant to replace is gone.
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == reset.user_id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
    )
    user = db.session.get(User, reset.user_id)
    change_password(user, new_password)  # commits
    return user


def set_main_currency(user: User, currency: str) -> None:
    """The creator's main currency (an ISO 4217 code the form has checked): listed first, ranked by."""
    user.main_currency = currency
    db.session.commit()


def set_conversion_retention(user: User, days: int | None) -> None:
    """None keeps valid conversions for good; a number lets cleanup remove older ones."""
    user.conversion_retention_days = days
    db.session.commit()


def set_time_zone(user: User, zone: str) -> bool:
    """Count `user`'s days in `zone` (a known IANA name) from now on, and rebuild the days already
    counted from the raw events (recount.rebuild_creator_days, a job). Returns whether it changed.

    The change waits for a counting run in progress and none starts before it commits
    (consumer.hold_counting), so every event is counted in the old zone or in the new one, never
    on a mix: the recount that follows makes every day exact.
    """
    if zone == user.time_zone:
        return False
    hold_counting(db.session.connection())
    user.time_zone = zone
    db.session.commit()
    enqueue("rebuild_creator_days", user.id)
    return True


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(user: User, name: str) -> tuple[ApiKey, str]:
    """Make a key for user. Returns the row and the key itself, which is never stored or shown again."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        user_id=user.id,
        name=name.strip(),
        prefix=key[:API_KEY_SHOWN_PREFIX_LENGTH],
        key_hash=_sha256(key),
    )
    db.session.add(api_key)
    db.session.commit()
    return api_key, key


NEW_KEY_SHOWN_FOR_SECONDS = 300  # the redirect after creating a key is followed at once; a stale one shows nothing


def _new_key_box() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"linktrack new api key\x00" + secret).digest()))


def seal_new_key(key: str) -> str:
    """The new key, encrypted, to carry across the redirect after creating it (post-redirect-get) in
    the session cookie, which is signed but readable: the key itself never sits in a cookie."""
    return _new_key_box().encrypt(key.encode()).decode()


def unseal_new_key(token: str | None) -> str | None:
    """The key seal_new_key carried, or None (absent, tampered with, or older than a few minutes)."""
    if not token:
        return None
    try:
        return _new_key_box().decrypt(token.encode(), ttl=NEW_KEY_SHOWN_FOR_SECONDS).decode()
    except (InvalidToken, ValueError):
        return None


def list_api_keys(user: User) -> list[ApiKey]:
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == user.id)
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
        )
    )


def get_api_key(user: User, key_id: int) -> ApiKey | None:
    """One of user's keys; None for another creator's key or one that does not exist (both 404)."""
    return db.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))


def revoke_api_key(user: User, key_id: int) -> bool:
    """Revoke one of user's keys. False when there is no such key of theirs (already revoked is fine)."""
    api_key = get_api_key(user, key_id)
    if api_key is None:
        return False
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        db.session.commit()
    return True


def user_for_api_key(key: str) -> ApiKey | None:
    """The active key matching `key`, its last use noted; None when unknown or revoked."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 200:
        return None
    api_key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _sha256(key)))
    if api_key is None or api_key.revoked_at is not None:
        return None
    now = utcnow()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        api_key.last_used_at = now
        db.session.commit()
    return api_key


def _load_user_from_session(session_id: str) -> User | None:
    """Flask-Login user loader for the session and the remember-me cookie: "<user id>:<session
    version>" (User.get_id). An id without the current version is a session that has been ended."""
    user_id, _, version = str(session_id).partition(":")
    try:
        user = db.session.get(User, int(user_id))
        version_number = int(version)
    except (TypeError, ValueError):
        return None
    return user if user is not None and user.session_version == version_number else None


def _load_user_from_bearer(req) -> User | None:
    """Flask-Login request loader: `Authorization: Bearer <key>` authenticates as the key's creator,
    on /api/ only. Pages need a session: a key (perhaps leaked, perhaps revoked later) must never
    obtain a page's CSRF token, a session cookie, or the forms that create keys and destinations."""
    header = req.headers.get("Authorization")
    if not header or not wants_json():
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        g.api_auth_error = ("invalid_authorization", "Use the header 'Authorization: Bearer <api key>'.")
        return None
    api_key = user_for_api_key(key.strip())
    if api_key is None:
        g.api_auth_error = ("invalid_api_key", "This API key is unknown or has been revoked.")
        return None
    g.api_key = api_key
    return api_key.user


def _unauthorized():
    if wants_json():
        code, message = g.get("api_auth_error") or (
            "unauthorized",
            "Sign in, or send 'Authorization: Bearer <api key>'.",
        )
        raise ApiError(401, code, message)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def install_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user_from_session)
    login_manager.request_loader(_load_user_from_bearer)
    login_manager.unauthorized_handler(_unauthorized)
