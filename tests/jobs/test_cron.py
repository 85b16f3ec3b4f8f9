"""The Procfile's cron process survives Redis going away: a redis-server of the test's own (no
persistence) is killed and started again empty, and the periodic sweep is enqueued, and run by a
worker, again. The process is the real one, started as the Procfile says."""

import os
import signal
import subprocess
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from linktrack import queue as jobqueue
from tests.support.faults import REDIS_SERVER, RedisServer, wait_until
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")

SWEEP = "linktrack.jobs.run_due_jobs"


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.stop()


def procfile_command(name: str, redis_url: str) -> list[str]:
    procfile = dict(line.split(": ", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line)
    return procfile[name].replace("$REDIS_URL", redis_url).split()


def sweeps_queued(url: str) -> int:
    """How many periodic sweeps wait on the queue (0 while Redis is away)."""
    client = Redis.from_url(url, socket_connect_timeout=0.2, socket_timeout=0.5)
    try:
        return sum(job.func_name == SWEEP for job in Queue(jobqueue.QUEUE_NAME, connection=client).get_jobs())
    except Exception:
        return 0
    finally:
        client.close()


def test_the_cron_process_enqueues_the_sweep_again_after_redis_restarts_empty(
    own_redis, database_url, make_app, tmp_path
):
    command = procfile_command("cron", own_redis.url)
    executable = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv")) / "bin" / command[0]
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": own_redis.url,
        "SECRET_KEY": "cron-test",
        "JOBS_SWEEP_SECONDS": "1",  # the sweep's period, short for the test
    }
    log = (tmp_path / "cron.log").open("w+")
    cron = subprocess.Popen(
        [str(executable), *command[1:]], cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: sweeps_queued(own_redis.url) >= 1, 30, "the cron process to enqueue the sweep")

        own_redis.kill()  # queued jobs and the scheduler's records go with it
        # Away long enough for the process to find out (a restart within redis-py's own retries
        # would go unnoticed): `rq cron` died here with a traceback.
        wait_until(
            lambda: cron.poll() is not None or "Redis failed under the cron scheduler" in Path(log.name).read_text(),
            60,
            "the cron process to see Redis fail",
        )
        own_redis.start()
        assert sweeps_queued(own_redis.url) == 0
        wait_until(
            lambda: sweeps_queued(own_redis.url) >= 2 or cron.poll() is not None,
            60,
            "the sweep to be enqueued on the restarted Redis, period after period",
        )
        assert cron.poll() is None, Path(log.name).read_text()

        # What it enqueued, a worker runs: the schedule resumed, not just a stray job.
        app = make_app(REDIS_URL=own_redis.url)
        client = Redis.from_url(own_redis.url)
        queue = Queue(jobqueue.QUEUE_NAME, connection=client)
        jobqueue.AppWorker([queue], connection=client, app=app).work(burst=True)
        finished = [queue.fetch_job(job_id) for job_id in queue.finished_job_registry.get_job_ids()]
        assert any(job.func_name == SWEEP for job in finished)
        client.close()
    finally:
        if cron.poll() is None:
            cron.send_signal(signal.SIGTERM)
        assert cron.wait(timeout=30) == 0, Path(log.name).read_text()
        log.close()
