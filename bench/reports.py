"""Benchmark: the report pages on two years of history, against the same pages on a small history.

    .venv/bin/python -m bench.reports [--clicks 5000000] [--conversions 200000] [--skip-load] [--explain]

Loads PostgreSQL (--database-url, default postgresql://postgres@127.0.0.1:5432/bench_reports:
created if missing, every table dropped and rebuilt by the migrations, never a database you care
about) with a creator's 1,000 links, 5,000,000 clicks and 200,000 conversions spread over the last
two years, plus a second creator with the small shape (50,000 clicks, 2,000 conversions) so every
query has another creator's rows to leave out. The same small shape alone goes into a second
database (--small-database-url, default .../bench_reports_small). Then the daily aggregates are
filled with recount_daily_stats(), timed.

The data is shaped like a channel's: links are made as videos come out, a few links take most
clicks (Zipf), a link's clicks peak in its first weeks then tail off, traffic grows over the two
years and is higher at weekends; ~4% of clicks are bots (crawlers and unfurlers, with the user
agents the redirect would have classified), 88% of the people are unique, referrers are mostly
YouTube. Conversions belong to people's clicks: newsletter signups, course enrollments and
purchases (revenue at the link's price), in chains of one to three per visitor, all within 30 days
of the click and before now.

Rows are generated day by day (never all in memory) and written with COPY ... FREEZE in the
transaction that truncates the table; the tables' indexes, primary and unique keys and foreign
keys are dropped before the load and rebuilt afterwards (a sorted build is several times faster
than five million random inserts into each B-tree), then VACUUM ANALYZE.

Server time is measured in-process through app.test_client(), signed in as the creator (the
pages) or with an API key (the JSON endpoint): warm-up requests, then rounds that visit every
page in turn, so background load on a shared machine falls on all pages alike. Prints median and
p95 per page for the large creator, the small database and the small creator beside the large
one, with the queries each page ran; --explain prints EXPLAIN ANALYZE of each page's slowest
queries (pages over the target get theirs anyway). Target (issue 5): under 150 ms on the large
history and within 2x of the small one.
"""

import argparse
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg
from flask import url_for
from psycopg import sql
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from .common import bench_app, rebuild_database, scratch_database_url

CREATOR_EMAIL = "creator@bench.example.com"
SMALL_CREATOR_EMAIL = "small-creator@bench.example.com"
PASSWORD = "bench-password"
HISTORY_DAYS = 730
TARGET_MS = 150
TARGET_RATIO = 2.0

BOT_SHARE = 0.04
UNIQUE_SHARE = 0.88  # of people's clicks
LINK_DECAY_DAYS = 12  # a link's clicks fall by e every 12 days after it is made...
LINK_TAIL = 0.06  # ...to a long tail of 6% of its first day's level
ZIPF_EXPONENT = 0.9

# (user agent, weight): people's browsers as they click a link in a video description.
PEOPLE_AGENTS = [
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        20,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 YouTube/19.29.1",
        6,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Mobile Safari/537.36",
        18,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 "
        "Chrome/115.0.0.0 Mobile Safari/537.36",
        6,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36",
        18,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36 Edg/131.0.0.0",
        5,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Safari/605.1.15",
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
        6,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 4),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 2),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Mobile/15E148 Safari/604.1",
        5,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36",
        2,
    ),
]
BOT_AGENTS = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 25),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 10),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", 15),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", 10),
    ("Twitterbot/1.0", 10),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", 10),
    ("TelegramBot (like TwitterBot)", 5),
    ("WhatsApp/2.23.20.0", 10),
    ("python-requests/2.32.3", 5),
]
# (referrer or None, weight). The YouTube app sends none; youtube.com sends its origin.
PEOPLE_REFERRERS = [
    ("https://www.youtube.com/", 45),
    ("https://m.youtube.com/", 15),
    (None, 25),
    ("https://www.google.com/", 5),
    ("https://t.co/", 3),
    ("https://www.facebook.com/", 3),
    ("https://www.instagram.com/", 2),
    ("https://www.reddit.com/", 2),
]
BOT_REFERRERS = [(None, 90), ("https://www.youtube.com/", 10)]
# Campaigns and the landing page and price each sells.
CAMPAIGNS = [
    ("spring-course-launch", "https://academy.example.com/course", "149.00"),
    ("editing-masterclass", "https://academy.example.com/editing", "79.00"),
    ("color-grading-course", "https://academy.example.com/color-grading", "199.00"),
    ("beginner-bundle", "https://academy.example.com/bundles/beginner?ref=yt", "49.00"),
    ("newsletter-growth", "https://newsletter.example.com/join", "9.00"),
    ("weekly-tips", "https://newsletter.example.com/tips", "5.00"),
    ("gear-guide", "https://shop.example.com/gear?ref=yt", "24.99"),
    ("lightroom-presets", "https://shop.example.com/presets", "19.00"),
    ("free-lut-pack", "https://shop.example.com/luts#download", "12.00"),
    ("black-friday", "https://shop.example.com/sale/black-friday", "99.00"),
    ("summer-sale", "https://shop.example.com/sale/summer", "39.00"),
    ("holiday-gift-guide", "https://shop.example.com/gifts", "29.99"),
    ("channel-membership", "https://members.example.com/join", "4.99"),
    ("workshop-live", "https://events.example.com/workshop", "299.00"),
    ("podcast-promo", "https://podcast.example.com/episode?utm_source=newsletter", "15.00"),
    ("affiliate-camera", "https://shop.example.com/affiliate/camera", "59.00"),
    ("coaching-call", "https://book.example.com/coaching", "249.00"),
    ("ebook-launch", "https://shop.example.com/ebook", "14.99"),
    (None, "https://creator.example.com/links", "19.99"),
]
# A visitor's conversions, in order, with the mean delay in days after the previous step; weights.
CHAINS = [
    ((("newsletter_signup", 0.4),), 55),
    ((("newsletter_signup", 0.4), ("course_enrollment", 3.0)), 18),
    ((("newsletter_signup", 0.4), ("course_enrollment", 3.0), ("purchase", 4.0)), 12),
    ((("purchase", 1.5),), 11),
    ((("course_enrollment", 2.0),), 4),
]
WINDOW_SECONDS = 30 * 86400
VIDEO_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
VIDEO_ID_LAST_CHARACTERS = "AEIMQUYcgkosw048"  # a real id's 11th character carries only 4 bits
SHORT_CODE_CHARACTERS = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
UUID4_BITS = (0x4 << 76) | (0x2 << 62)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=scratch_database_url("reports"), help="the large history (rebuilt)")
    parser.add_argument(
        "--small-database-url", default=scratch_database_url("reports_small"), help="the small one (rebuilt)"
    )
    parser.add_argument("--links", type=int, default=1000, help="the large creator's links")
    parser.add_argument("--clicks", type=int, default=5_000_000, help="the large creator's clicks")
    parser.add_argument("--conversions", type=int, default=200_000, help="the large creator's conversions")
    parser.add_argument("--small-links", type=int, default=1000)
    parser.add_argument("--small-clicks", type=int, default=50_000)
    parser.add_argument("--small-conversions", type=int, default=2_000)
    parser.add_argument("--skip-load", action="store_true", help="time the pages on the databases already loaded")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page")
    parser.add_argument("--warm-up", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every page's slowest queries")
    parser.add_argument(
        "--jit", choices=["server", "off"], default="server", help="PostgreSQL JIT for the app's queries (off: jit=off)"
    )
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    large = Shape(CREATOR_EMAIL, args.links, args.clicks, args.conversions)
    small = Shape(SMALL_CREATOR_EMAIL, args.small_links, args.small_clicks, args.small_conversions)
    print(describe_setup(args))
    if not args.skip_load:
        now = datetime.now(timezone.utc)
        load_database(args.database_url, [large, small], now, args.seed)
        load_database(args.small_database_url, [small], now, args.seed + 1)
    else:
        for url in (args.database_url, args.small_database_url):
            bring_up_to_date(url)
    loaded = time.perf_counter()

    print(f"\ntiming: {args.warm_up} warm-up requests, then {args.runs} rounds over every page")
    results = {
        "large": time_pages(args.database_url, CREATOR_EMAIL, args),
        "small": time_pages(args.small_database_url, SMALL_CREATOR_EMAIL, args),
        "small beside large": time_pages(args.database_url, SMALL_CREATOR_EMAIL, args),
    }
    report(results)
    explain_slow_pages(results, args)
    finished = time.perf_counter()
    print(f"\nwhole run: {finished - started:.0f} s (load {loaded - started:.0f} s, timing {finished - loaded:.0f} s)")


def describe_setup(args) -> str:
    """What the figures were measured on: the code's commit, the machine, the databases."""
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True)
    admin_url = make_url(args.database_url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url) as connection:
        server = connection.execute("SHOW server_version").fetchone()[0]
    return (
        f"linktrack {commit.stdout.strip() or '?'}{' with uncommitted changes' if dirty.stdout else ''}; "
        f"{os.cpu_count()} CPUs; PostgreSQL {server}: large {make_url(args.database_url).database}, "
        f"small {make_url(args.small_database_url).database}"
    )


@dataclass
class Shape:
    email: str
    links: int
    clicks: int
    conversions: int


# ---------------------------------------------------------------------------------------------
# Loading


class Progress:
    """A progress line: rows, percentage, rows/s. Rewritten in place on a terminal, every 10% otherwise."""

    def __init__(self, label: str, total: int):
        self.label, self.total = label, max(total, 1)
        self.started = self.last = time.perf_counter()
        self.tty = sys.stdout.isatty()
        self.next_tenth = 1

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if self.tty and now - self.last >= 0.5:
            self.last = now
            print(f"\r  {self._line(done, now)}", end="", flush=True)
        elif not self.tty and done * 10 >= self.next_tenth * self.total:
            self.next_tenth = done * 10 // self.total + 1
            print(f"  {self._line(done, now)}", flush=True)

    def finish(self, done: int) -> float:
        now = time.perf_counter()
        if self.tty:
            print(f"\r  {self._line(done, now)}  in {now - self.started:.1f} s", flush=True)
        else:
            print(f"  {self.label}: {done:,} rows in {now - self.started:.1f} s", flush=True)
        return now - self.started

    def _line(self, done: int, now: float) -> str:
        rate = done / max(now - self.started, 1e-9)
        eta = (self.total - done) / rate if rate else 0
        share = 100 * done / self.total
        return f"{self.label}: {done:,} / {self.total:,} ({share:.0f}%), {rate:,.0f} rows/s, eta {eta:.0f} s "


@dataclass
class Link:
    id: str  # 32 hex digits
    created_day: int
    popularity: float
    price: str


@dataclass
class CreatorHistory:
    """One creator's links and the plan of their clicks: how many on each day, on which links, which convert."""

    shape: Shape
    user_id: int
    links: list[Link]
    day_counts: list[int]
    converters: dict[int, tuple]  # click number -> its chain of conversions
    conversion_lines: list[tuple[int, str]] = field(default_factory=list)  # (epoch, COPY line)
    clicks_written: int = 0

    def day_cum_weights(self, day: int) -> tuple[list[int], list[float]]:
        """The links alive on `day` and their cumulative weights (a link's clicks decay after it is made)."""
        alive, cum, total = [], [], 0.0
        for index, link in enumerate(self.links):
            if link.created_day <= day:
                total += link.popularity * (math.exp((link.created_day - day) / LINK_DECAY_DAYS) + LINK_TAIL)
                alive.append(index)
                cum.append(total)
        return alive, cum


def plan_history(shape: Shape, user_id: int, now: datetime, rng: random.Random, codes: set[str]) -> tuple:
    """Links (as COPY lines) and the day-by-day click plan of one creator, over HISTORY_DAYS days to `now`."""
    days, end = HISTORY_DAYS, now.date()
    videos = []
    while len(videos) * 1.45 < shape.links or not videos:
        # The channel posts steadily; the first video is as old as the history.
        upload_day = 0 if not videos else rng.randrange(days)
        video_id = "".join(rng.choices(VIDEO_ID_CHARACTERS, k=10)) + rng.choice(VIDEO_ID_LAST_CHARACTERS)
        videos.append((upload_day, video_id))
    links, link_lines = [], []
    ranks = list(range(1, shape.links + 1))
    rng.shuffle(ranks)
    for number in range(shape.links):
        upload_day, video_id = videos[number] if number < len(videos) else rng.choice(videos)
        created_day = min(days - 1, upload_day + (0 if number < len(videos) else rng.randrange(4)))
        campaign, destination, price = rng.choice(CAMPAIGNS)
        link = Link(new_uuid(rng), created_day, 1 / ranks[number] ** ZIPF_EXPONENT, price)
        links.append(link)
        while (code := "".join(rng.choices(SHORT_CODE_CHARACTERS, k=7))) in codes:
            pass
        codes.add(code)
        created_at = f"{day_text(created_day, end)} 00:00:00+00"
        origin = "/".join(destination.split("/")[:3])
        archived_at = f"{day_text(min(days - 1, created_day + 200), end)} 12:00:00+00" if rng.random() < 0.05 else None
        link_lines.append(
            copy_line(
                link.id,
                user_id,
                code,
                video_id,
                f"https://www.youtube.com/watch?v={video_id}",
                destination,
                campaign,
                "youtube",
                "video",
                campaign,
                video_id,
                None,
                30,
                f'["{origin}"]',
                created_at,
                created_at,
                archived_at,
                None,
            )
        )

    # Clicks per day: what the live links draw, times the channel's growth, weekends and seasons.
    history = CreatorHistory(shape, user_id, links, [], {})
    weights = []
    for day in range(days):
        _, cum = history.day_cum_weights(day)
        weekday = (end - timedelta(days=days - 1 - day)).weekday()
        season = (0.5 + day / days) * (1.2 if weekday >= 5 else 1.0) * (1 + 0.15 * math.sin(2 * math.pi * day / 365))
        weights.append(cum[-1] * season if cum else 0.0)
    weights[-1] *= seconds_into_day(now) / 86400  # today is not over
    total, running, previous = sum(weights), 0.0, 0
    for weight in weights:
        running += weight
        reached = round(shape.clicks * running / total)
        history.day_counts.append(reached - previous)
        previous = reached

    # Which clicks convert and how: chains drawn until they make exactly shape.conversions events.
    chains, made = [], 0
    chain_kinds, chain_weights = zip(*CHAINS, strict=True)
    while made < shape.conversions:
        chain = rng.choices(chain_kinds, chain_weights)[0][: shape.conversions - made]
        chains.append(chain)
        made += len(chain)
    if len(chains) > shape.clicks:
        sys.exit("more converting visitors than clicks: raise --clicks or lower --conversions")
    history.converters = dict(zip(rng.sample(range(shape.clicks), len(chains)), chains, strict=True))
    return history, link_lines


def load_database(url: str, shapes: list[Shape], now: datetime, seed: int) -> None:
    from linktrack.counting.recount import recount_daily_stats
    from linktrack.extensions import db
    from linktrack.models import User

    database = make_url(url).database
    print(
        f"\nloading {database}: "
        + "; ".join(f"{s.links:,} links, {s.clicks:,} clicks, {s.conversions:,} conversions" for s in shapes)
    )
    started = time.perf_counter()
    app = rebuild_database(url)
    with app.app_context():
        users = []
        for shape in shapes:
            # A cheap hash: logging in is not what is measured.
            user = User(email=shape.email, password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"))
            db.session.add(user)
            users.append(user)
        db.session.commit()
        user_ids = [user.id for user in users]
    print(f"  schema rebuilt by the migrations in {time.perf_counter() - started:.1f} s")

    rng = random.Random(seed)
    codes: set[str] = set()
    histories, link_lines = [], []
    for shape, user_id in zip(shapes, user_ids, strict=True):
        history, lines = plan_history(shape, user_id, now, rng, codes)
        histories.append(history)
        link_lines.extend(lines)

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SET maintenance_work_mem = '512MB'")
        connection.execute("SET synchronous_commit = off")
        with connection.transaction(), connection.cursor() as cursor:
            copy_lines(
                cursor,
                "campaign_links (id, user_id, short_code, video_id, video_url, destination_url, campaign, utm_source,"
                " utm_medium, utm_campaign, utm_content, utm_term, attribution_window_days, allowed_origins,"
                " created_at, updated_at, archived_at, expires_at)",
                link_lines,
                freeze=False,
            )
        print(f"  {len(link_lines):,} links")

        restore = detach_keys_and_indexes(connection, ["click_events", "conversion_events"])
        print(f"  dropped {len(restore)} indexes and keys of click_events and conversion_events for the load")
        write_clicks(connection, histories, now, rng)
        write_conversions(connection, histories)

        for statement in restore:
            step = time.perf_counter()
            connection.execute(statement)
            print(f"  {time.perf_counter() - step:5.1f} s  {shorten(statement)}")
        step = time.perf_counter()
        connection.execute("VACUUM (ANALYZE) click_events, conversion_events, campaign_links")
        print(f"  {time.perf_counter() - step:5.1f} s  VACUUM (ANALYZE)")

    with app.app_context():
        step = time.perf_counter()
        recount_daily_stats()
        recount = time.perf_counter() - step
        db.session.remove()
        db.engine.dispose()
    vacuum_aggregates(url)
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT (SELECT count(*) FROM link_daily_stats), (SELECT count(*) FROM link_daily_lags)"
        )
        stats_rows, lag_rows = rows.fetchone()
    print(f"  recount_daily_stats(): {recount:.1f} s ({stats_rows:,} daily rows, {lag_rows:,} days-to-convert rows)")
    print(f"  {database} loaded in {time.perf_counter() - started:.0f} s")


def bring_up_to_date(url: str) -> None:
    """For --skip-load: run migrations newer than the load; if any ran, rebuild the aggregates they may add."""
    from flask_migrate import upgrade

    from linktrack.counting.recount import recount_daily_stats
    from linktrack.extensions import db

    app = bench_app(url)
    with app.app_context():
        version = "SELECT version_num FROM alembic_version"
        before = db.session.execute(text(version)).scalar()
        db.session.remove()
        upgrade()
        after = db.session.execute(text(version)).scalar()
        if after != before:
            started = time.perf_counter()
            recount_daily_stats()
            elapsed = time.perf_counter() - started
            print(f"  {make_url(url).database}: migrated {before} -> {after}; recount_daily_stats() {elapsed:.1f} s")
        db.session.remove()
        db.engine.dispose()
    if after != before:
        vacuum_aggregates(url, full=True)


def vacuum_aggregates(url: str, full: bool = False) -> None:
    """A recount deletes and rewrites every aggregate row: reports must not scan the dead ones (FULL: nor their
    pages, as after a fresh load)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"VACUUM ({'FULL, ' if full else ''}ANALYZE) {', '.join(AGGREGATE_TABLES)}")


# Every table recount_daily_stats() rebuilds (the database is migrated to head before any vacuum).
AGGREGATE_TABLES = [
    "link_daily_stats",
    "link_daily_lags",
    "link_daily_breakdowns",
    "link_monthly_stats",
    "user_daily_stats",
]


def write_clicks(connection: psycopg.Connection, histories: list[CreatorHistory], now: datetime, rng: random.Random):
    """Generate every creator's clicks day by day (the table fills in time order, as it would live) and COPY them."""
    from linktrack.redirect.clicks import describe_user_agent

    def slots(weighted: list[tuple[str, int]]) -> list[str]:
        """100 slots, each value in as many as its weight (percent): a draw is one index."""
        assert sum(weight for _, weight in weighted) == 100
        return [value for value, weight in weighted for _ in range(weight)]

    def profiles(agents):
        """'user_agent TAB device TAB browser TAB os', as the redirect would have described the agent."""
        return slots([(copy_fields(agent, *describe_user_agent(agent)[:3]), weight) for agent, weight in agents])

    people, bots = profiles(PEOPLE_AGENTS), profiles(BOT_AGENTS)
    referrers = slots([(copy_field(referrer), weight) for referrer, weight in PEOPLE_REFERRERS])
    bot_referrers = slots([(copy_field(referrer), weight) for referrer, weight in BOT_REFERRERS])
    clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)]
    end = now.date()
    today_seconds = seconds_into_day(now)
    first_day = datetime.combine(end - timedelta(days=HISTORY_DAYS - 1), datetime.min.time(), timezone.utc)
    first_day_epoch = int(first_day.timestamp())
    now_epoch = int(now.timestamp())

    total = sum(sum(history.day_counts) for history in histories)
    progress = Progress("clicks", total)
    random_float, random_bits, choices = rng.random, rng.getrandbits, rng.choices
    written = 0
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE click_events")  # in this transaction, so COPY may FREEZE
        columns = (
            "id, campaign_link_id, tracking_id, ip_hash, user_agent, device_type, browser, os, referrer,"
            " is_bot, is_unique, clicked_at"
        )
        with cursor.copy(f"COPY click_events ({columns}) FROM STDIN (FREEZE true)") as copy:
            buffer, buffered = [], 0
            for day in range(HISTORY_DAYS):
                prefix = day_text(day, end) + " "
                day_epoch = first_day_epoch + day * 86400
                seconds_in_day = today_seconds if day == HISTORY_DAYS - 1 else 86400
                for history in histories:
                    count = history.day_counts[day]
                    if not count:
                        continue
                    alive, cum = history.day_cum_weights(day)
                    link_ids = [history.links[i].id for i in alive]
                    prices = [history.links[i].price for i in alive]
                    picks = choices(range(len(alive)), cum_weights=cum, k=count)
                    seconds = sorted(int(random_float() * seconds_in_day) for _ in range(count))
                    converters = history.converters
                    number = history.clicks_written
                    for pick, second in zip(picks, seconds, strict=True):
                        tracking_id = f"{(random_bits(128) & UUID4_MASK) | UUID4_BITS:032x}"
                        chain = converters.get(number)
                        number += 1
                        if chain is None and random_float() < BOT_SHARE:
                            profile, referrer, flags = (
                                bots[int(random_float() * 100)],
                                bot_referrers[int(random_float() * 100)],
                                "t\tf",
                            )
                        else:
                            profile = people[int(random_float() * 100)]
                            referrer = referrers[int(random_float() * 100)]
                            flags = "f\tt" if random_float() < UNIQUE_SHARE else "f\tf"
                        buffer.append(
                            f"{(random_bits(128) & UUID4_MASK) | UUID4_BITS:032x}\t{link_ids[pick]}\t{tracking_id}\t"
                            f"{random_bits(256):064x}\t{profile}\t{referrer}\t{flags}\t{prefix}{clock[second]}\n"
                        )
                        if chain is not None:
                            history.conversion_lines.extend(
                                conversion_lines(
                                    rng, chain, tracking_id, link_ids[pick], prices[pick], day_epoch + second, now_epoch
                                )
                            )
                    history.clicks_written = number
                    buffered += count
                if buffered >= 20_000 or day == HISTORY_DAYS - 1:
                    copy.write("".join(buffer))
                    written += buffered
                    buffer, buffered = [], 0
                    progress.update(written)
    progress.finish(written)


def conversion_lines(rng, chain, tracking_id: str, link_id: str, price: str, click_epoch: int, now_epoch: int):
    """One visitor's conversions after their click: each step a while after the previous one, all in the window."""
    lines = []
    at = click_epoch
    last = min(click_epoch + WINDOW_SECONDS - 3600, now_epoch - 1)
    for event_type, mean_days in chain:
        at = max(at, min(last, at + 60 + int(rng.expovariate(1 / mean_days) * 86400)))
        if event_type == "purchase":
            revenue, data = price, f'{{"order_id": "ord_{rng.getrandbits(48):012x}", "items": 1}}'
        elif event_type == "course_enrollment":
            revenue, data = None, '{"plan": "full-access"}'
        else:
            revenue, data = None, '{"list": "weekly"}'
        source = "server" if rng.random() < 0.15 else "browser"
        lines.append(
            (
                at,
                copy_line(
                    new_uuid(rng),
                    tracking_id,
                    link_id,
                    event_type,
                    revenue,
                    "USD",
                    data,
                    f"evt_{rng.getrandbits(64):016x}",
                    source,
                    datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00"),
                ),
            )
        )
    return lines


def write_conversions(connection: psycopg.Connection, histories: list[CreatorHistory]) -> None:
    """COPY the conversions gathered while the clicks were written, in the order they happened."""
    lines = sorted(line for history in histories for line in history.conversion_lines)
    for history in histories:
        history.conversion_lines = []
    progress = Progress("conversions", len(lines))
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE conversion_events")
        columns = (
            "id, tracking_id, campaign_link_id, event_type, revenue_amount, currency, event_data, event_id,"
            " source, converted_at"
        )
        with cursor.copy(f"COPY conversion_events ({columns}) FROM STDIN (FREEZE true)") as copy:
            for start in range(0, len(lines), 20_000):
                copy.write("".join(line for _, line in lines[start : start + 20_000]))
                progress.update(min(start + 20_000, len(lines)))
    progress.finish(len(lines))


def copy_lines(cursor, target: str, lines: list[str], freeze: bool) -> None:
    with cursor.copy(f"COPY {target} FROM STDIN{' (FREEZE true)' if freeze else ''}") as copy:
        copy.write("".join(lines))


def detach_keys_and_indexes(connection: psycopg.Connection, tables: list[str]) -> list[str]:
    """Drop the tables' indexes, primary/unique keys and foreign keys (theirs and those pointing at them).

    Returns the statements that restore them, as the database described them: indexes and keys
    first, foreign keys last (they need the keys and validate in one pass each).
    """
    constraints = connection.execute(
        """
        SELECT con.conrelid::regclass::text, con.conname, con.contype, pg_get_constraintdef(con.oid)
        FROM pg_constraint con
        WHERE con.contype IN ('p', 'u', 'f')
          AND (con.conrelid = ANY(%(tables)s::regclass[]) OR con.confrelid = ANY(%(tables)s::regclass[]))
        ORDER BY con.contype = 'f' DESC, con.conname
        """,
        {"tables": tables},
    ).fetchall()
    indexes = connection.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%(tables)s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
        ORDER BY 1
        """,
        {"tables": tables},
    ).fetchall()
    restore_keys, restore_foreign = [], []
    with connection.transaction():
        for table, name, kind, definition in constraints:  # foreign keys first
            connection.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.SQL(table), sql.Identifier(name))
            )
            add = f"ALTER TABLE {table} ADD CONSTRAINT {sql.Identifier(name).as_string(connection)} {definition}"
            (restore_foreign if kind == "f" else restore_keys).append(add)
        for name, definition in indexes:
            connection.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
            restore_keys.append(definition)
    return restore_keys + restore_foreign


def new_uuid(rng: random.Random) -> str:
    return f"{(rng.getrandbits(128) & UUID4_MASK) | UUID4_BITS:032x}"


def day_text(day: int, end: date) -> str:
    """Day number `day` of the history that ends on `end`, as YYYY-MM-DD."""
    return (end - timedelta(days=HISTORY_DAYS - 1 - day)).isoformat()


def seconds_into_day(now: datetime) -> int:
    return max(1, now.hour * 3600 + now.minute * 60 + now.second)


def copy_field(value) -> str:
    """A value in COPY's text format. The generated values never hold tabs, newlines or backslashes."""
    if value is None:
        return "\\N"
    text = str(value)
    assert not any(char in text for char in "\t\n\r\\"), text
    return text


def copy_fields(*values) -> str:
    return "\t".join(copy_field(value) for value in values)


def copy_line(*values) -> str:
    return copy_fields(*values) + "\n"


def shorten(statement: str, width: int = 110) -> str:
    return statement if len(statement) <= width else statement[: width - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass
class Page:
    name: str
    path: str
    headers: dict = field(default_factory=dict)


@dataclass
class PageTiming:
    page: Page
    milliseconds: list[float] = field(default_factory=list)
    query_counts: list[int] = field(default_factory=list)
    query_milliseconds: list[float] = field(default_factory=list)
    slowest_run_queries: list = field(default_factory=list)  # [(ms, statement, parameters)] of the slowest run
    bytes: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.milliseconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.milliseconds)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class QueryLog:
    """Every statement the app's engine runs, with its parameters and duration."""

    def __init__(self, engine):
        self.entries: list[tuple[float, str, object]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, connection, cursor, statement, parameters, context, executemany):
        connection.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, connection, cursor, statement, parameters, context, executemany):
        started = connection.info["bench_started"].pop()
        self.entries.append(((time.perf_counter() - started) * 1000, statement, parameters))


def time_pages(url: str, email: str, args) -> dict:
    """Median and p95 per page for `email`, signed in through the login form (the API with a key)."""
    from linktrack.auth.service import create_api_key
    from linktrack.extensions import db
    from linktrack.models import CampaignLink, ClickEvent, LinkDailyStats, User

    config = {}
    if args.jit == "off":
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "connect_args": {"options": "-c jit=off"}}
    app = bench_app(url, config)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            sys.exit(f"{email} is not in {make_url(url).database}: run without --skip-load first")
        _, api_key = create_api_key(user, "bench-reports")
        # The busiest link: most counted clicks (from the aggregates when they are filled).
        busiest = db.session.execute(
            select(LinkDailyStats.campaign_link_id, func.sum(LinkDailyStats.clicks))
            .where(LinkDailyStats.user_id == user.id)
            .group_by(LinkDailyStats.campaign_link_id)
            .order_by(func.sum(LinkDailyStats.clicks).desc())
            .limit(1)
        ).first()
        if busiest is None:
            busiest = db.session.execute(
                select(ClickEvent.campaign_link_id, func.count())
                .join(CampaignLink, CampaignLink.id == ClickEvent.campaign_link_id)
                .where(CampaignLink.user_id == user.id, ~ClickEvent.is_bot)
                .group_by(ClickEvent.campaign_link_id)
                .order_by(func.count().desc())
                .limit(1)
            ).first()
        link_id, link_clicks = busiest if busiest else (None, 0)
        last_click = db.session.scalar(select(func.max(LinkDailyStats.day)).where(LinkDailyStats.user_id == user.id))
        engine = db.engine
        db.session.remove()
    log = QueryLog(engine)
    client = app.test_client()
    sign_in(client, email)
    pages = report_pages(app, link_id, api_key)
    database = make_url(url).database
    print(f"  {database}, {email}: busiest link {link_id} ({link_clicks or 0:,} clicks), last day {last_click}")

    timings = {page.name: PageTiming(page) for page in pages}
    for round_number in range(args.warm_up + args.runs):
        for page in pages:
            log.entries = []
            started = time.perf_counter()
            response = client.get(page.path, headers=page.headers)
            body = response.get_data()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                sys.exit(f"{page.name}: GET {page.path} answered {response.status_code}")
            if round_number < args.warm_up:
                continue
            timing = timings[page.name]
            if not timing.milliseconds or elapsed > max(timing.milliseconds):
                timing.slowest_run_queries = sorted(log.entries, key=lambda entry: entry[0], reverse=True)
            timing.milliseconds.append(elapsed)
            timing.query_counts.append(len(log.entries))
            timing.query_milliseconds.append(sum(entry[0] for entry in log.entries))
            timing.bytes = len(body)
    with app.app_context():
        db.engine.dispose()
    return {"app": app, "timings": timings}


def sign_in(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        sys.exit("no CSRF token on /login")
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
    if response.status_code != 302:
        sys.exit(f"logging in as {email} answered {response.status_code}")


# (name, endpoint, query string, with the API key): issue 5's three first, then the creator's other
# pages that read the same history. "funnel API" stands for the endpoint at /api/conversions/funnel/.
TWO_YEARS = "two years"
PAGES = [
    ("dashboard (30 days)", "reports.dashboard", {}, False),
    ("dashboard (2 years)", "reports.dashboard", TWO_YEARS, False),
    ("link report (30 days)", "reports.link_report", {}, False),
    ("link report (2 years)", "reports.link_report", TWO_YEARS, False),
    ("funnel API (30 days)", "funnel API", {}, True),
    ("funnel API (2 years)", "funnel API", TWO_YEARS, True),
    ("link detail", "links.detail", {}, False),
    ("links list by clicks", "links.index", {"sort": "clicks"}, False),
    ("funnel table (2 years)", "reports.funnel", TWO_YEARS, False),
    ("revenue table (2 years)", "reports.revenue", TWO_YEARS, False),
]


def report_pages(app, link_id, api_key: str) -> list[Page]:
    """The pages to time, for the busiest link where a page is about one link. Pages the app lacks are left out."""
    today = datetime.now(timezone.utc).date()
    two_years = {"from": (today - timedelta(days=HISTORY_DAYS - 1)).isoformat(), "to": today.isoformat()}
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    funnel_api = next((e for e, rule in rules.items() if rule.rule.startswith("/api/conversions/funnel/")), None)
    pages = []
    with app.test_request_context():
        for name, endpoint, query, with_key in PAGES:
            endpoint = funnel_api if endpoint == "funnel API" else endpoint
            rule = rules.get(endpoint)
            if rule is None or (rule.arguments and link_id is None):
                continue
            values = {argument: link_id for argument in rule.arguments}
            query = two_years if query == TWO_YEARS else query
            headers = {"Authorization": f"Bearer {api_key}"} if with_key else {}
            pages.append(Page(name, url_for(endpoint, **values, **query), headers))
    return pages


def report(results: dict) -> None:
    large, small, beside = (results[name]["timings"] for name in ("large", "small", "small beside large"))
    print()
    header = f"{'':28}{'large history':>30}{'small history':>22}{'large/small':>13}{'small creator beside large':>29}"
    print(header)
    print(
        f"{'page':28}{'median':>10}{'p95':>8}{'queries':>12}{'median':>10}{'p95':>8}{'':4}{'median':>9}{'':4}{'median':>10}{'p95':>8}"
    )
    verdicts = []
    for name, timing in large.items():
        other, aside = small.get(name), beside.get(name)
        ratio = timing.median / other.median if other else float("nan")
        print(
            f"{name:28}{timing.median:>9.1f}{timing.p95:>8.1f}"
            f"{statistics.median(timing.query_counts):>5.0f} in{statistics.median(timing.query_milliseconds):>5.1f}"
            f"{other.median if other else float('nan'):>10.1f}{other.p95 if other else float('nan'):>8.1f}"
            f"{ratio:>12.2f}x"
            f"{aside.median if aside else float('nan'):>14.1f}{aside.p95 if aside else float('nan'):>8.1f}"
        )
        verdicts.append((name, timing.median < TARGET_MS, ratio <= TARGET_RATIO))
    print("\n(ms; queries: the median number of SQL statements and their median total time in ms)")
    print(f"target: under {TARGET_MS} ms at the large size and within {TARGET_RATIO:.0f}x of the small size")
    for name, fast, steady in verdicts:
        print(
            f"  {name:28} {'ok' if fast else 'OVER ' + str(TARGET_MS) + ' ms':>14}  {'ok' if steady else 'over 2x':>8}"
        )


def explain_slow_pages(results: dict, args, limit: int = 3) -> None:
    """EXPLAIN ANALYZE the slowest queries of pages over the target (of every page with --explain)."""
    from linktrack.extensions import db

    app = results["large"]["app"]
    for name, timing in results["large"]["timings"].items():
        other = results["small"]["timings"].get(name)
        over = timing.median >= TARGET_MS or (other and timing.median > TARGET_RATIO * other.median)
        if not (args.explain or over):
            continue
        print(f"\n== {name}: {timing.page.path}  (median {timing.median:.1f} ms; slowest queries of its slowest run)")
        with app.app_context():
            for milliseconds, statement, parameters in timing.slowest_run_queries[:limit]:
                print(f"\n-- {milliseconds:.1f} ms:\n{statement}\n-- parameters: {parameters}")
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                plan = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                print("\n".join(row[0] for row in plan))
            db.session.rollback()
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
