"""Acting like a creator's browser on the server-rendered pages: read the CSRF token, post a form."""

import re

CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def form_post(client, page: str, data: dict, action: str | None = None, **kwargs):
    """Open `page` like a browser, take its CSRF token, and submit `data` to `action` (or the page)."""
    token = csrf_token_from(client.get(page).get_data(as_text=True))
    return client.post(action or page, data={"csrf_token": token, **data}, **kwargs)
