"""Settings → Forwarding: destinations, their deliveries and attempts (destinations.py, deliveries.py do the work)."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..web.confirm import ask_first, confirmed
from ..web.ownership import owned_or_404
from . import deliveries, destinations
from .forms import EVENT_TYPE_LABELS, DestinationForm

bp = Blueprint("forwarding", __name__, url_prefix="/settings/forwarding")


def _render(form=None, new_secret=None, status=200):
    listed = destinations.destinations_for(current_user.id)
    return (
        render_template(
            "forwarding/index.html",
            form=form or DestinationForm(formdata=None),
            destinations=listed,
            deliveries={d.id: deliveries.recent_deliveries(d.id) for d in listed},
            kind_labels=destinations.KIND_LABELS,
            event_labels=EVENT_TYPE_LABELS,
            new_secret=new_secret,
        ),
        status,
    )


def _owned_destination(destination_id: int):
    return owned_or_404(destinations.get_destination(current_user.id, destination_id), "destination")


@bp.get("")
@login_required
def index():
    for destination in destinations.destinations_for(current_user.id):
        if destination.paused_at is not None:
            flash(
                f"“{destination.name}” is paused: its last {destination.consecutive_failures} deliveries failed. "
                "Check its settings, then turn it back on.",
                "error",
            )
    return _render()


@bp.post("")
@login_required
def create():
    form = DestinationForm()
    if form.validate_on_submit():
        try:
            destination, secret = destinations.create_destination(
                current_user.id, form.kind.data, form.name.data, form.data, form.event_types.data
            )
        except destinations.DestinationInvalid as exc:
            getattr(form, exc.field).errors.append(exc.message)
        else:
            flash(f"“{destination.name}” added. New conversions are sent there from now on.", "success")
            if secret:
                return _render(new_secret=secret)
            return redirect(url_for("forwarding.index"))
    return _render(form=form, status=422)


@bp.post("/<int:destination_id>/toggle")
@login_required
def toggle(destination_id: int):
    destination = _owned_destination(destination_id)
    turn_on = not destination.active
    destinations.set_enabled(destination, turn_on)
    flash(f"“{destination.name}” is {'on' if turn_on else 'off'}.", "info")
    return redirect(url_for("forwarding.index"))


@bp.post("/<int:destination_id>/events")
@login_required
def change_event_types(destination_id: int):
    destination = _owned_destination(destination_id)
    try:
        destinations.set_event_types(destination, request.form.getlist("event_types"))
    except destinations.DestinationInvalid as exc:
        flash(exc.message, "error")
    else:
        flash(f"“{destination.name}” now receives the events you chose.", "success")
    return redirect(url_for("forwarding.index"))


@bp.post("/<int:destination_id>/test")
@login_required
def send_test(destination_id: int):
    delivery = deliveries.send_test_event(_owned_destination(destination_id))
    if delivery.status == "delivered":
        flash("Test event delivered.", "success")
    elif delivery.status == "failed":
        flash(f"Test event failed: {delivery.attempt_log[-1].error}", "error")
    else:
        flash("Test event queued; its result appears below in a moment.", "info")
    return redirect(url_for("forwarding.index"))


@bp.post("/<int:destination_id>/delete")
@login_required
def delete(destination_id: int):
    destination = _owned_destination(destination_id)
    if not confirmed():
        return ask_first(
            f"Remove “{destination.name}”?",
            "Conversions are no longer sent to it, and its delivery history is removed with it. "
            "To stop sending for a while instead, turn it off.",
            "Remove destination",
            url_for("forwarding.index"),
        )
    destinations.delete_destination(destination)
    flash(f"“{destination.name}” removed.", "info")
    return redirect(url_for("forwarding.index"))


@bp.post("/deliveries/<int:delivery_id>/redeliver")
@login_required
def redeliver(delivery_id: int):
    delivery = owned_or_404(deliveries.get_delivery(current_user.id, delivery_id), "delivery")
    if deliveries.redeliver(delivery):
        flash("Sent again.", "info")
    else:
        flash("That delivery is still being tried.", "info")
    return redirect(url_for("forwarding.index"))
