"""A process that clicks one link and converts some of its clicks as fast as it can, through the
real paths (the click writer's batches, the counting consumer's thread), until it is killed.

    python -m tests.support.click_load <database url> <short code> <link id>

Used by tests/counting/test_consumer.py, which kills it with SIGKILL mid-load.
"""

import sys
from urllib.parse import parse_qs, urlsplit

from linktrack import create_app
from tests.support.app import app_settings

ORIGIN = "https://landing.example.com"
APPLICATION_NAME = "linktrack-click-load"  # its PostgreSQL backends, for the test to see them gone
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def main(database_url: str, short_code: str, link_id: str) -> None:
    intervals = {"CLICK_FLUSH_SECONDS": 0.02, "CLICK_COUNT_SECONDS": 0.05, "CONVERSION_COUNT_SECONDS": 0.05}
    settings = app_settings(database_url, **intervals)
    if database_url.startswith("postgresql"):
        options = settings.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, "connect_args": {"application_name": APPLICATION_NAME}}
    app = create_app(settings)
    client = app.test_client()
    number = 0
    while True:
        number += 1
        ip = f"198.51.{number // 250 % 250}.{number % 250}"
        response = client.get(f"/{short_code}", headers={"User-Agent": AGENT}, environ_base={"REMOTE_ADDR": ip})
        tracking_id = parse_qs(urlsplit(response.headers["Location"]).query)["ct_tracking_id"][0]
        if number % 10 == 0:
            body = {"tracking_id": tracking_id, "campaign_link_id": link_id, "event_type": "purchase"}
            client.post("/api/conversions", json=body | {"revenue_amount": "1.00"}, headers={"Origin": ORIGIN})


if __name__ == "__main__":
    main(*sys.argv[1:])
