"""Link pages: list, new (with a server-side preview), detail with QR code, edit, archive and restore.

Every page lives under /links/..., a reserved word, so no short code can shadow it.
"""

import io
import uuid

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from ..models import CampaignLink
from ..reports import ranges
from ..reports.queries import link_figures
from ..reports.ranges import default_range
from ..tracking import sightings
from ..web.confirm import ask_first, confirmed
from ..web.ownership import owned_or_404
from . import service
from .forms import LinkForm
from .qr import qr_file, qr_svg_inline
from .urls import final_destination_url, short_url
from .validation import LinkInvalid

bp = Blueprint("links", __name__, url_prefix="/links")

QR_MIMETYPES = {"svg": "image/svg+xml", "png": "image/png"}


def _own_link(link_id: uuid.UUID) -> CampaignLink:
    """The caller's link, or a 404: another creator's link and a missing one look alike."""
    return owned_or_404(service.get_link(current_user.id, link_id), "link")


def _to_detail(link: CampaignLink, message: str, category: str):
    """Say what happened, on the link's own page."""
    flash(message, category)
    return redirect(url_for(".detail", link_id=link.id))


@bp.get("")
@login_required
def index():
    date_range, range_error = ranges.asked_range(
        request.args, lambda: ranges.first_day_with_data(current_user.id), current_user.time_zone
    )
    try:
        query = service.parse_list_query(request.args, date_range)
    except LinkInvalid:  # a hand-edited address: show the first page rather than an error
        query = service.ListQuery(search=(request.args.get("q") or "").strip(), date_range=date_range)
    page = service.list_links(current_user.id, query, current_user.main_currency)
    has_links = page.total > 0 or service.user_has_links(current_user.id)
    html = render_template(
        "links/index.html",
        page=page,
        has_links=has_links,
        statuses=service.LIST_STATUSES,
        sorts=service.LIST_SORTS,
        link_status=service.link_status,
        short_url=short_url,
        ranges=ranges,
        date_range=date_range,
        range_error=range_error,
        page_url=lambda args: url_for(".index", **args),
    )
    return html, 400 if range_error else 200


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    form = LinkForm()
    preview = None
    if form.validate_on_submit():
        values = form.link_values()
        preview = service.preview_link(values)
        if request.form.get("action") == "preview" or preview.problems:
            form.add_problems(preview.problems)
        else:
            try:
                link = service.create_link(current_user.id, values)
            except LinkInvalid as exc:  # a concurrent claim of the same short code
                form.add_problems(exc.problems)
            else:
                return _to_detail(link, "Your link is ready: copy it into the video description.", "success")
    return _render_form(form, preview, link=None)


@bp.get("/<uuid:link_id>")
@login_required
def detail(link_id: uuid.UUID):
    link = _own_link(link_id)
    return render_template(
        "links/detail.html",
        link=link,
        short_url=short_url(link.short_code),
        final_destination_url=final_destination_url(link),
        status=service.link_status(link),
        clicks=service.all_time_clicks(link.id),
        qr_svg=Markup(qr_svg_inline(link)),
        recent=link_figures(link, default_range(current_user.time_zone)),
        sightings=sightings.link_sightings(current_user.id, link.id),
    )


@bp.route("/<uuid:link_id>/edit", methods=["GET", "POST"])
@login_required
def edit(link_id: uuid.UUID):
    link = _own_link(link_id)
    form = LinkForm.for_link(link)
    preview = service.preview_link({}, link)
    if form.validate_on_submit():
        values = form.link_values()
        preview = service.preview_link(values, link)
        if request.form.get("action") == "preview" or preview.problems:
            form.add_problems(preview.problems)
        else:
            try:
                service.update_link(link, values)
            except LinkInvalid as exc:
                form.add_problems(exc.problems)
            else:
                return _to_detail(link, "Your changes are saved.", "success")
    return _render_form(form, preview, link=link)


def _render_form(form: LinkForm, preview: service.LinkPreview | None, link: CampaignLink | None):
    if preview is not None:
        form.show_preview(preview)
    return (
        render_template(
            "links/form.html",
            form=form,
            preview=preview,
            link=link,
            short_url_prefix=short_url(""),
        ),
        422 if form.errors else 200,
    )


@bp.post("/<uuid:link_id>/archive")
@login_required
def archive(link_id: uuid.UUID):
    link = _own_link(link_id)
    if not confirmed():
        return ask_first(
            f"Archive /{link.short_code}?",
            "Viewers who click it see “This link has ended” and are not sent to your page; no click is "
            "counted. Its clicks and conversions stay in your reports, and you can restore it later.",
            "Archive link",
            url_for("links.detail", link_id=link.id),
        )
    link = service.archive_link(link)
    gone = f"/{link.short_code} is archived: it now answers “gone” (410). Its clicks and conversions are kept."
    return _to_detail(link, gone, "info")


@bp.post("/<uuid:link_id>/restore")
@login_required
def restore(link_id: uuid.UUID):
    link = service.restore_link(_own_link(link_id))
    return _to_detail(link, f"/{link.short_code} is restored and redirects again.", "success")


@bp.get("/<uuid:link_id>/qr.<any(svg, png):kind>")
@login_required
def qr_code(link_id: uuid.UUID, kind: str):
    """A QR code file to download and print, pointing at the short URL."""
    link = _own_link(link_id)
    return send_file(
        io.BytesIO(qr_file(link, kind)),
        mimetype=QR_MIMETYPES[kind],
        as_attachment=True,
        download_name=f"linktrack-{link.short_code}.{kind}",
        max_age=0,
    )
