"""A hand-computed shop for the report tests: two creators, raw clicks and conversions, aggregates rebuilt.

"Now" is 2026-03-31 12:00 UTC, so the default range (last 30 days) is 2 Mar – 31 Mar 2026.

Alice (the creator under test):
- /alpha01 (video VIDEO_ONE, campaign spring-launch), all clicks in range:
    t1 click 10 Mar 09:00 → signup 09:05 (0 days), enrollment 11 Mar 199.00 (1), purchase 13 Mar 49.99 (3),
       purchase again 20 Mar 20.00 (10): several conversions, one visitor
    t2 click 10 Mar 10:00 → signup 10:30 (0), signup again 15 Mar (5): one visitor, two signups
    t3 click 11 Mar (a repeat visit: counted, not unique), t4 click 12 Mar; two bots on 12 Mar
    t0 click 19 Feb 23:30 (before the range) → purchase 100.00 on 22 Mar 23:00: 30 days 23.5 hours
       later, the last day the 30-day window accepts; reported by Alice's server (every other
       conversion by a landing page)
- /bravo02 (video VIDEO_TWO, campaign spring-launch):
    t5 click 31 Mar 11:00 → signup 11:30 (0)
    t6 click 1 Mar 23:59:59 (one second before the range) → purchase 10.00 on 2 Mar 00:00:00 (0)
- /charl03 (video VIDEO_ONE, no campaign): t7 click 20 Mar from a phone, no conversion
- /delta04 (video VIDEO_TWO, campaign spring-launch): nothing at all

Bob, side by side, with the same video and campaign names: /bobsecr, 10 clicks and a 999.00 purchase.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from html.parser import HTMLParser

from linktrack.counting.recount import recount_daily_stats
from linktrack.extensions import db
from linktrack.models import CampaignLink, ClickEvent, ConversionEvent
from tests.support.pages import elements

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=timezone.utc)
VIDEO_ONE = "dQw4w9WgXcQ"
VIDEO_TWO = "9bZkp7q19f0"
CAMPAIGN = "spring-launch"


def at(text: str) -> datetime:
    """'2026-03-10 09:00' (or with seconds) as a UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def add_link(user_id: int, short_code: str, video_id: str, campaign: str | None, **fields) -> CampaignLink:
    link = CampaignLink(
        user_id=user_id,
        short_code=short_code,
        video_id=video_id,
        video_url=f"https://www.youtube.com/watch?v={video_id}",
        destination_url="https://academy.example.com/course",
        campaign=campaign,
        allowed_origins=["https://academy.example.com"],
        created_at=at("2026-01-01 00:00"),
        **fields,
    )
    db.session.add(link)
    db.session.flush()
    return link


def add_click(
    link: CampaignLink, when: str, *, bot=False, unique=True, referrer=None, device="desktop", browser="Chrome"
):
    click = ClickEvent(
        campaign_link_id=link.id,
        tracking_id=uuid.uuid4(),
        ip_hash="0" * 64,
        user_agent="Googlebot/2.1" if bot else f"Mozilla/5.0 {browser}",
        referrer=referrer,
        device_type="bot" if bot else device,
        browser=browser,
        os="Windows",
        is_bot=bot,
        is_unique=unique and not bot,
        clicked_at=at(when),
    )
    db.session.add(click)
    db.session.flush()
    return click.tracking_id


def add_conversion(
    link: CampaignLink, tracking_id, event_type: str, when: str, revenue: str | None = None, source: str = "browser"
):
    db.session.add(
        ConversionEvent(
            tracking_id=tracking_id,
            campaign_link_id=link.id,
            event_type=event_type,
            revenue_amount=Decimal(revenue) if revenue else None,
            event_id=uuid.uuid4().hex,
            source=source,
            converted_at=at(when),
        )
    )


@dataclass
class Shop:
    alice_id: int
    alice_email: str
    bob_id: int
    bob_email: str
    password: str
    alpha: str  # link ids
    bravo: str
    charlie: str
    delta: str
    bob_link: str


def build_shop(app, creator) -> Shop:
    alice_id, alice_email, password = creator("alice@example.com")
    bob_id, bob_email, _ = creator("bob@example.com")
    with app.app_context():
        alpha = add_link(alice_id, "alpha01", VIDEO_ONE, CAMPAIGN)
        t1 = add_click(alpha, "2026-03-10 09:00", referrer="https://www.youtube.com/watch?v=x")
        t2 = add_click(alpha, "2026-03-10 10:00", referrer="https://m.youtube.com/")
        add_click(alpha, "2026-03-11 10:00", unique=False, referrer="https://www.youtube.com/")
        add_click(alpha, "2026-03-12 10:00", device="mobile", browser="Safari")
        add_click(alpha, "2026-03-12 11:00", bot=True, referrer="https://bots.example.net/")
        add_click(alpha, "2026-03-12 12:00", bot=True)
        t0 = add_click(alpha, "2026-02-19 23:30")
        add_conversion(alpha, t1, "newsletter_signup", "2026-03-10 09:05")
        add_conversion(alpha, t1, "course_enrollment", "2026-03-11 09:00", "199.00")
        add_conversion(alpha, t1, "purchase", "2026-03-13 09:00", "49.99")
        add_conversion(alpha, t1, "purchase", "2026-03-20 09:00", "20.00")
        add_conversion(alpha, t2, "newsletter_signup", "2026-03-10 10:30")
        add_conversion(alpha, t2, "newsletter_signup", "2026-03-15 10:30")
        add_conversion(alpha, t0, "purchase", "2026-03-22 23:00", "100.00", source="server")

        bravo = add_link(alice_id, "bravo02", VIDEO_TWO, CAMPAIGN)
        t5 = add_click(bravo, "2026-03-31 11:00")
        t6 = add_click(bravo, "2026-03-01 23:59:59")
        add_conversion(bravo, t5, "newsletter_signup", "2026-03-31 11:30")
        add_conversion(bravo, t6, "purchase", "2026-03-02 00:00:00", "10.00")

        charlie = add_link(alice_id, "charl03", VIDEO_ONE, None)
        add_click(charlie, "2026-03-20 08:00", device="mobile", browser="Safari")
        delta = add_link(alice_id, "delta04", VIDEO_TWO, CAMPAIGN)

        bob_link = add_link(bob_id, "bobsecr", VIDEO_ONE, CAMPAIGN)
        bob_clicks = [add_click(bob_link, f"2026-03-{day:02d} 12:00") for day in range(10, 20)]
        add_conversion(bob_link, bob_clicks[0], "purchase", "2026-03-21 12:00", "999.00")
        db.session.commit()
        recount_daily_stats()
        ids = [str(link.id) for link in (alpha, bravo, charlie, delta, bob_link)]
    return Shop(alice_id, alice_email, bob_id, bob_email, password, *ids)


class _Table(HTMLParser):
    """The text of every cell of one table (by id), row by row, header row included."""

    def __init__(self, table_id: str):
        super().__init__(convert_charrefs=True)
        self.table_id = table_id
        self.depth = 0  # > 0 inside the wanted table
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth == 1 and tag == "tr":
            self.rows.append([])
        elif self.depth == 1 and tag in ("td", "th") and self.rows:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth == 1 and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None and self.depth == 1:
            self.cell.append(data)


def table(html: str, table_id: str) -> list[list[str]]:
    """A table's rows as the reader sees them (header row first); asserts the table is on the page."""
    assert f'id="{table_id}"' in html, f"no table {table_id!r} on the page"
    parser = _Table(table_id)
    parser.feed(html)
    return [row for row in parser.rows if row]


def text_of(html: str, element_id: str) -> str:
    return " ".join(elements(html).text_by_id[element_id].split())
