"""Real HTTP servers on loopback for browser tests: the app, and a landing page on another origin."""

import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def _serving(server):
    """Run `server` (anything with serve_forever/shutdown) in a thread; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_app(app):
    """Serve a Flask app on 127.0.0.1 (random port) in a thread; yields its base URL."""
    return _serving(make_server("127.0.0.1", 0, app, threaded=True))


def serve_directory(directory):
    """Serve static files from `directory` on 127.0.0.1 (random port); yields its base URL."""

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, *args):
            pass

    return _serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


# A child process serving one app built from the JSON settings in its environment; it prints its port.
_APP_PROCESS = """
import json, os, sys
from werkzeug.serving import make_server
from linktrack import create_app
server = make_server("127.0.0.1", 0, create_app(json.loads(os.environ["LINKTRACK_TEST_SETTINGS"])), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@contextmanager
def serve_app_in_process(settings: dict):
    """Serve an app built from `settings` (JSON-able) in a process of its own, as a second
    linktrack server would run; yields its base URL. The process is ended when the block ends."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LINKTRACK_TEST_SETTINGS": json.dumps(settings)}
    process = subprocess.Popen(
        [sys.executable, "-c", _APP_PROCESS], cwd=root, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(process.stdout.readline())  # the child is serving once it has printed its port
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def signed_in_page(browser, app_url: str, email: str, password: str):
    """A fresh Chromium page, logged in through the login form, on the dashboard."""
    page = browser.new_context().new_page()
    page.goto(f"{app_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{app_url}/dashboard")
    return page
