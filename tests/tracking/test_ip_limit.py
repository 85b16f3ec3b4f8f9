"""The per-IP limit on a landing page's conversions (linktrack/tracking/ip_limit.py): counted in each
process, added up in real Redis in batches. Two IpLimit objects are two gunicorn workers."""

import logging
from datetime import datetime, timezone

import pytest
import time_machine
from limits import parse
from redis import Redis

from linktrack.tracking.ip_limit import PUSH_SECONDS, REDIS_REST_SECONDS, IpLimit, push_every
from tests.support.faults import RedisServer

# 30 s into a minute: the minute's window has 30 s left.
T = datetime(2026, 6, 1, 12, 0, 30, tzinfo=timezone.utc)
ADDRESS = "203.0.113.7"


@pytest.fixture
def clock():
    with time_machine.travel(T, tick=False) as traveller:
        yield traveller


@pytest.fixture
def workers(redis_client, redis_url):
    """Two processes' counters sharing the test Redis."""
    made = [IpLimit(redis_url), IpLimit(redis_url)]
    yield made
    for worker in made:
        worker.close()


def incrby_calls(redis_client) -> int:
    return redis_client.info("commandstats").get("cmdstat_incrby", {}).get("calls", 0)


def allowed(worker, limit, hits: int, address: str = ADDRESS) -> int:
    return sum(worker.hit(limit, address) is None for _ in range(hits))


@pytest.mark.usefixtures("clock")
class TestSmallLimitsAreExact:
    """Under 32 a window, every hit is added in Redis before it is judged, as Flask-Limiter does."""

    def test_two_workers_share_the_count(self, workers):
        limit = parse("4 per minute")
        assert push_every(limit) == 1
        first, second = workers
        assert allowed(first, limit, 2) == 2
        assert allowed(second, limit, 2) == 2
        assert second.hit(limit, ADDRESS) == 30  # refused: Retry-After is the rest of the minute
        assert first.hit(limit, ADDRESS) == 30

    def test_addresses_are_counted_apart(self, workers):
        limit = parse("2 per minute")
        first, second = workers
        assert allowed(first, limit, 3) == 2
        assert allowed(second, limit, 2, address="198.51.100.9") == 2

    def test_the_next_window_starts_again(self, workers, clock):
        limit = parse("2 per minute")
        first, second = workers
        assert allowed(first, limit, 3) == 2
        clock.shift(30)  # 12:01:00, a new minute
        assert allowed(second, limit, 2) == 2
        assert allowed(first, limit, 1) == 0


@pytest.mark.usefixtures("clock")
class TestLargeLimitsAreCountedInBatches:
    def test_a_worker_asks_redis_once_per_batch_of_hits(self, workers, redis_client, clock):
        limit = parse("160 per minute")
        assert push_every(limit) == 10
        first, _ = workers
        before = incrby_calls(redis_client)
        assert allowed(first, limit, 1) == 1  # a worker's first hit is pushed (nothing heard yet)
        assert allowed(first, limit, 29) == 29
        assert incrby_calls(redis_client) - before == 1 + 2  # then every 10th: at hit 11 and 21
        clock.shift(PUSH_SECONDS)
        assert allowed(first, limit, 1) == 1  # held hits are pushed after PUSH_SECONDS anyway
        assert int(redis_client.get(next(iter(redis_client.scan_iter("LIMITS:conversions-ip:*"))))) == 31

    def test_two_workers_let_through_at_most_a_batch_each_beyond_the_limit(self, workers):
        limit = parse("160 per minute")
        first, second = workers
        admitted = 0
        for _ in range(200):
            admitted += allowed(first, limit, 1) + allowed(second, limit, 1)
        assert limit.amount <= admitted <= limit.amount + 2 * (push_every(limit) - 1)
        assert allowed(first, limit, 5) == allowed(second, limit, 5) == 0

    def test_a_flood_is_refused_without_asking_redis(self, workers, redis_client):
        limit = parse("32 per minute")
        first, _ = workers
        assert allowed(first, limit, 40) == 32
        before = incrby_calls(redis_client)
        assert allowed(first, limit, 100) == 0
        assert incrby_calls(redis_client) == before


def test_without_redis_each_worker_counts_alone(clock):
    limit = parse("3 per minute")
    worker = IpLimit(None)
    assert allowed(worker, limit, 5) == 3
    clock.shift(60)
    assert allowed(worker, limit, 5) == 3


def test_while_redis_is_away_a_worker_counts_alone_and_tries_again_after_a_rest(clock, caplog):
    redis_server = RedisServer().start()
    limit = parse("3 per minute")
    worker = IpLimit(redis_server.url, {"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
    try:
        assert allowed(worker, limit, 1) == 1
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="linktrack.tracking.ip_limit"):
            assert allowed(worker, limit, 5) == 2  # counted here: 3 in all
        assert len(caplog.records) == 1  # one failed push, then a rest: no warning (nor wait) per hit
        assert "counted in this process" in caplog.records[0].getMessage()

        redis_server.start()
        clock.shift(REDIS_REST_SECONDS)  # 12:01:00: a new window, and the rest is over
        assert allowed(worker, limit, 2) == 2
        redis = Redis.from_url(redis_server.url)
        assert [int(redis.get(key)) for key in redis.scan_iter("LIMITS:conversions-ip:*")] == [2]
        redis.close()
    finally:
        worker.close()
        redis_server.kill()


def test_memory_keeps_only_the_current_window(clock):
    limit = parse("3 per minute")
    worker = IpLimit(None)
    for n in range(100):
        worker.hit(limit, f"198.51.100.{n}")
    clock.shift(60)
    worker.hit(limit, ADDRESS)
    assert len(worker._counts) == 1
