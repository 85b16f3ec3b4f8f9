"""The JSON reports: GET /api/conversions/funnel/<id> and /types/<id> (DESIGN.md §5, owner only).

A session or an API key (login_required admits a Bearer key on /api/); another creator's link or
a malformed id is a 404, a bad range a 400 naming its parameter, exactly as the pages read ranges.
"""

from typing import Any

from flask import request
from flask_login import current_user, login_required

from ..errors import ApiError
from ..links.service import get_link
from ..models import EVENT_TYPES, CampaignLink
from ..web.api import allow_cross_origin, api_blueprint
from ..web.formatting import money_by_currency, single_currency_money
from ..web.ownership import owned_or_404
from .queries import conversions_by_source, link_figures
from .ranges import DateRange, RangeInvalid, first_day_of_link, parse_date_range

bp = api_blueprint("reports_api", __name__, url_prefix="/api/conversions")
# Under /api/conversions, so with the conversions API's CORS answer (web/api.py).
bp.after_request(allow_cross_origin)


def _report_range(link: CampaignLink) -> DateRange:
    """`from`/`to` (or `range`) from the query string, as the report pages read them; 400 names the field."""
    try:
        return parse_date_range(request.args, zone=link.user.time_zone, first_day=lambda: first_day_of_link(link.id))
    except RangeInvalid as exc:
        raise ApiError(400, exc.code, exc.message, exc.field) from None


@bp.get("/funnel/<campaign_link_id>")
@login_required
def funnel(campaign_link_id: str):
    link = owned_or_404(get_link(current_user.id, campaign_link_id), "link", field="campaign_link_id")
    return funnel_json(link, _report_range(link))


@bp.get("/types/<campaign_link_id>")
@login_required
def types(campaign_link_id: str):
    link = owned_or_404(get_link(current_user.id, campaign_link_id), "link", field="campaign_link_id")
    return types_json(link, _report_range(link))


def _rate_json(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)


def revenue_json(amounts: dict) -> dict:
    """A money figure as the API writes it: `revenue_by_currency` ({"USD": "49.99", "JPY": "1200"},
    each currency apart, never summed) and the single-currency `revenue` of before currencies
    (None once there are several: docs/api.md)."""
    return {"revenue": single_currency_money(amounts), "revenue_by_currency": money_by_currency(amounts)}


def _total_json(figures, main_currency: str) -> dict:
    total = revenue_json(figures.revenue_by_currency)
    return {
        "total_revenue": total["revenue"],
        "revenue_by_currency": total["revenue_by_currency"],
        "main_currency": main_currency,
    }


def funnel_json(link: CampaignLink, date_range: DateRange) -> dict:
    """GET /api/conversions/funnel/<id>: counted clicks, then distinct converting visitors per type."""
    figures = link_figures(link, date_range)
    stages = []
    for stage in figures.funnel():
        entry: dict[str, Any] = {"stage": stage.stage, "count": stage.count}
        if stage.stage != "clicks":
            entry["rate"] = _rate_json(stage.rate)
        stages.append(entry)
    return {
        "campaign_link_id": str(link.id),
        "window_days": link.attribution_window_days,
        "from": date_range.start.isoformat(),
        "to": date_range.end.isoformat(),
        "stages": stages,
        **_total_json(figures, link.user.main_currency),
    }


def types_json(link: CampaignLink, date_range: DateRange) -> dict:
    """GET /api/conversions/types/<id>: conversions and revenue per event type, and per source
    (what the landing page reported, which anyone can forge, apart from what the creator's server did)."""
    figures = link_figures(link, date_range)
    return {
        "campaign_link_id": str(link.id),
        "from": date_range.start.isoformat(),
        "to": date_range.end.isoformat(),
        "types": [
            {"event_type": t, "count": figures.counts[t], **revenue_json(figures.type_revenue(t))} for t in EVENT_TYPES
        ],
        **_total_json(figures, link.user.main_currency),
        "sources": [
            {"source": s.source, "count": s.conversions, **revenue_json(s.revenue)}
            for s in conversions_by_source(link.id, date_range)
        ],
    }
