"""The Procfile's web process, for real: gunicorn started with the Procfile's command line (so with
gunicorn.conf.py), on a free loopback port, its standard output and error kept in files."""

import http.client
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.faults import free_port, wait_until
from tests.support.paths import REPO_ROOT

# Settings of the operator's that must not leak into the process from the shell running the tests.
OWN_SETTINGS = ("LOG_FORMAT", "ACCESS_LOG", "METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR", "FLASK_DEBUG")


@dataclass
class Served:
    port: int
    stdout: Path
    stderr: Path

    def get(self, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
        """One request on a connection of its own (so gunicorn hands it to any of its workers)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            response.body = response.read()
            return response
        finally:
            connection.close()


def procfile_web_command(workers: int, port: int) -> list[str]:
    procfile = dict(line.split(": ", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line)
    command = procfile["web"].replace("${WEB_CONCURRENCY:-4}", str(workers)).replace("${PORT:-8000}", str(port))
    words = command.split()
    return [str(Path(sys.executable).with_name(words[0])), *words[1:]]


@contextmanager
def procfile_web(tmp_path: Path, environment: dict, workers: int = 2):
    """Serve the app as the Procfile's `web` does, with `environment` over a cleaned copy of ours;
    stopped gracefully (SIGTERM, as a platform does) when the block ends."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in OWN_SETTINGS}
    env.update(environment)
    tmp_path.mkdir(parents=True, exist_ok=True)
    served = Served(port, tmp_path / "gunicorn.stdout", tmp_path / "gunicorn.stderr")
    with served.stdout.open("w") as stdout, served.stderr.open("w") as stderr:
        process = subprocess.Popen(
            procfile_web_command(workers, port), cwd=REPO_ROOT, env=env, stdout=stdout, stderr=stderr
        )
    try:
        wait_until(lambda: process.poll() is not None or answers_healthz(port), 60, "gunicorn to answer /healthz")
        assert process.poll() is None, served.stderr.read_text()
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def answers_healthz(port: int) -> bool:
    """Whether a server on loopback `port` answers GET /healthz with 200 now."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
