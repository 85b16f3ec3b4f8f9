"""Fixtures of the links tests: a request context like the views', and a creator who owns the links."""

import pytest

from linktrack.extensions import db


@pytest.fixture
def ctx(app):
    """A request context on http://localhost/, as the views and the API run the service."""
    with app.test_request_context("/"):
        yield
        db.session.remove()


@pytest.fixture
def owner(app, creator):
    user_id, _, _ = creator()
    return user_id
