"""Forwarding helpers shared by the forwarding and worker tests: a landing page's purchase."""

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
