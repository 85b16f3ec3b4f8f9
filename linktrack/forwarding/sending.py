"""One HTTP try of one delivery: the event as destinations see it, and its POST.

A webhook's host is resolved and judged before each try (addresses.py) and the request goes to
that very address (pinned.py), so a creator cannot reach linktrack's own network. An answer is
kept as its status code and linktrack's own words for it, never the receiver's body; a
connection error is stored and shown with every credential cut to its last 4 characters.
"""

import uuid
from decimal import Decimal
from urllib.parse import quote, quote_plus

import requests
from cryptography.fernet import InvalidToken
from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import CampaignLink, ClickEvent, ConversionEvent
from ..models.forwarding import ForwardingDelivery, ForwardingDestination
from . import facebook, google, pinned, webhook
from .addresses import AddressRefused, AddressUnresolvable, webhook_addresses
from .destinations import decrypt_credentials
from .event import ForwardedEvent

MODULES = {"facebook": facebook, "google": google, "webhook": webhook}
USER_AGENT = "linktrack-forwarding/1"


def forwarded_event(delivery: ForwardingDelivery, destination: ForwardingDestination) -> ForwardedEvent | None:
    """The delivery's conversion with its click and link, or a made-up one for a test delivery;
    None when the conversion is gone."""
    if delivery.is_test:
        landing = db.session.scalar(
            select(CampaignLink)
            .where(CampaignLink.user_id == destination.user_id)
            .order_by(CampaignLink.created_at.desc())
            .limit(1)
        )
        return ForwardedEvent(
            conversion_id=f"test-{delivery.id}",
            tracking_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"linktrack-test-{destination.id}")),
            campaign_link_id=str(landing.id) if landing else "test",
            event_type=delivery.event_type,
            revenue_amount=Decimal("1.00") if delivery.event_type == "purchase" else None,
            currency="USD",
            event_id=f"test-{delivery.id}",
            converted_at=delivery.created_at,
            source="server",
            event_data={},
            user_agent=None,
            event_source_url=landing.destination_url if landing else "https://example.com/",
            short_code=landing.short_code if landing else "test",
            campaign=landing.campaign if landing else "test",
            video_id=landing.video_id if landing else "",
            test=True,
        )
    row = db.session.execute(
        select(ConversionEvent, ClickEvent.user_agent, CampaignLink)
        .join(CampaignLink, CampaignLink.id == ConversionEvent.campaign_link_id)
        .outerjoin(ClickEvent, ClickEvent.tracking_id == ConversionEvent.tracking_id)
        .where(ConversionEvent.id == delivery.conversion_id)
    ).first()
    if row is None:
        return None
    conversion, user_agent, link = row
    return ForwardedEvent(
        conversion_id=str(conversion.id),
        tracking_id=str(conversion.tracking_id),
        campaign_link_id=str(link.id),
        event_type=conversion.event_type,
        revenue_amount=conversion.revenue_amount,
        currency=conversion.currency,
        event_id=conversion.event_id or str(conversion.id),
        converted_at=conversion.converted_at,
        source=conversion.source,
        event_data=conversion.event_data or {},
        user_agent=user_agent,
        event_source_url=link.destination_url,
        short_code=link.short_code,
        campaign=link.campaign,
        video_id=link.video_id,
    )


def timeouts() -> pinned.Timeouts:
    config = current_app.config
    return pinned.Timeouts(
        connect=config["FORWARDING_CONNECT_TIMEOUT_SECONDS"], read=config["FORWARDING_READ_TIMEOUT_SECONDS"]
    )


def send(destination: ForwardingDestination, event: ForwardedEvent) -> tuple[int | None, str | None, bool]:
    """(status code, error, retry?) of one HTTP try: network errors, 429 and 5xx are worth a retry."""
    try:
        credentials = decrypt_credentials(destination.credentials_encrypted)
    except (InvalidToken, ValueError):
        return None, "The stored credentials cannot be read (was FORWARDING_KEY or SECRET_KEY changed?).", False
    outbound = MODULES[destination.kind].build_request(destination.settings, credentials, event)
    headers = {"User-Agent": USER_AGENT, **outbound.headers}
    try:
        if destination.kind == "webhook":  # the creator's URL: resolved once, judged, and that very address used
            code = pinned.post(outbound.url, outbound.body, headers, webhook_addresses(outbound.url), timeouts())
        else:
            code = _post_to_platform(outbound.url, outbound.body, headers)
    except AddressRefused as exc:
        return None, str(exc), False
    except (AddressUnresolvable, pinned.NoAnswer) as exc:
        return None, _masked(str(exc), credentials)[:500], True
    except requests.RequestException as exc:
        return None, _masked(f"{type(exc).__name__}: {exc}", credentials)[:500], True
    if 200 <= code < 300:
        return code, None, False
    return code, f"HTTP {code}: {answer_reason(code)}", code == 429 or code >= 500


def _post_to_platform(url: str, body: bytes, headers: dict) -> int:
    """Facebook's and Google's endpoints come from linktrack's own settings, so requests (and any proxy) is used."""
    limits = timeouts()
    response = requests.post(
        url, data=body, headers=headers, timeout=(limits.connect, limits.read), allow_redirects=False, stream=True
    )
    response.close()  # the body is never read: only the status code is kept
    return response.status_code


def answer_reason(code: int) -> str:
    """linktrack's own words for an HTTP answer: a receiver's body is never stored or shown to the creator."""
    if code in ANSWER_REASONS:
        return ANSWER_REASONS[code]
    return ANSWER_REASONS.get(code // 100 * 100, "the receiver gave an unexpected answer")


ANSWER_REASONS = {
    300: "the receiver answered with a redirect, which linktrack does not follow",
    400: "the receiver refused the event",
    401: "the receiver refused the request as unauthorised",
    403: "the receiver refused the request as forbidden",
    404: "the receiver has nothing at this URL",
    410: "the receiver says this URL is gone",
    413: "the receiver found the event too large",
    429: "the receiver asked linktrack to slow down",
    500: "the receiver answered with a server error",
}


def _masked(error: str, credentials: dict) -> str:
    """The error as stored and shown, each credential cut to its last 4 characters like on the page:
    a connection error quotes the URL, where GA4's API secret travels."""
    for secret in credentials.values():
        if secret:
            for form in {secret, quote_plus(secret), quote(secret, safe="")}:
                error = error.replace(form, "••••" + secret[-4:])
    return error
