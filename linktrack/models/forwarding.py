"""Forwarding destinations, their deliveries (one per conversion and destination) and every attempt."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow

DESTINATION_KINDS = ("facebook", "google", "webhook")
DELIVERY_STATUSES = ("pending", "queued", "sending", "retrying", "delivered", "failed")


class ForwardingDestination(db.Model):
    """Where a creator's conversions are sent. Credentials are a Fernet token (forwarding/destinations.py);
    `secret_hint` keeps the last characters so the page can say which key is stored."""

    __tablename__ = "forwarding_destinations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    settings: Mapped[dict] = mapped_column(JSONType, default=dict, nullable=False)
    credentials_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    secret_hint: Mapped[str] = mapped_column(String(8), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    deliveries: Mapped[list["ForwardingDelivery"]] = relationship(
        back_populates="destination", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def active(self) -> bool:
        return self.enabled and self.paused_at is None


class ForwardingDelivery(db.Model):
    """One conversion (or a test event, conversion_id NULL) to one destination, across its attempts."""

    __tablename__ = "forwarding_deliveries"
    __table_args__ = (UniqueConstraint("destination_id", "conversion_id", name="uq_forwarding_deliveries_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("forwarding_destinations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    conversion_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversion_events.id", ondelete="CASCADE"), nullable=True, index=True
    )
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(12), default="pending", nullable=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    destination: Mapped[ForwardingDestination] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list["ForwardingAttempt"]] = relationship(
        order_by="ForwardingAttempt.id", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_test(self) -> bool:
        return self.conversion_id is None


class ForwardingAttempt(db.Model):
    """One HTTP try: when, what came back (status code or error), and when the next try is due."""

    __tablename__ = "forwarding_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("forwarding_deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
