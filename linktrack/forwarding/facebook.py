"""Facebook Conversions API: one server event per conversion.

Event names: newsletter_signup → Lead, course_enrollment → CompleteRegistration,
purchase → Purchase. `event_id` is the conversion's event_id (send the same one from the
browser pixel and Facebook counts the pair once), or the conversion's id when it has none.
`em`/`ph` are SHA-256 of the normalised email / phone found in event_data (`email`, `phone`);
the user agent is the click's, until cleanup strips it. The access token travels in the body.
"""

from flask import current_app

from .event import ForwardedEvent, OutboundRequest, encode_json, money_value, normalised_email, phone_digits, sha256_hex

EVENT_NAMES = {"newsletter_signup": "Lead", "course_enrollment": "CompleteRegistration", "purchase": "Purchase"}
SETTINGS = ("pixel_id", "test_event_code")
CREDENTIALS = ("access_token",)


def payload(settings: dict, event: ForwardedEvent) -> dict:
    user_data: dict = {}
    if event.user_agent:
        user_data["client_user_agent"] = event.user_agent
    if email := normalised_email(event.event_data.get("email")):
        user_data["em"] = [sha256_hex(email)]
    if phone := phone_digits(event.event_data.get("phone")):
        user_data["ph"] = [sha256_hex(phone)]
    server_event = {
        "event_name": EVENT_NAMES[event.event_type],
        "event_time": int(event.converted_at.timestamp()),
        "event_id": event.event_id,
        "action_source": "website",
        "event_source_url": event.event_source_url,
        "user_data": user_data,
    }
    if event.revenue_amount is not None:
        server_event["custom_data"] = {"value": money_value(event.revenue_amount), "currency": event.currency}
    body = {"data": [server_event]}
    if settings.get("test_event_code"):
        body["test_event_code"] = settings["test_event_code"]
    return body


def build_request(settings: dict, credentials: dict, event: ForwardedEvent) -> OutboundRequest:
    base = current_app.config["FACEBOOK_GRAPH_URL"].rstrip("/")
    body = {**payload(settings, event), "access_token": credentials["access_token"]}
    return OutboundRequest(
        url=f"{base}/{settings['pixel_id']}/events",
        body=encode_json(body),
        headers={"Content-Type": "application/json"},
    )
