"""An API key authenticates /api/ calls only: on a page it is no one (issue 13, item 5).

A leaked key used to open /settings with a CSRF token and a fresh session cookie, enough to
create a new key, which then outlived the revocation of the leaked one.
"""

import pytest

from linktrack.extensions import db
from linktrack.models import ApiKey
from tests.support.forms import CSRF_INPUT, form_post
from tests.test_owner_only import OWNER_ONLY

PAGES = sorted(call.path for route, call in OWNER_ONLY.items() if route.startswith("GET ") and "{" not in call.path)
PAGES = [path for path in PAGES if not path.startswith("/api/")]


@pytest.fixture
def key(creator, api_key_for):
    user_id, _, _ = creator()
    return api_key_for(user_id)


@pytest.mark.parametrize("path", PAGES)
def test_a_page_asked_with_a_bearer_key_is_the_login_redirect_with_no_cookie_and_no_token(app, key, path):
    response = app.test_client().get(path, headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert "Set-Cookie" not in response.headers
    assert not CSRF_INPUT.search(response.get_data(as_text=True))


def test_settings_forms_cannot_be_posted_with_a_bearer_key(app, key):
    client = app.test_client()
    response = client.post("/settings/api-keys", data={"name": "attacker"}, headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 400  # the CSRF check of an anonymous visitor: nothing was created
    assert "Set-Cookie" not in response.headers
    with app.app_context():
        assert [key.name for key in db.session.query(ApiKey)] == ["test"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    settings = app.test_client().get("/settings", headers={"Authorization": f"Bearer {key}"})
    assert settings.status_code == 302


def test_the_api_still_takes_the_key_and_sets_no_cookie(app, key):
    response = app.test_client().get("/api/me", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_revoking_a_key_ends_its_access_at_once(app, creator, api_key_for):
    user_id, email, password = creator()
    key = api_key_for(user_id)
    browser = app.test_client()
    assert form_post(browser, "/login", {"email": email, "password": password}).status_code == 302
    with app.app_context():
        key_id = db.session.query(ApiKey).filter_by(user_id=user_id).one().id
    assert app.test_client().get("/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200

    assert (
        form_post(browser, "/settings", {"confirm": "yes"}, action=f"/settings/api-keys/{key_id}/revoke").status_code
        == 302
    )

    refused = app.test_client().get("/api/me", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "invalid_api_key"
    assert app.test_client().get("/settings", headers={"Authorization": f"Bearer {key}"}).status_code == 302
