"""Page numbers from a query string, and the arithmetic of a page: one rule for every paginated list.

The links list and the funnel and revenue tables read `page` and `per_page` alike, refuse the same
values with the same sentence, and count their pages the same way.
"""

from collections.abc import Mapping
from dataclasses import dataclass

MAX_PAGE = 100_000  # keeps OFFSET within a 64-bit integer whatever the query string says


class PageInvalid(ValueError):
    """`page` or `per_page` is not a whole number in its range; `problems` holds (field, message) pairs."""

    code = "invalid_parameter"

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems
        self.field, self.message = problems[0]


def read_page(args: Mapping[str, str], default_per_page: int, max_per_page: int) -> tuple[int, int]:
    """(page, per_page) from a query string, defaults when absent; PageInvalid names each bad one."""
    problems, numbers = [], []
    for name, default, highest in (("page", 1, MAX_PAGE), ("per_page", default_per_page, max_per_page)):
        raw = args.get(name) or str(default)
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= highest:
            numbers.append(int(raw))
        else:
            problems.append((name, f"{name} is a whole number from 1 to {highest}."))
    if problems:
        raise PageInvalid(problems)
    return numbers[0], numbers[1]


@dataclass(frozen=True)
class PageCount:
    """Where page `page` of `total` rows, `per_page` at a time, stands."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_row(self) -> int:
        """The 1-based number of this page's first row (0 when there are none)."""
        return min(self.offset + 1, self.total)

    @property
    def last_row(self) -> int:
        return min(self.offset + self.per_page, self.total)

    def json(self) -> dict:
        """The API's `pagination` object (the same keys as GET /api/links)."""
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "pages": self.pages,
            "has_next": self.has_next,
            "has_prev": self.has_prev,
        }
