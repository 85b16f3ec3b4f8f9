"""Campaign links."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, Uuid, func, select, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import DEFAULT_ATTRIBUTION_WINDOW_DAYS, JSONType, UTCDateTime, utcnow

if TYPE_CHECKING:
    from .users import User


class CampaignLink(db.Model):
    """A short link for one video, pointing at the creator's landing page."""

    __tablename__ = "campaign_links"
    # /Promo and /promo would confuse viewers: unique ignoring case, decided by the database.
    __table_args__ = (Index("uq_campaign_links_short_code_lower", func.lower(text("short_code")), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    short_code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    video_id: Mapped[str] = mapped_column(String(11), nullable=False, index=True)
    video_url: Mapped[str] = mapped_column(Text, nullable=False)
    destination_url: Mapped[str] = mapped_column(Text, nullable=False)
    campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_medium: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_content: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_term: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attribution_window_days: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_ATTRIBUTION_WINDOW_DAYS, nullable=False
    )
    allowed_origins: Mapped[list[str]] = mapped_column(JSONType, default=list, nullable=False)
    # The most a browser conversion may report (None: no cap); the creator's server is not capped.
    max_browser_revenue: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped["User"] = relationship(back_populates="links")

    @classmethod
    def owned(cls, user_id: int, link_id) -> "CampaignLink | None":
        """The link if it belongs to user_id; None otherwise (callers answer 404, never 403)."""
        return db.session.scalar(select(cls).where(cls.id == link_id, cls.user_id == user_id))


class TrackerSighting(db.Model):
    """When the CampaignTracker on a page of `origin` last reported a conversion for a link: the
    install panel's "last event received". Origins only (the Origin header a conversion passed
    check_origin with), never a page's full URL. Written at most once a minute per link and origin
    (tracking/sightings.py), so no conversion waits on it."""

    __tablename__ = "tracker_sightings"

    campaign_link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign_links.id", ondelete="CASCADE"), primary_key=True
    )
    origin: Mapped[str] = mapped_column(Text, primary_key=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
