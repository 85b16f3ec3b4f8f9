"""Fixtures of the account tests that live in tests/support/."""

from tests.support.mail import smtp_server  # noqa: F401  (the real SMTP server of the reset tests)
