"""Demo data: one creator, a handful of video links, 60 days of clicks and conversions.

So a newcomer running `make run` sees real pages at once. Deterministic (seeded), so two
runs look alike; only ever loaded into an empty database.
"""

import hashlib
import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select

from .auth.service import register_user
from .counting.recount import recount_daily_stats
from .extensions import db
from .links.service import generate_short_code
from .models import CampaignLink, ClickEvent, ConversionEvent, User, utcnow
from .models.events import time_ordered_id

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
DEMO_DAYS = 60

# (video id, campaign, landing page, clicks per day, purchase price)
DEMO_LINKS = [
    ("dQw4w9WgXcQ", "spring-course-launch", "https://academy.example.com/course", 40, Decimal("149.00")),
    ("9bZkp7q19f0", "newsletter-growth", "https://newsletter.example.com/join", 55, None),
    ("kJQP7kiw5Fk", "editing-masterclass", "https://academy.example.com/editing", 25, Decimal("79.00")),
    ("JGwWNGJdvx8", "gear-guide", "https://shop.example.com/gear?ref=yt", 30, Decimal("24.99")),
    ("OPf0YbXqDm0", "lightroom-presets", "https://shop.example.com/presets", 18, Decimal("19.00")),
]
BROWSERS = [
    ("Chrome", "Windows", "desktop"),
    ("Safari", "iOS", "mobile"),
    ("Chrome", "Android", "mobile"),
    ("Firefox", "Linux", "desktop"),
    ("Safari", "Mac OS X", "desktop"),
    ("Chrome", "iPadOS", "tablet"),
]
REFERRERS = ["https://www.youtube.com/", "https://m.youtube.com/", None, "https://www.google.com/"]


def database_is_empty() -> bool:
    return db.session.scalar(select(func.count()).select_from(User)) == 0


def load_demo_data(now: datetime | None = None, seed: int = 7) -> dict:
    """Fill an empty database. Returns counts of what was made."""
    rng = random.Random(seed)
    now = now or utcnow()
    user = register_user(DEMO_EMAIL, DEMO_PASSWORD)
    clicks, conversions = [], []
    for index, (video_id, campaign, destination, per_day, price) in enumerate(DEMO_LINKS):
        link = CampaignLink(
            user_id=user.id,
            short_code=generate_short_code(),
            video_id=video_id,
            video_url=f"https://www.youtube.com/watch?v={video_id}",
            destination_url=destination,
            campaign=campaign,
            utm_source="youtube",
            utm_medium="video",
            utm_campaign=campaign,
            utm_content=video_id,
            allowed_origins=["https://" + destination.split("/")[2]],
            created_at=now - timedelta(days=DEMO_DAYS + 1),
        )
        db.session.add(link)
        db.session.flush()
        for day in range(DEMO_DAYS):
            # Videos get most clicks in their first weeks, then a long tail.
            volume = max(2, int(per_day * (1.6 if day > DEMO_DAYS - 14 else 1.0) * rng.uniform(0.6, 1.3)))
            for _ in range(volume):
                clicked_at = now - timedelta(days=day, seconds=rng.randint(0, 86_399))
                browser, os_name, device = rng.choice(BROWSERS)
                is_bot = rng.random() < 0.04
                tracking_id = time_ordered_id(clicked_at)
                clicks.append(
                    {
                        "id": time_ordered_id(clicked_at),
                        "campaign_link_id": link.id,
                        "tracking_id": tracking_id,
                        "ip_hash": hashlib.sha256(f"{index}-{rng.randint(0, 5000)}".encode()).hexdigest(),
                        "user_agent": f"Mozilla/5.0 ({os_name}) {browser}" if not is_bot else "Googlebot/2.1",
                        "referrer": rng.choice(REFERRERS),
                        "device_type": "bot" if is_bot else device,
                        "browser": browser,
                        "os": os_name,
                        "is_bot": is_bot,
                        "is_unique": rng.random() > 0.12,
                        "clicked_at": clicked_at,
                    }
                )
                if not is_bot:
                    conversions.extend(_conversions_for(rng, link, tracking_id, clicked_at, now, price))
    db.session.execute(insert(ClickEvent), clicks)
    if conversions:
        db.session.execute(insert(ConversionEvent), conversions)
    db.session.commit()
    recount_daily_stats([link.id for link in user.links])
    return {"users": 1, "links": len(DEMO_LINKS), "clicks": len(clicks), "conversions": len(conversions)}


def _conversions_for(rng, link, tracking_id, clicked_at, now, price) -> list[dict]:
    """The conversions one visitor makes: signup, maybe enrollment, maybe purchase, within 30 days."""
    events = []

    def later(max_days: int) -> datetime | None:
        at = clicked_at + timedelta(days=min(max_days, int(rng.expovariate(0.35))), seconds=rng.randint(60, 7200))
        return at if at < now else None

    if rng.random() < 0.18 and (at := later(3)):
        events.append(("newsletter_signup", None, at))
        if price is not None and rng.random() < 0.35 and (at := later(20)):
            events.append(("course_enrollment", None, at))
            if rng.random() < 0.55 and (at := later(30)):
                events.append(("purchase", price, at))
    return [
        {
            "id": uuid.uuid4(),
            "tracking_id": tracking_id,
            "campaign_link_id": link.id,
            "event_type": kind,
            "revenue_amount": revenue,
            "currency": "USD",
            "event_data": {"demo": True},
            "event_id": f"demo-{uuid.uuid4().hex[:12]}",
            "source": "browser",
            "converted_at": at,
        }
        for kind, revenue, at in events
    ]
