"""The limits per address (linktrack/tracking/ip_limit.py): one count shared in real Redis, exact
whatever the number of processes. Several IpLimit objects are several gunicorn workers; the
cross-process test runs real processes."""

import logging
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import time_machine
from limits import parse
from redis import Redis

from linktrack.tracking.ip_limit import PUSH_SECONDS, REDIS_REST_SECONDS, BatchedIpLimit, IpLimit, push_every
from tests.support.faults import RedisServer

# 30 s into a minute.
T = datetime(2026, 6, 1, 12, 0, 30, tzinfo=timezone.utc)
ADDRESS = "5f1c0a3e9b2d4c6e8a0b1c2d3e4f5a6b"  # callers pass a hashed address


@pytest.fixture
def clock():
    with time_machine.travel(T, tick=False) as traveller:
        yield traveller


@pytest.fixture
def workers(redis_client, redis_url):
    """Four processes' counters sharing the test Redis."""
    made = [IpLimit(redis_url) for _ in range(4)]
    yield made
    for worker in made:
        worker.close()


def counted(redis_client, pattern: str = "LIMITS:conversions-ip:*") -> int:
    """The shared counter's value (commandstats would count every database's commands)."""
    (key,) = redis_client.scan_iter(pattern)
    return int(redis_client.get(key))


def allowed(worker, limit, hits: int, address: str = ADDRESS) -> int:
    return sum(worker.hit(limit, address) is None for _ in range(hits))


@pytest.mark.usefixtures("clock")
class TestOneSharedCount:
    def test_workers_together_let_through_exactly_the_limit(self, workers):
        """The batched design let each worker through limit/16 beyond: 4 workers, 120 a minute,
        up to 148. Shared, the total is the limit however the hits fall."""
        limit = parse("120 per minute")
        admitted = 0
        for n in range(400):
            admitted += allowed(workers[n % len(workers)], limit, 1)
        assert admitted == limit.amount
        assert all(worker.hit(limit, ADDRESS) for worker in workers)  # all refuse now

    def test_a_refusal_says_how_long_the_window_has_left(self, workers, redis_client):
        limit = parse("2 per minute")
        first, second = workers[:2]
        assert allowed(first, limit, 2) == 2
        retry_after = second.hit(limit, ADDRESS)
        assert 55 <= retry_after <= 60  # the window started at the first hit, by Redis's clock
        (key,) = redis_client.scan_iter("LIMITS:conversions-ip:*")
        assert 0 < redis_client.pttl(key) <= 60_000

    def test_addresses_are_counted_apart(self, workers):
        limit = parse("2 per minute")
        first, second = workers[:2]
        assert allowed(first, limit, 3) == 2
        assert allowed(second, limit, 2, address="0" * 32) == 2

    def test_a_spent_address_is_refused_without_asking_redis(self, workers, redis_client):
        limit = parse("32 per minute")
        first = workers[0]
        assert allowed(first, limit, 33) == 32
        assert counted(redis_client) == 32  # the 32nd heard the window spent: the 33rd not even asked
        assert allowed(first, limit, 100) == 0
        assert counted(redis_client) == 32  # nor these
        assert first.refused(limit, ADDRESS) is not None

    def test_the_next_window_starts_again(self, workers, redis_client, clock):
        limit = parse("2 per minute")
        first, second = workers[:2]
        assert allowed(first, limit, 3) == 2
        for key in redis_client.scan_iter("LIMITS:conversions-ip:*"):
            redis_client.delete(key)  # what Redis does when the window's minute is over
        clock.shift(60)
        assert allowed(second, limit, 2) == 2
        assert allowed(first, limit, 1) == 0


# N real processes, each its own IpLimit, hammering one address through the shared Redis.
_PROCESS = """
import sys
from limits import parse
from linktrack.tracking.ip_limit import IpLimit
limit = IpLimit(sys.argv[1])
item = parse("50 per minute")
sys.stdin.readline()  # every process starts together
print(sum(limit.hit(item, "a" * 32) is None for _ in range(int(sys.argv[2]))))
"""


def test_processes_together_let_through_the_limit(redis_client, redis_url):
    root = Path(__file__).resolve().parents[2]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, redis_url, "40"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    admitted = [int(process.communicate(timeout=60)[0]) for process in processes]
    assert sum(admitted) == 50  # 6 x 40 = 240 asked
    assert len([n for n in admitted if n]) > 1  # the processes really did share the work


def test_without_redis_each_worker_counts_alone(clock):
    limit = parse("3 per minute")
    worker = IpLimit(None)
    assert allowed(worker, limit, 5) == 3
    assert worker.refused(limit, ADDRESS) == 30
    clock.shift(30)  # 12:01:00: windows without Redis follow the clock
    assert allowed(worker, limit, 5) == 3


def test_while_redis_is_away_a_worker_counts_alone_and_tries_again_after_a_rest(clock, caplog):
    redis_server = RedisServer().start()
    limit = parse("3 per minute")
    worker = IpLimit(redis_server.url, {"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
    try:
        assert allowed(worker, limit, 1) == 1
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="linktrack.tracking.ip_limit"):
            assert allowed(worker, limit, 5) == 3  # counted here alone, from nothing
        assert len(caplog.records) == 1  # one failed call, then a rest: no warning (nor wait) per hit
        assert "counted in each process" in caplog.records[0].getMessage()

        redis_server.start()
        clock.shift(REDIS_REST_SECONDS)  # the rest is over
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
        worker.hit(limit, f"{n:032x}")
    clock.shift(60)
    worker.hit(limit, ADDRESS)
    assert worker.refused(limit, f"{1:032x}") is None
    assert len(worker._local) == 1


@pytest.fixture
def batched(redis_client, redis_url):
    """Two processes' batched counters (the short links' clicks) sharing the test Redis."""
    made = [BatchedIpLimit(redis_url, None, "LIMITS:short-link-ip") for _ in range(2)]
    yield made
    for worker in made:
        worker.close()


@pytest.mark.usefixtures("clock")
class TestBatchedForTheRedirect:
    """The short links' limit counts in each process and adds up in Redis in batches: no round trip
    per click, and a documented excess per process."""

    def test_a_worker_asks_redis_once_per_batch_of_hits(self, batched, redis_client, clock):
        limit = parse("160 per minute")
        assert push_every(limit) == 10
        first, _ = batched
        assert allowed(first, limit, 1) == 1  # a worker's first hit is pushed (nothing heard yet)
        assert counted(redis_client, "LIMITS:short-link-ip:*") == 1
        assert allowed(first, limit, 29) == 29
        assert counted(redis_client, "LIMITS:short-link-ip:*") == 21  # then every 10th: at hits 11 and 21
        clock.shift(PUSH_SECONDS)
        assert allowed(first, limit, 1) == 1  # held hits are pushed after PUSH_SECONDS anyway
        assert counted(redis_client, "LIMITS:short-link-ip:*") == 31

    def test_two_workers_let_through_at_most_a_batch_each_beyond_the_limit(self, batched):
        limit = parse("160 per minute")
        first, second = batched
        admitted = 0
        for _ in range(200):
            admitted += allowed(first, limit, 1) + allowed(second, limit, 1)
        assert limit.amount <= admitted <= limit.amount + 2 * (push_every(limit) - 1)
        assert allowed(first, limit, 5) == allowed(second, limit, 5) == 0

    def test_small_limits_are_exact(self, batched):
        limit = parse("4 per minute")
        assert push_every(limit) == 1
        first, second = batched
        assert allowed(first, limit, 2) + allowed(second, limit, 2) == 4
        assert second.hit(limit, ADDRESS) == 30 and first.hit(limit, ADDRESS) == 30
