"""Sessionless endpoints: public, cacheable answers that must never read or set a cookie.

The redirect, the tracker script and the conversions API answer anonymous traffic from
everywhere. Flask-Login's after-request hook touches the session on every request, which
makes Flask add `Vary: Cookie` (ruining shared caching of the script) and can set a cookie.
Views marked @sessionless get neither.
"""

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface


def sessionless(view):
    view.sessionless = True
    return view


def _is_sessionless(app: Flask) -> bool:
    view = app.view_functions.get(request.endpoint) if request.endpoint else None
    return bool(getattr(view, "sessionless", False))


class SessionInterface(SecureCookieSessionInterface):
    def open_session(self, app, request):
        # Most requests to the public endpoints carry no cookie: skip building the signing
        # serializer for them (about a fifth of a bare redirect's cost; see bench/redirect.py).
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response) -> None:
        if _is_sessionless(app):
            return
        super().save_session(app, session, response)
