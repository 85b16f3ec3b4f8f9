"""Read-only report queries. Every query is scoped to one creator (user_id)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from ..extensions import db
from ..models import CampaignLink, ClickEvent, ConversionEvent, utcnow


@dataclass
class LinkSummary:
    link: CampaignLink
    clicks: int = 0
    conversions: int = 0
    revenue: Decimal = Decimal("0")


@dataclass
class DashboardSummary:
    start: datetime
    end: datetime
    clicks: int = 0
    unique_clicks: int = 0
    conversions_by_type: dict[str, int] = field(default_factory=dict)
    revenue: Decimal = Decimal("0")
    links: list[LinkSummary] = field(default_factory=list)

    @property
    def conversions(self) -> int:
        return sum(self.conversions_by_type.values())


def dashboard_summary(user_id: int, days: int = 30, now: datetime | None = None) -> DashboardSummary:
    """Totals over the last `days` days and per-link figures, for the creator's dashboard.

    Clicks exclude bots. Conversions are only ever stored within their link's attribution
    window, so every stored conversion counts here.
    """
    end = now or utcnow()
    start = end - timedelta(days=days)
    summary = DashboardSummary(start=start, end=end)

    clicks = (
        select(
            ClickEvent.campaign_link_id,
            func.count().label("clicks"),
            func.count().filter(ClickEvent.is_unique).label("unique_clicks"),
        )
        .join(CampaignLink, CampaignLink.id == ClickEvent.campaign_link_id)
        .where(
            CampaignLink.user_id == user_id,
            ~ClickEvent.is_bot,
            ClickEvent.clicked_at >= start,
            ClickEvent.clicked_at < end,
        )
        .group_by(ClickEvent.campaign_link_id)
    )
    clicks_by_link = {row.campaign_link_id: row for row in db.session.execute(clicks)}

    conversions = (
        select(
            ConversionEvent.campaign_link_id,
            ConversionEvent.event_type,
            func.count().label("count"),
            func.coalesce(func.sum(ConversionEvent.revenue_amount), 0).label("revenue"),
        )
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .where(
            CampaignLink.user_id == user_id,
            ConversionEvent.converted_at >= start,
            ConversionEvent.converted_at < end,
        )
        .group_by(ConversionEvent.campaign_link_id, ConversionEvent.event_type)
    )
    conversions_by_link: dict = {}
    for row in db.session.execute(conversions):
        entry = conversions_by_link.setdefault(row.campaign_link_id, [0, Decimal("0")])
        entry[0] += row.count
        entry[1] += Decimal(row.revenue)
        summary.conversions_by_type[row.event_type] = summary.conversions_by_type.get(row.event_type, 0) + row.count
        summary.revenue += Decimal(row.revenue)

    links = db.session.scalars(
        select(CampaignLink).where(CampaignLink.user_id == user_id).order_by(CampaignLink.created_at.desc())
    )
    for link in links:
        click_row = clicks_by_link.get(link.id)
        count, revenue = conversions_by_link.get(link.id, (0, Decimal("0")))
        summary.links.append(
            LinkSummary(link=link, clicks=click_row.clicks if click_row else 0, conversions=count, revenue=revenue)
        )
        if click_row:
            summary.clicks += click_row.clicks
            summary.unique_clicks += click_row.unique_clicks
    summary.links.sort(key=lambda s: (s.revenue, s.clicks), reverse=True)
    return summary
