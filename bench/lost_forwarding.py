"""Benchmark: the sweep's search for conversions whose fan-out job was lost, on PostgreSQL.

    .venv/bin/python -m bench.lost_forwarding [--conversions 300000] [--creators 200] [--lost 25]

Rebuilds PostgreSQL `bench_lost` (BENCH_LOST_DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/bench_lost) with the migrations and seeds `--creators`
creators with two links and two webhook destinations each (one wants every type, one purchases
only), created three days ago. `--conversions` conversions are spread over the last two days, half
of them on one creator's links (a big creator), and every one has its deliveries except `--lost`
(their fan-out job lost). Then it times `lost_conversions()` (what the minute sweep runs; median of
5) twice: with no mark from an earlier sweep (the whole lookback, as after Redis lost everything),
and a minute after a sweep (its steady state); and prints PostgreSQL's plan (EXPLAIN ANALYZE,
BUFFERS) of the big creator's destination for both windows.
"""

import argparse
import statistics
import time
from datetime import timedelta

from sqlalchemy import text

from bench.common import rebuild_database, scratch_database_url
from linktrack.extensions import db
from linktrack.forwarding import deliveries
from linktrack.models import CampaignLink, User, utcnow
from linktrack.models.forwarding import ForwardingDestination

TYPES = ("purchase", "newsletter_signup", "course_enrollment")


def seed(creators: int, conversions: int, lost: int) -> tuple[int, int]:
    """Returns (the big creator's id, its all-types destination's id)."""
    now = utcnow()
    links = []
    for number in range(creators):
        user = User(email=f"bench-{number}@example.com", password_hash="x")
        db.session.add(user)
        db.session.flush()
        for kind, types in (("all", list(TYPES)), ("sales", ["purchase"])):
            db.session.add(
                ForwardingDestination(
                    user_id=user.id,
                    kind="webhook",
                    name=kind,
                    settings={"url": "http://127.0.0.1:9/hook"},
                    credentials_encrypted="x",
                    secret_hint="x",
                    event_types=types,
                    created_at=now - timedelta(days=3),
                )
            )
        for link_number in range(2):
            link = CampaignLink(
                user_id=user.id,
                short_code=f"b{number}x{link_number}",
                video_id="dQw4w9WgXcQ",
                video_url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                destination_url="https://landing.example.com/",
                campaign="bench",
            )
            db.session.add(link)
            links.append(link)
    db.session.flush()
    big_links, other_links = links[:2], links[2:]
    shares = [(link, conversions // 4) for link in big_links]
    shares += [(link, (conversions // 2) // max(len(other_links), 1)) for link in other_links]
    for link, count in shares:
        db.session.execute(
            text(
                "INSERT INTO conversion_events (id, tracking_id, campaign_link_id, event_type, currency, source,"
                " converted_at) SELECT gen_random_uuid(), gen_random_uuid(), :link,"
                " (ARRAY['purchase','newsletter_signup','course_enrollment'])[1 + n % 3], 'USD', 'browser',"
                " :now - (n * interval '48 hours' / :count) FROM generate_series(1, :count) AS n"
            ),
            {"link": link.id, "now": now, "count": count},
        )
    db.session.execute(
        text(
            "INSERT INTO forwarding_deliveries (destination_id, conversion_id, event_type, status, attempts,"
            " created_at, updated_at)"
            " SELECT d.id, c.id, c.event_type, 'delivered', 1, c.converted_at, c.converted_at"
            " FROM conversion_events c JOIN campaign_links l ON l.id = c.campaign_link_id"
            " JOIN forwarding_destinations d ON d.user_id = l.user_id"
            " WHERE d.event_types::jsonb ? c.event_type"
            " AND c.id NOT IN (SELECT id FROM conversion_events ORDER BY id LIMIT :lost)"
        ),
        {"lost": lost},
    )
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    big_user = big_links[0].user_id
    big_destination = db.session.scalar(
        db.select(ForwardingDestination.id).where(
            ForwardingDestination.user_id == big_user, ForwardingDestination.name == "all"
        )
    )
    return big_user, big_destination


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversions", type=int, default=300_000)
    parser.add_argument("--creators", type=int, default=200)
    parser.add_argument("--lost", type=int, default=25)
    options = parser.parse_args()
    app = rebuild_database(scratch_database_url("lost"))
    with app.app_context():
        started = time.perf_counter()
        big_user, big_destination = seed(options.creators, options.conversions, options.lost)
        print(f"seeded {options.conversions:,} conversions in {time.perf_counter() - started:.1f} s")
        lookback = app.config["FORWARDING_LOST_LOOKBACK_HOURS"]
        now = utcnow()
        median_ms, (found, _) = timed(lambda: deliveries.lost_conversions(now))
        print(
            f"whole lookback ({lookback} h, no mark): {len(found)} found (of {options.lost} lost; the others are"
            f" younger than {app.config['FORWARDING_LOST_AFTER_MINUTES']} min), {2 * options.creators}"
            f" destinations, median {median_ms:.0f} ms"
        )
        deliveries.fan_out_lost_conversions(now)  # the sweep (their webhooks are refused unsent), leaving its mark
        a_minute_later = now + timedelta(minutes=1)
        median_ms, (found, _) = timed(lambda: deliveries.lost_conversions(a_minute_later))
        print(f"a minute after a sweep: {len(found)} found, median {median_ms:.0f} ms")
        newest = now - deliveries.lost_after()
        for title, oldest in ((f"{lookback} h", now - timedelta(hours=lookback)), ("1 minute", newest)):
            explain(big_destination, big_user, oldest, newest + timedelta(minutes=1), title)


def timed(run) -> tuple[float, object]:
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000, result


def explain(destination_id: int, user_id: int, oldest, newest, title: str) -> None:
    statement = deliveries.lost_for_destination(destination_id, user_id, list(TYPES), oldest, newest)
    compiled = statement.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    plan = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params)
    print(f"the big creator's all-types destination, {title}:")
    for (line,) in plan:
        print("  " + line)
    db.session.commit()


if __name__ == "__main__":
    main()
