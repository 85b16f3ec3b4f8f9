"""Security headers for every response, decided once here and shared with the WSGI fast paths;
and no secret in the logs.

Three kinds of answer, three header sets:
- pages (HTML, static files): a Content-Security-Policy with no inline script or style and no
  framing, nosniff, `Referrer-Policy: same-origin` (a creator's link pages never tell a landing
  page or YouTube where they were opened from);
- the JSON API: a CSP that allows nothing (a JSON answer opened as a document runs nothing),
  nosniff, no framing, `no-referrer`;
- the short-link 302 (redirect.py) adds its own `Referrer-Policy` and `Cache-Control` and takes
  `FAST_PATH_HEADERS` here.
`Strict-Transport-Security` only on answers served over HTTPS (`request.is_secure`, which
ProxyFix sets from `X-Forwarded-Proto` when TRUST_PROXY_HOPS trusts the proxy), so `make run`
on http://127.0.0.1 never pins a browser to HTTPS.

A small after_request rather than flask-talisman: talisman's last release is from 2023, it trusts
`X-Forwarded-Proto` from any client for HSTS and its HTTPS redirect (bypassing TRUST_PROXY_HOPS),
and it cannot reach the answers given before Flask runs (the redirect's fast path), which need
the same headers as plain tuples.
"""

import logging
import re

from flask import Flask, request

# Every script and stylesheet is a file under static/: no inline <script>, event handler,
# javascript: URL or style attribute (the report charts colour their bars by class and
# presentation attribute, so style-src needs no 'unsafe-inline').
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = ("Strict-Transport-Security", "max-age=31536000")

PAGE_HEADERS = (
    ("Content-Security-Policy", PAGE_CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
API_HEADERS = (
    ("Content-Security-Policy", API_CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)
# For answers given before Flask (the WSGI fast paths), indexed by whether the request came over
# HTTPS (`is_https(environ)`): HSTS alone (for a fast path that adds API_HEADERS itself), and what
# the short-link 302 carries besides its own Cache-Control and Referrer-Policy.
HSTS_WHEN_HTTPS = {False: (), True: (HSTS,)}
FAST_PATH_HEADERS = {https: [("X-Content-Type-Options", "nosniff"), *HSTS_WHEN_HTTPS[https]] for https in (False, True)}


_API_HEADERS_BY_SCHEME = {https: (*API_HEADERS, *HSTS_WHEN_HTTPS[https]) for https in (False, True)}


def api_headers(https: bool) -> tuple[tuple[str, str], ...]:
    """What every JSON API answer carries, for a WSGI layer that answers before Flask (the
    conversion fast path); Flask's own answers get the same from `_add_security_headers`.
    Built once per scheme: it is read on every landing-page conversion."""
    return _API_HEADERS_BY_SCHEME[https]


def is_https(environ) -> bool:
    """What `request.is_secure` says, for a WSGI layer (ProxyFix has already set the scheme)."""
    return environ.get("wsgi.url_scheme") == "https"


def _add_security_headers(response):
    """Views that need otherwise (the tracker script's CORP, the redirect's referrer policy) set
    their header first; only what is missing is added."""
    headers = response.headers
    chosen = API_HEADERS if request.path.startswith("/api/") else PAGE_HEADERS
    for name, value in chosen:
        if name not in headers:
            headers[name] = value
    if request.is_secure:
        headers.setdefault(*HSTS)
    return response


# Query parameters that carry a secret: GA4's Measurement Protocol takes its API secret in the URL
# (and Facebook accepts an access_token there), and urllib3 logs each request line at DEBUG.
SECRET_QUERY_PARAMETER = re.compile(r"((?:api_secret|access_token)=)[^&\s\"']+")


class RedactSecretQueryParameters(logging.Filter):
    """Masks secret query parameters in a logger's records (urllib3's request lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = SECRET_QUERY_PARAMETER.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install(app: Flask) -> None:
    """The headers on every answer Flask gives, and the redaction on the HTTP client's log."""
    app.after_request(_add_security_headers)
    client_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, RedactSecretQueryParameters) for existing in client_log.filters):
        client_log.addFilter(RedactSecretQueryParameters())
