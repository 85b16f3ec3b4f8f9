"""The rules a link's values must meet: one place for the web form, the REST API and the preview.

Problems are reported per field (FieldProblem), so a page can show each message next to its
field and the API can name the field in its JSON error.

Defaults follow their source: a UTM value (or the allowed origins) left at its default is
recomputed when the campaign, video or destination changes; a value the creator typed stays.
Blank means "use the default" for utm_source/medium/campaign/content and the allowed origins.
"""

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from ..errors import ApiError
from ..extensions import db
from ..models import CampaignLink, utcnow
from ..tracking.rules import parse_revenue
from .urls import UTM_FIELDS, public_base_url
from .youtube import InvalidVideoReference, parse_video_id, watch_url

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
        "logout", "metrics", "new", "pricing", "privacy", "qr", "ready", "readyz", "register",
        "reports", "revenue", "robots.txt", "script", "settings", "signin", "signup", "sitemap.xml",
        "static", "status", "support", "terms", "tracking", "webhooks", "www",
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
    "max_browser_revenue",
    "expires_at",
)


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


class Refusal(Exception):
    """One clean_* check said no; clean_link_values turns it into the field's FieldProblem."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# ---- small pure helpers -------------------------------------------------------------------------


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
        raise Refusal("invalid_host", "The domain name in this URL is not valid.") from exc


def _has_control_or_space(text: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in text)


def routed_segments(app) -> frozenset[str]:
    """The first path segments the app routes (login, api, static, ...), as written: a one-segment
    path that is one of them is a page, never a short code (the fast paths, the metrics' classes)."""
    firsts = (rule.rule.lstrip("/").split("/", 1)[0] for rule in app.url_map.iter_rules())
    return frozenset(first for first in firsts if first and "<" not in first)


def reserved_words() -> frozenset[str]:
    """Every first path segment the app routes today, plus RESERVED_WORDS, in lower case."""
    return RESERVED_WORDS | {first.lower() for first in routed_segments(current_app)}


def is_reserved(code: str) -> bool:
    return code.lower() in reserved_words()


def code_stored_ignoring_case(code: str, exclude_link_id: uuid.UUID | None = None) -> bool:
    """True when any link (anyone's) has this code in any case: the rule the unique index enforces."""
    query = select(CampaignLink.id).where(func.lower(CampaignLink.short_code) == code.lower())
    if exclude_link_id is not None:
        query = query.where(CampaignLink.id != exclude_link_id)
    return db.session.scalar(query.limit(1)) is not None


def short_code_taken(code: str, exclude_link_id: uuid.UUID | None = None) -> bool:
    """The read-before-write check: /Promo and /promo would confuse viewers. A code claimed a
    moment later is still caught by the unique index at commit (service.create_link)."""
    return code_stored_ignoring_case(code, exclude_link_id)


def default_window_days() -> int:
    return current_app.config["ATTRIBUTION_WINDOW_DAYS"]


# ---- field checks: each returns the clean value or raises Refusal ---------------------------------


def clean_destination(raw: Any) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise Refusal("required", "Enter the landing page URL, like https://example.com/offer.")
    if len(text) > MAX_URL_LENGTH:
        raise Refusal("too_long", f"Keep the URL under {MAX_URL_LENGTH:,} characters; this one has {len(text):,}.")
    if _has_control_or_space(text):
        raise Refusal("invalid_url", "A URL cannot contain spaces or control characters (write a space as %20).")
    scheme = text.split(":", 1)[0].strip().lower() if ":" in text else ""
    if scheme in ("javascript", "data", "vbscript", "file", "blob"):
        raise Refusal("unsafe_scheme", f"{scheme}: URLs are not allowed. Use a web address starting with https://.")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError as exc:
        raise Refusal("invalid_url", "That is not a valid URL.") from exc
    if parts.scheme.lower() not in ("http", "https"):
        if "://" in text:
            raise Refusal("unsupported_scheme", "Only http:// and https:// addresses can be used.")
        raise Refusal("not_absolute", "Use a full address starting with https://, like https://example.com/offer.")
    if parts.username is not None or parts.password is not None:
        raise Refusal(
            "credentials_in_url", "Remove the user name and password from the URL: every viewer would see them."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refusal("missing_host", "Add the site's domain, like https://example.com/offer.")
    if not re.fullmatch(r"[\w.\-:]+", host):
        raise Refusal("invalid_host", "The domain name in this URL is not valid.")
    base = public_base_url()
    if base and origin_of(text) == origin_of(base):
        raise Refusal("destination_is_short_link", "Point the link at your landing page, not at a linktrack address.")
    return text


def clean_video(raw: Any) -> str:
    text = raw if isinstance(raw, str) else ""
    try:
        return parse_video_id(text)
    except InvalidVideoReference as exc:
        raise Refusal("required" if not text.strip() else "invalid_video", str(exc)) from exc


def clean_text(raw: Any, what: str) -> str | None:
    """Campaign names and UTM values: trimmed, blank is None, at most MAX_TEXT_LENGTH characters."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if len(text) > MAX_TEXT_LENGTH:
        raise Refusal("too_long", f"Keep the {what} under {MAX_TEXT_LENGTH} characters.")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise Refusal("invalid", f"The {what} cannot contain control characters.")
    return text


def clean_custom_code(raw: Any, exclude_link_id: uuid.UUID | None = None) -> str:
    code = raw.strip() if isinstance(raw, str) else ""
    if not code:
        raise Refusal("required", "A link needs a short code: keep the current one or choose another.")
    if not CUSTOM_CODE.fullmatch(code):
        raise Refusal("invalid_short_code", "Use only letters, digits, '-' and '_' in the short code.")
    if not CUSTOM_CODE_MIN_LENGTH <= len(code) <= CUSTOM_CODE_MAX_LENGTH:
        raise Refusal(
            "invalid_short_code",
            f"Make the short code {CUSTOM_CODE_MIN_LENGTH} to {CUSTOM_CODE_MAX_LENGTH} characters long.",
        )
    if is_reserved(code):
        raise Refusal("short_code_reserved", f"“{code}” is reserved for linktrack's own pages: choose another.")
    if short_code_taken(code, exclude_link_id):
        raise Refusal("short_code_taken", f"The short code “{code}” is already in use: choose another.")
    return code


def clean_window(raw: Any) -> int:
    if raw is None:
        return default_window_days()
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise Refusal("invalid_window", "Enter the attribution window as a whole number of days.")
    if not MIN_WINDOW_DAYS <= raw <= MAX_WINDOW_DAYS:
        raise Refusal(
            "invalid_window", f"Choose an attribution window between {MIN_WINDOW_DAYS} and {MAX_WINDOW_DAYS} days."
        )
    return raw


def clean_max_browser_revenue(raw: Any) -> Decimal | None:
    """The most a browser conversion may report on this link, or None for no cap. Written like a
    conversion's revenue_amount (tracking.rules.parse_revenue: the same digits, two decimals)."""
    if isinstance(raw, str):
        raw = raw.strip()
    try:
        amount = parse_revenue(raw)
    except ApiError as exc:
        raise Refusal(
            "invalid_max_browser_revenue", "Enter an amount like 500 or 499.99, or leave it empty for no cap."
        ) from exc
    if amount is not None and amount <= 0:
        raise Refusal("invalid_max_browser_revenue", "The maximum must be greater than 0, or empty for no cap.")
    return amount


def clean_origin(raw: Any) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    example = "like https://shop.example.com"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018
    except ValueError as exc:
        raise Refusal("invalid_origin", f"“{text}” is not an origin: write a scheme and host, {example}.") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Refusal("invalid_origin", f"“{text}” is not an origin: write a scheme and host, {example}.")
    if parts.username is not None or parts.password is not None or _has_control_or_space(text):
        raise Refusal("invalid_origin", f"“{text}” is not an origin: write a scheme and host, {example}.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise Refusal("invalid_origin", f"“{text}” has a path: an origin is a scheme and host only, {example}.")
    return origin_of(text)


def clean_origins(raw: Any, destination_url: str | None) -> list[str]:
    """The origins allowed to report conversions. Empty means the destination's own origin."""
    if not raw:
        return [origin_of(destination_url)] if destination_url else []
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise Refusal("invalid_origin", "Give the allowed origins as a list.")
    if len(raw) > 5 * MAX_ALLOWED_ORIGINS:  # not worth checking one by one
        raise Refusal("too_many_origins", f"List at most {MAX_ALLOWED_ORIGINS} allowed origins.")
    origins: list[str] = []
    for item in raw:
        origin = clean_origin(item)
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ALLOWED_ORIGINS:
        raise Refusal("too_many_origins", f"List at most {MAX_ALLOWED_ORIGINS} allowed origins.")
    return origins


def clean_expiry(raw: Any, current: datetime | None) -> datetime | None:
    """An optional expiry in the future. An unchanged expiry (even a past one) is kept as it is."""
    if raw is None:
        return None
    if not isinstance(raw, datetime) or raw.tzinfo is None:
        raise Refusal("invalid_expiry", "Give the expiry as a date and time with a time zone.")
    try:
        value = raw.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00 has no UTC date
        raise Refusal("invalid_expiry", "Choose an expiry date between the years 1 and 9999 in UTC.") from None
    if current is not None and value in (current, current.replace(second=0, microsecond=0)):
        return current  # the edit form shows minutes only
    if value <= utcnow():
        raise Refusal("expiry_in_past", "Choose an expiry date in the future, or leave it empty.")
    return value


# ---- every field at once: create, update and preview ---------------------------------------------


def effective_value(cleaned: Mapping[str, Any], current: CampaignLink | None, column: str) -> Any:
    """The column's value once `cleaned` is applied to `current` (None: a new link)."""
    if column in cleaned:
        return cleaned[column]
    return getattr(current, column) if current is not None else None


def usable_destination(
    cleaned: Mapping[str, Any], current: CampaignLink | None, problems: list[FieldProblem]
) -> str | None:
    """The destination the link would have, or None while the destination has a problem."""
    destination = effective_value(cleaned, current, "destination_url")
    if destination is None or any(p.field == "destination_url" for p in problems):
        return None
    return destination


def clean_link_values(
    values: Mapping[str, Any], current: CampaignLink | None
) -> tuple[dict[str, Any], list[FieldProblem]]:
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
        except Refusal as refusal:
            problems.append(FieldProblem(name, refusal.code, refusal.message))

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

    new_defaults = utm_defaults(effective_value(out, current, "campaign"), effective_value(out, current, "video_id"))
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

    destination = usable_destination(out, current, problems)
    if wanted("allowed_origins"):
        check("allowed_origins", "allowed_origins", lambda: clean_origins(values.get("allowed_origins"), destination))
    elif "destination_url" in out and current.allowed_origins == [origin_of(current.destination_url)]:
        out["allowed_origins"] = [origin_of(destination)]  # still the default: follow the destination

    if wanted("max_browser_revenue"):
        check(
            "max_browser_revenue",
            "max_browser_revenue",
            lambda: clean_max_browser_revenue(values.get("max_browser_revenue")),
        )

    if wanted("expires_at"):
        current_expiry = current.expires_at if current is not None else None
        check("expires_at", "expires_at", lambda: clean_expiry(values.get("expires_at"), current_expiry))
    return out, problems
