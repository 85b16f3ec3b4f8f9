"""Trusted hosts: the app answers only the hosts its creator configured.

Why: werkzeug and Flask build every absolute URL they send (the 308 that tidies `/static//x`,
`url_for(..., _external=True)`, the tracker script's base URL without LINKTRACK_BASE_URL) from the
request's Host header, which the client writes. A Host the creator never configured would put a
stranger's domain into a Location. So with LINKTRACK_BASE_URL set, its host and the extra
TRUSTED_HOSTS (comma separated; ".example.com" takes every subdomain) are the only hosts answered;
any other Host, or none, gets 400 `untrusted_host` (JSON under /api/, a short page elsewhere).
Without LINKTRACK_BASE_URL and TRUSTED_HOSTS (the embedded default, `make run`) every host is
answered, as before.

It is a WSGI layer inside ProxyFix (so a trusted proxy's X-Forwarded-Host is what is checked) and
in front of the redirect and conversion fast paths, which answer before Flask runs: one check for
every request, a set lookup. The port is not compared (werkzeug's host_is_trusted). A load
balancer's health check that sends its own Host needs that host in TRUSTED_HOSTS.
"""

import json
from urllib.parse import urlsplit

from werkzeug.sansio.utils import host_is_trusted

from .security import API_HEADERS, HSTS_WHEN_HTTPS, PAGE_HEADERS, is_https

MESSAGE = "This server does not answer for that host name."
_JSON = (json.dumps({"error": {"code": "untrusted_host", "message": MESSAGE, "field": "host"}}) + "\n").encode()
_PAGE = (
    "<!doctype html>\n<html lang=en>\n<title>Unknown host</title>\n<h1>Unknown host</h1>\n"
    f"<p>{MESSAGE} Use the address you were given for this linktrack.</p>\n"
).encode()


def trusted_hosts(base_url: str | None, extra: str | list[str] | None) -> list[str] | None:
    """The host names the app answers: LINKTRACK_BASE_URL's and TRUSTED_HOSTS'; None: any."""
    hosts = [host.strip().lower() for host in (extra.split(",") if isinstance(extra, str) else extra or [])]
    if base_url:
        hosts.insert(0, (urlsplit(base_url).hostname or "").lower())
    hosts = [host for host in hosts if host]
    return hosts or None


class TrustedHosts:
    """WSGI middleware: 400 untrusted_host for a Host not in `hosts`, else the next app."""

    def __init__(self, hosts: list[str], wsgi_app):
        self.hosts = hosts
        self.wsgi_app = wsgi_app
        self._known: set[str] = set()  # Host headers already found trusted: a set lookup per request

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST", "")
        if host in self._known:
            return self.wsgi_app(environ, start_response)
        if host_is_trusted(host.lower(), self.hosts):
            if host.islower() and len(self._known) < 1000:
                self._known.add(host)
            environ["HTTP_HOST"] = host.lower()  # as Flask's own check of TRUSTED_HOSTS compares it
            return self.wsgi_app(environ, start_response)
        api = environ.get("PATH_INFO", "").startswith("/api/")
        body, kind, headers = (
            (_JSON, "application/json", API_HEADERS) if api else (_PAGE, "text/html; charset=utf-8", PAGE_HEADERS)
        )
        start_response(
            "400 BAD REQUEST",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                *headers,
                *HSTS_WHEN_HTTPS[is_https(environ)],
            ],
        )
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]
