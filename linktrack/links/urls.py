"""Where links point: query-string building for destinations (one implementation for the link
preview and the redirect) and the public short URL, which depends on the request being served."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app, has_request_context, request

from ..models import CampaignLink

TRACKING_PARAMS = ("ct_tracking_id", "ct_campaign_link_id")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


def with_query_params(url: str, params: dict[str, str | None], *, override: bool) -> str:
    """`url` with `params` added to its query; the rest of the query and the fragment are kept.

    override=False keeps a parameter the URL already sets (the creator's own UTM wins over the
    link's defaults); override=True replaces it (a fresh tracking id always wins). Empty values
    are skipped. Order of existing parameters is kept, new ones follow in the order given.
    """
    params = {key: value for key, value in params.items() if value not in (None, "")}
    if not params:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    if override:
        query = [(key, value) for key, value in query if key not in params]
    else:
        params = {key: value for key, value in params.items() if key not in present}
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def utm_destination(destination_url: str, utm: dict[str, str | None]) -> str:
    """The destination a viewer lands on before tracking ids: the link's UTM added where unset."""
    return with_query_params(destination_url, {key: utm.get(key) for key in UTM_FIELDS}, override=False)


def final_destination_url(link: CampaignLink) -> str:
    """Where a viewer lands (before the per-click tracking ids): the destination plus the link's UTM."""
    return utm_destination(link.destination_url, {name: getattr(link, name) for name in UTM_FIELDS})


def public_base_url() -> str | None:
    """LINKTRACK_BASE_URL, or the host the creator is using; None outside a request without one."""
    return current_app.config.get("LINKTRACK_BASE_URL") or (request.host_url if has_request_context() else None)


def short_url(code: str) -> str:
    """The public short link: the public base URL + the code."""
    return (public_base_url() or "").rstrip("/") + "/" + code
