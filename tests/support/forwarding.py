"""Forwarding helpers shared by the forwarding and worker tests: a landing page's purchase, the creator's form."""

from tests.support.forms import form_post

ORIGIN = "https://academy.example.com"


def conversion(client, link, tracking_id, event_type="purchase", revenue="49.99", **extra):
    body = {"tracking_id": tracking_id, "campaign_link_id": str(link["id"]), "event_type": event_type, **extra}
    if revenue is not None:
        body["revenue_amount"] = revenue
    # The landing page's browser: another origin, so no creator session rides along.
    visitor = client.application.test_client()
    response = visitor.post("/api/conversions", json=body, headers={"Origin": ORIGIN})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_destination(client, **fields):
    """The creator's Add a destination form, submitted like a browser (all event types unless given)."""
    data = {"event_types": ["newsletter_signup", "course_enrollment", "purchase"], **fields}
    return form_post(client, "/settings/forwarding", data)


def forwarding_page(client) -> str:
    return client.get("/settings/forwarding").get_data(as_text=True)
