"""Pages a creator reads: the home page, the dashboard, a link's report, the funnel and revenue tables.

Views parse the query string and call one query function each: ranges.py reads the range,
queries.py and tables.py own every figure, api.py serves the same figures as JSON.
"""

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date

from flask import Blueprint, abort, current_app, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required

from ..links import service as links_service
from ..links.urls import short_url
from ..tracking import sightings
from ..web.ownership import owned_or_404
from ..web.pagination import PageInvalid
from . import charts, figures, queries, ranges, tables

bp = Blueprint("reports", __name__)

CSV_FLUSH_ROWS = 200


def _date_range(first_day: Callable[[], date | None]) -> tuple[ranges.DateRange, ranges.RangeInvalid | None]:
    """The asked-for range, or the default one and the reason the asked-for one was refused."""
    return ranges.asked_range(request.args, first_day, current_user.time_zone)


def _page(template: str, error: ranges.RangeInvalid | None, endpoint: str, route: dict | None = None, **context):
    """A report page; a refused range shows its message with the default range's figures, as a 400
    (so does a refused page number, `page_error`, above the first page).

    `page_url(args)` links to this page again with other query arguments (presets, sorts).
    """
    route = route or {}
    html = render_template(
        template,
        range_error=error,
        charts=charts,
        ranges=ranges,
        figures=figures,
        granularity=ranges.granularity(context["date_range"]),
        page_url=lambda args: url_for(endpoint, **route, **args),
        **context,
    )
    return html, 400 if error or context.get("page_error") else 200


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("reports.dashboard"))
    return render_template("index.html")


@bp.get("/dashboard")
@login_required
def dashboard():
    date_range, error = _date_range(lambda: ranges.first_day_with_data(current_user.id))
    summary = queries.dashboard_summary(current_user.id, date_range, current_user.main_currency)
    return _page("reports/dashboard.html", error, "reports.dashboard", summary=summary, date_range=date_range)


@bp.get("/links/<uuid:link_id>/report")
@login_required
def link_report(link_id: uuid.UUID):
    link = owned_or_404(links_service.get_link(current_user.id, link_id), "link")
    date_range, error = _date_range(lambda: ranges.first_day_of_link(link.id))
    report = queries.link_report(link, date_range)
    return _page(
        "reports/link.html",
        error,
        "reports.link_report",
        {"link_id": link.id},
        report=report,
        link=link,
        date_range=date_range,
        status=links_service.link_status(link),
        short_url=short_url(link.short_code),
        sightings=sightings.link_sightings(current_user.id, link.id),
    )


def _table(name: str) -> tuple[tables.TableSpec, tables.TableQuery, ranges.RangeInvalid | None, PageInvalid | None]:
    spec = tables.TABLES[name]
    date_range, error = _date_range(lambda: ranges.first_day_with_data(current_user.id))
    query, page_error = tables.parse_table_query(spec, request.args, date_range, current_user.main_currency)
    return spec, query, error, page_error


CHART_ROWS = 10


def _table_page(name: str):
    """A page of the table; a refused page number shows its message above the first page, as a 400."""
    spec, query, error, page_error = _table(name)
    try:
        page = tables.table_page(current_user.id, spec, query)
    except PageInvalid as exc:
        page_error, query = exc, replace(query, page=1)
        page = tables.table_page(current_user.id, spec, query)
    first_page = (
        page if query.page == 1 else tables.table_page(current_user.id, spec, replace(query, page=1), limit=CHART_ROWS)
    )
    videos, campaigns = tables.filter_options(current_user.id)
    return _page(
        "reports/table.html",
        error,
        f"reports.{name}",
        spec=spec,
        query=query,
        date_range=query.date_range,
        rows=page.rows,
        count=page.count,
        chart_rows=first_page.rows[:CHART_ROWS],
        page_error=page_error,
        totals=tables.table_totals(current_user.id, query),
        videos=videos,
        campaigns=campaigns,
        has_links=bool(videos),
    )


def _table_csv(name: str):
    """The table as CSV, written row by row as the database hands them over (never all in memory)."""
    spec, query, error, _ = _table(name)  # every row, whatever the page
    if error:
        abort(400, error.message)
    user_id = current_user.id
    currencies = tables.csv_currencies(tables.table_totals(user_id, query), query.main_currency)

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        rows = tables.table_rows(user_id, spec, query, stream=True)
        records = tables.csv_records(spec, query, rows, currencies)
        for count, record in enumerate(records, start=1):
            writer.writerow(record)
            if count % CSV_FLUSH_ROWS == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    filename = f"linktrack-{name}-by-{query.group}-{query.date_range.start}-to-{query.date_range.end}.csv"
    response = current_app.response_class(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/reports/funnel")
@login_required
def funnel():
    return _table_page("funnel")


@bp.get("/reports/revenue")
@login_required
def revenue():
    return _table_page("revenue")


@bp.get("/reports/funnel.csv")
@login_required
def funnel_csv():
    return _table_csv("funnel")


@bp.get("/reports/revenue.csv")
@login_required
def revenue_csv():
    return _table_csv("revenue")
