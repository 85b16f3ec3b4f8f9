"""The short link's fast path: a live link's 302, answered before Flask's machinery runs.

Flask's per-request machinery (rate limiter, CSRF, login and session hooks, response object) cost
a third of the redirect's time for nothing it needs (bench/redirect.py). This WSGI layer does the
view's work with the view's own pieces (views.click_through, views.redirect_answer); unknown,
archived and expired codes, and every other path, go on to Flask, where `views.follow` renders the
404 and 410 pages with the rest of the site's error handling.
"""

import time

from flask import Flask
from werkzeug.datastructures import EnvironHeaders

from ..links.cache import SHORT_CODE_SHAPE
from ..links.validation import routed_segments
from ..web.security import is_https
from .limit import find_link_for
from .views import click_through, redirect_answer


def _safe_for_werkzeug_redirects(environ):
    """The parts of a request werkzeug copies into the Location of its own redirects (a doubled
    slash tidied up), made safe: a raw CR or LF in the query string percent-encoded (no HTTP server
    passes one on, but a WSGI caller can, and the header would raise), and a scheme a trusted proxy
    reported that is neither http nor https replaced by the connection's own (X-Forwarded-Proto
    "evil.com:443" made "evil.com:443://host/..." of it)."""
    query = environ.get("QUERY_STRING", "")
    if "\r" in query or "\n" in query:
        environ["QUERY_STRING"] = query.replace("\r", "%0D").replace("\n", "%0A")
    if environ.get("wsgi.url_scheme") not in ("http", "https"):
        original = environ.get("werkzeug.proxy_fix.orig", {}).get("wsgi.url_scheme")
        environ["wsgi.url_scheme"] = original if original in ("http", "https") else "http"
    return environ


class ShortLinkFastPath:
    """WSGI middleware answering a live short link's 302 before Flask's machinery runs.

    It takes only GET/HEAD on `/<code>` whose first segment is no route of the app's own (the
    url map's static first segments, read once); anything it does not answer with a 302 it
    passes to the Flask app untouched. Install it inside ProxyFix, so REMOTE_ADDR is the
    viewer's address.
    """

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._app_paths: frozenset[str] | None = None

    def __call__(self, environ, start_response):
        short_code = self._short_code(environ)
        location = self._answer(short_code, environ) if short_code else None
        if location is None:
            return self.wsgi_app(_safe_for_werkzeug_redirects(environ), start_response)
        body, headers = redirect_answer(location, https=is_https(environ))
        start_response("302 FOUND", headers)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def _short_code(self, environ) -> str | None:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return None
        path = environ.get("PATH_INFO", "")
        code = path[1:]
        if not path.startswith("/") or not SHORT_CODE_SHAPE.fullmatch(code):
            return None
        if self._app_paths is None:
            self._app_paths = routed_segments(self.app)
        return None if code in self._app_paths else code

    def _answer(self, short_code: str, environ) -> str | None:
        """The Location for a live link's click, or None to let Flask answer."""
        with self.app.app_context():
            now = time.time()
            try:
                link = find_link_for(short_code, environ.get("REMOTE_ADDR"), now)
            except Exception:  # the database is away, too many unknown codes: Flask tries again and answers properly
                return None
            if link is None or link.is_gone(now):
                return None
            return click_through(
                link,
                method=environ["REQUEST_METHOD"],
                headers=EnvironHeaders(environ),
                ip=environ.get("REMOTE_ADDR"),
                user_agent=environ.get("HTTP_USER_AGENT"),
                referrer=environ.get("HTTP_REFERER"),
                now=now,
            )
