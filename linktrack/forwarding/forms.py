"""The add-destination form: every kind's fields, the service checks the ones its kind needs."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField, URLField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from ..models import EVENT_TYPES

EVENT_TYPE_LABELS = {
    "newsletter_signup": "Newsletter signups",
    "course_enrollment": "Course enrollments",
    "purchase": "Purchases",
}


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class DestinationForm(FlaskForm):
    kind = SelectField(
        "Destination",
        choices=[
            SelectChoice("facebook", "Facebook Conversions API"),
            SelectChoice("google", "Google Analytics 4"),
            SelectChoice("webhook", "Webhook"),
        ],
    )
    name = StringField("Name", validators=[Length(max=100)], description="So you can tell destinations apart.")
    event_types = CheckboxesField(
        "Send these events",
        choices=[SelectChoice(event_type, EVENT_TYPE_LABELS[event_type]) for event_type in EVENT_TYPES],
        default=list(EVENT_TYPES),
    )
    pixel_id = StringField("Facebook pixel (dataset) id", description="Facebook only: Events Manager → Data sources.")
    access_token = PasswordField("Facebook access token", description="Facebook only: Conversions API token.")
    test_event_code = StringField("Facebook test event code", description="Optional: shows events in Test events.")
    measurement_id = StringField("GA4 measurement id", description="Google only: G-XXXXXXXXXX.")
    api_secret = PasswordField("GA4 Measurement Protocol API secret", description="Google only.")
    url = URLField("Webhook URL", description="Webhook only: we POST signed JSON here.")
