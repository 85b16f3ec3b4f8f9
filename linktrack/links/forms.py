"""The link form. It only turns text into values; every rule lives in links.validation, shared with the API."""

from datetime import timezone

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, StringField, TextAreaField, URLField
from wtforms.validators import Optional

from ..models import CampaignLink
from . import validation
from .service import LinkPreview
from .urls import UTM_FIELDS

UTM_LABELS = {
    "utm_source": "Source (utm_source)",
    "utm_medium": "Medium (utm_medium)",
    "utm_campaign": "Campaign (utm_campaign)",
    "utm_content": "Content (utm_content)",
    "utm_term": "Term (utm_term)",
}
UTM_PLACEHOLDERS = {
    "utm_source": "youtube",
    "utm_medium": "video",
    "utm_campaign": "from the campaign name",
    "utm_content": "the video id",
    "utm_term": "none",
}


class DaysField(IntegerField):
    """An integer field whose parse error speaks of days, not of "integer values"."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip() == "":
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("Enter the attribution window as a whole number of days.") from exc


class LinkForm(FlaskForm):
    video_url = StringField(
        "YouTube video",
        description="Any YouTube link to the video (watch, youtu.be, Shorts, live) or its 11-character id.",
        render_kw={"required": True, "placeholder": "https://youtu.be/dQw4w9WgXcQ", "autocomplete": "off"},
    )
    destination_url = URLField(
        "Landing page URL",
        description="Where viewers go. Its own query and #fragment are kept.",
        render_kw={"required": True, "placeholder": "https://example.com/offer", "autocomplete": "url"},
    )
    campaign = StringField(
        "Campaign name",
        description="Optional; groups links in reports and becomes utm_campaign.",
        render_kw={"placeholder": "Spring course launch"},
    )
    short_code = StringField(
        "Short code",
        description=(
            f"Optional: {validation.CUSTOM_CODE_MIN_LENGTH}–{validation.CUSTOM_CODE_MAX_LENGTH} letters, digits, "
            "'-' or '_'. Leave empty for a random 7-character code."
        ),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    utm_source = StringField(UTM_LABELS["utm_source"])
    utm_medium = StringField(UTM_LABELS["utm_medium"])
    utm_campaign = StringField(UTM_LABELS["utm_campaign"])
    utm_content = StringField(UTM_LABELS["utm_content"])
    utm_term = StringField(UTM_LABELS["utm_term"])
    attribution_window_days = DaysField(
        "Attribution window (days)",
        description=(
            f"Conversions count for this many days after the click "
            f"({validation.MIN_WINDOW_DAYS}–{validation.MAX_WINDOW_DAYS})."
        ),
        validators=[Optional()],
        render_kw={"min": validation.MIN_WINDOW_DAYS, "max": validation.MAX_WINDOW_DAYS, "inputmode": "numeric"},
    )
    allowed_origins = TextAreaField(
        "Allowed landing-page origins",
        description="One per line, like https://shop.example.com. Empty: the landing page's own origin.",
        render_kw={"rows": 3, "spellcheck": "false"},
    )
    max_browser_revenue = StringField(
        "Maximum revenue from a browser",
        description=(
            "Optional, like 500. A landing page's conversion above it is refused; amounts your server "
            "reports with an API key are not capped."
        ),
        render_kw={"inputmode": "decimal", "autocomplete": "off", "placeholder": "no cap"},
    )
    expires_at = DateTimeLocalField(
        "Expires (UTC)",
        description="Optional. After this moment the short link answers “gone” instead of redirecting.",
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        tz=timezone.utc,
        validators=[Optional()],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in UTM_FIELDS:
            self[name].render_kw = {"placeholder": UTM_PLACEHOLDERS[name], "spellcheck": "false"}
        if self.attribution_window_days.data is None and not self.is_submitted():
            self.attribution_window_days.data = validation.default_window_days()

    @classmethod
    def for_link(cls, link: CampaignLink) -> "LinkForm":
        """The edit form: values still at their default are shown blank, so they keep following it."""
        defaults = validation.utm_defaults(link.campaign, link.video_id)
        default_origins = [validation.origin_of(link.destination_url)]
        data = {
            "video_url": link.video_url,
            "destination_url": link.destination_url,
            "campaign": link.campaign,
            "short_code": link.short_code,
            "attribution_window_days": link.attribution_window_days,
            "allowed_origins": "" if link.allowed_origins == default_origins else "\n".join(link.allowed_origins),
            "max_browser_revenue": "" if link.max_browser_revenue is None else str(link.max_browser_revenue),
            "expires_at": link.expires_at,
        }
        for name in UTM_FIELDS:
            value = getattr(link, name)
            data[name] = "" if value == defaults[name] else value
        form = cls(data=data)
        form.short_code.description = (
            f"{validation.CUSTOM_CODE_MIN_LENGTH}–{validation.CUSTOM_CODE_MAX_LENGTH} letters, digits, '-' or '_'."
        )
        return form

    def link_values(self) -> dict:
        """The submitted values in the service's terms: blank text is None, origins a list."""
        values = {}
        for name in ("video_url", "destination_url", "campaign", "short_code", *UTM_FIELDS):
            text = (self[name].data or "").strip()
            values[name] = text or None
        values["attribution_window_days"] = self.attribution_window_days.data
        origins = (self.allowed_origins.data or "").replace(",", "\n").split()
        values["allowed_origins"] = origins or None
        values["max_browser_revenue"] = (self.max_browser_revenue.data or "").strip() or None
        values["expires_at"] = self.expires_at.data
        return values

    def show_preview(self, preview: LinkPreview) -> None:
        """Show the defaults the preview worked out as placeholders of the blank UTM fields."""
        for name in validation.DEFAULTED_UTM_FIELDS:
            if preview.utm.get(name):
                self[name].render_kw = {**self[name].render_kw, "placeholder": preview.utm[name]}
        if preview.allowed_origins:
            self.allowed_origins.render_kw = {
                **self.allowed_origins.render_kw,
                "placeholder": "\n".join(preview.allowed_origins),
            }

    def add_problems(self, problems: list[validation.FieldProblem]) -> None:
        for problem in problems:
            self[problem.field].errors.append(problem.message)
