"""Webhooks: the conversion as JSON, signed so the receiver can check it came from linktrack.

Headers: `X-Linktrack-Timestamp` (Unix seconds) and `X-Linktrack-Signature: sha256=<hex>`, the
HMAC-SHA256 under the destination's secret of `<timestamp>.<raw body>`. Receivers recompute it,
compare in constant time, and refuse timestamps older than 5 minutes (README shows how).
"""

import hashlib
import hmac
import secrets
import time

from ..web.formatting import money
from .event import ForwardedEvent, OutboundRequest, encode_json

SETTINGS = ("url",)
CREDENTIALS = ("signing_secret",)
TOLERANCE_SECONDS = 300


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def payload(event: ForwardedEvent) -> dict:
    return {
        "type": "conversion.test" if event.test else "conversion.created",
        "conversion": {
            "id": event.conversion_id,
            "tracking_id": event.tracking_id,
            "campaign_link_id": event.campaign_link_id,
            "event_type": event.event_type,
            "revenue_amount": money(event.revenue_amount) if event.revenue_amount is not None else None,
            "currency": event.currency,
            "event_id": event.event_id,
            "source": event.source,
            "converted_at": event.converted_at.isoformat(),
            "event_data": event.event_data,
        },
        "link": {
            "short_code": event.short_code,
            "campaign": event.campaign,
            "video_id": event.video_id,
            "destination_url": event.event_source_url,
        },
    }


def build_request(settings: dict, credentials: dict, event: ForwardedEvent) -> OutboundRequest:
    body = encode_json(payload(event))
    timestamp = int(time.time())
    return OutboundRequest(
        url=settings["url"],
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Linktrack-Event": "conversion.test" if event.test else "conversion.created",
            "X-Linktrack-Timestamp": str(timestamp),
            "X-Linktrack-Signature": "sha256=" + sign(credentials["signing_secret"], timestamp, body),
        },
    )
