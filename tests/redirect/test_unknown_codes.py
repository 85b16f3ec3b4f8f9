"""Unknown short codes (links/cache.py's misses, redirect/limit.py's miss limit): probing made-up
codes costs the database a bounded number of queries, however many are sent, and a probe flood
neither evicts the live links nor stops a code that is created from working at once.

Queries are counted on the real database with SQLAlchemy's cursor events."""

import uuid
from contextlib import contextmanager

import pytest

from linktrack.links import cache
from linktrack.links import service as links
from tests.support.queries import statements_counted
from tests.support.redirect import create_link

PROBER = "203.0.113.66"
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"}


@contextmanager
def link_queries(app):
    """The statements that read campaign_links by short code while the block runs."""
    with statements_counted(app) as sent:
        yield (found := [])
    found.extend(statement for statement in sent if "FROM campaign_links" in statement and "short_code" in statement)


def probe(client, code: str, ip: str = PROBER):
    return client.get(f"/{code}", headers=BROWSER, environ_base={"REMOTE_ADDR": ip})


MISS_LIMITED = {"RATELIMIT_ENABLED": True, "SHORT_LINK_MISS_RATE_LIMIT_PER_IP": "20/minute"}


@pytest.fixture
def limited(make_app, redis_client, redis_url):
    return make_app(RATELIMIT_STORAGE_URI=redis_url, **MISS_LIMITED)


def test_random_probes_cost_a_bounded_number_of_queries(limited, creator):
    """500 made-up codes from one address: 20 queries (the limit), then 429 without a query. Before
    the limit every probe was a query."""
    link = create_link(limited, creator()[0])
    client = limited.test_client()
    assert probe(client, link["short_code"]).status_code == 302  # cached here
    with link_queries(limited) as queries:
        answers = [probe(client, uuid.uuid4().hex[:10]) for _ in range(500)]
    assert len(queries) == 20
    assert [a.status_code for a in answers[:20]] == [404] * 20
    refused = answers[20:]
    assert {a.status_code for a in refused} == {429}
    assert 1 <= int(refused[0].headers["Retry-After"]) <= 60
    assert "do not exist" in refused[0].get_data(as_text=True)
    assert refused[0].headers["Cache-Control"] == "no-store"
    # The prober's cached link still redirects; another address is not limited.
    assert probe(client, link["short_code"]).status_code == 302
    assert probe(client, uuid.uuid4().hex[:10], ip="198.51.100.5").status_code == 404


def test_processes_share_one_miss_budget(make_app, redis_client, redis_url):
    """Three processes' apps on one Redis: the address's misses are counted once for all of them,
    so the database sees the limit plus at most one query per process."""
    apps = [make_app(RATELIMIT_STORAGE_URI=redis_url, **MISS_LIMITED) for _ in range(3)]
    clients = [application.test_client() for application in apps]
    with link_queries(apps[0]) as queries, link_queries(apps[1]) as second, link_queries(apps[2]) as third:
        for n in range(300):  # one engine per app: each counted
            probe(clients[n % 3], uuid.uuid4().hex[:10])
    assert 20 <= len(queries) + len(second) + len(third) <= 20 + 3


def test_one_unknown_code_asked_by_many_is_one_query(app):
    client = app.test_client()
    with link_queries(app) as queries:
        answers = [probe(client, "no-such-code", ip=f"198.51.100.{n}").status_code for n in range(100)]
    assert answers == [404] * 100
    assert len(queries) == 1  # remembered for MISS_TTL_SECONDS


def test_a_flood_of_misses_never_evicts_a_live_link(app, creator, monkeypatch):
    """Misses are kept apart from links, each bounded: the old cache was cleared whole at 10,000
    entries, so probes made every live link a query again."""
    monkeypatch.setattr(cache, "MAX_MISSES", 50)
    link = create_link(app, creator()[0])
    client = app.test_client()
    assert probe(client, link["short_code"]).status_code == 302
    for n in range(200):
        probe(client, f"made-up-{n}", ip=f"198.51.100.{n % 250}")
    with app.app_context():
        kept = cache.link_cache()
        assert len(kept.misses) == 50 and link["short_code"] in kept.links
    with link_queries(app) as queries:
        assert probe(client, link["short_code"]).status_code == 302
    assert queries == []


def test_a_code_remembered_as_unknown_works_as_soon_as_it_is_created(app, creator):
    client = app.test_client()
    assert probe(client, "launch-day").status_code == 404  # now a cached miss
    with app.app_context():
        links.create_link(
            creator()[0],
            {
                "video_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                "destination_url": "https://x.example.com/",
                "short_code": "launch-day",
            },
        )
    assert probe(client, "launch-day").status_code == 302
