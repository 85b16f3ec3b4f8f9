"""One way to confirm a destructive action (revoke a key, archive a link, remove a destination,
sign out everywhere) that works without JavaScript.

The action's form posts without `confirm`; the view then answers a page asking again, whose
button posts the same form with confirm=yes. static/js/app.js shortens this to a dialog (the
CSP forbids inline script, so the question travels in the form's data-confirm attribute).
"""

from flask import render_template, request

CONFIRM_FIELD = "confirm"


def confirmed() -> bool:
    """Whether this POST is the second, confirming one."""
    return request.form.get(CONFIRM_FIELD) == "yes"


def ask_first(question: str, explanation: str, button: str, cancel_url: str):
    """The page that asks again; nothing has changed yet."""
    html = render_template(
        "confirm.html", question=question, explanation=explanation, button=button, cancel_url=cancel_url
    )
    return html, 200
