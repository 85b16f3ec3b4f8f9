"""App "hosts" for the cross-host tests: a gunicorn master with forked workers, each its own process
with its own link cache, built from JSON settings (what a second machine would run)."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from tests.support.faults import free_port, wait_until
from tests.support.gunicorn import answers_healthz

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gunicorn_host(settings: dict, workers: int = 2):
    """gunicorn --preload (the app is built once, then forked, as the Procfile's web process can
    be) serving `settings`; yields its base URL and ends the master when the block ends."""
    port = free_port()
    env = {**os.environ, "LINKTRACK_TEST_SETTINGS": json.dumps(settings)}
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", str(workers)]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", "tests.support.hosts_app:app"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers_healthz(port), 30, f"gunicorn on port {port}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def get(url: str, ip: str | None = None) -> tuple[int, str]:
    """(status, Location) of one GET, redirects not followed."""
    request = urllib.request.Request(url, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0"})
    try:
        with _opener.open(request, timeout=5) as answer:
            return answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers.get("Location", "")


def send_json(url: str, method: str, body: dict, api_key: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code
