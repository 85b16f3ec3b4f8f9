"""Fixtures of the counting tests."""

import pytest


@pytest.fixture
def owner(creator):
    """A creator's id, for the links whose counts a test reads."""
    return creator()[0]
