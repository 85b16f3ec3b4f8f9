"""Google Analytics 4 Measurement Protocol: one event per conversion.

Event names: newsletter_signup → generate_lead, course_enrollment → sign_up,
purchase → purchase, with `value`/`currency` when there is revenue and `transaction_id`
(the event_id, else the conversion's id) so GA4 counts a purchase once. `client_id` is derived
from the tracking id (stable for one click, never the id itself). Email and phone in event_data
go as SHA-256 user-provided data (email lower-cased, phone in E.164 with its `+`).
"""

import hashlib
from urllib.parse import urlencode

from flask import current_app

from .event import ForwardedEvent, OutboundRequest, encode_json, money_value, normalised_email, phone_digits, sha256_hex

EVENT_NAMES = {"newsletter_signup": "generate_lead", "course_enrollment": "sign_up", "purchase": "purchase"}
SETTINGS = ("measurement_id",)
CREDENTIALS = ("api_secret",)


def client_id(tracking_id: str) -> str:
    """GA's `<random>.<timestamp>` shape, from a hash of the tracking id: the same click, the same client."""
    digest = hashlib.sha256(f"linktrack-ga4:{tracking_id}".encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big')}.{int.from_bytes(digest[4:8], 'big')}"


def payload(event: ForwardedEvent) -> dict:
    params: dict = {
        "transaction_id": event.event_id,
        "campaign_link_id": event.campaign_link_id,
        "campaign": event.campaign or event.short_code,
        "content": event.video_id,
        "source": "youtube",
        "medium": "video",
    }
    if event.revenue_amount is not None:
        params["value"] = money_value(event.revenue_amount)
        params["currency"] = event.currency
    body: dict = {
        "client_id": client_id(event.tracking_id),
        "timestamp_micros": int(event.converted_at.timestamp() * 1_000_000),
        "events": [{"name": EVENT_NAMES[event.event_type], "params": params}],
    }
    user_data = {}
    if email := normalised_email(event.event_data.get("email")):
        user_data["sha256_email_address"] = [sha256_hex(email)]
    if phone := phone_digits(event.event_data.get("phone")):
        user_data["sha256_phone_number"] = [sha256_hex("+" + phone)]
    if user_data:
        body["user_data"] = user_data
    return body


def build_request(settings: dict, credentials: dict, event: ForwardedEvent) -> OutboundRequest:
    query = urlencode({"measurement_id": settings["measurement_id"], "api_secret": credentials["api_secret"]})
    return OutboundRequest(
        url=f"{current_app.config['GA4_MP_URL']}?{query}",
        body=encode_json(payload(event)),
        headers={"Content-Type": "application/json"},
    )
