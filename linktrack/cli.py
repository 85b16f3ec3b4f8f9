"""Command line: `flask users create|set-password|api-key`, `flask demo`, `flask recount` and `flask cron`."""

import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from .auth import service as accounts
from .auth.forms import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from .models import User

users = AppGroup("users", help="Manage creator accounts.")


@users.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="The account's password.")
def create_user(email: str, password: str) -> None:
    """Create a creator account."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    _check_password_length(password, "--password")
    try:
        user = accounts.register_user(email, password)
    except accounts.EmailTaken:
        raise click.ClickException(f"an account with the email {email} already exists") from None
    click.echo(f"Created creator {user.email} (id {user.id}).")


def _check_password_length(password: str, param_hint: str) -> None:
    """The registration form's rule, said the command line's way."""
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise click.BadParameter(
            f"use between {PASSWORD_MIN_LENGTH} and {PASSWORD_MAX_LENGTH} characters", param_hint=param_hint
        )


@users.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input instead of prompting (for scripts).",
)
def set_password(email: str, password_stdin: bool) -> None:
    """Set a creator's password (when they cannot reset it by email); ends every session of theirs.

    The password is never a command-line argument (it would sit in the shell history and the
    process list) and never echoed."""
    user = User.by_email(email)
    if user is None:
        raise click.ClickException(f"no creator with the email {email}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _check_password_length(password, "password")
    accounts.change_password(user, password)
    click.echo(f"Password set for {user.email}; every session of the account has been signed out.")


@users.command("api-key")
@click.argument("email")
@click.option("--name", default="CLI", show_default=True, help="A name to recognise the key by.")
def create_api_key(email: str, name: str) -> None:
    """Create an API key for a creator; the key is the last line printed."""
    user = User.by_email(email)
    if user is None:
        raise click.ClickException(f"no creator with the email {email}")
    api_key, key = accounts.create_api_key(user, name)
    click.echo(f"API key '{api_key.name}' for {user.email}. It is shown only this once:")
    click.echo(key)


@click.command("demo")
@with_appcontext  # a plain click command gets no app context from app.cli (only the `flask` group pushes one)
def load_demo() -> None:
    """Fill an empty database with a demo creator, links, clicks and conversions."""
    from .demo import DEMO_EMAIL, DEMO_PASSWORD, database_is_empty, load_demo_data

    if not database_is_empty():
        click.echo("The database already has accounts: demo data not loaded.")
        return
    counts = load_demo_data()
    click.echo(
        f"Loaded {counts['links']} links, {counts['clicks']:,} clicks and {counts['conversions']:,} conversions."
    )
    click.echo(f"Log in as {DEMO_EMAIL} with the password {DEMO_PASSWORD}.")


@click.command("recount")
@with_appcontext
def recount() -> None:
    """Rebuild every report aggregate from the raw clicks and conversions (after a migration adds one)."""
    import time

    from .counting.recount import recount_daily_stats

    started = time.perf_counter()
    recount_daily_stats()
    click.echo(f"Report aggregates rebuilt from the raw events in {time.perf_counter() - started:.1f} s.")


@click.command("partitions")
@with_appcontext
def make_partitions() -> None:
    """Make click_events' monthly partitions for this month and the next two (PostgreSQL), as the
    cron process does daily: for a database migrated long before its cron process first runs."""
    from . import dialect
    from .extensions import db
    from .tracking.partitions import create_click_partitions

    if not dialect.is_postgresql(db.engine):
        click.echo("SQLite keeps clicks in one table: there are no partitions to make.")
        return
    created = create_click_partitions()
    click.echo(f"Partitions created: {', '.join(created)}." if created else "Every partition needed exists already.")


@click.command("cron")
@with_appcontext
def run_cron() -> None:
    """Enqueue the periodic jobs (linktrack/cron.py) on REDIS_URL's queue; survives Redis restarts."""
    from flask import current_app

    from .cron import run_cron as run
    from .extensions import redis_connection

    connection = redis_connection()
    if connection is None:
        raise click.ClickException("REDIS_URL is not set: without Redis the periodic jobs run inline")
    run(connection, current_app.config["JOBS_SWEEP_SECONDS"])


def register_cli(app: Flask) -> None:
    app.cli.add_command(run_cron)
    app.cli.add_command(users)
    app.cli.add_command(load_demo)
    app.cli.add_command(recount)
    app.cli.add_command(make_partitions)
