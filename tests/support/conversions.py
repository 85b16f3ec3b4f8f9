"""A landing page's conversion calls, as the conversion API tests make them."""

from datetime import datetime, timezone

from sqlalchemy import func, select

from linktrack.extensions import db
from linktrack.models import ConversionEvent

ORIGIN = "https://landing.example.com"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def post(client, body, origin=ORIGIN, **headers):
    if origin:
        headers["Origin"] = origin
    return client.post("/api/conversions", json=body, headers=headers)


def conversion(attributed, **fields):
    link_id, tracking_id = attributed
    return {"tracking_id": tracking_id, "campaign_link_id": link_id, **fields}


def stored_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ConversionEvent))


def error(response):
    return response.get_json()["error"]
