"""Creators, their API keys and their password-reset tokens."""

from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .links import CampaignLink


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Days a valid conversion is kept; None keeps conversions for good (cleanup removes none of them).
    conversion_retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # ISO 4217 (web/currencies.py): listed first on every page, and what "by revenue" ranks by.
    main_currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD", nullable=False)
    # Part of every session's and remember-me cookie's user id (get_id): raising it ends them all.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1", nullable=False)
    # The IANA zone whose calendar days the creator's reports count in (counting/days.py).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC", nullable=False)
    # The zone the creator's aggregates are counted in: differs from time_zone from a change until
    # the job that rebuilds them from the raw events (counting/days.rebuild_days) is done.
    counted_time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC", nullable=False)

    api_keys: Mapped[list["ApiKey"]] = relationship(back_populates="user", cascade="all, delete-orphan")
    links: Mapped[list["CampaignLink"]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @classmethod
    def by_email(cls, email: str) -> "User | None":
        return db.session.scalar(select(cls).where(cls.email == email.strip().lower()))

    def get_id(self) -> str:
        """Flask-Login's alternative id: what the session and the remember-me cookie hold. A cookie
        made before the version was raised names a version that no longer exists, so it signs no one in."""
        return f"{self.id}:{self.session_version}"


class ApiKey(db.Model):
    """A creator's API key. Only a SHA-256 hash is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="api_keys")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class PasswordResetToken(db.Model):
    """A single-use password-reset link. Only a SHA-256 hash is stored; the token is only in the email."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()
