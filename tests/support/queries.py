"""Counting what an app sends its real database, with SQLAlchemy's cursor events."""

from contextlib import contextmanager

from sqlalchemy import event

from linktrack.extensions import db


@contextmanager
def statements_counted(app):
    """Every statement the app's engine sends while the block runs."""
    sent = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)
