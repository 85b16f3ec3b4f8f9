"""Link edits across hosts (links/cache.py): every process caches links for LINK_TTL_SECONDS, and
with Redis an edit, archive or new link is published to every process's cache at once.

The hosts are real: two gunicorn masters with two forked workers each, sharing the suite's database
and Redis. An edit made through one host must be seen by every worker of the other well before the
TTL would have expired it (polled with a deadline)."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine
from redis import Redis

from linktrack.extensions import db
from linktrack.links import cache
from linktrack.links import service as links
from linktrack.models import CampaignLink
from tests.support.app import app_settings
from tests.support.faults import RedisServer, wait_until
from tests.support.hosts import get, gunicorn_host, send_json
from tests.support.redirect import create_link

WELL_BEFORE = 1.5  # seconds: the TTL is 5; Redis takes milliseconds, the rest is a loaded test machine
CHANNEL = "linktrack:link-edits:"


def subscribers(redis_client) -> int:
    return redis_client.pubsub_numsub(CHANNEL + "0")[0][1]


def seen_everywhere(url: str, expected, deadline: float, in_a_row: int = 12) -> float:
    """Poll `url` until `in_a_row` answers in a row match `expected(status, location)` (so every
    worker behind it does); the seconds that took. Fails at the deadline."""
    started = time.monotonic()
    streak = 0
    while streak < in_a_row:
        if time.monotonic() - started > deadline:
            raise AssertionError(f"{url} not updated everywhere within {deadline} s")
        streak = streak + 1 if expected(*get(url)) else 0
    return time.monotonic() - started


def looked_up_concurrently(*urls: str, each: int = 4) -> bool:
    with ThreadPoolExecutor(len(urls) * each) as pool:
        list(pool.map(get, [url for url in urls for _ in range(each)]))
    return True


def redirects_to(destination: str):
    return lambda status, location: status == 302 and location.startswith(destination)


@pytest.fixture
def private_redis():
    """A Redis of the test's own, so the subscribers counted are the hosts' workers only."""
    server = RedisServer().start()
    yield server
    server.kill()


def test_edits_on_one_host_reach_every_worker_of_the_other_well_before_the_ttl(
    app, database_url, private_redis, creator, api_key_for, tmp_path
):
    redis_url = private_redis.url
    redis_client = Redis.from_url(redis_url)
    user_id = creator()[0]
    key = api_key_for(user_id)
    link = create_link(app, user_id, destination_url="https://one.example.com/")
    settings = app_settings(database_url, REDIS_URL=redis_url, INSTANCE_PATH=str(tmp_path / "instance"))
    with gunicorn_host(settings) as host_a, gunicorn_host(settings) as host_b:
        short_a, short_b = f"{host_a}/{link['short_code']}", f"{host_b}/{link['short_code']}"
        for url in (short_a, short_b):
            seen_everywhere(url, redirects_to("https://one.example.com/"), 30)
        # Each forked worker starts its own listener on its first lookup: concurrent lookups reach
        # both workers of a host (one idle worker can take every request sent one at a time).
        wait_until(
            lambda: looked_up_concurrently(short_a, short_b) and subscribers(redis_client) == 4,
            10,
            "4 workers subscribed",
        )

        took = []
        for destination in ("https://two.example.com/", "https://three.example.com/"):
            seen_everywhere(short_b, lambda status, location: status == 302, 5)  # cached on host B
            edit = {"destination_url": destination}
            assert send_json(f"{host_a}/api/links/{link['id']}", "PATCH", edit, key) == 200
            took.append(seen_everywhere(short_b, redirects_to(destination), cache.LINK_TTL_SECONDS))
        assert max(took) < WELL_BEFORE, took

        assert send_json(f"{host_a}/api/links/{link['id']}", "DELETE", {}, key) == 200  # archive
        assert seen_everywhere(short_b, lambda status, _: status == 410, cache.LINK_TTL_SECONDS) < WELL_BEFORE

        # A code host B has just answered 404 (and remembers as unknown) works there as soon as it is made.
        code = f"fresh-{uuid.uuid4().hex[:8]}"
        assert get(f"{host_b}/{code}")[0] == 404
        new = {
            "video_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "destination_url": "https://new.example.com/",
        }
        assert send_json(f"{host_a}/api/links", "POST", {**new, "short_code": code}, key) == 201
        assert (
            seen_everywhere(f"{host_b}/{code}", redirects_to("https://new.example.com/"), cache.MISS_TTL_SECONDS) < 1.0
        )


def test_a_listener_hears_edits_again_after_redis_restarts(make_app, creator, private_redis):
    server = private_redis
    reader, writer = make_app(REDIS_URL=server.url), make_app(REDIS_URL=server.url)
    link = create_link(reader, creator()[0], destination_url="https://one.example.com/")
    client = reader.test_client()
    assert client.get(f"/{link['short_code']}").status_code == 302  # starts the reader's listener

    def subscribed() -> bool:
        if not server.answers():
            return False
        with Redis.from_url(server.url) as redis:
            return subscribers(redis) == 1

    wait_until(subscribed, 10, "the listener subscribed")
    server.kill()
    server.start()  # the same port, nothing remembered
    wait_until(subscribed, 15, "the listener subscribed again")
    assert client.get(f"/{link['short_code']}").headers["Location"].startswith("https://one.example.com/")

    with writer.app_context():
        links.update_link(db.session.get(CampaignLink, link["id"]), {"destination_url": "https://two.example.com/"})
    started = time.monotonic()
    wait_until(
        lambda: client.get(f"/{link['short_code']}").headers["Location"].startswith("https://two.example.com/"),
        cache.LINK_TTL_SECONDS,
        "the edit heard after the restart",
    )
    assert time.monotonic() - started < WELL_BEFORE


def test_without_redis_the_ttl_is_the_bound(make_app, creator):
    """No Redis: another process (another app here, with a cache of its own) sees an edit when its
    entry expires, LINK_TTL_SECONDS after it was loaded, and not before."""
    reader, writer = make_app(), make_app()
    link = create_link(reader, creator()[0], destination_url="https://one.example.com/")
    client = reader.test_client()
    with time_machine.travel(time.time(), tick=False) as clock:
        assert client.get(f"/{link['short_code']}").headers["Location"].startswith("https://one.example.com/")
        with writer.app_context():
            links.update_link(db.session.get(CampaignLink, link["id"]), {"destination_url": "https://two.example.com/"})
        clock.shift(cache.LINK_TTL_SECONDS - 0.1)
        assert client.get(f"/{link['short_code']}").headers["Location"].startswith("https://one.example.com/")
        clock.shift(0.1)
        assert client.get(f"/{link['short_code']}").headers["Location"].startswith("https://two.example.com/")
