"""One HTTP try of one delivery: the event as destinations see it, and its POST.

A webhook's address is checked before each try so a creator cannot reach linktrack's own
network. Errors are stored and shown with every credential cut to its last 4 characters.
"""

import ipaddress
import socket
import uuid
from decimal import Decimal
from urllib.parse import quote, quote_plus, urlsplit

import requests
from cryptography.fernet import InvalidToken
from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import CampaignLink, ClickEvent, ConversionEvent
from ..models.forwarding import ForwardingDelivery, ForwardingDestination
from . import facebook, google, webhook
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


def _private_address_refusal(url: str) -> tuple[str, bool] | None:
    """(error, retry?) when a webhook URL resolves to a non-public address, else None.

    A creator's webhook must not reach linktrack's own network (Redis, the database, cloud
    metadata) and read answers back in the attempt log. The address is checked before each try;
    a DNS answer that changes between this check and the connection is not covered.
    """
    if current_app.config["FORWARDING_ALLOW_PRIVATE_ADDRESSES"]:
        return None
    parts = urlsplit(url)
    try:
        answers = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"Cannot resolve {parts.hostname}: {exc}", True
    for *_, address in answers:
        if not ipaddress.ip_address(address[0]).is_global:
            return f"Refused: {parts.hostname} resolves to a private address ({address[0]}).", False
    return None


def send(destination: ForwardingDestination, event: ForwardedEvent) -> tuple[int | None, str | None, bool]:
    """(status code, error, retry?) of one HTTP try: network errors, 429 and 5xx are worth a retry."""
    try:
        credentials = decrypt_credentials(destination.credentials_encrypted)
    except (InvalidToken, ValueError):
        return None, "The stored credentials cannot be read (was FORWARDING_KEY or SECRET_KEY changed?).", False
    outbound = MODULES[destination.kind].build_request(destination.settings, credentials, event)
    if destination.kind == "webhook" and (refusal := _private_address_refusal(outbound.url)):
        return None, *refusal
    try:
        response = requests.post(
            outbound.url,
            data=outbound.body,
            headers={"User-Agent": USER_AGENT, **outbound.headers},
            timeout=current_app.config["FORWARDING_TIMEOUT_SECONDS"],
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, _masked(f"{type(exc).__name__}: {exc}", credentials)[:500], True
    code = response.status_code
    if 200 <= code < 300:
        return code, None, False
    return code, _masked(f"HTTP {code}: {response.text[:300]}", credentials), code == 429 or code >= 500


def _masked(error: str, credentials: dict) -> str:
    """The error as stored and shown, each credential cut to its last 4 characters like on the page:
    a connection error quotes the URL, where GA4's API secret travels."""
    for secret in credentials.values():
        if secret:
            for form in {secret, quote_plus(secret), quote(secret, safe="")}:
                error = error.replace(form, "••••" + secret[-4:])
    return error
