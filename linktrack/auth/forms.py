"""Account forms. Every field says exactly what is wrong with it, next to the field."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..counting.days import DEFAULT_TIME_ZONE, canonical_time_zone, is_time_zone, time_zone_names
from ..web.currencies import currency_choices, is_currency

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


def _strip(value: str | None) -> str | None:
    """Pasted or autofilled addresses often carry spaces; they are not part of the address."""
    return value.strip() if isinstance(value, str) else value


def _new_password_validators():
    return [
        InputRequired("Choose a password."),
        Length(
            min=PASSWORD_MIN_LENGTH,
            max=PASSWORD_MAX_LENGTH,
            message=f"Use between {PASSWORD_MIN_LENGTH} and {PASSWORD_MAX_LENGTH} characters.",
        ),
    ]


def _account_email_validators():
    """The address an account is known by, as registration and the password reset ask for it."""
    return [
        DataRequired("Enter your email address."),
        Length(max=254, message="That email address is too long."),
        Email("Enter a valid email address, like you@example.com."),
    ]


class RegisterForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=_account_email_validators(),
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        "Password",
        validators=_new_password_validators(),
        description=f"At least {PASSWORD_MIN_LENGTH} characters.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[InputRequired("Type the password again."), EqualTo("password", "The passwords do not match.")],
        render_kw={"autocomplete": "new-password"},
    )
    # Filled by static/js/time_zone.js with the browser's zone; empty or unknown means UTC
    # (registered_time_zone), never a refusal: the creator did not type it and can change it later.
    time_zone = HiddenField(render_kw={"data-browser-time-zone": ""})

    def registered_time_zone(self) -> str:
        return canonical_time_zone((self.time_zone.data or "").strip()) or DEFAULT_TIME_ZONE


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired("Enter your email address."), Email("Enter a valid email address.")],
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter your password.")],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField("Keep me signed in on this device")


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=_account_email_validators(),
        filters=[_strip],
        description="The address you signed up with. We email it a link to choose a new password.",
        render_kw={"autocomplete": "email"},
    )


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        "New password",
        validators=_new_password_validators(),
        description=f"At least {PASSWORD_MIN_LENGTH} characters.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "Confirm new password",
        validators=[
            InputRequired("Type the new password again."),
            EqualTo("new_password", "The passwords do not match."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(ResetPasswordForm):
    """The reset form's two fields and the current password; the page lays them out by name."""

    current_password = PasswordField(
        "Current password",
        validators=[InputRequired("Enter your current password.")],
        render_kw={"autocomplete": "current-password"},
    )


class ApiKeyForm(FlaskForm):
    name = StringField(
        "Key name",
        validators=[
            DataRequired("Name the key, e.g. 'Zapier' or 'Stripe webhook'."),
            Length(max=100, message="Keep the name under 100 characters."),
        ],
        description="Where you will use it, so you know which key to revoke later.",
    )


class MainCurrencyForm(FlaskForm):
    """The currency a creator's pages list first and rank "by revenue" in (amounts in other
    currencies are shown beside it, never converted or added)."""

    main_currency = SelectField(
        "Main currency",
        choices=[SelectChoice(code, label) for code, label in currency_choices()],
        validate_choice=False,  # refused below with a sentence, not WTForms' "Not a valid choice."
        validators=[DataRequired(message="Choose a currency.")],
        description="Listed first on every page; rankings by revenue use it. Other currencies are shown beside it.",
    )

    def validate_main_currency(self, field) -> None:
        if not is_currency(field.data):
            raise ValidationError("Choose a currency from the list (an ISO 4217 code such as USD, EUR or JPY).")


class ConversionRetentionForm(FlaskForm):
    retention_days = IntegerField(
        "Keep conversions for (days)",
        validators=[
            Optional(),
            NumberRange(min=30, max=3650, message="Use between 30 and 3650 days, or leave it empty."),
        ],
        description="Empty keeps them for good. With a number, the nightly cleanup removes older conversions "
        "and their revenue from your reports.",
    )


def _known_time_zone(_form, field) -> None:
    if not is_time_zone(field.data):
        raise ValidationError("Choose a time zone from the list, such as Europe/Berlin or America/New_York.")


class TimeZoneForm(FlaskForm):
    time_zone = SelectField(
        "Time zone",
        choices=[SelectChoice(name, name.replace("_", " ")) for name in time_zone_names()],
        validate_choice=False,  # _known_time_zone says what is wrong in words, not "Not a valid choice"
        validators=[_known_time_zone],
        description="Reports, charts, date ranges and CSV files count whole days in this zone.",
    )
