"""Links made through the links service, for the tests of its rules."""

import pytest

from linktrack.links import service
from linktrack.links.validation import FieldProblem, LinkInvalid

VIDEO = "dQw4w9WgXcQ"
OTHER_VIDEO = "9bZkp7q19f0"
LANDING = "https://shop.example.com/offer"


def make(owner_id, **values):
    values.setdefault("video_url", VIDEO)
    values.setdefault("destination_url", LANDING)
    return service.create_link(owner_id, values)


def refusal(owner_id, **values) -> FieldProblem:
    """The first problem create_link reports for these values."""
    with pytest.raises(LinkInvalid) as refused:
        make(owner_id, **values)
    return refused.value.first
