"""What every destination module is given (ForwardedEvent) and gives back (OutboundRequest)."""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class ForwardedEvent:
    """A conversion as the destinations see it, read once from the conversion, its click and link."""

    conversion_id: str
    tracking_id: str
    campaign_link_id: str
    event_type: str
    revenue_amount: Decimal | None
    currency: str
    event_id: str  # the conversion's own event_id (dedup with the browser pixel), else its id
    converted_at: datetime
    source: str
    event_data: dict
    user_agent: str | None
    event_source_url: str
    short_code: str
    campaign: str | None
    video_id: str
    test: bool = False


@dataclass(frozen=True)
class OutboundRequest:
    url: str
    body: bytes
    headers: dict


def encode_json(payload: dict) -> bytes:
    """Compact JSON, the exact bytes that are sent (and signed, for webhooks)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalised_email(value) -> str | None:
    """Trimmed and lower-cased, as Facebook and Google hash it; None unless it looks like an address."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) else None


def phone_digits(value) -> str | None:
    """Digits only with the country code and no leading zeros (Facebook's `ph` rule); None if too short."""
    if not isinstance(value, (str, int)):
        return None
    digits = re.sub(r"\D", "", str(value)).lstrip("0")
    return digits if 7 <= len(digits) <= 15 else None


def money_value(amount: Decimal | None) -> float | None:
    return float(amount) if amount is not None else None
