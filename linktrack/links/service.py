"""Campaign links: the one place that checks, creates, changes, archives and lists them.

The web form and the REST API both call these functions, so a link is checked the same way
whichever door it came through. Problems are reported per field (FieldProblem), so a page can
show each message next to its field and the API can name the field in its JSON error.

Defaults follow their source: a UTM value (or the allowed origins) left at its default is
recomputed when the campaign, video or destination changes; a value the creator typed stays.
Blank means "use the default" for utm_source/medium/campaign/content and the allowed origins.
"""

import io
import re
import secrets
import string
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import segno
from flask import current_app, has_request_context, request
from sqlalchemy import ScalarSelect, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import CampaignLink, LinkMonthlyStats, utcnow
from .cache import forget as forget_cached_link
from .urls import UTM_FIELDS, utm_destination
from .youtube import InvalidVideoReference, parse_video_id, watch_url

SHORT_CODE_ALPHABET = string.ascii_letters + string.digits
SHORT_CODE_LENGTH = 7  # 62**7 ≈ 3.5e12 codes: random draws almost never collide
SHORT_CODE_ATTEMPTS = 8  # generated codes tried before giving up (a clash is already ~1e-12 likely)
CUSTOM_CODE_MIN_LENGTH = 3
CUSTOM_CODE_MAX_LENGTH = 64  # the column's size
CUSTOM_CODE = re.compile(r"[A-Za-z0-9_-]+")
MAX_URL_LENGTH = 2048  # what every browser and proxy accepts in a Location header
MAX_TEXT_LENGTH = 100  # campaign and UTM columns
MIN_WINDOW_DAYS, MAX_WINDOW_DAYS = 1, 365
MAX_ALLOWED_ORIGINS = 20

# First path segments kept away from short codes. Routes that exist are added from app.url_map
# at check time (reserved_words()); these cover pages and files that do not exist yet.
RESERVED_WORDS = frozenset(
    {
        "about", "account", "admin", "api", "app", "assets", "auth", "blog", "dashboard", "docs",
        "export", "exports", "favicon.ico", "funnel", "health", "healthz", "help", "links", "login",
        "logout", "metrics", "new", "pricing", "privacy", "qr", "ready", "register", "reports",
        "revenue", "robots.txt", "script", "settings", "signin", "signup", "sitemap.xml", "static",
        "status", "support", "terms", "tracking", "webhooks", "www",
    }
)  # fmt: skip

DEFAULTED_UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")
LINK_FIELDS = (
    "video_url",
    "destination_url",
    "campaign",
    "short_code",
    *UTM_FIELDS,
    "attribution_window_days",
    "allowed_origins",
    "expires_at",
)

LIST_STATUSES = ("active", "archived", "all")
LIST_SORTS = ("newest", "oldest", "campaign", "short_code", "clicks")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 100_000  # keeps OFFSET within a 64-bit integer whatever the query string says


# ---- problems ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field: its name, a stable code, and a sentence for the creator."""

    field: str
    code: str
    message: str


class LinkInvalid(Exception):
    """The values cannot make a link. `problems` holds every field's problem, first one first."""

    def __init__(self, problems: list[FieldProblem]):
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems

    @property
    def first(self) -> FieldProblem:
        return self.problems[0]


class ShortCodeUnavailable(RuntimeError):
    """No free generated code after SHORT_CODE_ATTEMPTS draws: the generator is broken, not the input."""


class _Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# ---- small pure helpers -------------------------------------------------------------------------


def generate_short_code(length: int = SHORT_CODE_LENGTH) -> str:
    """A random, non-sequential, URL-safe code. create_link retries on the rare unique clash."""
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(length))


def slugify(text: str | None) -> str | None:
    """utm_campaign from a campaign name: "Spring Launch 2025!" → "spring-launch-2025".

    Accents are folded to ASCII; letters of other scripts are kept (a Japanese name stays readable).
    """
    if not text:
        return None
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    slug = re.sub(r"[\W_]+", "-", folded.lower()).strip("-")[:MAX_TEXT_LENGTH].strip("-")
    return slug or None


def utm_defaults(campaign: str | None, video_id: str | None) -> dict[str, str | None]:
    """The YouTube defaults: source youtube, medium video, campaign from its name, content = video id."""
    return {
        "utm_source": "youtube",
        "utm_medium": "video",
        "utm_campaign": slugify(campaign),
        "utm_content": video_id,
        "utm_term": None,
    }


def origin_of(url: str) -> str:
    """scheme://host[:port] of an http(s) URL, as browsers send it in the Origin header."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = _ascii_host(parts.hostname or "")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _ascii_host(host: str) -> str:
    host = host.rstrip(".").lower()
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise _Refusal("invalid_host", "The domain name in this URL is not valid.") from exc


def _has_control_or_space(text: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in text)


def reserved_words() -> frozenset[str]:
    """Every first path segment the app routes today, plus RESERVED_WORDS, in lower case."""
    routed = set()
    for rule in current_app.url_map.iter_rules():
        first = rule.rule.lstrip("/").split("/", 1)[0]
        if first and "<" not in first:
            routed.add(first.lower())
    return RESERVED_WORDS | routed


def is_reserved(code: str) -> bool:
    return code.lower() in reserved_words()


def short_url(code: str) -> str:
    """The public short link: LINKTRACK_BASE_URL, or the host the creator is using, + the code."""
    base = current_app.config.get("LINKTRACK_BASE_URL") or (request.host_url if has_request_context() else "")
    return base.rstrip("/") + "/" + code


def _own_origin() -> str | None:
    base = current_app.config.get("LINKTRACK_BASE_URL") or (request.host_url if has_request_context() else None)
    return origin_of(base) if base else None


def final_destination_url(link: CampaignLink) -> str:
    """Where a viewer lands (before the per-click tracking ids): the destination plus the link's UTM."""
    return utm_destination(link.destination_url, {name: getattr(link, name) for name in UTM_FIELDS})


def link_status(link: CampaignLink, now: datetime | None = None) -> str:
    """ "archived", "expired" or "active": what the short URL does for a viewer right now."""
    if link.archived_at is not None:
        return "archived"
    if link.expires_at is not None and link.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


# ---- field checks: each returns the clean value or raises _Refusal --------------------------------


def clean_destination(raw: Any) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise _Refusal("required", "Enter the landing page URL, like https://example.com/offer.")
    if len(text) > MAX_URL_LENGTH:
        raise _Refusal("too_long", f"Keep the URL under {MAX_URL_LENGTH:,} characters; this one has {len(text):,}.")
    if _has_control_or_space(text):
        raise _Refusal("invalid_url", "A URL cannot contain spaces or control characters (write a space as %20).")
    scheme = text.split(":", 1)[0].strip().lower() if ":" in text else ""
    if scheme in ("javascript", "data", "vbscript", "file", "blob"):
        raise _Refusal("unsafe_scheme", f"{scheme}: URLs are not allowed. Use a web address starting with https://.")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError as exc:
        raise _Refusal("invalid_url", "That is not a valid URL.") from exc
    if parts.scheme.lower() not in ("http", "https"):
        if "://" in text:
            raise _Refusal("unsupported_scheme", "Only http:// and https:// addresses can be used.")
        raise _Refusal("not_absolute", "Use a full address starting with https://, like https://example.com/offer.")
    if parts.username is not None or parts.password is not None:
        raise _Refusal(
            "credentials_in_url", "Remove the user name and password from the URL: every viewer would see them."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _Refusal("missing_host", "Add the site's domain, like https://example.com/offer.")
    if not re.fullmatch(r"[\w.\-:]+", host):
        raise _Refusal("invalid_host", "The domain name in this URL is not valid.")
    own = _own_origin()
    if own and origin_of(text) == own:
        raise _Refusal("destination_is_short_link", "Point the link at your landing page, not at a linktrack address.")
    return text


def clean_video(raw: Any) -> str:
    text = raw if isinstance(raw, str) else ""
    try:
        return parse_video_id(text)
    except InvalidVideoReference as exc:
        raise _Refusal("required" if not text.strip() else "invalid_video", str(exc)) from exc


def clean_text(raw: Any, what: str) -> str | None:
    """Campaign names and UTM values: trimmed, blank is None, at most MAX_TEXT_LENGTH characters."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if len(text) > MAX_TEXT_LENGTH:
        raise _Refusal("too_long", f"Keep the {what} under {MAX_TEXT_LENGTH} characters.")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise _Refusal("invalid", f"The {what} cannot contain control characters.")
    return text


def clean_custom_code(raw: Any, exclude_link_id: uuid.UUID | None = None) -> str:
    code = raw.strip() if isinstance(raw, str) else ""
    if not code:
        raise _Refusal("required", "A link needs a short code: keep the current one or choose another.")
    if not CUSTOM_CODE.fullmatch(code):
        raise _Refusal("invalid_short_code", "Use only letters, digits, '-' and '_' in the short code.")
    if not CUSTOM_CODE_MIN_LENGTH <= len(code) <= CUSTOM_CODE_MAX_LENGTH:
        raise _Refusal(
            "invalid_short_code",
            f"Make the short code {CUSTOM_CODE_MIN_LENGTH} to {CUSTOM_CODE_MAX_LENGTH} characters long.",
        )
    if is_reserved(code):
        raise _Refusal("short_code_reserved", f"“{code}” is reserved for linktrack's own pages: choose another.")
    if short_code_taken(code, exclude_link_id):
        raise _Refusal("short_code_taken", f"The short code “{code}” is already in use: choose another.")
    return code


def short_code_taken(code: str, exclude_link_id: uuid.UUID | None = None) -> bool:
    """True when any link (anyone's) has this code, ignoring case: /Promo and /promo would confuse viewers."""
    return _stored_ignoring_case(code, exclude_link_id)


def _stored_ignoring_case(code: str, exclude_link_id: uuid.UUID | None = None) -> bool:
    query = select(CampaignLink.id).where(func.lower(CampaignLink.short_code) == code.lower())
    if exclude_link_id is not None:
        query = query.where(CampaignLink.id != exclude_link_id)
    return db.session.scalar(query.limit(1)) is not None


def default_window_days() -> int:
    return current_app.config["ATTRIBUTION_WINDOW_DAYS"]


def clean_window(raw: Any) -> int:
    if raw is None:
        return default_window_days()
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _Refusal("invalid_window", "Enter the attribution window as a whole number of days.")
    if not MIN_WINDOW_DAYS <= raw <= MAX_WINDOW_DAYS:
        raise _Refusal(
            "invalid_window", f"Choose an attribution window between {MIN_WINDOW_DAYS} and {MAX_WINDOW_DAYS} days."
        )
    return raw


def clean_origin(raw: Any) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    example = "like https://shop.example.com"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018
    except ValueError as exc:
        raise _Refusal("invalid_origin", f"“{text}” is not an origin: write a scheme and host, {example}.") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Refusal("invalid_origin", f"“{text}” is not an origin: write a scheme and host, {example}.")
    if parts.username is not None or parts.password is not None or _has_control_or_space(text):
        raise _Refusal("invalid_origin", f"“{text}” is not an origin: write a scheme and host, {example}.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _Refusal("invalid_origin", f"“{text}” has a path: an origin is a scheme and host only, {example}.")
    return origin_of(text)


def clean_origins(raw: Any, destination_url: str | None) -> list[str]:
    """The origins allowed to report conversions. Empty means the destination's own origin."""
    if not raw:
        return [origin_of(destination_url)] if destination_url else []
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise _Refusal("invalid_origin", "Give the allowed origins as a list.")
    if len(raw) > 5 * MAX_ALLOWED_ORIGINS:  # not worth checking one by one
        raise _Refusal("too_many_origins", f"List at most {MAX_ALLOWED_ORIGINS} allowed origins.")
    origins: list[str] = []
    for item in raw:
        origin = clean_origin(item)
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ALLOWED_ORIGINS:
        raise _Refusal("too_many_origins", f"List at most {MAX_ALLOWED_ORIGINS} allowed origins.")
    return origins


def clean_expiry(raw: Any, current: datetime | None) -> datetime | None:
    """An optional expiry in the future. An unchanged expiry (even a past one) is kept as it is."""
    if raw is None:
        return None
    if not isinstance(raw, datetime) or raw.tzinfo is None:
        raise _Refusal("invalid_expiry", "Give the expiry as a date and time with a time zone.")
    try:
        value = raw.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 has no UTC date
        raise _Refusal("invalid_expiry", "Choose an expiry date between the years 1 and 9999 in UTC.") from None
    if current is not None and value in (current, current.replace(second=0, microsecond=0)):
        return current  # the edit form shows minutes only
    if value <= utcnow():
        raise _Refusal("expiry_in_past", "Choose an expiry date in the future, or leave it empty.")
    return value


# ---- validation shared by create, update and preview -----------------------------------------


def _clean(values: Mapping[str, Any], current: CampaignLink | None) -> tuple[dict[str, Any], list[FieldProblem]]:
    """Column values for a new link (current=None), or the changes to `current` (only the keys given).

    Returns every clean value it could make and every problem it found, so a preview can show a
    final URL while the short code is still taken.
    """
    out: dict[str, Any] = {}
    problems: list[FieldProblem] = []

    def wanted(name: str) -> bool:
        return current is None or name in values

    def check(name: str, column: str, clean: Callable[[], Any]) -> None:
        try:
            out[column] = clean()
        except _Refusal as refusal:
            problems.append(FieldProblem(name, refusal.code, refusal.message))

    def effective(column: str) -> Any:
        if column in out:
            return out[column]
        return getattr(current, column) if current is not None else None

    if wanted("video_url"):
        check("video_url", "video_id", lambda: clean_video(values.get("video_url")))
        if "video_id" in out:
            out["video_url"] = watch_url(out["video_id"])
    if wanted("destination_url"):
        check("destination_url", "destination_url", lambda: clean_destination(values.get("destination_url")))
    if wanted("campaign"):
        check("campaign", "campaign", lambda: clean_text(values.get("campaign"), "campaign name"))
    if current is None:
        if values.get("short_code") not in (None, ""):
            check("short_code", "short_code", lambda: clean_custom_code(values["short_code"]))
    elif "short_code" in values and values["short_code"] != current.short_code:
        check("short_code", "short_code", lambda: clean_custom_code(values["short_code"], current.id))

    new_defaults = utm_defaults(effective("campaign"), effective("video_id"))
    old_defaults = utm_defaults(current.campaign, current.video_id) if current is not None else {}
    for name in UTM_FIELDS:
        if wanted(name):
            check(name, name, lambda name=name: clean_text(values.get(name), name))
            if out.get(name) is None and name in out:
                out[name] = new_defaults[name]
        elif name in DEFAULTED_UTM_FIELDS and getattr(current, name) == old_defaults[name]:
            out[name] = new_defaults[name]  # still at its default: follow the campaign or video

    if wanted("attribution_window_days"):
        check(
            "attribution_window_days",
            "attribution_window_days",
            lambda: clean_window(values.get("attribution_window_days")),
        )

    destination = effective("destination_url")
    destination_ok = destination is not None and not any(p.field == "destination_url" for p in problems)
    if wanted("allowed_origins"):
        check(
            "allowed_origins",
            "allowed_origins",
            lambda: clean_origins(values.get("allowed_origins"), destination if destination_ok else None),
        )
    elif "destination_url" in out and current.allowed_origins == [origin_of(current.destination_url)]:
        out["allowed_origins"] = [origin_of(destination)]  # still the default: follow the destination

    if wanted("expires_at"):
        current_expiry = current.expires_at if current is not None else None
        check("expires_at", "expires_at", lambda: clean_expiry(values.get("expires_at"), current_expiry))
    return out, problems


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
    cleaned, problems = _clean(values, current)

    def effective(column: str) -> Any:
        if column in cleaned:
            return cleaned[column]
        return getattr(current, column) if current is not None else None

    utm = {name: effective(name) for name in UTM_FIELDS}
    destination = effective("destination_url")
    destination_ok = destination is not None and not any(p.field == "destination_url" for p in problems)
    return LinkPreview(
        video_id=effective("video_id"),
        utm=utm,
        allowed_origins=effective("allowed_origins") or [],
        final_destination_url=utm_destination(destination, utm) if destination_ok else None,
        problems=problems,
    )


def create_link(
    user_id: int, values: Mapping[str, Any], *, code_generator: Callable[[], str] = generate_short_code
) -> CampaignLink:
    """Check `values` and store a new link for user_id. Raises LinkInvalid with every problem found.

    Without a custom short code, codes are drawn from `code_generator` until one is free; the
    unique constraint decides, so two processes drawing the same code at once cannot both win.
    """
    cleaned, problems = _clean(values, None)
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
    cleaned, problems = _clean(values, link)
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
    if link.archived_at is None:
        link.archived_at = utcnow()
        db.session.commit()
        forget_cached_link(link.short_code)
    return link


def restore_link(link: CampaignLink) -> CampaignLink:
    """Undo archive_link: the short URL redirects again (unless the link has expired)."""
    if link.archived_at is not None:
        link.archived_at = None
        db.session.commit()
        forget_cached_link(link.short_code)
    return link


def _code_exists(code: str) -> bool:
    """After a failed commit: whether the unique index (exact, or ignoring case) refused this code."""
    return _stored_ignoring_case(code)


def _committed(link: CampaignLink) -> bool:
    """Commit `link`; False when its short code was claimed meanwhile (the unique index decides).
    Any other integrity error is raised."""
    code = link.short_code
    db.session.add(link)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if not _code_exists(code):
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


def count_clicks(link_id: uuid.UUID) -> int:
    """Clicks by people (bots and link unfurlers excluded), all time."""
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

    @property
    def is_filtered(self) -> bool:
        return bool(self.search) or self.status != "active"


def parse_list_query(args: Mapping[str, str]) -> ListQuery:
    """A ListQuery from query-string arguments; LinkInvalid (field = the parameter) for a bad one."""
    problems = []
    status = args.get("status") or "active"
    if status not in LIST_STATUSES:
        problems.append(FieldProblem("status", "invalid_parameter", f"status is one of: {', '.join(LIST_STATUSES)}."))
    sort = args.get("sort") or "newest"
    if sort not in LIST_SORTS:
        problems.append(FieldProblem("sort", "invalid_parameter", f"sort is one of: {', '.join(LIST_SORTS)}."))
    numbers = {}
    for name, default, highest in (("page", 1, MAX_PAGE), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)):
        raw = args.get(name) or str(default)
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= highest):
            problems.append(FieldProblem(name, "invalid_parameter", f"{name} is a whole number from 1 to {highest}."))
        else:
            numbers[name] = int(raw)
    if problems:
        raise LinkInvalid(problems)
    # Control characters cannot be in any stored value (and PostgreSQL refuses NUL in a query).
    search = "".join(ch for ch in (args.get("q") or "") if unicodedata.category(ch) != "Cc").strip()
    search = search[:MAX_URL_LENGTH]
    return ListQuery(search=search, status=status, sort=sort, **numbers)


@dataclass
class LinkRow:
    link: CampaignLink
    clicks: int


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


def list_links(user_id: int, query: ListQuery | None = None) -> LinkPage:
    """One page of user_id's links with their click counts, filtered, searched and sorted."""
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
    clicks = _clicks_of(CampaignLink.id).correlate(CampaignLink)
    newest = (CampaignLink.created_at.desc(), CampaignLink.id)
    order = {
        "newest": newest,
        "oldest": (CampaignLink.created_at.asc(), CampaignLink.id),
        "campaign": (CampaignLink.campaign.is_(None), func.lower(CampaignLink.campaign), *newest),
        "short_code": (func.lower(CampaignLink.short_code), CampaignLink.short_code),
        "clicks": (clicks.desc(), *newest),
    }[query.sort]
    total = db.session.scalar(select(func.count()).select_from(CampaignLink).where(*filters))
    statement = (
        select(CampaignLink, clicks.label("clicks"))
        .where(*filters)
        .order_by(*order)
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    )
    rows = [LinkRow(link=link, clicks=count) for link, count in db.session.execute(statement)]
    return LinkPage(rows=rows, total=total, query=query)


# ---- QR codes ------------------------------------------------------------------------------------


def _qr(link: CampaignLink) -> segno.QRCode:
    # make_qr, not make: a Micro QR code would be smaller but many phone cameras cannot read it.
    return segno.make_qr(short_url(link.short_code), error="m")


def qr_svg_inline(link: CampaignLink) -> str:
    """SVG markup to embed in a page (segno escapes the title)."""
    return _qr(link).svg_inline(
        scale=5, border=4, dark="#000", light="#fff", omitsize=True, title=f"QR code for {link.short_code}"
    )


def qr_file(link: CampaignLink, kind: str) -> bytes:
    """A printable QR code file: kind "svg" or "png"."""
    buffer = io.BytesIO()
    _qr(link).save(buffer, kind=kind, scale=10, border=4, dark="#000", light="#fff")
    return buffer.getvalue()
