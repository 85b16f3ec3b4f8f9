"""Campaign links: the one place that creates, changes, archives and lists them.

The web form and the REST API both call these functions, so a link is checked the same way
whichever door it came through (validation.py holds the rules). Services own the commit: a
generated short code is retried here when the unique index says another process took it.
"""

import re
import secrets
import string
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ScalarSelect, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import CampaignLink, LinkMonthlyStats, utcnow
from ..reports.figures import cents
from ..reports.queries import per_link_figures
from ..reports.ranges import DateRange, default_range
from ..web.pagination import PageInvalid, read_page
from .cache import forget as forget_cached_link
from .urls import UTM_FIELDS, utm_destination
from .validation import (
    MAX_URL_LENGTH,
    FieldProblem,
    LinkInvalid,
    clean_link_values,
    code_stored_ignoring_case,
    effective_value,
    is_reserved,
    usable_destination,
)

SHORT_CODE_ALPHABET = string.ascii_letters + string.digits
SHORT_CODE_LENGTH = 7  # 62**7 ≈ 3.5e12 codes: random draws almost never collide
SHORT_CODE_ATTEMPTS = 8  # generated codes tried before giving up (a clash is already ~1e-12 likely)

LIST_STATUSES = ("active", "archived", "all")
LIST_SORTS = ("newest", "oldest", "campaign", "short_code", "clicks", "conversions", "revenue")
# The direction each sort starts in (a column header's first click); `dir` turns it around.
SORT_DIRECTIONS = {"newest": "desc", "oldest": "asc", "campaign": "asc", "short_code": "asc"}
DIRECTIONS = ("asc", "desc")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


class ShortCodeUnavailable(RuntimeError):
    """No free generated code after SHORT_CODE_ATTEMPTS draws: the generator is broken, not the input."""


def generate_short_code(length: int = SHORT_CODE_LENGTH) -> str:
    """A random, non-sequential, URL-safe code. create_link retries on the rare unique clash."""
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(length))


def link_status(link: CampaignLink, now: datetime | None = None) -> str:
    """ "archived", "expired" or "active": what the short URL does for a viewer right now."""
    if link.archived_at is not None:
        return "archived"
    if link.expires_at is not None and link.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


# ---- preview, create, update, archive --------------------------------------------------------------


@dataclass
class LinkPreview:
    """What a link would be, shown before saving: the final destination and the effective defaults."""

    video_id: str | None
    utm: dict[str, str | None]
    allowed_origins: list[str]
    final_destination_url: str | None
    problems: list[FieldProblem]


def preview_link(values: Mapping[str, Any], current: CampaignLink | None = None) -> LinkPreview:
    """The link these values would make (or `current` would become), without saving anything."""
    cleaned, problems = clean_link_values(values, current)
    utm = {name: effective_value(cleaned, current, name) for name in UTM_FIELDS}
    destination = usable_destination(cleaned, current, problems)
    return LinkPreview(
        video_id=effective_value(cleaned, current, "video_id"),
        utm=utm,
        allowed_origins=effective_value(cleaned, current, "allowed_origins") or [],
        final_destination_url=utm_destination(destination, utm) if destination is not None else None,
        problems=problems,
    )


def create_link(
    user_id: int, values: Mapping[str, Any], *, code_generator: Callable[[], str] = generate_short_code
) -> CampaignLink:
    """Check `values` and store a new link for user_id. Raises LinkInvalid with every problem found.

    Without a custom short code, codes are drawn from `code_generator` until one is free; the
    unique constraint decides, so two processes drawing the same code at once cannot both win.
    """
    cleaned, problems = clean_link_values(values, None)
    if problems:
        raise LinkInvalid(problems)
    custom_code = cleaned.pop("short_code", None)
    if custom_code is not None:
        link = CampaignLink(user_id=user_id, short_code=custom_code, **cleaned)
        _commit_new_code(link)
        forget_cached_link(link.short_code)  # this process may remember the code as unknown
        return link
    for _ in range(SHORT_CODE_ATTEMPTS):
        code = code_generator()
        if is_reserved(code):
            continue
        link = CampaignLink(user_id=user_id, short_code=code, **cleaned)
        if _committed(link):
            forget_cached_link(code)
            return link
    raise ShortCodeUnavailable(f"no free short code after {SHORT_CODE_ATTEMPTS} attempts")


def update_link(link: CampaignLink, values: Mapping[str, Any]) -> CampaignLink:
    """Change the fields named in `values` (a partial update). `archived` (bool) archives or restores."""
    cleaned, problems = clean_link_values(values, link)
    if problems:
        raise LinkInvalid(problems)
    old_code = link.short_code
    for column, value in cleaned.items():
        setattr(link, column, value)
    if "archived" in values:
        link.archived_at = (link.archived_at or utcnow()) if values["archived"] else None
    _commit_new_code(link)
    forget_cached_link(old_code)
    forget_cached_link(link.short_code)
    return link


def archive_link(link: CampaignLink) -> CampaignLink:
    """Archive: the short URL answers 410 Gone from now on; clicks and conversions are kept."""
    return _set_archived(link, True)


def restore_link(link: CampaignLink) -> CampaignLink:
    """Undo archive_link: the short URL redirects again (unless the link has expired)."""
    return _set_archived(link, False)


def _set_archived(link: CampaignLink, archived: bool) -> CampaignLink:
    """Commit only a change: archiving twice keeps the first archived_at."""
    if (link.archived_at is not None) != archived:
        link.archived_at = utcnow() if archived else None
        db.session.commit()
        forget_cached_link(link.short_code)
    return link


def _committed(link: CampaignLink) -> bool:
    """Commit `link`; False when its short code was claimed meanwhile (the unique index decides).
    Any other integrity error is raised."""
    code = link.short_code
    db.session.add(link)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        # Whether the unique index (exact, or ignoring case) refused this code: asked of the
        # table itself, not of the read-before-write check, which missed it.
        if not code_stored_ignoring_case(code):
            raise
        return False
    return True


def _commit_new_code(link: CampaignLink) -> None:
    """Commit; a unique clash on a code the creator chose becomes short_code_taken."""
    code = link.short_code
    if not _committed(link):
        raise LinkInvalid(
            [FieldProblem("short_code", "short_code_taken", f"The short code “{code}” is already in use.")]
        )


# ---- reading -------------------------------------------------------------------------------------
def get_link(user_id: int, link_id: Any) -> CampaignLink | None:
    """user_id's link with this id; None for another creator's link or a malformed id (both 404)."""
    if not isinstance(link_id, uuid.UUID):
        try:
            link_id = uuid.UUID(str(link_id))
        except ValueError:
            return None
    return CampaignLink.owned(user_id, link_id)


def _clicks_of(link_id) -> ScalarSelect:
    """Clicks by people (bots and link unfurlers excluded), all time, from the monthly aggregates:
    a link with millions of clicks over years costs a few dozen rows, not millions."""
    return (
        select(func.coalesce(func.sum(LinkMonthlyStats.clicks), 0))
        .where(LinkMonthlyStats.campaign_link_id == link_id)
        .scalar_subquery()
    )


def all_time_clicks(link_id: uuid.UUID) -> int:
    """Clicks by people (bots and link unfurlers excluded), all time: a read (counting/ writes them)."""
    return db.session.scalar(select(_clicks_of(link_id)))


def user_has_links(user_id: int) -> bool:
    return db.session.scalar(select(CampaignLink.id).where(CampaignLink.user_id == user_id).limit(1)) is not None


@dataclass(frozen=True)
class ListQuery:
    """What the list shows: a search over short code, campaign, video id and destination; one page."""

    search: str = ""
    status: str = "active"
    sort: str = "newest"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    direction: str = ""  # "asc" or "desc"; "" is the sort's own (SORT_DIRECTIONS, else most first)
    # The days whose clicks, conversions and revenue the list shows; None: the reports' default range.
    date_range: DateRange | None = None

    @property
    def is_filtered(self) -> bool:
        return bool(self.search) or self.status != "active"

    @property
    def descending(self) -> bool:
        return (self.direction or SORT_DIRECTIONS.get(self.sort, "desc")) == "desc"

    def args(self, with_range: bool = True, **changes) -> dict[str, str]:
        """Query-string arguments for this view of the list, with `changes` applied (None drops one)."""
        values = {
            **(self.date_range.args() if self.date_range and with_range else {}),
            "q": self.search,
            "status": self.status,
            "sort": self.sort,
            "dir": self.direction,
            "page": str(self.page) if self.page > 1 else None,
            "per_page": str(self.per_page) if self.per_page != DEFAULT_PER_PAGE else None,
        }
        values.update(changes)
        return {name: value for name, value in values.items() if value}

    def sort_args(self, sort: str) -> dict[str, str]:
        """A column header's arguments: its sort in its own direction, turned around when already
        sorted by it; back to the first page (sorting applies across pages)."""
        if sort == self.sort:
            return self.args(dir="asc" if self.descending else "desc", page=None)
        return self.args(sort=sort, dir=None, page=None)


def parse_list_query(args: Mapping[str, str], date_range: DateRange | None = None) -> ListQuery:
    """A ListQuery from query-string arguments; LinkInvalid (field = the parameter) for a bad one.
    The range is read by the caller, as the report pages read it (reports.ranges)."""
    problems = []
    status = args.get("status") or "active"
    if status not in LIST_STATUSES:
        problems.append(FieldProblem("status", "invalid_parameter", f"status is one of: {', '.join(LIST_STATUSES)}."))
    sort = args.get("sort") or "newest"
    if sort not in LIST_SORTS:
        problems.append(FieldProblem("sort", "invalid_parameter", f"sort is one of: {', '.join(LIST_SORTS)}."))
    direction = args.get("dir") or ""
    if direction and direction not in DIRECTIONS:
        problems.append(FieldProblem("dir", "invalid_parameter", "dir is asc or desc."))
    numbers = {}
    try:
        numbers["page"], numbers["per_page"] = read_page(args, DEFAULT_PER_PAGE, MAX_PER_PAGE)
    except PageInvalid as exc:
        problems.extend(FieldProblem(name, exc.code, message) for name, message in exc.problems)
    if problems:
        raise LinkInvalid(problems)
    # Control characters cannot be in any stored value (and PostgreSQL refuses NUL in a query).
    search = "".join(ch for ch in (args.get("q") or "") if unicodedata.category(ch) != "Cc").strip()
    search = search[:MAX_URL_LENGTH]
    return ListQuery(search=search, status=status, sort=sort, direction=direction, date_range=date_range, **numbers)


@dataclass
class LinkRow:
    """A link and its figures in the list's range."""

    link: CampaignLink
    clicks: int
    conversions: int = 0
    revenue: Decimal = Decimal("0.00")


@dataclass
class LinkPage:
    rows: list[LinkRow]
    total: int
    query: ListQuery
    pages: int = field(init=False)

    def __post_init__(self):
        self.pages = max(1, -(-self.total // self.query.per_page))

    @property
    def has_prev(self) -> bool:
        return self.query.page > 1

    @property
    def has_next(self) -> bool:
        return self.query.page < self.pages


def list_links(user_id: int, query: ListQuery | None = None, main_currency: str = "USD") -> LinkPage:
    """One page of user_id's links with their clicks, conversions and revenue (in `main_currency`,
    never a sum across currencies) in the query's range (the reports' figures: per_link_figures),
    filtered, searched and sorted across every page."""
    query = query or ListQuery()
    filters = [CampaignLink.user_id == user_id]
    if query.status == "active":
        filters.append(CampaignLink.archived_at.is_(None))
    elif query.status == "archived":
        filters.append(CampaignLink.archived_at.is_not(None))
    if query.search:
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", query.search) + "%"
        filters.append(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (
                        CampaignLink.short_code,
                        CampaignLink.campaign,
                        CampaignLink.video_id,
                        CampaignLink.destination_url,
                    )
                )
            )
        )
    figures = per_link_figures(user_id, query.date_range or default_range(), main_currency)
    clicks, conversions, revenue = (func.coalesce(figures.c[name], 0) for name in ("clicks", "conversions", "revenue"))
    keys = {
        "newest": [CampaignLink.created_at],
        "oldest": [CampaignLink.created_at],
        "campaign": [CampaignLink.campaign.is_(None), func.lower(CampaignLink.campaign)],
        "short_code": [func.lower(CampaignLink.short_code), CampaignLink.short_code],
        "clicks": [clicks],
        "conversions": [conversions],
        "revenue": [revenue],
    }[query.sort]
    if query.sort == "campaign":  # links without a campaign stay last either way
        order = [keys[0], *(key.desc() if query.descending else key.asc() for key in keys[1:])]
    else:
        order = [key.desc() if query.descending else key.asc() for key in keys]
    total = db.session.scalar(select(func.count()).select_from(CampaignLink).where(*filters))
    statement = (
        select(CampaignLink, clicks, conversions, revenue)
        .outerjoin(figures, figures.c.campaign_link_id == CampaignLink.id)
        .where(*filters)
        .order_by(*order, CampaignLink.created_at.desc(), CampaignLink.id)  # ties: newest first, then stable
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    )
    rows = [
        LinkRow(link=link, clicks=int(clicks), conversions=int(conversions), revenue=cents(revenue))
        for link, clicks, conversions, revenue in db.session.execute(statement)
    ]
    return LinkPage(rows=rows, total=total, query=query)
