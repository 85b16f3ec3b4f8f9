"""Creator accounts and API keys: registration, passwords, sessions and Bearer keys."""

import hashlib
import secrets
from datetime import timedelta

from flask import Flask, current_app, g, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import ApiError, wants_json
from ..extensions import db, login_manager
from ..models import ApiKey, User, utcnow

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


def register_user(email: str, password: str) -> User:
    """Create a creator account. Raises EmailTaken when the address is already registered."""
    user = User(email=normalise_email(email), password_hash=_hash_password(password))
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
    user.password_hash = _hash_password(new_password)
    db.session.commit()


def set_conversion_retention(user: User, days: int | None) -> None:
    """None keeps valid conversions for good; a number lets cleanup remove older ones."""
    user.conversion_retention_days = days
    db.session.commit()


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(user: User, name: str) -> tuple[ApiKey, str]:
    """Make a key for user. Returns the row and the key itself, which is never stored or shown again."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        user_id=user.id,
        name=name.strip(),
        prefix=key[:API_KEY_SHOWN_PREFIX_LENGTH],
        key_hash=_hash_key(key),
    )
    db.session.add(api_key)
    db.session.commit()
    return api_key, key


def list_api_keys(user: User) -> list[ApiKey]:
    return list(
        db.session.scalars(
            select(ApiKey)
            .where(ApiKey.user_id == user.id)
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
        )
    )


def revoke_api_key(user: User, key_id: int) -> bool:
    """Revoke one of user's keys. False when there is no such key of theirs (already revoked is fine)."""
    api_key = db.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))
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
    api_key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_key(key)))
    if api_key is None or api_key.revoked_at is not None:
        return None
    now = utcnow()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        api_key.last_used_at = now
        db.session.commit()
    return api_key


def _load_user_from_session(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


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
