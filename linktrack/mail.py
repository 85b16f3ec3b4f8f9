"""Outgoing email over SMTP (the MAIL_* settings): one plain-text message at a time.

The only mail linktrack sends is a password-reset link, so smtplib is enough; no library is needed.
Unset MAIL_SERVER means no mail at all: the pages that would send one say what to do instead.
"""

import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app


class MailNotSent(Exception):
    """The SMTP server refused the message or could not be reached; the reason is in the message."""


def mail_is_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def send_email(to: str, subject: str, body: str) -> None:
    """Send one plain-text message. Raises MailNotSent (never a password in its text)."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    timeout = config["MAIL_TIMEOUT_SECONDS"]
    try:
        if config["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(
                config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
        with smtp:
            if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailNotSent(f"{type(exc).__name__} from {config['MAIL_SERVER']}:{config['MAIL_PORT']}") from None
