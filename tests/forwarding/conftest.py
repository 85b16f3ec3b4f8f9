"""Fixtures of the forwarding tests: a creator signed in through the pages."""

from datetime import datetime, timezone

import pytest
import time_machine

from linktrack.models import User
from tests.support.redirect import create_link

SIGNED_UP_AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def signed_in(app, client, register):
    """A creator signed in through the pages, with one link; returns (user id, link)."""
    with time_machine.travel(SIGNED_UP_AT, tick=False):
        email = register()
    with app.app_context():
        user_id = User.by_email(email).id
    return user_id, create_link(app, user_id)
