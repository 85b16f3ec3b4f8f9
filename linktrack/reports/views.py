"""Pages a creator reads: the home page and the dashboard."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from . import queries

bp = Blueprint("reports", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("reports.dashboard"))
    return render_template("index.html")


@bp.get("/dashboard")
@login_required
def dashboard():
    summary = queries.dashboard_summary(current_user.id)
    return render_template("reports/dashboard.html", summary=summary)
