"""One rule for every creator-owned resource: another creator's is a 404, exactly like one that does not exist.

Never a 403: a 403 would tell a stranger that the id exists (DESIGN.md §5).
"""

from typing import TypeVar

from flask import abort

from ..errors import ApiError, wants_json

T = TypeVar("T")


def owned_or_404(found: T | None, what: str = "item", field: str | None = None) -> T:
    """`found` (the caller's resource, looked up with the caller's id), or a 404: a JSON error with
    code `not_found` naming the path parameter `field` on /api/ routes, the 404 page elsewhere. A
    lookup answers None for a malformed id, a missing row and another creator's row alike."""
    if found is None:
        if wants_json():
            raise ApiError(404, "not_found", f"There is no {what} with this id in your account.", field)
        abort(404)
    return found
