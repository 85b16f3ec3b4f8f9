"""The add-destination form shows only the chosen destination's fields (Chromium), and every field,
each under its destination's name, without JavaScript."""

import pytest

from tests.support.forms import form_post
from tests.support.live import serve_app, signed_in_page

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
FIELDS = {
    "facebook": ["pixel_id", "access_token", "test_event_code"],
    "google": ["measurement_id", "api_secret"],
    "webhook": ["url"],
}


def test_only_the_chosen_destinations_fields_are_shown(app, browser, creator):
    _, email, _ = creator(password=PASSWORD)
    with serve_app(app) as app_url:
        page = signed_in_page(browser, app_url, email, PASSWORD)
        page.goto(f"{app_url}/settings/forwarding")
        for kind in ("google", "webhook", "facebook"):
            page.select_option("select[name=kind]", kind)
            for other, names in FIELDS.items():
                for name in names:
                    assert page.locator(f"[name={name}]").is_visible() == (other == kind), (kind, name)


def test_without_javascript_every_field_is_there_under_its_destination(app, client, creator):
    _, email, _ = creator(password=PASSWORD)
    assert form_post(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302
    html = client.get("/settings/forwarding").get_data(as_text=True)
    for kind, legend in (
        ("facebook", "Facebook Conversions API only"),
        ("google", "Google Analytics 4 only"),
        ("webhook", "Webhook only"),
    ):
        part = html.split(f'data-shown-when="kind={kind}"')[1].split("</fieldset>")[0]
        assert legend in part and " hidden" not in part.split(">")[0]
        assert all(f'name="{name}"' in part for name in FIELDS[kind])
