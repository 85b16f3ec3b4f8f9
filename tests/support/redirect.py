"""Links made straight through the models, and clicks read back, for the redirect and click tests.

The links service is written alongside; these tests only need rows, so they make them directly.
"""

from sqlalchemy import select

from linktrack.extensions import db
from linktrack.links.service import generate_short_code
from linktrack.models import CampaignLink, ClickEvent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def create_link(app, user_id: int, **fields) -> dict:
    """A campaign link with YouTube-style defaults; returns its id and short code."""
    values = {
        "user_id": user_id,
        "short_code": generate_short_code(),
        "video_id": "dQw4w9WgXcQ",
        "video_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "destination_url": "https://academy.example.com/course",
        "campaign": "spring-launch",
        "utm_source": "youtube",
        "utm_medium": "video",
        "utm_campaign": "spring-launch",
        "utm_content": "dQw4w9WgXcQ",
        "allowed_origins": ["https://academy.example.com"],
    }
    values.update(fields)
    with app.app_context():
        link = CampaignLink(**values)
        db.session.add(link)
        db.session.commit()
        return {"id": link.id, "short_code": link.short_code}


def update_link(app, link_id, **fields) -> None:
    with app.app_context():
        link = db.session.get(CampaignLink, link_id)
        for name, value in fields.items():
            setattr(link, name, value)
        db.session.commit()


def stored_clicks(app) -> list[ClickEvent]:
    """Every click row, oldest first, detached from the session for reading."""
    with app.app_context():
        clicks = list(db.session.scalars(select(ClickEvent).order_by(ClickEvent.clicked_at)))
        db.session.expunge_all()
        return clicks


def click(client, short_code: str, user_agent: str = CHROME_WINDOWS, ip: str = "198.51.100.7", **kwargs):
    """One viewer click: a browser's GET of the short link from `ip`."""
    headers = {"User-Agent": user_agent, **kwargs.pop("headers", {})}
    return client.get(f"/{short_code}", headers=headers, environ_base={"REMOTE_ADDR": ip}, **kwargs)


def click_from_youtube(client, code: str) -> str:
    """A viewer's click from a YouTube watch page; returns the tracking id the landing page gets."""
    response = client.get(
        f"/{code}",
        headers={"User-Agent": CHROME_WINDOWS, "Referer": "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42"},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert response.status_code == 302
    return response.headers["Location"].split("ct_tracking_id=")[1].split("&")[0]
